"""Look back at registered risk models: evaluate a version on its holdout, promote a version.

Every comparison with the champion is made on one holdout: the test part logged by the run of
the version under review.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion

from evaluation.report import ReportInputs, write_report
from models.alias_history import AliasHistory
from models.registry import load_risk, split_name, version_portfolio
from models.risk import RiskScorer
from models.scorecard import RISK_BANDS, Bands, Scorecard
from nbo.errors import NotFound
from nbo.settings import Settings
from training import registry
from training.risk.fit import RISK_MODELS, RiskModelKind, explain_sample, score_metrics

HOLDOUT_ARTIFACT = "holdout/test.parquet"


def risk_model_named(model_name: str) -> RiskModelKind:
    """The risk model registered under `model_name` (nbo-churn, nbo-delinquency, or either `.<portfolio>`)."""
    for model in RISK_MODELS.values():
        if model.model_name == split_name(model_name)[0]:
            return model
    known = ", ".join(m.model_name for m in RISK_MODELS.values())
    raise NotFound(f"{model_name!r} is not a risk model nbo trains here ({known})")


def read_holdout(run_id: str) -> pd.DataFrame:
    """The test holdout a training run logged."""
    with tempfile.TemporaryDirectory(prefix="nbo-holdout-") as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT, dst_path=tmp)
        return pd.read_parquet(path)


@dataclass(frozen=True)
class ChampionOnHoldout:
    """The current champion measured on a candidate's test holdout."""

    version: str
    metrics: dict[str, float]
    probability: np.ndarray


def measure_champion(client: MlflowClient, model: RiskModelKind, test: pd.DataFrame, name: str,
                     portfolio: str) -> ChampionOnHoldout | None:
    """Score the current champion of registered model `name` (if any) on `test`, the holdout of a
    candidate of `portfolio`.

    Raises:
        Conflict: the champion belongs to another portfolio.
    """
    current = registry.champion_version(client, name)
    if current is None:
        return None
    registry.require_same_portfolio(portfolio, version_portfolio(current), f"a {model.kind} model of {name}",
                                    f"its champion (version {current.version})")
    probability = load_risk(f"models:/{name}/{current.version}").probability(test)
    metrics = score_metrics(model.kind, test[model.label].to_numpy(int), probability)
    return ChampionOnHoldout(str(current.version), metrics, probability)


def band_shares(points: np.ndarray, y: np.ndarray, bands: Bands) -> dict[str, dict[str, float | None]]:
    """Each band's share of the rows and its bad rate (None for an empty band)."""
    assigned = bands.assign(points)
    return {name: {"share": float(np.mean(assigned == name)),
                   "bad_rate": float(y[assigned == name].mean()) if np.any(assigned == name) else None}
            for name in bands.names}


def holdout_bands(scorer: RiskScorer, probability: np.ndarray, y: np.ndarray) -> dict[str, object] | None:
    """A delinquency model's bands and their shares on its holdout, beside the fixed bands' (None for churn)."""
    if scorer.spec.kind != "delinquency":
        return None
    points = np.rint(Scorecard().points(probability))
    return scorer.spec.band_set.to_dict() | {"holdout": band_shares(points, y, scorer.spec.band_set),
                                             "fixed_holdout": band_shares(points, y, RISK_BANDS)}


def _version_report(model: RiskModelKind, version: ModelVersion, holdout: pd.DataFrame,
                    champion: ChampionOnHoldout | None) -> tuple[ReportInputs, dict, dict[str, object] | None]:
    scorer = load_risk(f"models:/{version.name}/{version.version}")
    y = holdout[model.label].to_numpy(int)
    probability = scorer.probability(holdout)
    metrics = {f"test (v{version.version})": score_metrics(model.kind, y, probability)}
    curves = {f"v{version.version}": (y, probability)}
    if champion is not None:
        metrics[f"test (champion v{champion.version})"] = champion.metrics
        curves[f"champion v{champion.version}"] = (y, champion.probability)
    is_pd = model.kind == "delinquency"
    sample = holdout.sample(min(2000, len(holdout)), random_state=0)
    contributions, features = explain_sample(scorer, sample)
    inputs = ReportInputs(
        title=f"{version.name} v{version.version}: evaluation on its test holdout",
        facts={"model": version.name, "portfolio": version_portfolio(version), "version": version.version,
               "bands": scorer.spec.band_set.describe(), "run_id": version.run_id,
               "aliases": ", ".join(version.aliases) or "none", "holdout rows": len(holdout)},
        metrics=metrics, curves=curves,
        score_samples={"test": Scorecard().points(probability) if is_pd else probability},
        score_label="scorecard points" if is_pd else "churn probability",
        contributions=contributions, features=features)
    return inputs, metrics, holdout_bands(scorer, probability, y)


def evaluate_version(settings: Settings, ref: str, out_dir: Path | None) -> dict[str, object]:
    """Re-measure a version (or a run's version) on its holdout, beside the champion; write a report.

    The report goes to `out_dir`, by default `<state_dir>/reports/<model>-v<version>/`.
    """
    client = registry.connect(settings.mlflow)
    version = registry.resolve_version(client, ref)
    out_dir = out_dir or settings.state_dir / "reports" / f"{version.name}-v{version.version}"
    model = risk_model_named(version.name)
    holdout = read_holdout(version.run_id)
    champion = measure_champion(client, model, holdout, version.name, version_portfolio(version))
    compared = champion if champion is not None and champion.version != str(version.version) else None
    inputs, metrics, bands = _version_report(model, version, holdout, compared)
    report = write_report(inputs, out_dir)
    return {"model": version.name, "model_version": str(version.version), "run_id": version.run_id,
            "aliases": list(version.aliases), "metrics": metrics[f"test (v{version.version})"],
            "champion_version": None if champion is None else champion.version,
            "champion_metrics": None if compared is None else compared.metrics, "bands": bands,
            "report": report.resolve()}


def promote_version(settings: Settings, model_name: str, version: str, force: bool,
                    note: str | None = None) -> dict[str, object]:
    """Make `version` champion if it beats the champion on its own holdout, or when forced (`note`: why)."""
    client = registry.connect(settings.mlflow)
    model = risk_model_named(model_name)
    found = registry.resolve_version(client, f"{model_name}/{version}")
    run = registry.RegisteredRun(found.run_id, model_name, str(found.version),
                                 dict(client.get_run(found.run_id).data.metrics))

    def champion_metric(uri: str) -> float:
        holdout = read_holdout(found.run_id)
        probability = load_risk(uri).probability(holdout)
        return score_metrics(model.kind, holdout[model.label].to_numpy(int), probability)[model.primary_metric]

    promotion = registry.promote_if_better(client, model_name, run, model.primary_metric, True, force,
                                           champion_metric, note, history=AliasHistory(settings.audit_url))
    return {"model": model_name, "model_version": run.version, "run_id": run.run_id} | promotion.to_dict()
