"""The payment fraud scorer the service loads: a LightGBM model, its thresholds and the plain rules.

`FraudScorer.score(features)` scores one payment's feature dict (the counters' features and the
profile's, by the names the model was trained on: `spec.features`, logged with the model) and returns
`FraudResult(score, decision, reasons)`:
- score: the model's fraud score in [0, 1] (None when no model decided: `score_rules`);
- decision: the strictest of the model's (hold above `spec.hold_above`, step up above
  `spec.step_up_above`: thresholds chosen at the training run's budgets) and the rules'
  (`models.fraud_rules`);
- reasons: the rules that fired, then (when the decision is not allow) the features that pushed the
  score up most (TreeSHAP contributions from LightGBM's `pred_contrib`), each in zh and en, worded by
  `models/explain/fraud_reasons.json`.
One payment costs one `pred_contrib` call on a 1-row float array (no pandas): ~0.1-0.2 ms for the
small trees nbo trains (`benchmarks/payments.py` measures the endpoint).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType, Schema

from models.explain import glossary
from models.explain.lang import LANGS, Lang
from models.fraud_rules import DEFAULT_LIMITS, Decision, RuleLimits, evaluate_rules, strongest
from sources.portfolio import DEFAULT_CURRENCY, DEMO

MODEL_CODE = Path(__file__).with_name("fraud_mlflow.py")
MODEL_REASONS = 3  # model reasons per payment, besides the rules'


@dataclass(frozen=True)
class FraudSpec:
    """What the scorer needs besides the booster; `spec.json` in the logged model.

    `never`: per "time since" feature, the value that means it never happened (not a reason);
    `channels`: the channel names by `channel_code`; budgets: the share of the development period's
    payments the thresholds were chosen to hold / step up."""

    features: list[str]
    hold_above: float
    step_up_above: float
    hold_budget: float
    step_up_budget: float
    limits: RuleLimits = field(default_factory=RuleLimits)
    never: dict[str, float] = field(default_factory=dict)
    channels: list[str] = field(default_factory=list)
    portfolio: str = DEMO
    currency: str = DEFAULT_CURRENCY

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> FraudSpec:
        return cls(**(data | {"limits": RuleLimits(**data["limits"])}))

    def thresholds(self) -> dict[str, float]:
        """The decision thresholds and the budgets they were chosen at (`thresholds.json` of a run)."""
        return {"hold_above": self.hold_above, "step_up_above": self.step_up_above,
                "hold_budget": self.hold_budget, "step_up_budget": self.step_up_budget}


class Reason(NamedTuple):
    """Why a payment was stopped: a code (R*: a rule; else a model feature), its source and its texts."""

    code: str
    source: str  # "rule" or "model"
    zh: str
    en: str


class FraudResult(NamedTuple):
    score: float | None
    decision: Decision
    reasons: list[Reason]


@dataclass(frozen=True)
class _Template:
    code: str
    value_format: str
    text: dict[str, str]


@cache
def reason_templates() -> tuple[str, dict[str, _Template], _Template]:
    """(version, templates by feature, fallback) of `fraud_reasons.json`."""
    data = json.loads(resources.files("models.explain").joinpath("fraud_reasons.json").read_text(encoding="utf-8"))
    make = lambda e: _Template(e["code"], e["format"], {lang: e[lang] for lang in LANGS})  # noqa: E731
    return data["version"], {name: make(e) for name, e in data["features"].items()}, make(data["fallback"])


def _number(value: float) -> str:
    return f"{value:,.1f}".rstrip("0").rstrip(".") if abs(value) < 10 else f"{value:,.0f}"


def _shown(value: float, value_format: str, lang: Lang, spec: FraudSpec) -> str:
    if value_format == "money":
        return glossary.money(value, lang, spec.currency)
    if value_format == "money_log":
        return glossary.money(math.expm1(value), lang, spec.currency)
    if value_format == "ratio":
        return f"{value:.1f}" if value < 10 else f"{value:,.0f}"
    if value_format.startswith("term:"):
        code = int(value)
        name = spec.channels[code] if 0 <= code < len(spec.channels) else str(code)
        return glossary.term(value_format.removeprefix("term:"), name, lang)
    return _number(value)


def feature_reason(feature: str, value: float, spec: FraudSpec) -> Reason | None:
    """A feature's value as a reason; None when it says nothing (a flag not set, a thing that never
    happened, a missing value)."""
    _, templates, fallback = reason_templates()
    template = templates.get(feature, fallback)
    fmt = template.value_format
    if math.isnan(value) or (fmt == "flag" and value < 0.5) or (fmt == "since" and value >= spec.never.get(feature, math.inf)):
        return None
    texts = {lang: template.text[lang].replace("{feature}", feature).replace("{value}", _shown(value, fmt, lang, spec))
             for lang in LANGS}
    return Reason(template.code if template is not fallback else f"{template.code}:{feature}", "model",
                  texts["zh"], texts["en"])


def score_rules(features: Mapping[str, float], limits: RuleLimits = DEFAULT_LIMITS,
                currency: str = DEFAULT_CURRENCY) -> FraudResult:
    """The rules alone (no model): score None, the rules' decision and reasons."""
    hits = evaluate_rules(features, limits, currency)
    return FraudResult(None, strongest([h.decision for h in hits]),
                       [Reason(h.code, "rule", h.text["zh"], h.text["en"]) for h in hits])


