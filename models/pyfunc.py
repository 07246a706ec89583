"""Loading nbo's logged MLflow python models."""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


def load_python_model(model_uri: str) -> PythonModel:
    """The `PythonModel` logged at `model_uri` (e.g. `models:/nbo-churn@champion`).

    MLflow's dependency check is skipped: it scans the metadata of every installed distribution
    (seconds per process, paid by every service worker and CLI run), and nbo's environment is the
    pinned `requirements.lock` the models were trained in. MLflow errors propagate."""
    return mlflow.pyfunc.load_model(model_uri, suppress_warnings=True).unwrap_python_model()
