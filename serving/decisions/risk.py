"""Churn and delinquency answers for one customer or a batch, each audited before it is returned
(with the shadow's scores of the same features, when a shadow is set: `serving.decisions.shadow`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from features.online.reader import OnlineFeatures
from models.explain.lang import Lang
from models.registry import CHURN, DELINQUENCY
from models.risk import RiskScorer
from models.risk_scores import Reason, RiskRow
from nbo.errors import ModelUnavailable, NotFound
from serving.audit.store import AuditStore
from serving.decisions.shadow import risk_shadow
from serving.decisions.variants import variant_for
from serving.runtime import RiskModel, Runtime
from serving.schemas import ChurnScore, DelinquencyScore


@dataclass(frozen=True)
class RiskPolicy:
    """Deployment choices for risk answers."""

    challenger_share: float = 0.0
    refuse_stale: bool = False


def freshness(features: OnlineFeatures, names: list[str] | None = None) -> dict[str, Any]:
    """Whether the features (all, or `names`) are within their TTL, which are not, and the oldest."""
    names = list(features.timestamps) if names is None else names
    stale = sorted(set(features.stale).intersection(names))
    stamps = [at for at in map(features.timestamps.get, names) if at is not None]
    return {"is_fresh": not stale, "stale_features": stale, "oldest_feature_at": min(stamps) if stamps else None}


def _reasons(reasons: list[Reason]) -> list[dict[str, str]]:
    return [{"code": r.code, "text": r.text} for r in reasons]


def _flags(row: RiskRow) -> list[dict[str, Any]]:
    return [f.to_dict() for f in row.flags]


class _Shown(dict[datetime | None, str | None]):
    """An event time as the audit shows it (`str(time)`, its JSON form), each converted once."""

    def __missing__(self, at: datetime | None) -> str | None:
        shown = self[at] = None if at is None else str(at)
        return shown


def _audit_features(features: OnlineFeatures, names: list[str], shown: _Shown) -> dict[str, Any]:
    """Each feature's value and event time."""
    values, stamps = features.values, features.timestamps
    return {n: {"value": values.get(n), "at": shown[stamps.get(n)]} for n in names}


class BatchAnswer(TypedDict):
    """`DelinquencyBatch` as plain data: built once, serialised once by the route."""

    request_id: str
    scores: list[dict[str, Any]]
    errors: list[dict[str, Any]]


