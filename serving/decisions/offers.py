"""Next-best offers for one customer (DESIGN §2 steps 1–6); no FastAPI in here.

One online read → risk (PD, churn) → suitability rules → `scorer.rank` (the allowed candidates'
P(adopt)) → arbitration P(adopt) × margin × lever → `scorer.explain` (reasons for the k offers
returned) → audit → the typed answer (`RmOfferList`; the app's view is its `for_app()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pandas as pd

from features.online.reader import OnlineFeatures
from features.segments.rules import SegmentRules
from models.explain.offers import default_reason
from models.recommender import Catalogue, RecommenderScorer
from models.registry import CHURN, DELINQUENCY
from serving.audit.store import AuditStore
from serving.decisions import suitability as rules
from serving.decisions.arbitration import Levers, Ranked, choose
from serving.decisions.contact_policy import (
    CONTACT_CHANNELS,
    ContactPolicy,
    ContactRequest,
    ContactSettings,
    ContactVerdict,
    consent_of,
    load_contact_settings,
)
from serving.decisions.shadow import offer_shadow
from serving.decisions.variants import CONTROL, variant_for
from serving.runtime import Runtime
from serving.schemas import RmOfferList

FATIGUE_WINDOW = timedelta(days=7)
_NOT_ASKED = rules.Verdict(False, "not_in_trigger")  # outside a trigger's products: not a candidate


@dataclass(frozen=True)
class OfferPolicy:
    """Deployment choices for offers."""

    levers: Levers
    rules: rules.Policy
    challenger_share: float
    segments: SegmentRules
    control_share: float = 0.0  # held out on the non-personalised default (variants.py)
    contact: ContactSettings = field(default_factory=load_contact_settings)  # contact_policy.toml


def feature_date(value: object) -> date | None:
    """A date feature (birth_date, risk_assessed_at: 'YYYY-MM-DD') as the rules read it."""
    if value is None or value == "":
        return None
    return pd.Timestamp(str(value)).date()


def _product(product_id: str, attrs: pd.Series | dict[str, object]) -> rules.Product:
    return rules.Product(product_id, str(attrs["category"]), str(attrs["risk_level"]), bool(attrs["is_credit"]),
                         int(attrs["min_age_years"]), int(attrs["max_age_years"]))


class OfferService:
    """Answers `GET /v1/customers/{id}/offers`."""

    def __init__(self, runtime: Runtime, audit: AuditStore, policy: OfferPolicy):
        self.runtime, self.audit, self.policy = runtime, audit, policy

    def _facts(self, features: OnlineFeatures, pd_value: float | None) -> rules.CustomerFacts:
        v = features.values
        now = datetime.now(UTC)
        shown, accepted = self.audit.recent_feedback(features.customer_id, now - FATIGUE_WINDOW)
        declined = self.audit.declined_products(features.customer_id,
                                                now - timedelta(days=self.policy.rules.decline_days))
        return rules.CustomerFacts(
            birth_date=feature_date(v.get("birth_date")), risk_tolerance=v.get("risk_tolerance"),
            risk_assessed_at=feature_date(v.get("risk_assessed_at")),
            marketing_consent=bool(v.get("has_marketing_consent")),
            days_past_due=int(v.get("days_past_due") or 0), pd=pd_value,
            held=frozenset(v.get("held_product_ids") or ()), shown_7d=shown, accepted_7d=accepted,
            closed=bool(v.get("is_closed")), declined=declined)

    def _risk(self, variant: str, features: OnlineFeatures) -> tuple[float | None, float | None, dict[str, str]]:
        """PD (for the credit rule) and churn probability (for the retention lever), no reasons; None
        for a model the portfolio does not have (no PD: credit products are blocked)."""
        probabilities: dict[str, float | None] = {}
        versions: dict[str, str] = {}
        for name in (DELINQUENCY, CHURN):
            if not self.runtime.serves(name):
                probabilities[name] = None
                continue
            model = self.runtime.risk_model(name, variant)
            probabilities[name] = model.scorer.probability_of(features.values)
            versions[model.ref.name] = model.ref.version
        return probabilities[DELINQUENCY], probabilities[CHURN], versions

    def for_customer(self, customer_id: str, k: int, lang: str, include_blocked: bool,
                     request_id: str, channel: str | None = None) -> RmOfferList:
        """The customer's best k suitable offers with reasons, audited before they are returned. On a
        contact channel (app_push, sms, rm_call, wechat: the caller sends the answer out) the contact
        policy decides first; an in-app placement (app, web, branch, none) is not a contact."""
        contact = (ContactRequest(channel, datetime.now(UTC), "offers", request_id)
                   if channel in CONTACT_CHANNELS else None)
        return self.decide(customer_id, k, lang, request_id, channel, include_blocked=include_blocked,
                           contact=contact)

    def decide(self, customer_id: str, k: int, lang: str, request_id: str, channel: str | None, *,
               include_blocked: bool = False, only: frozenset[str] | None = None, kind: str = "offers",
               today: date | None = None, context: dict[str, Any] | None = None,
               contact: ContactRequest | None = None) -> RmOfferList:
        """One audited offer decision: `only` limits the candidates (a trigger's products), `kind` and
        `context` go into the audit record, `today` is the day the rules are checked on. A control
        customer gets the non-personalised default (a trigger's too), scored by the champions.
        With `contact`, offers go out only when the contact policy allows it (the answer's `contact`
        says why not), and the contact is recorded when they do."""
        variant = variant_for(customer_id, self.policy.challenger_share, self.policy.control_share)
        alias = "champion" if variant == CONTROL else variant
        ranker = self.runtime.recommender(alias)
        features = self.runtime.reader.read_customer(customer_id)
        pd_value, churn_p, versions = self._risk(alias, features)
        facts = self._facts(features, pd_value)
        catalogue = ranker.scorer.catalogue
        today = today or datetime.now(UTC).date()
        verdicts = {p: rules.check(facts, _product(p, attrs), today, self.policy.rules)
                    for p, attrs in ranker.scorer.catalogue.records.items()}
        blocked = [{"product_id": p, "rule_id": v.rule_id, "message": v.message(lang)}
                   for p, v in verdicts.items() if not v.allowed and v.rule_id != "already_held"]
        candidates = verdicts if only is None else {p: v if p in only else _NOT_ASKED for p, v in verdicts.items()}
        personalised = rules.is_personalised(facts) and variant != CONTROL
        verdict = self._contact_check(contact, features)
        if verdict is not None and not verdict.allowed:
            offers: list[dict[str, Any]] = []
        elif personalised:
            offers = self._personalised(ranker.scorer, features, candidates, churn_p, k, lang)
        else:
            offers = self._default(candidates, catalogue, k, lang)
        if contact is not None and offers:
            verdict = ContactPolicy(self.policy.contact, self.audit).contact(
                customer_id, contact.channel, contact.at, consent_of(features.values),
                source=contact.source, ref=contact.ref)
            offers = offers if verdict.allowed else []
        versions[ranker.ref.name] = ranker.ref.version
        tags = self.policy.segments.tag(features.values)
        served = CONTROL if variant == CONTROL else ranker.alias
        answer = {"customer_id": customer_id, "personalised": personalised,
                  "variant": served, "model_versions": versions, "ruleset_version": rules.RULESET_VERSION,
                  "offers": offers, "blocked": blocked if include_blocked else None,
                  "contact": None if verdict is None else verdict.as_dict(lang)}
        decision = self.audit.record_decision(
            kind=kind, customer_id=customer_id, request_id=request_id, variant=served,
            model_versions={n: {"alias": ranker.alias, "version": v} for n, v in versions.items()},
            payload={"answer": answer | {"blocked": blocked}, "channel": channel, "levers": self.policy.levers.version,
                     "rfm_segment": tags.rfm_segment, "lifecycle_stage": tags.lifecycle_stage,
                     "segments_version": tags.version, **(context or {}),
                     "features": {n: {"value": features.values.get(n), "at": features.timestamps.get(n)}
                                  for n in features.values},
                     **offer_shadow(self.runtime, self.policy.levers, features, candidates, churn_p, k,
                                    rules.is_personalised(facts))})
        return RmOfferList(decision_id=decision.decision_id, **answer)

    def _contact_check(self, contact: ContactRequest | None, features: OnlineFeatures) -> ContactVerdict | None:
        """The contact policy's verdict before ranking (None: not a contact), recording nothing."""
        if contact is None:
            return None
        return ContactPolicy(self.policy.contact, self.audit).check(
            features.customer_id, contact.channel, contact.at, consent_of(features.values))

    def _personalised(self, scorer: RecommenderScorer, features: OnlineFeatures, verdicts: dict[str, rules.Verdict],
                      churn_p: float | None, k: int, lang: str) -> list[dict[str, Any]]:
        """Rank the allowed candidates, arbitrate, explain the k chosen."""
        allowed = {p for p, v in verdicts.items() if v.allowed}
        ranked, chosen = choose(scorer, features, allowed, self.policy.levers, churn_p, k)
        names = scorer.catalogue.names(lang)
        reasons = scorer.explain(ranked, [r.candidate.product_id for r in chosen], lang)
        return [self._offer(n + 1, r, names, reasons[r.candidate.product_id]) for n, r in enumerate(chosen)]

    def _default(self, verdicts: dict[str, rules.Verdict], catalogue: Catalogue, k: int,
                 lang: str) -> list[dict[str, Any]]:
        allowed = [p for p in self.policy.levers.default_products if p in verdicts and verdicts[p].allowed][:k]
        names = catalogue.names(lang)
        return [{"product_id": p, "rank": i + 1, "score": 0.0, "p_adopt": 0.0, "name": names[p],
                 "category": str(catalogue.records[p]["category"]), "reasons": default_reason(lang)}
                for i, p in enumerate(allowed)]

    @staticmethod
    def _offer(rank: int, r: Ranked, names: dict[str, str], reasons: list[dict[str, str]]) -> dict[str, Any]:
        p = r.candidate.product_id
        return {"product_id": p, "rank": rank, "score": r.score, "p_adopt": r.candidate.p_adopt,
                "name": names[p], "category": r.candidate.category, "reasons": reasons}
