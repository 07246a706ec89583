"""The decision on one payment's features: the fraud model when one is served, and the plain rules.

The rules (`models/fraud_rules.py`) can only make a decision stricter; without a fraud champion they
decide alone (a payment system must not stop because a model is missing) and the answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.fraud_rules import RuleLimits, evaluate_rules, rules_decision


@dataclass(frozen=True)
class Verdict:
    decision: str
    score: float | None
    reasons: list[dict[str, str]]
    model_version: str | None
    versions: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FraudJudge:
    """The rules, and the fraud model behind `champion` when there is one."""

    limits: RuleLimits = RuleLimits()

    def decide(self, features: Mapping[str, float], currency: str) -> Verdict:
        hits = evaluate_rules(features, self.limits, currency)
        reasons = [{"code": h.code, "zh": h.text["zh"], "en": h.text["en"]} for h in hits]
        return Verdict(rules_decision(hits), None, reasons, None)
