"""The churn and delinquency scorers as they travel through MLflow: booster + calibration + spec.

A logged risk model is an MLflow pyfunc whose artifacts are the LightGBM model file and a JSON
spec (features, categorical columns, calibration). `load_scorer(uri)` gives back a `RiskScorer`
that returns probabilities, scorecard points, bands, reason codes and retention actions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema
from numpy.typing import NDArray

from models.calibration import Calibration
from models.explain.risk import Lang, reason_columns, retention_actions
from models.pyfunc import load_python_model
from models.scorecard import CHURN_BANDS, RISK_BANDS, Scorecard
from models.treeshap import PatternTreeShap
from nbo.errors import ModelUnavailable

RiskKind = Literal["churn", "delinquency"]
REASONS_PER_KIND: dict[str, int] = {"churn": 3, "delinquency": 4}
MODEL_CODE = Path(__file__).with_name("risk_mlflow.py")
TABLE_MIN_ROWS = 1_000  # below this, pred_contrib is quicker than building the pattern tables


@dataclass(frozen=True)
class RiskSpec:
    """What a scorer needs besides the booster; stored as `spec.json` in the logged model."""

    kind: RiskKind
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    calibration: Calibration = field(default_factory=lambda: Calibration("none"))

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "features": self.features, "categorical": self.categorical,
                "calibration": self.calibration.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> RiskSpec:
        return cls(data["kind"], list(data["features"]), list(data["categorical"]),
                   Calibration.from_dict(data["calibration"]))


def prepare_features(frame: pd.DataFrame, spec: RiskSpec) -> pd.DataFrame:
    """The model's feature columns in order: categoricals as pandas categories, the rest as floats."""
    out = frame[spec.features].copy()
    for name in spec.features:
        if name in spec.categorical:
            out[name] = out[name].astype("string").replace("", pd.NA).astype("category")
        else:
            out[name] = pd.to_numeric(out[name], errors="raise").astype(float)
    return out


class RiskScorer:
    """Score customers with a trained risk model (a LightGBM booster and its spec)."""

    def __init__(self, booster: lgb.Booster, spec: RiskSpec, num_threads: int = 0):
        self.booster = booster
        self.spec = spec
        self.num_threads = num_threads

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's feature columns of `frame`, typed for LightGBM."""
        return prepare_features(frame, self.spec)

    def signature_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The feature columns as a caller sends them: strings for categoricals, floats otherwise."""
        features = self.prepare(frame)
        for name in self.spec.categorical:
            features[name] = features[name].astype(object).where(features[name].notna(), "")
        return features

    def raw_probability(self, features: pd.DataFrame) -> NDArray[np.float64]:
        return self.booster.predict(features, num_threads=self.num_threads)

    def probability(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """Calibrated probability of the event (churn in 90 days, or 30+ DPD in 12 months)."""
        return self.spec.calibration.apply(self.raw_probability(prepare_features(frame, self.spec)))

    def probability_of(self, values: Mapping[str, object]) -> float:
        """`probability` of one customer's feature values (name → value, as the online store gives them).

        The request path: the row goes to LightGBM as a float array with the booster's category codes,
        the same numbers `prepare_features` and LightGBM's pandas conversion produce; values of other
        types than None, numbers and (for categoricals) strings take the pandas path."""
        row = _float_row(values, self.spec.features, self._category_codes)
        if row is None:
            frame = pd.DataFrame([{n: values.get(n) for n in self.spec.features}])
            return float(self.probability(frame)[0])
        raw = self.booster.predict(row[np.newaxis, :], num_threads=self.num_threads)
        return float(self.spec.calibration.apply(raw)[0])

    def contributions_of(self, values: Mapping[str, object]) -> NDArray[np.float64]:
        """`contributions` (1 × features) of one customer's feature values, by the `probability_of` path."""
        row = _float_row(values, self.spec.features, self._category_codes)
        if row is None:
            frame = pd.DataFrame([{n: values.get(n) for n in self.spec.features}])
            return self.contributions(prepare_features(frame, self.spec))
        return np.asarray(self.booster.predict(row[np.newaxis, :], pred_contrib=True,
                                               num_threads=self.num_threads))[:, :-1]

    @cached_property
    def _category_codes(self) -> dict[str, dict[str, int]]:
        """Categorical feature → category → the code LightGBM gives it (its stored pandas categories)."""
        categorical = [f for f in self.spec.features if f in self.spec.categorical]
        stored = self.booster.pandas_categorical or []
        if len(stored) != len(categorical):
            raise ValueError(f"booster has {len(stored)} categorical features, the spec {len(categorical)}")
        return {name: {c: i for i, c in enumerate(levels)} for name, levels in zip(categorical, stored, strict=True)}

    @cached_property
    def pattern_tables(self) -> PatternTreeShap | None:
        """Exact TreeSHAP tables for large batches (None when the trees are too big for them)."""
        return PatternTreeShap.for_booster(self.booster)

    def contributions(self, features: pd.DataFrame) -> NDArray[np.float64]:
        """SHAP contributions (log-odds) per feature, without the bias column: LightGBM's
        `pred_contrib`, or for batches of TABLE_MIN_ROWS or more the same values from pattern tables."""
        if len(features) >= TABLE_MIN_ROWS and self.pattern_tables is not None:
            return self.pattern_tables.contributions(features)[:, :-1]
        contrib = self.booster.predict(features, pred_contrib=True, num_threads=self.num_threads)
        return np.asarray(contrib)[:, :-1]

    def score(self, frame: pd.DataFrame, lang: Lang = "en", with_reasons: bool = True) -> pd.DataFrame:
        """Probability, band (and for delinquency points), reason codes and (for churn) an action."""
        features = prepare_features(frame, self.spec)
        probability = self.spec.calibration.apply(self.raw_probability(features))
        out = pd.DataFrame(index=frame.index)
        if self.spec.kind == "delinquency":
            out["pd"] = probability
            out["score"] = np.rint(Scorecard().points(probability)).astype(int)
            out["band"] = RISK_BANDS.assign(out["score"])
        else:
            out["probability"] = probability
            out["band"] = CHURN_BANDS.assign(probability)
        if with_reasons:
            k = REASONS_PER_KIND[self.spec.kind]
            out = out.join(reason_columns(features, self.contributions(features), k, lang))
            if self.spec.kind == "churn":
                out = out.join(retention_actions(out["reason_code_1"], lang))
        return out


