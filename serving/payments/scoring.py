"""The decision on one payment's features: the fraud champion when one is served, else the plain rules.

The rules (`models/fraud_rules.py`) can only make the model's decision stricter; without a fraud
champion they decide alone (a payment system must not stop because a model is missing) and the
answer says so (`rules_only`, no score, no model version).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.fraud import score_rules
from models.fraud_rules import DEFAULT_LIMITS
from serving.runtime import FraudModel


@dataclass(frozen=True)
class Verdict:
    decision: str
    score: float | None
    reasons: list[dict[str, str]]
    model_version: str | None
    versions: dict[str, Any] = field(default_factory=dict)  # for the audit: model → alias → version


def judge(model: FraudModel | None, features: Mapping[str, float], currency: str) -> Verdict:
    """The model's and the rules' decision, score and reasons (rules first), or the rules' alone."""
    result = score_rules(features, DEFAULT_LIMITS, currency) if model is None else model.scorer.score(features)
    reasons = [{"code": r.code, "zh": r.zh, "en": r.en} for r in result.reasons]
    if model is None:
        return Verdict(result.decision, None, reasons, None)
    return Verdict(result.decision, round(float(result.score), 6) if result.score is not None else None, reasons,
                   model.ref.version, {model.ref.name: {model.ref.alias: model.ref.version}})
