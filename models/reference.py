"""A risk model version's development reference: what drift monitoring compares served traffic with.

Measured at training time on the development sample (the train and validation parts) and logged with
the run as `drift_reference.json`: for the score (the calibrated probability the service answers,
`probability` / `pd`) and every input feature of the spec, the bins, their shares, the missing share
and the observed min/max (`evaluation.drift.BinnedReference`). Versions trained before it existed
have none: `load_reference` returns None for them.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from evaluation.drift import BinnedReference, categorical_reference, numeric_reference
from models.risk import RiskScorer

REFERENCE_ARTIFACT = "drift_reference.json"
FORMAT = 1


@dataclass(frozen=True)
class DriftReference:
    """The score's and each feature's development distribution of one model version."""

    score: BinnedReference
    features: dict[str, BinnedReference]
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "rows": self.rows,
            "score": self.score.to_dict(),
            "features": {name: ref.to_dict() for name, ref in self.features.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> DriftReference:
        return cls(
            BinnedReference.from_dict(data["score"]),
            {name: BinnedReference.from_dict(ref) for name, ref in data["features"].items()},
            int(data["rows"]),
        )


def feature_reference(column: pd.Series, is_categorical: bool) -> BinnedReference:
    """One feature's reference: by category, or by quantile bins of its numbers."""
    if is_categorical:
        values = column.astype("string").to_numpy(dtype=object, na_value=None)
        return categorical_reference(values)
    return numeric_reference(pd.to_numeric(column, errors="raise").to_numpy(float, na_value=np.nan))


def build_reference(scorer: RiskScorer, development: pd.DataFrame) -> DriftReference:
    """The reference of `scorer` on its development sample."""
    spec = scorer.spec
    features = {
        name: feature_reference(development[name], name in spec.categorical)
        for name in spec.features
    }
    return DriftReference(
        numeric_reference(scorer.probability(development)), features, len(development)
    )


def write_reference(reference: DriftReference, out_dir: Path) -> Path:
    """Write `drift_reference.json` into a run's artifact folder."""
    path = out_dir / REFERENCE_ARTIFACT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(reference.to_dict()), encoding="utf-8")
    return path


def load_reference(client: MlflowClient, name: str, version: str) -> DriftReference | None:
    """The reference logged with version `version` of registered model `name`; None when that version
    (or its run's reference) does not exist: trained before references were logged."""
    try:
        run_id = client.get_model_version(name, version).run_id
        with tempfile.TemporaryDirectory(prefix="nbo-reference-") as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=REFERENCE_ARTIFACT, dst_path=tmp
            )
            return DriftReference.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (MlflowException, OSError):
        return None
