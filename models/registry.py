"""Find and load registered models by alias from the MLflow registry (the only way models reach serving)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import mlflow
from mlflow import MlflowClient
from mlflow.environment_variables import (
    MLFLOW_ALLOW_FILE_STORE,
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR,
)
from mlflow.exceptions import MlflowException

from nbo.settings import MlflowSettings

CHURN, DELINQUENCY, RECOMMENDER = "nbo-churn", "nbo-delinquency", "nbo-recommender"


@dataclass(frozen=True)
class ModelRef:
    """One registered version behind an alias, with what the registry knows about it."""

    name: str
    alias: str
    version: str
    run_id: str
    trained_at: datetime | None
    metrics: dict[str, float]

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
                    {k: float(v) for k, v in run.data.metrics.items()})


def connect(settings: MlflowSettings) -> MlflowClient:
    """Point MLflow at the configured store and return a client for it.

    MLflow 3 keeps its file store (`file:` URIs, the embedded default) behind an opt-in; nbo opts in.
    Artifact progress bars are off: commands report their own progress.
    """
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)
    uri = settings.tracking_uri
    if uri.startswith("file:") or "://" not in uri:
        MLFLOW_ALLOW_FILE_STORE.set(True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
