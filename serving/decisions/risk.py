"""Churn and delinquency answers for one customer or a batch, each audited before it is returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from features.online.reader import OnlineFeatures
from models.risk import RiskScorer
from nbo.errors import ModelUnavailable, NotFound
from serving.audit.store import AuditStore
from serving.decisions.variants import variant_for
from serving.runtime import Runtime

LANGS = {"zh": "zh-CN", "en": "en"}


@dataclass(frozen=True)
class RiskPolicy:
    """Deployment choices for risk answers."""

    challenger_share: float = 0.0
    refuse_stale: bool = False


def freshness(features: OnlineFeatures, names: list[str] | None = None) -> dict[str, Any]:
    """Whether the features (all, or `names`) are within their TTL, which are not, and the oldest."""
    names = list(features.timestamps) if names is None else names
    stale = sorted(set(features.stale) & set(names))
    stamps = [features.timestamps[n] for n in names if features.timestamps.get(n) is not None]
    return {"is_fresh": not stale, "stale_features": stale, "oldest_feature_at": min(stamps) if stamps else None}


def _reasons(row: pd.Series, k: int) -> list[dict[str, str]]:
    out = []
    for i in range(1, k + 1):
        code = row.get(f"reason_code_{i}")
        if code:
            out.append({"code": str(code), "text": str(row[f"reason_{i}"])})
    return out


def _audit_features(features: OnlineFeatures, names: list[str]) -> dict[str, Any]:
    return {n: {"value": features.values.get(n), "at": features.timestamps.get(n)} for n in names}


class RiskService:
    """Reads a customer's online features once, scores, audits, answers."""

    def __init__(self, runtime: Runtime, audit: AuditStore, policy: RiskPolicy):
        self.runtime, self.audit, self.policy = runtime, audit, policy

    def _features(self, customer_id: str) -> OnlineFeatures:
        return self.runtime.reader.read_customer(customer_id)

    def _check_fresh(self, features: OnlineFeatures, scorer: RiskScorer) -> None:
        stale = freshness(features, scorer.spec.features)["stale_features"]
        if self.policy.refuse_stale and stale:
            raise ModelUnavailable(f"features of {features.customer_id} are older than their TTL: "
                                   f"{', '.join(stale[:5])}")

    def _score(self, scorer: RiskScorer, features: OnlineFeatures, lang: str) -> pd.Series:
        self._check_fresh(features, scorer)
        frame = pd.DataFrame([{n: features.values.get(n) for n in scorer.spec.features}])
        return scorer.score(frame, lang=LANGS[lang]).iloc[0]

    def churn(self, customer_id: str, lang: str, request_id: str) -> dict[str, Any]:
        """Churn probability, band, top reasons and the suggested retention action."""
        variant = variant_for(customer_id, self.policy.challenger_share)
        models = self.runtime.risk_models(variant)
        features = self._features(customer_id)
        row = self._score(models.churn, features, lang)
        ref = models.refs["nbo-churn"]
        answer = {"customer_id": customer_id, "model_version": ref.version,
                  "probability": float(row["probability"]), "band": str(row["band"]),
                  "reasons": _reasons(row, 3), "action": {"code": str(row["action_id"]), "text": str(row["action"])}}
        decision = self.audit.record_decision(
            kind="churn", customer_id=customer_id, request_id=request_id, variant=models.alias,
            model_versions={ref.name: {"alias": ref.alias, "version": ref.version}},
            payload={"answer": answer, "features": _audit_features(features, models.churn.spec.features)})
        return {"decision_id": decision.decision_id, **answer}

    def _delinquency_answer(self, models: Any, features: OnlineFeatures, row: pd.Series) -> dict[str, Any]:
        return {"customer_id": features.customer_id, "model_version": models.refs["nbo-delinquency"].version,
                "pd": float(row["pd"]), "score": int(row["score"]), "band": str(row["band"]),
                "reason_codes": _reasons(row, 4),
                "freshness": freshness(features, models.delinquency.spec.features)}

    def delinquency(self, customer_id: str, lang: str, request_id: str) -> dict[str, Any]:
        """PD, scorecard points, band, up to 4 reason codes and feature freshness."""
        models = self.runtime.risk_models("champion")
        features = self._features(customer_id)
        answer = self._delinquency_answer(models, features, self._score(models.delinquency, features, lang))
        ref = models.refs["nbo-delinquency"]
        decision = self.audit.record_decision(
            kind="delinquency", customer_id=customer_id, request_id=request_id, variant=models.alias,
            model_versions={ref.name: {"alias": ref.alias, "version": ref.version}},
            payload={"answer": answer, "features": _audit_features(features, models.delinquency.spec.features)})
        return {"decision_id": decision.decision_id, **answer}

    def delinquency_batch(self, customer_ids: list[str], lang: str, request_id: str) -> dict[str, Any]:
        """Score many customers at once; unknown ones are listed as errors, never dropped silently.

        Features are read per customer, scored in one frame and audited in one transaction, so
        every score returned is committed before the response.
        """
        models = self.runtime.risk_models("champion")
        scorer, ref = models.delinquency, models.refs["nbo-delinquency"]
        read, errors = [], []
        for customer_id in customer_ids:
            try:
                features = self._features(customer_id)
                self._check_fresh(features, scorer)
                read.append(features)
            except (NotFound, ModelUnavailable) as err:
                errors.append({"customer_id": customer_id, "status": err.status, "detail": str(err)})
        if not read:
            return {"request_id": request_id, "scores": [], "errors": errors}
        frame = pd.DataFrame([{n: f.values.get(n) for n in scorer.spec.features} for f in read])
        rows = scorer.score(frame, lang=LANGS[lang])
        answers = [self._delinquency_answer(models, f, row) for f, (_, row) in zip(read, rows.iterrows(), strict=True)]
        decisions = self.audit.record_decisions(
            kind="delinquency", request_id=request_id, variant=models.alias,
            model_versions={ref.name: {"alias": ref.alias, "version": ref.version}},
            entries=[(f.customer_id, {"answer": a, "features": _audit_features(f, scorer.spec.features)})
                     for f, a in zip(read, answers, strict=True)])
        scores = [{"decision_id": d.decision_id, **a} for d, a in zip(decisions, answers, strict=True)]
        return {"request_id": request_id, "scores": scores, "errors": errors}