def _float_row(values: Mapping[str, object], features: list[str],
               codes: dict[str, dict[str, int]]) -> NDArray[np.float64] | None:
    """One row as LightGBM's pandas path sees it (NaN: missing or unknown category); None if unsure."""
    row = np.empty(len(features))
    for i, name in enumerate(features):
        value = values.get(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            row[i] = np.nan
        elif name in codes:
            if not isinstance(value, str):
                return None
            row[i] = codes[name].get(value, np.nan) if value else np.nan
        elif isinstance(value, bool | int | float | np.number):
            row[i] = float(value)
        else:
            return None
    return row


class RiskPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: `predict` returns calibrated probabilities, points and bands (no reasons)."""

    scorer: RiskScorer

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        spec = RiskSpec.from_dict(json.loads(Path(context.artifacts["spec"]).read_text(encoding="utf-8")))
        self.scorer = RiskScorer(lgb.Booster(model_file=context.artifacts["booster"]), spec)

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,  # noqa: ARG002
                params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        return self.scorer.score(model_input, with_reasons=False)


def risk_signature(spec: RiskSpec) -> ModelSignature:
    """Inputs: the features (strings for categoricals, doubles otherwise, all optional); outputs per kind."""
    inputs = Schema([ColSpec(DataType.string if f in spec.categorical else DataType.double, f, required=False)
                     for f in spec.features])
    if spec.kind == "delinquency":
        outputs = [ColSpec(DataType.double, "pd"), ColSpec(DataType.long, "score")]
    else:
        outputs = [ColSpec(DataType.double, "probability")]
    return ModelSignature(inputs, Schema([*outputs, ColSpec(DataType.string, "band")]))


def save_artifacts(booster: lgb.Booster, spec: RiskSpec, directory: Path) -> dict[str, str]:
    """Write the booster and spec files a `RiskPyfunc` is logged with; return MLflow's artifacts map."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path, spec_path = directory / "booster.txt", directory / "spec.json"
    booster.save_model(str(booster_path))
    spec_path.write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
    return {"booster": str(booster_path), "spec": str(spec_path)}


def load_scorer(model_uri: str) -> RiskScorer:
    """Load a logged risk model (e.g. `models:/nbo-delinquency@champion`) as a `RiskScorer`.

    Raises:
        ModelUnavailable: the registry has no such model, version or alias.
    """
    try:
        model = load_python_model(model_uri)
    except MlflowException as err:
        raise ModelUnavailable(f"cannot load {model_uri}: {err.message}") from err
    return model.scorer
