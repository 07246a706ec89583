"""The churn and delinquency scorers as they travel through MLflow: booster + calibration + spec.

A logged risk model is an MLflow pyfunc whose artifacts are the LightGBM model file and a JSON
spec (features, categorical columns, calibration). `load_artifacts` builds a `RiskScorer` from
them; it scores one customer or many through one path: `RowEncoder` → float matrix → LightGBM
(and TreeSHAP pattern tables for large batches) → probability, points, band, reasons, action.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema
from numpy.typing import NDArray

from models.calibration import Calibration
from models.encoding import RowEncoder
from models.explain.inputs import InputProfile, check_inputs
from models.explain.lang import Lang
from models.explain.risk import ReasonContext, reason_columns, retention_actions
from models.risk_scores import RiskScores
from models.scorecard import CHURN_BANDS, RISK_BANDS, Bands, Scorecard
from models.treeshap import PatternTreeShap
from sources.portfolio import DEFAULT_CURRENCY, DEMO

RiskKind = Literal["churn", "delinquency"]
FIXED_BANDS: dict[str, Bands] = {"churn": CHURN_BANDS, "delinquency": RISK_BANDS}
REASONS_PER_KIND: dict[str, int] = {"churn": 3, "delinquency": 4}
MODEL_CODE = Path(__file__).with_name("risk_mlflow.py")
TABLE_MIN_ROWS = 1_000  # below this, pred_contrib is quicker than building the pattern tables
PLAIN_NUMBERS = frozenset({float, int, bool, type(None), np.float64, np.float32, np.int64, np.int32, np.bool_})
Columns = Mapping[str, Sequence[object] | NDArray]


@dataclass(frozen=True)
class RiskSpec:
    """What a scorer needs besides the booster; stored as `spec.json` in the logged model.

    `portfolio` and `currency` say whose data it was trained on (the currency of its amounts);
    `bands` are the bands it scores into (None: the fixed bands of its kind); `inputs` (origins,
    one-value groups, development ranges) shape the reasons and flags. Specs logged before these
    fields read as demo, CNY, fixed bands and no input profile.
    """

    kind: RiskKind
    features: list[str]
    categorical: list[str] = field(default_factory=list)
    calibration: Calibration = field(default_factory=lambda: Calibration("none"))
    portfolio: str = DEMO
    currency: str = DEFAULT_CURRENCY
    bands: Bands | None = None
    inputs: InputProfile = field(default_factory=InputProfile)

    @property
    def band_set(self) -> Bands:
        """The bands scores fall into: the fitted ones, else the fixed ones of the kind."""
        return self.bands or FIXED_BANDS[self.kind]

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "features": self.features, "categorical": self.categorical,
                "calibration": self.calibration.to_dict(), "portfolio": self.portfolio,
                "currency": self.currency, "bands": None if self.bands is None else self.bands.to_dict(),
                "inputs": self.inputs.to_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> RiskSpec:
        bands = data.get("bands")
        inputs = InputProfile.from_dict(data["inputs"]) if "inputs" in data else InputProfile()
        return cls(data["kind"], list(data["features"]), list(data["categorical"]),
                   Calibration.from_dict(data["calibration"]), str(data.get("portfolio", DEMO)),
                   str(data.get("currency", DEFAULT_CURRENCY)), None if bands is None else Bands.from_dict(bands),
                   inputs)


def frame_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, NDArray]:
    """Columns of a frame as the encoder reads them: numbers as floats, anything else as objects (NA → None)."""
    out: dict[str, NDArray] = {}
    for name in names:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            out[name] = column.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = column.to_numpy(dtype=object)
            out[name] = np.where(pd.isna(values), None, values)
    return out


def _plain_floats(column: Sequence[object] | NDArray) -> Sequence[object] | NDArray:
    """A list of plain numbers and None as a float array (the encoder's fast path); anything else as given."""
    if isinstance(column, np.ndarray) or not set(map(type, column)) <= PLAIN_NUMBERS:
        return column
    return np.array(column, dtype=float)


@dataclass(frozen=True)
class Encoded:
    """Rows as LightGBM reads them, with the categorical values as sent (reasons print those)."""

    matrix: NDArray[np.float64]
    categorical: dict[str, NDArray[np.object_]]


class RiskScorer:
    """Score customers with a trained risk model (a LightGBM booster and its spec)."""

    def __init__(self, booster: lgb.Booster, spec: RiskSpec, num_threads: int = 0):
        self.booster = booster
        self.spec = spec
        self.num_threads = num_threads

    @cached_property
    def encoder(self) -> RowEncoder:
        return RowEncoder.for_booster(self.booster, self.spec.features, dict.fromkeys(self.spec.categorical))

    @cached_property
    def pattern_tables(self) -> PatternTreeShap | None:
        """Exact TreeSHAP tables for large batches (None when the trees are too big for them)."""
        return PatternTreeShap.for_booster(self.booster)

    def encode_columns(self, columns: Columns, n: int) -> Encoded:
        """n customers given as one column per feature (absent features are missing).

        Raises:
            NotPlainValue: a value that is not None, a number or (for a categorical) a string."""
        given = {name: _plain_floats(columns[name]) if name in columns else np.full(n, np.nan)
                 for name in self.spec.features}
        categorical = {name: np.array(["" if v is None else v for v in given[name]], dtype=object)
                       for name in self.encoder.codes}
        return Encoded(self.encoder.columns(given, n), categorical)

    def encode_rows(self, rows: Sequence[Mapping[str, object]]) -> Encoded:
        """Customers' feature dicts (name → value, as the online store gives them)."""
        return self.encode_columns({n: [r.get(n) for r in rows] for n in self.spec.features}, len(rows))

    def encode_frame(self, frame: pd.DataFrame) -> Encoded:
        """A frame's rows (training, evaluation and portfolios read frames)."""
        return self.encode_columns(frame_columns(frame, self.spec.features), len(frame))

    def probabilities(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated probability of the event (churn in 90 days, or 30+ DPD in 12 months)."""
        return self.spec.calibration.apply(self.booster.predict(matrix, num_threads=self.num_threads))

    def contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """SHAP contributions (log-odds) per feature, without the bias column: LightGBM's
        `pred_contrib`, or for batches of TABLE_MIN_ROWS or more the same values from pattern tables."""
        if len(matrix) >= TABLE_MIN_ROWS and self.pattern_tables is not None:
            return self.pattern_tables.contributions(matrix)[:, :-1]
        return np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=self.num_threads))[:, :-1]

    def probability_of(self, values: Mapping[str, object]) -> float:
        """`probabilities` of one customer's feature values."""
        return float(self.probabilities(self.encode_rows([values]).matrix)[0])

    def contributions_of(self, values: Mapping[str, object]) -> NDArray[np.float64]:
        """`contributions` (1 × features) of one customer's feature values."""
        return self.contributions(self.encode_rows([values]).matrix)

    def probability(self, frame: pd.DataFrame) -> NDArray[np.float64]:
        """`probabilities` of a frame's rows."""
        return self.probabilities(self.encode_frame(frame).matrix)

    def score_encoded(self, encoded: Encoded, lang: Lang = "en", with_reasons: bool = True) -> RiskScores:
        """Probability, band (and for delinquency points), reasons, flags and (for churn) an action per row.

        Flags name the values the model did not see in development; an unseen category is never a
        reason, a value beyond the development range is one that says so."""
        probability = self.probabilities(encoded.matrix)
        kind = self.spec.kind
        points = np.rint(Scorecard().points(probability)).astype(int) if kind == "delinquency" else None
        band = self.spec.band_set.assign(points if points is not None else probability)
        scores = RiskScores(kind, probability, points, band.astype(object))
        if not with_reasons:
            return scores
        spec = self.spec
        checks = check_inputs(spec.features, encoded.matrix, encoded.categorical, spec.inputs.bounds)
        context = ReasonContext(spec.inputs, spec.currency, checks.unseen, checks.beyond)
        shown = lambda j: self._shown(encoded, j)  # noqa: E731
        codes, texts = reason_columns(spec.features, shown, self.contributions(encoded.matrix),
                                      REASONS_PER_KIND[kind], lang, context)
        actions = retention_actions(codes[:, 0], lang) if kind == "churn" else None
        flags = checks.flags(spec.features, shown, spec.inputs.bounds)
        return scores.with_reasons(codes, texts, actions, flags)

    def _shown(self, encoded: Encoded, j: int) -> NDArray:
        """Feature j's values as a reason prints them: categoricals as sent, the rest as read."""
        name = self.spec.features[j]
        found = encoded.categorical.get(name)
        return encoded.matrix[:, j] if found is None else np.where(found == "", None, found)

    def score_rows(self, rows: Sequence[Mapping[str, object]], lang: Lang = "en") -> RiskScores:
        """`score_encoded` of customers' feature dicts."""
        return self.score_encoded(self.encode_rows(rows), lang)

    def score(self, frame: pd.DataFrame, lang: Lang = "en", with_reasons: bool = True) -> pd.DataFrame:
        """`score_encoded` of a frame's rows, as a frame with the frame's index."""
        return self.score_encoded(self.encode_frame(frame), lang, with_reasons).frame(frame.index)


class RiskPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: `predict` returns calibrated probabilities, points and bands (no reasons)."""

    scorer: RiskScorer

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = load_artifacts(context.artifacts)

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,  # noqa: ARG002
                params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        return self.scorer.score(model_input, with_reasons=False)


def caller_frame(frame: pd.DataFrame, spec: RiskSpec) -> pd.DataFrame:
    """The feature columns as a caller sends them: strings for categoricals ("" when missing), floats otherwise."""
    out = pd.DataFrame(index=frame.index)
    for name in spec.features:
        if name in spec.categorical:
            out[name] = frame[name].astype("string").fillna("").astype(object)
        else:
            out[name] = pd.to_numeric(frame[name], errors="raise").astype(float)
    return out


def risk_signature(spec: RiskSpec) -> ModelSignature:
    """Inputs: the features (strings for categoricals, doubles otherwise, all optional); outputs per kind."""
    inputs = Schema([ColSpec(DataType.string if f in spec.categorical else DataType.double, f, required=False)
                     for f in spec.features])
    if spec.kind == "delinquency":
        outputs = [ColSpec(DataType.double, "pd"), ColSpec(DataType.long, "score")]
    else:
        outputs = [ColSpec(DataType.double, "probability")]
    return ModelSignature(inputs, Schema([*outputs, ColSpec(DataType.string, "band")]))


class SavedSpec(Protocol):
    """A model's spec as logged beside its booster (`RiskSpec`, `models.fraud.FraudSpec`)."""

    def to_dict(self) -> dict[str, object]: ...


def save_artifacts(booster: lgb.Booster, spec: SavedSpec, directory: Path) -> dict[str, str]:
    """Write the booster and spec files a `RiskPyfunc` (or `FraudPyfunc`) is logged with; return MLflow's artifacts map."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path, spec_path = directory / "booster.txt", directory / "spec.json"
    booster.save_model(str(booster_path))
    spec_path.write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
    return {"booster": str(booster_path), "spec": str(spec_path)}


def load_artifacts(artifacts: Mapping[str, str]) -> RiskScorer:
    """The scorer written by `save_artifacts`."""
    spec = RiskSpec.from_dict(json.loads(Path(artifacts["spec"]).read_text(encoding="utf-8")))
    return RiskScorer(lgb.Booster(model_file=artifacts["booster"]), spec)
