"""MLflow tracking and registry, for any nbo model: log a run, register a version, promote by alias.

A run is named after its model, data and start (`churn · bank · 2026-12-07 08:15 UTC`), starts
when its data begins to load (so its duration is the whole training) and logs its datasets.
A version becomes `champion` only when it beats the current champion on the primary metric
measured on the candidate's own holdout; `force` promotes anyway and is recorded on the run.
Runs and versions carry their portfolio (`nbo.portfolio`); a version is never compared with, nor
made champion over, another portfolio's champion.
`challenger` and `shadow` are set without comparison. Every alias change records who, when and why:
as tags on the run and the version, and (with the evidence, whether forced and the previous version)
in the alias history of the audit database (`models.alias_history`), beside every version registered.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.dataset_source_registry import get_dataset_source_from_json
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo

from models.alias_history import AliasHistory
from models.registry import (  # noqa: F401 (training's commands open the registry through here)
    CHAMPION,
    PORTFOLIO_TAG,
    connect,
    split_name,
    version_portfolio,
)
from nbo.errors import Conflict, ModelNotFound
from sources.portfolio import DEMO

log = logging.getLogger(__name__)


def now_ms() -> int:
    """The time now in milliseconds since the epoch (MLflow's run times)."""
    return int(time.time() * 1000)


def run_name(model: str, data_dir: Path, started_ms: int) -> str:
    """A run's name for people: model, data (the data directory's name) and UTC start."""
    started = datetime.fromtimestamp(started_ms / 1000, UTC)
    return f"{model} · {data_dir.resolve().name} · {started:%Y-%m-%d %H:%M} UTC"


@dataclass(frozen=True)
class RunDataset:
    """A frame a run used, logged with `mlflow.log_input`: schema, digest and row count, not the rows."""

    frame: pd.DataFrame
    name: str
    context: str  # training, validation or test
    source: Path
    targets: str | None = None


def log_datasets(datasets: list[RunDataset]) -> None:
    """Log each dataset as an input of the active run."""
    for data in datasets:
        source = get_dataset_source_from_json(json.dumps({"uri": str(data.source.resolve())}), "local")
        with warnings.catch_warnings():  # MLflow's hint about integer columns in the inferred schema
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer", category=UserWarning)
            dataset = mlflow.data.from_pandas(data.frame, source=source, name=data.name, targets=data.targets)
            mlflow.log_input(dataset, context=data.context)


def ensure_experiment(client: MlflowClient, name: str, artifact_root: str | None) -> str:
    """Return the id of experiment `name`, creating it (artifacts under `artifact_root`) if needed."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    if artifact_root and "://" not in artifact_root and not artifact_root.startswith("file:"):
        artifact_root = Path(artifact_root).resolve().as_uri()  # a folder: absolute, whatever the cwd
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return client.create_experiment(name, artifact_location=location)


def data_snapshot_id(paths: list[Path]) -> str:
    """Content hash of input tables (sha256 over names and bytes, sorted by name), 16 hex digits."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.name):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class TrainingRun:
    """What a training run logs besides the model: `metrics` are measured on the test holdout."""

    params: dict[str, object]
    metrics: dict[str, float]
    features: list[str]
    data_snapshot: str
    holdout_id: str
    name: str
    started_ms: int
    artifact_dir: Path | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    datasets: list[RunDataset] = field(default_factory=list)
    portfolio: str = DEMO


@dataclass(frozen=True)
class RegisteredRun:
    """A logged run and the model version it registered."""

    run_id: str
    model_name: str
    version: str
    metrics: dict[str, float]

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def log_and_register(model_name: str, experiment_id: str, run: TrainingRun,
                     log_model: Callable[[], ModelInfo], history: AliasHistory) -> RegisteredRun:
    """Log params, snapshot id, features, datasets, metrics and artifacts; `log_model` logs and registers.

    The run starts at `run.started_ms` (when the training began), so its duration is the training's.
    The run and the version are tagged with the run's portfolio; `history` gets a `train` entry.
    """
    created = mlflow.MlflowClient().create_run(experiment_id, start_time=run.started_ms, run_name=run.name)
    with mlflow.start_run(run_id=created.info.run_id) as active:
        log_datasets(run.datasets)
        mlflow.log_params({k: str(v) for k, v in run.params.items()})
        mlflow.set_tags({"nbo.data_snapshot": run.data_snapshot, "nbo.holdout_id": run.holdout_id,
                         "nbo.model_name": model_name, PORTFOLIO_TAG: run.portfolio, **run.tags})
        mlflow.log_dict({"features": run.features}, "features.json")
        mlflow.log_metrics(run.metrics | run.extra_metrics)
        if run.artifact_dir is not None:
            mlflow.log_artifacts(str(run.artifact_dir))
        info = log_model()
    if info.registered_model_version is None:
        raise MlflowException(f"the model of run {active.info.run_id} was not registered")
    version = str(info.registered_model_version)
    mlflow.MlflowClient().set_model_version_tag(model_name, version, PORTFOLIO_TAG, run.portfolio)
    log.info("model_registered", extra={"model": model_name, "version": version, "run_id": active.info.run_id})
    history.record(model=model_name, portfolio=run.portfolio, action="train", by=getpass.getuser(),
                   reason=f"registered by training run {run.name!r}", version=version,
                   evidence={"run_id": active.info.run_id, "holdout_id": run.holdout_id,
                             "data_snapshot": run.data_snapshot, "metrics": run.metrics})
    return RegisteredRun(active.info.run_id, model_name, version, dict(run.metrics))


def champion_version(client: MlflowClient, model_name: str) -> ModelVersion | None:
    """The version holding the `champion` alias, or None when there is none yet."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


@dataclass(frozen=True)
class Promotion:
    """The outcome of a promotion decision, as recorded on the candidate run."""

    promoted: bool
    forced: bool
    reason: str
    primary_metric: str
    candidate_value: float
    champion_value: float | None
    previous_champion: str | None

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _beats(candidate: float, champion: float, higher_is_better: bool) -> bool:
    return candidate > champion if higher_is_better else candidate < champion


def promote_if_better(client: MlflowClient, model_name: str, run: RegisteredRun, primary_metric: str,
                      higher_is_better: bool, force: bool,
                      champion_metric: Callable[[str], float], note: str | None = None, *,
                      history: AliasHistory) -> Promotion:
    """Set `champion` on `run`'s version if it beats the champion on the same holdout (or `force`).

    `champion_metric(model_uri)` measures the current champion on `run`'s holdout; `note` is the
    person's reason, recorded beside the comparison. The decision, promoted or not, goes into `history`.

    Raises:
        Conflict: the candidate and the champion belong to different portfolios (not even `force`
            crosses portfolios: train on the portfolio's own data).
    """
    current = champion_version(client, model_name)
    if current is not None:
        require_same_portfolio(version_portfolio(client.get_model_version(model_name, run.version)),
                               version_portfolio(current), f"{model_name} version {run.version}",
                               f"its champion (version {current.version})")
    candidate = run.metrics[primary_metric]
    champion_value = None
    if current is None:
        promoted, reason = True, "no champion yet"
    elif str(current.version) == run.version:
        champion_value, promoted, reason = candidate, True, "already the champion"
    else:
        champion_value = champion_metric(f"models:/{model_name}/{current.version}")
        promoted = _beats(candidate, champion_value, higher_is_better)
        reason = f"{primary_metric} {candidate:.4f} vs champion {champion_value:.4f} on the same holdout"
    outcome = Promotion(promoted or force, force, reason, primary_metric, candidate, champion_value,
                        None if current is None else str(current.version))
    _record(client, model_name, run, outcome, note, history)
    return outcome


def require_same_portfolio(candidate: str, other: str, what: str, against: str) -> None:
    """Conflict (exit 2) naming both portfolios when `candidate` is not `other`."""
    if candidate != other:
        raise Conflict(f"{what} belongs to portfolio {candidate!r} and {against} to portfolio {other!r}: "
                       "a model is only ever compared with, and promoted over, models of its own portfolio")


def _why(outcome: Promotion, note: str | None) -> str:
    """The reason a promotion decision records: the comparison, whether forced, the person's note."""
    return outcome.reason + (" (forced)" if outcome.forced else "") + (f"; {note}" if note else "")


def alias_tags(alias: str, reason: str) -> dict[str, str]:
    """What an alias change records on the run and the version: who (the OS user), when (UTC) and why."""
    return {f"nbo.{alias}.by": getpass.getuser(), f"nbo.{alias}.at": datetime.now(UTC).isoformat(timespec="seconds"),
            f"nbo.{alias}.reason": reason}


def _tag(client: MlflowClient, model_name: str, version: str, run_id: str | None, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        if run_id is not None:
            client.set_tag(run_id, key, value)
        client.set_model_version_tag(model_name, version, key, value)


def _record(client: MlflowClient, model_name: str, run: RegisteredRun, outcome: Promotion,
            note: str | None, history: AliasHistory) -> None:
    tags = {"nbo.promoted": str(outcome.promoted).lower(), "nbo.forced": str(outcome.forced).lower(),
            "nbo.promotion_reason": outcome.reason}
    if outcome.promoted:
        tags |= alias_tags(CHAMPION, _why(outcome, note))
    _tag(client, model_name, run.version, run.run_id, tags)
    if outcome.champion_value is not None:
        client.log_metric(run.run_id, f"champion_{outcome.primary_metric}", outcome.champion_value)
    if outcome.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, run.version)
    log.info("promotion_decided", extra={"model": model_name, "version": run.version, **tags})
    holdout_id = client.get_run(run.run_id).data.tags.get("nbo.holdout_id")
    history.record(model=model_name, portfolio=split_name(model_name)[1], action="promote",
                   by=getpass.getuser(), reason=_why(outcome, note), alias=CHAMPION, version=run.version,
                   previous_version=outcome.previous_champion, forced=outcome.forced,
                   evidence={"promoted": outcome.promoted, "primary_metric": outcome.primary_metric,
                             "candidate": outcome.candidate_value, "champion": outcome.champion_value,
                             "champion_version": outcome.previous_champion, "holdout_id": holdout_id,
                             "run_id": run.run_id})


def set_alias(client: MlflowClient, model_name: str, version: str, alias: str, note: str | None,
              history: AliasHistory) -> dict[str, object]:
    """Point `alias` (challenger, shadow) at a version without comparing it with anything; record it
    like a champion promotion (a `set` entry in `history`). Returns what `nbo promote` prints."""
    found = resolve_version(client, f"{model_name}/{version}")
    require_same_portfolio(version_portfolio(found), split_name(model_name)[1], f"{model_name} version {version}",
                           f"the registered name {model_name}")
    try:
        previous: str | None = str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        previous = None
    reason = note or f"set with nbo promote --alias {alias} (no comparison with the champion)"
    tags = alias_tags(alias, reason)
    _tag(client, model_name, str(found.version), found.run_id, tags)
    client.set_registered_model_alias(model_name, alias, str(found.version))
    log.info("alias_set", extra={"model": model_name, "version": str(found.version), "alias": alias, **tags})
    history.record(model=model_name, portfolio=split_name(model_name)[1], action="set", by=tags[f"nbo.{alias}.by"],
                   reason=reason, alias=alias, version=str(found.version), previous_version=previous,
                   evidence={"run_id": found.run_id, "compared": False})
    return {"model": model_name, "model_version": str(found.version), "run_id": found.run_id, "alias": alias,
            "previous_version": previous, "promoted": True, "forced": False, "reason": reason,
            "by": tags[f"nbo.{alias}.by"], "at": tags[f"nbo.{alias}.at"]}


def resolve_version(client: MlflowClient, ref: str) -> ModelVersion:
    """Find a model version from `NAME@ALIAS`, `NAME/VERSION`, `models:/...` or a run id."""
    ref = ref.removeprefix("models:/")
    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return client.get_model_version_by_alias(name, alias)
        if "/" in ref:
            name, version = ref.split("/", 1)
            return client.get_model_version(name, version)
        found = client.search_model_versions(f"run_id = '{ref}'")
    except MlflowException as err:
        raise ModelNotFound(f"no model version {ref!r}: {err.message}") from err
    if not found:
        raise ModelNotFound(f"no run or model version {ref!r} in the registry")
    return found[0]