def model_decision(score: float, spec: FraudSpec) -> Decision:
    """The model's own decision at its thresholds (a score strictly above a threshold crosses it)."""
    return "hold" if score > spec.hold_above else "step_up" if score > spec.step_up_above else "allow"


class FraudScorer:
    """Score payments with a trained fraud model (a LightGBM booster and its spec) and the rules."""

    def __init__(self, booster: lgb.Booster, spec: FraudSpec, num_threads: int = 1):
        self.booster = booster
        self.spec = spec
        self.num_threads = num_threads

    def matrix(self, rows: list[Mapping[str, float]]) -> np.ndarray:
        """Feature dicts as the float matrix the booster reads (absent or None: NaN)."""
        names = self.spec.features
        return np.array([[math.nan if (v := r.get(n)) is None else v for n in names] for r in rows], dtype=float)

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions in log-odds, one column per feature plus the bias (last)."""
        return np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=self.num_threads))

    def scores(self, frame: pd.DataFrame) -> np.ndarray:
        """Model scores of many payments (training and evaluation: a frame with the feature columns)."""
        x = frame[self.spec.features].to_numpy(dtype=float, na_value=np.nan)
        return np.asarray(self.booster.predict(x, num_threads=self.num_threads))

    def score(self, features: Mapping[str, float]) -> FraudResult:
        """One payment: model score, the strictest of the model's and the rules' decisions, reasons."""
        contributions = self.contributions(self.matrix([features]))[0]
        score = 1.0 / (1.0 + math.exp(-float(contributions.sum())))
        rules = score_rules(features, self.spec.limits, self.spec.currency)
        decision = strongest([model_decision(score, self.spec), rules.decision])
        reasons = list(rules.reasons)
        if decision != "allow":
            reasons += self._model_reasons(features, contributions[:-1])
        return FraudResult(score, decision, reasons)

    def _model_reasons(self, features: Mapping[str, float], contributions: np.ndarray) -> list[Reason]:
        """The features that pushed the score up most, strongest first, one per code."""
        found: list[Reason] = []
        for j in np.argsort(-contributions, kind="stable"):
            if contributions[j] <= 0 or len(found) == MODEL_REASONS:
                break
            name = self.spec.features[j]
            value = features.get(name)
            reason = feature_reason(name, math.nan if value is None else float(value), self.spec)
            if reason is not None and all(r.code != reason.code for r in found):
                found.append(reason)
        return found


class FraudPyfunc(mlflow.pyfunc.PythonModel):
    """MLflow wrapper: `predict` returns each payment's score and decision (model and rules; no reasons)."""

    scorer: FraudScorer

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.scorer = load_artifacts(context.artifacts)

    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: pd.DataFrame,  # noqa: ARG002
                params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        results = [self.scorer.score(row) for row in model_input.to_dict("records")]
        return pd.DataFrame({"score": [r.score for r in results], "decision": [r.decision for r in results]})


def fraud_signature(spec: FraudSpec) -> ModelSignature:
    """Inputs: the features (doubles, all optional); outputs: score and decision."""
    inputs = Schema([ColSpec(DataType.double, f, required=False) for f in spec.features])
    return ModelSignature(inputs, Schema([ColSpec(DataType.double, "score"), ColSpec(DataType.string, "decision")]))


def save_artifacts(booster: lgb.Booster, spec: FraudSpec, directory: Path) -> dict[str, str]:
    """Write the booster and spec files a `FraudPyfunc` is logged with; return MLflow's artifacts map."""
    directory.mkdir(parents=True, exist_ok=True)
    booster_path, spec_path = directory / "booster.txt", directory / "spec.json"
    booster.save_model(str(booster_path))
    spec_path.write_text(json.dumps(spec.to_dict(), indent=2), encoding="utf-8")
    return {"booster": str(booster_path), "spec": str(spec_path)}


def load_artifacts(artifacts: Mapping[str, str]) -> FraudScorer:
    """The scorer written by `save_artifacts`."""
    spec = FraudSpec.from_dict(json.loads(Path(artifacts["spec"]).read_text(encoding="utf-8")))
    return FraudScorer(lgb.Booster(model_file=artifacts["booster"]), spec)
