"""One week's leads: score every consenting, open customer of the latest feature month, keep their
best suitable products, assign them best first, store them (idempotent per customer, product, week)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from features.online.reader import OnlineFeatures
from nbo.errors import CustomerNotFound
from serving.decisions import suitability as rules
from serving.decisions.offers import OfferService
from serving.leads.assign import Assigner, Roster, assignment_reason
from serving.leads.score import (
    Blend,
    Candidate,
    LeadSettings,
    can_refit,
    default_blend,
    intent_counts,
    intent_of,
    intent_tag,
    reasons,
    refit,
)
from serving.leads.store import LeadStore, NewLead, iso_week

CHUNK = 200


def blend_in_force(store: LeadStore, settings: LeadSettings) -> tuple[Blend, bool]:
    """The blend to score with, refitted first when outcomes were recorded since the last fit and
    there are enough of them (both won and lost); (blend, refitted now)."""
    latest = store.latest_blend()
    outcomes = store.outcomes()
    if can_refit(outcomes, settings) and (latest is None or latest.outcomes != len(outcomes)):
        blend = refit(outcomes, f"fit-{store.blend_count() + 1}-{len(outcomes)}")
        store.save_blend(blend)
        return blend, True
    return latest or default_blend(settings), False


def eligible(customers: pd.DataFrame) -> pd.DataFrame:
    """Customers with marketing consent and an open account."""
    closed = customers["is_closed"].fillna(False).astype(bool) if "is_closed" in customers else False
    consent = customers["has_marketing_consent"].fillna(False).astype(bool)
    return customers[consent & ~closed]


def product_of(product_id: str, attrs: Mapping[str, Any]) -> rules.Product:
    return rules.Product(product_id, str(attrs["category"]), str(attrs["risk_level"]), bool(attrs["is_credit"]),
                         int(attrs["min_age_years"]), int(attrs["max_age_years"]))


class LeadScorer:
    """Scores a customer's suitable products with the champion ranker and a blend."""

    def __init__(self, offers: OfferService, blend: Blend, settings: LeadSettings):
        self.offers, self.blend, self.settings = offers, blend, settings
        self.ranker = offers.runtime.recommender("champion")
        self.records = self.ranker.scorer.catalogue.records

    def candidates(self, features: OnlineFeatures, month: Mapping[str, Any], today: date) -> list[Candidate]:
        """The customer's best suitable products scoring at least `min_score` (none without consent
        or for a closed account), best first. `month`: the customer's row of the feature month."""
        pd_value, _, _ = self.offers._risk("champion", features)
        facts = self.offers._facts(features, pd_value)
        if facts.closed or not facts.marketing_consent:
            return []
        allowed = {p for p, attrs in self.records.items()
                   if rules.check(facts, product_of(p, attrs), today, self.offers.policy.rules).allowed}
        if not allowed:
            return []
        ranked = self.ranker.scorer.rank(features.customer_id, features.values, allowed)
        segments = self.offers.policy.segments
        found = []
        for p, propensity in zip(ranked.product_ids, ranked.p_adopt, strict=True):
            attrs = self.records[p]
            topic = str(attrs["topic"])
            intent = intent_of(month, topic, self.settings.intent_scale)
            score = float(self.blend.score(intent, float(propensity)))
            if score < self.settings.min_score:
                continue
            views, searches = intent_counts(month, topic)
            found.append(Candidate(features.customer_id, p, str(attrs["category"]), topic, round(intent, 6),
                                   round(float(propensity), 6), round(score, 6), views, searches,
                                   intent_tag(segments, month, topic)))
        found.sort(key=lambda c: (-c.score, c.product_id))
        return found[:self.settings.leads_per_customer]


@dataclass
class BuildResult:
    as_of: date
    week: str
    blend: Blend
    refitted: bool
    customers: int = 0
    scored: int = 0
    candidates: int = 0
    added: int = 0
    expired: int = 0
    by_rm: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    unassigned: int = 0
    already_built: int = 0  # customers with leads of the week from an earlier build

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "week": self.week, "blend": self.blend.as_dict(),
                "refitted": self.refitted, "customers": self.customers, "scored": self.scored,
                "candidates": self.candidates, "added": self.added, "expired": self.expired,
                "by_rm": dict(sorted(self.by_rm.items())), "assigned_because": dict(sorted(self.by_reason.items())),
                "unassigned": self.unassigned, "already_built": self.already_built}


def build_leads(as_of: date, customers: pd.DataFrame, offers: OfferService, store: LeadStore,
                roster: Roster, owners: Mapping[str, str | None], settings: LeadSettings,
                advance: Callable[[int], None] | None = None) -> BuildResult:
    """Build `as_of`'s ISO week of leads from `customers` (one feature-month row each, with
    `customer_id`, `is_closed`, `has_marketing_consent` and the intent counts). Customers who have
    leads of the week already are not scored again."""
    week = iso_week(as_of)
    blend, refitted = blend_in_force(store, settings)
    result = BuildResult(as_of, week, blend, refitted, customers=len(customers))
    result.expired = store.expire_before(week)
    scorer = LeadScorer(offers, blend, settings)
    rows = eligible(customers)
    months = {str(r["customer_id"]): r for r in rows.to_dict("records")}
    done = store.existing(week)
    built = {c for c, _ in done} & set(months)  # their leads of the week are built: not scored again
    result.already_built = len(built)
    ids = [c for c in months if c not in built]
    found: list[Candidate] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for features in offers.runtime.reader.read_customers(chunk):
            if isinstance(features, CustomerNotFound):
                continue
            found += scorer.candidates(features, months[features.customer_id], as_of)
            result.scored += 1
        if advance is not None:
            advance(len(chunk))
    result.candidates = len(found)
    fresh = sorted((c for c in found if (c.customer_id, c.product_id) not in done),
                   key=lambda c: (-c.score, c.customer_id, c.product_id))
    assigner = Assigner(roster, owners, store.taken(week))
    names = {lang: scorer.ranker.scorer.catalogue.names(lang) for lang in ("zh", "en")}
    tags = {lang: offers.policy.segments.names(lang) for lang in ("zh", "en")}
    new = []
    for c in fresh:
        a = assigner.assign(c.customer_id, c.category)
        why = reasons(c, names, tags)
        rm_why = assignment_reason(a, owners.get(c.customer_id))
        new.append(NewLead(c.customer_id, c.product_id, c.category, c.score, blend.version, c.intent, c.propensity,
                           {lang: [*why[lang], rm_why[lang]] for lang in ("zh", "en")}, a.rm_id, a.because))
        result.by_reason[a.because] += 1
        if a.rm_id is None:
            result.unassigned += 1
        else:
            result.by_rm[a.rm_id] += 1
    result.added = store.add(new, week)
    return result
