"""Find and load registered models from the MLflow registry: the one place models are loaded from.

Loading reads a version's files (the booster, spec and other artifacts listed by its MLmodel's
python_function flavor) and builds the scorer with `models.risk` / `models.recommender`; it never
runs the logged "model from code" file, so versions logged by older nbo trees (whose code files
import modules that have moved since) load as well. `mlflow.pyfunc.load_model(uri)` still works
for data scientists: it runs the code file (`risk_mlflow.py`, `recommender_mlflow.py`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.environment_variables import MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR
from mlflow.exceptions import MlflowException
from mlflow.models import Model

from models.fraud import FraudScorer
from models.fraud import load_artifacts as fraud_from_artifacts
from models.recommender import RecommenderScorer
from models.recommender import load_artifacts as recommender_from_artifacts
from models.risk import RiskScorer
from models.risk import load_artifacts as risk_from_artifacts
from models.tracking_store import prepare_store
from nbo.errors import ModelUnavailable
from nbo.settings import MlflowSettings
from sources.portfolio import DEMO

CHURN, DELINQUENCY, RECOMMENDER = "nbo-churn", "nbo-delinquency", "nbo-recommender"
FRAUD = "nbo-fraud"
RISK_MODEL_NAMES: dict[str, str] = {"churn": CHURN, "delinquency": DELINQUENCY}
CHAMPION, CHALLENGER, SHADOW = "champion", "challenger", "shadow"
ALIASES = (CHAMPION, CHALLENGER)  # the aliases that answer; the service also loads SHADOW, which never answers
PORTFOLIO_TAG = "nbo.portfolio"  # on every run and model version: the portfolio it was trained for
PORTFOLIO_SEPARATOR = "."  # nbo-churn.<portfolio>: MLflow names may not hold '/' or ':'
Scorer = TypeVar("Scorer", RiskScorer, RecommenderScorer, FraudScorer)


def registered_name(base: str, portfolio: str) -> str:
    """The registered name of model `base` (nbo-churn, ...) for a portfolio: the demo keeps `base`,
    any other portfolio gets `base.<portfolio>`, so champions never mix across portfolios."""
    return base if portfolio == DEMO else f"{base}{PORTFOLIO_SEPARATOR}{portfolio}"


def split_name(name: str) -> tuple[str, str]:
    """(base name, portfolio) of a registered name: `nbo-churn.acme` → (`nbo-churn`, `acme`)."""
    base, _, portfolio = name.partition(PORTFOLIO_SEPARATOR)
    return base, portfolio or DEMO


def version_portfolio(version: ModelVersion) -> str:
    """The portfolio a version was trained for: its `nbo.portfolio` tag; versions registered before
    portfolios existed carry none and count as their registered name's portfolio (the demo's names)."""
    return version.tags.get(PORTFOLIO_TAG) or split_name(version.name)[1]


@dataclass(frozen=True)
class ModelRef:
    """One registered version behind an alias, with what the registry knows about it."""

    name: str
    alias: str
    version: str
    run_id: str
    trained_at: datetime | None
    metrics: dict[str, float]
    portfolio: str = DEMO

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def find_alias(client: MlflowClient, name: str, alias: str) -> ModelRef | None:
    """The version `alias` points at, or None when the model or alias does not exist."""
    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    run = client.get_run(version.run_id)
    started = run.info.start_time
    return ModelRef(name, alias, str(version.version), version.run_id,
                    datetime.fromtimestamp(started / 1000, UTC) if started else None,
                    {k: float(v) for k, v in run.data.metrics.items()}, version_portfolio(version))


def connect(settings: MlflowSettings) -> MlflowClient:
    """Point MLflow at the configured store (prepared: see `models.tracking_store`) and return a client.

    Artifact progress bars are off: commands report their own progress.
    """
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)
    prepare_store(settings)
    uri = settings.tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _artifacts(model_uri: str, into: Path) -> dict[str, str]:
    """Download a logged model's files into `into`; its artifacts map (name → local path) from MLmodel."""
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(into)))
    flavor = Model.load(str(local / "MLmodel")).flavors.get("python_function", {})
    if not flavor.get("artifacts"):
        raise ModelUnavailable(f"{model_uri} is not an nbo model: its MLmodel lists no python_function artifacts")
    return {name: str(local / entry["path"]) for name, entry in flavor["artifacts"].items()}


def _load(model_uri: str, build: Callable[[dict[str, str]], Scorer]) -> Scorer:
    try:
        with tempfile.TemporaryDirectory(prefix="nbo-model-") as tmp:
            return build(_artifacts(model_uri, Path(tmp)))
    except MlflowException as err:
        raise ModelUnavailable(f"cannot load {model_uri}: {err.message}") from err


def load_risk(model_uri: str) -> RiskScorer:
    """A logged risk model (e.g. `models:/nbo-delinquency@champion`) as a `RiskScorer`.

    Raises:
        ModelUnavailable: the registry has no such model, version or alias.
    """
    return _load(model_uri, risk_from_artifacts)


def load_recommender(model_uri: str) -> RecommenderScorer:
    """A logged recommender (e.g. `models:/nbo-recommender@champion`) as a `RecommenderScorer`.

    Raises:
        ModelUnavailable: the registry has no such model, version or alias.
    """
    return _load(model_uri, recommender_from_artifacts)


def load_fraud(model_uri: str) -> FraudScorer:
    """A logged fraud model (e.g. `models:/nbo-fraud@champion`) as a `FraudScorer`.

    Raises:
        ModelUnavailable: the registry has no such model, version or alias.
    """
    return _load(model_uri, fraud_from_artifacts)


@dataclass(frozen=True)
class Loaded:
    """A scorer and the registered version it was loaded from."""

    ref: ModelRef
    scorer: RiskScorer | RecommenderScorer | FraudScorer


def load_alias(settings: MlflowSettings, name: str, alias: str, portfolio: str = DEMO, num_threads: int = 1
               ) -> Loaded | None:
    """The version `alias` of model `name` points at, loaded (None when there is no such alias).

    How a champion (or challenger) is loaded: `num_threads` is LightGBM's per call (1 on the request
    path: one thread measured fastest there).

    Raises:
        ModelUnavailable: the version was trained for another portfolio than `portfolio`.
    """
    ref = find_alias(connect(settings), name, alias)
    if ref is None:
        return None
    if ref.portfolio != portfolio:
        raise ModelUnavailable(f"{name}@{alias} (version {ref.version}) belongs to portfolio {ref.portfolio!r}, "
                               f"not {portfolio!r} which this service serves: not loaded")
    base = split_name(name)[0]
    scorer: RiskScorer | RecommenderScorer | FraudScorer = (
        load_recommender(ref.uri) if name == RECOMMENDER else load_fraud(ref.uri) if base == FRAUD else load_risk(ref.uri))
    scorer.num_threads = num_threads
    return Loaded(ref, scorer)
