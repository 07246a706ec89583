"""MLflow tracking and registry, for any nbo model: log a run, register a version, promote by alias.

A version becomes `champion` only when it beats the current champion on the primary metric
measured on the candidate's own holdout; `force` promotes anyway and is recorded on the run.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo

from models.registry import CHAMPION, connect  # noqa: F401 (training's commands open the registry through here)
from nbo.errors import ModelNotFound

log = logging.getLogger(__name__)

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
    artifact_dir: Path | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


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
                     log_model: Callable[[], ModelInfo]) -> RegisteredRun:
    """Log params, snapshot id, features, metrics and artifacts; `log_model` logs and registers."""
    with mlflow.start_run(experiment_id=experiment_id) as active:
        mlflow.log_params({k: str(v) for k, v in run.params.items()})
        mlflow.set_tags({"nbo.data_snapshot": run.data_snapshot, "nbo.holdout_id": run.holdout_id,
                         "nbo.model_name": model_name, **run.tags})
        mlflow.log_dict({"features": run.features}, "features.json")
        mlflow.log_metrics(run.metrics | run.extra_metrics)
        if run.artifact_dir is not None:
            mlflow.log_artifacts(str(run.artifact_dir))
        info = log_model()
    if info.registered_model_version is None:
        raise MlflowException(f"the model of run {active.info.run_id} was not registered")
    version = str(info.registered_model_version)
    log.info("model_registered", extra={"model": model_name, "version": version, "run_id": active.info.run_id})
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
                      champion_metric: Callable[[str], float]) -> Promotion:
    """Set `champion` on `run`'s version if it beats the champion on the same holdout (or `force`).

    `champion_metric(model_uri)` measures the current champion on `run`'s holdout.
    """
    current = champion_version(client, model_name)
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
    _record(client, model_name, run, outcome)
    return outcome


def _record(client: MlflowClient, model_name: str, run: RegisteredRun, outcome: Promotion) -> None:
    tags = {"nbo.promoted": str(outcome.promoted).lower(), "nbo.forced": str(outcome.forced).lower(),
            "nbo.promotion_reason": outcome.reason}
    for key, value in tags.items():
        client.set_tag(run.run_id, key, value)
        client.set_model_version_tag(model_name, run.version, key, value)
    if outcome.champion_value is not None:
        client.log_metric(run.run_id, f"champion_{outcome.primary_metric}", outcome.champion_value)
    if outcome.promoted:
        client.set_registered_model_alias(model_name, CHAMPION, run.version)
    log.info("promotion_decided", extra={"model": model_name, "version": run.version, **tags})


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