class RiskService:
    """Reads a customer's online features once, scores, audits, answers."""

    def __init__(self, runtime: Runtime, audit: AuditStore, policy: RiskPolicy):
        self.runtime, self.audit, self.policy = runtime, audit, policy

    def _check_fresh(self, features: OnlineFeatures, scorer: RiskScorer) -> dict[str, Any]:
        """The freshness of the scorer's features; ModelUnavailable if stale ones are refused."""
        fresh = freshness(features, scorer.spec.features)
        stale = fresh["stale_features"]
        if self.policy.refuse_stale and stale:
            raise ModelUnavailable(f"features of {features.customer_id} are older than their TTL: "
                                   f"{', '.join(stale[:5])}")
        return fresh

    def _read_scored(self, scorer: RiskScorer, customer_id: str,
                     lang: Lang) -> tuple[OnlineFeatures, dict[str, Any], RiskRow]:
        features = self.runtime.reader.read_customer(customer_id)
        fresh = self._check_fresh(features, scorer)
        return features, fresh, scorer.score_rows([features.values], lang).rows()[0]

    def _record(self, kind: str, model: RiskModel, request_id: str,
                entries: list[tuple[str, dict[str, Any]]]) -> list[str]:
        ref = model.ref
        decisions = self.audit.record_decisions(
            kind=kind, request_id=request_id, variant=model.alias,
            model_versions={ref.name: {"alias": ref.alias, "version": ref.version}}, entries=entries)
        return [d.decision_id for d in decisions]

    def churn(self, customer_id: str, lang: Lang, request_id: str) -> ChurnScore:
        """Churn probability, band, top reasons and the suggested retention action."""
        model = self.runtime.risk_model(CHURN, variant_for(customer_id, self.policy.challenger_share))
        features, _, row = self._read_scored(model.scorer, customer_id, lang)
        assert row.action is not None
        answer = {"customer_id": customer_id, "model_version": model.ref.version,
                  "probability": row.probability, "band": row.band, "reasons": _reasons(row.reasons),
                  "action": {"code": row.action.code, "text": row.action.text}, "flags": _flags(row)}
        payload = {"answer": answer, "features": _audit_features(features, model.scorer.spec.features, _Shown()),
                   **risk_shadow(self.runtime.shadow_risk(CHURN), [features.values])[0]}
        [decision_id] = self._record("churn", model, request_id, [(customer_id, payload)])
        return ChurnScore.model_validate({"decision_id": decision_id, **answer})

    @staticmethod
    def _delinquency_answer(model: RiskModel, customer_id: str, fresh: dict[str, Any], row: RiskRow) -> dict[str, Any]:
        return {"customer_id": customer_id, "model_version": model.ref.version,
                "pd": row.probability, "score": row.points, "band": row.band,
                "reason_codes": _reasons(row.reasons), "freshness": fresh, "flags": _flags(row)}

    def delinquency(self, customer_id: str, lang: Lang, request_id: str) -> DelinquencyScore:
        """PD, scorecard points, band, up to 4 reason codes and feature freshness."""
        model = self.runtime.risk_model(DELINQUENCY, "champion")
        features, fresh, row = self._read_scored(model.scorer, customer_id, lang)
        answer = self._delinquency_answer(model, customer_id, fresh, row)
        payload = {"answer": answer, "features": _audit_features(features, model.scorer.spec.features, _Shown()),
                   **risk_shadow(self.runtime.shadow_risk(DELINQUENCY), [features.values])[0]}
        [decision_id] = self._record("delinquency", model, request_id, [(customer_id, payload)])
        return DelinquencyScore.model_validate({"decision_id": decision_id, **answer})

    def _read_batch(self, scorer: RiskScorer, customer_ids: list[str], also: list[str]
                    ) -> tuple[list[tuple[OnlineFeatures, dict[str, Any]]], list[dict]]:
        """The customers' features of this scorer (and `also`: the shadow's) and their freshness in one
        read; those not found or (refusing stale) stale as errors."""
        read, errors = [], []
        names = list(dict.fromkeys([*scorer.spec.features, *also]))
        found_all = self.runtime.reader.read_customers(customer_ids, names=names)
        for customer_id, found in zip(customer_ids, found_all, strict=True):
            try:
                if isinstance(found, NotFound):
                    raise found
                read.append((found, self._check_fresh(found, scorer)))
            except (NotFound, ModelUnavailable) as err:
                errors.append({"customer_id": customer_id, "status": err.status, "detail": str(err)})
        return read, errors

    def delinquency_batch(self, customer_ids: list[str], lang: Lang, request_id: str) -> BatchAnswer:
        """Score many customers at once; unknown ones are listed as errors, never dropped silently.

        Features are read in one batch (the model's only), scored as one matrix and audited in one
        transaction, so every score returned is committed before the response.
        """
        model = self.runtime.risk_model(DELINQUENCY, "champion")
        scorer = model.scorer
        shadow = self.runtime.shadow_risk(DELINQUENCY)
        read, errors = self._read_batch(scorer, customer_ids, [] if shadow is None else shadow.scorer.spec.features)
        if not read:
            return {"request_id": request_id, "scores": [], "errors": errors}
        rows = scorer.score_rows([f.values for f, _ in read], lang).rows()
        answers = [self._delinquency_answer(model, f.customer_id, fresh, row)
                   for (f, fresh), row in zip(read, rows, strict=True)]
        shown = _Shown()
        shadows = risk_shadow(shadow, [f.values for f, _ in read])
        entries = [(f.customer_id, {"answer": a, "features": _audit_features(f, scorer.spec.features, shown), **s})
                   for (f, _), a, s in zip(read, answers, shadows, strict=True)]
        decision_ids = self._record("delinquency", model, request_id, entries)
        scores = [{"decision_id": d, **a} for d, a in zip(decision_ids, answers, strict=True)]
        return {"request_id": request_id, "scores": scores, "errors": errors}
