"""One customer's workbench page, in the order an RM reads it: alerts, the next best action with a
talking point, offers (blocked ones too), churn and credit risk, then the profile with assets apart
from liabilities, contact history and tags. Offers and risks are answered by the service's own code
(`OfferService`, `RiskService`) and so audited exactly as the API's answers are; every fact shown
(age, assessment expiry) is computed on the same day and by the same function as the rules. No
FastAPI in here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from models.explain.risk import top_contributors
from models.registry import CHURN, DELINQUENCY
from models.risk import RiskScorer
from serving.audit.store import AuditStore
from serving.decisions.contact_policy import consent_of
from serving.decisions.offers import OfferPolicy, OfferService, feature_date
from serving.decisions.risk import RiskPolicy, RiskService, freshness
from serving.decisions.suitability import add_months, age_on
from serving.decisions.variants import CONTROL
from serving.runtime import Runtime
from serving.schemas import ChurnScore, DelinquencyScore, Reason, RmOfferList
from serving.triggers.engine import customer_tags
from serving.triggers.store import TriggerStore
from serving.workbench.charts import Bars, Lines, Series, encode
from serving.workbench.data import BALANCE_COLUMNS, WorkbenchData
from serving.workbench.i18n import Labels, labels

OFFERS_SHOWN = 5
ALERT_DAYS = 30  # an assessment expiring or a product maturing within this many days is an alert
HIGH_CREDIT_BANDS = ("D", "E")
CREDIT_CATEGORIES = ("credit_card", "personal_loan", "mortgage")
HISTORY_SHOWN = 20


@dataclass(frozen=True)
class Alert:
    """One line of the alert strip: `kind` names it for tests and styling, `level` is bad or warn."""

    kind: str
    level: str
    text: str


@dataclass(frozen=True)
class NextAction:
    """What the RM should do next and what to say about it (a talking point about the customer)."""

    kind: str  # offer, retention, none
    title: str
    talking_point: str
    product_id: str | None


@dataclass(frozen=True)
class PageContext:
    """What a page is built from: the app's runtime, audit, policies and workbench data."""

    runtime: Runtime
    audit: AuditStore
    offer_policy: OfferPolicy
    risk_policy: RiskPolicy
    data: WorkbenchData
    trigger_store: TriggerStore


@dataclass(frozen=True)
class CustomerPage:
    """Everything the customer template shows, in one language."""

    customer_id: str
    identity: dict[str, object]
    features: dict[str, object]
    freshness: dict[str, Any]
    held: list[str]
    consent: dict[str, bool]  # per contact channel, as the contact policy reads it
    balances: list[tuple[str, float]]
    events: list[dict[str, object]]
    offers: RmOfferList
    product_names: dict[str, str]
    churn: ChurnScore
    delinquency: DelinquencyScore
    charts: dict[str, str]
    tags: dict[str, Any]
    tag_names: dict[str, str]
    tasks: list[dict[str, Any]]
    age: int | None
    assessment_expires: date | None
    alerts: list[Alert]
    next_action: NextAction
    assets: list[tuple[str, float]]
    liabilities: list[tuple[str, float]]
    history: list[dict[str, Any]]
    today: date


def build_customer_page(ctx: PageContext, customer_id: str, lang: str, request_id: str,
                        today: date | None = None) -> CustomerPage:
    """Read, score and audit one customer (CustomerNotFound before anything is audited); `today`
    is the day the rules check and the page shows facts for (default: the UTC date)."""
    today = today or datetime.now(UTC).date()
    features = ctx.runtime.reader.read_customer(customer_id)
    offers = OfferService(ctx.runtime, ctx.audit, ctx.offer_policy).decide(
        customer_id, OFFERS_SHOWN, lang, request_id, "rm", include_blocked=True, today=today)
    risk = RiskService(ctx.runtime, ctx.audit, ctx.risk_policy)
    churn = risk.churn(customer_id, lang, request_id)
    delinquency = risk.delinquency(customer_id, lang, request_id)
    words = labels(lang)
    v = features.values
    names = ctx.runtime.recommender("champion").scorer.catalogue.names(words.lang)
    identity = ctx.data.identity(customer_id)
    expires = assessment_expiry(v, ctx.offer_policy.rules.assessment_valid_months)
    maturing = [(names.get(p, p), due) for p, due in ctx.data.maturities(customer_id, today)]
    balances = [(c.removesuffix("_balance_cny"), float(v.get(c) or 0.0)) for c in BALANCE_COLUMNS[1:] if v.get(c)]
    return CustomerPage(
        customer_id=customer_id, identity=identity, features=v,
        freshness=freshness(features), held=sorted(v.get("held_product_ids") or ()), consent=consent_of(v),
        balances=balances, events=ctx.data.recent_events(customer_id), offers=offers,
        product_names=names, churn=churn, delinquency=delinquency,
        age=age_for_rules(v, today), assessment_expires=expires,
        alerts=alerts(v, churn, delinquency, expires, maturing, identity.get("close_date"), today, words),
        next_action=next_action(offers, churn, bool(v.get("is_closed")), words),
        assets=[b for b in balances if b[0] not in CREDIT_CATEGORIES],
        liabilities=[b for b in balances if b[0] in CREDIT_CATEGORIES],
        history=contact_history(ctx.audit, customer_id), today=today,
        tags=customer_tags(ctx.runtime, ctx.offer_policy.segments, ctx.trigger_store, features).as_dict(),
        tag_names=ctx.offer_policy.segments.names(lang), tasks=ctx.trigger_store.open_tasks(customer_id),
        charts={"balances": encode(_balances_chart(ctx.data.balances(customer_id), words)),
                "churn": encode(_reasons_chart(ctx.runtime, CHURN, churn.model_version, churn.reasons, v,
                                               words, "churn_chart")),
                "delinquency": encode(_reasons_chart(ctx.runtime, DELINQUENCY, delinquency.model_version,
                                                     delinquency.reason_codes, v, words, "delinquency_chart"))})


def age_for_rules(values: dict[str, object], today: date) -> int | None:
    """The customer's age on `today` exactly as the suitability rules compute it (completed years
    from the birth date), not the feature `age_years`, which is the age at the feature's month end."""
    birth = feature_date(values.get("birth_date"))
    return None if birth is None else age_on(birth, today)


def assessment_expiry(values: dict[str, object], valid_months: int) -> date | None:
    """The last day the risk assessment is valid, as the rule `assessment_current` reads it."""
    assessed = feature_date(values.get("risk_assessed_at"))
    return None if assessed is None else add_months(assessed, valid_months)


def alerts(values: dict[str, object], churn: ChurnScore, delinquency: DelinquencyScore, expires: date | None,
           maturing: list[tuple[str, date]], closed_on: object, today: date, words: Labels) -> list[Alert]:
    """The alert strip: closed account, arrears, high churn, high credit risk, the risk assessment
    expired or expiring within ALERT_DAYS, products maturing within ALERT_DAYS; most urgent first."""
    rm = words["rm"]
    if values.get("is_closed"):
        text = rm["alert_closed"].format(date=closed_on) if closed_on else rm["alert_closed_undated"]
        return [Alert("closed", "bad", text)]
    out = []
    if (dpd := int(values.get("days_past_due") or 0)) > 0:
        out.append(Alert("arrears", "bad", rm["alert_arrears"].format(days=dpd)))
    if churn.band == "high":
        out.append(Alert("churn", "bad", rm["alert_churn"].format(p=f"{churn.probability:.0%}")))
    if delinquency.band in HIGH_CREDIT_BANDS:
        out.append(Alert("credit", "bad", rm["alert_credit"].format(band=delinquency.band, p=f"{delinquency.pd:.1%}")))
    if expires is None:
        out.append(Alert("assessment", "warn", rm["alert_assessment_missing"]))
    elif expires < today:
        out.append(Alert("assessment", "bad", rm["alert_assessment_expired"].format(date=expires)))
    elif (expires - today).days <= ALERT_DAYS:
        out.append(Alert("assessment", "warn",
                         rm["alert_assessment_expiring"].format(date=expires, days=(expires - today).days)))
    out += [Alert("maturing", "warn", rm["alert_maturing"].format(product=name, date=due, days=(due - today).days))
            for name, due in maturing if (due - today).days <= ALERT_DAYS]
    return out


def next_action(offers: RmOfferList, churn: ChurnScore, closed: bool, words: Labels) -> NextAction:
    """No action for a closed account; a retention call for high churn (with the top offer to
    support it); else the top allowed offer; each with a talking point built from its reasons."""
    rm = words["rm"]
    top = offers.offers[0] if offers.offers else None
    if closed:
        return NextAction("none", rm["nba_none_closed"], "", None)
    if churn.band == "high":
        point = rm["talk_retention"].format(p=f"{churn.probability:.0%}",
                                            reasons=rm["reasons_sep"].join(r.text for r in churn.reasons[:2]))
        if top is not None:
            point += rm["talk_support"].format(product=top.name)
        return NextAction("retention", churn.action.text, point, top.product_id if top else None)
    if top is None:
        return NextAction("none", rm["nba_none"], "", None)
    reasons = rm["reasons_sep"].join(r.text for r in top.reasons[:2])
    if offers.personalised:
        point = rm["talk_offer"].format(reasons=reasons)
    else:
        point = rm["talk_control"] if offers.variant == CONTROL else rm["talk_default"]
    return NextAction("offer", rm["nba_offer"].format(product=top.name), point, top.product_id)


def contact_history(audit: AuditStore, customer_id: str) -> list[dict[str, Any]]:
    """Logged calls and offer feedback of the customer, newest first."""
    calls = [c | {"kind": "call"} for c in audit.contacts_for(customer_id, HISTORY_SHOWN)]
    answers = [f | {"kind": "feedback"} for f in audit.customer_feedback(customer_id, HISTORY_SHOWN)]
    return sorted(calls + answers, key=lambda r: r["created_at"], reverse=True)[:HISTORY_SHOWN]


def reason_contributions(scorer: RiskScorer, values: dict[str, object], k: int) -> list[float]:
    """The SHAP contributions (log-odds) behind the scorer's top-k reasons, in the reasons' order.

    One row, through `RiskScorer.contributions_of` (the float-array path of `probability_of`)."""
    contributions = scorer.contributions_of(values)
    indices, is_reason = top_contributors(contributions, k)
    return [float(contributions[0, i]) for i, ok in zip(indices[0], is_reason[0], strict=True) if ok]


def _scorer(runtime: Runtime, model: str, version: str) -> RiskScorer:
    """The loaded scorer of `model` at `version` (the one that gave the answer)."""
    for loaded in runtime.risk.get(model, {}).values():
        if loaded.ref.version == version:
            return loaded.scorer
    raise LookupError(f"{model} version {version} is not loaded")


def _reasons_chart(runtime: Runtime, model: str, version: str, reasons: Sequence[Reason],
                   values: dict[str, object], words: Labels, title: str) -> Bars:
    contributions = reason_contributions(_scorer(runtime, model, version), values, len(reasons))
    return Bars(title=words["ui"][title], axis=words["ui"]["contribution"], lang=words.lang,
                labels=[r.text for r in reasons] or [words["ui"]["none"]], values=contributions or [0.0])


def _balances_chart(history: pd.DataFrame, words: Labels) -> Lines:
    months = [pd.Timestamp(t).strftime("%Y-%m") for t in history["event_timestamp"]]
    shown = [c for c in BALANCE_COLUMNS if c == "aum_cny" or history[c].abs().sum() > 0]
    return Lines(title=words["ui"]["balances_chart"], x_labels=months, lang=words.lang,
                 series=[Series(name=words.of("category", c.removesuffix("_balance_cny").removesuffix("_cny")),
                                values=[None if pd.isna(x) else round(float(x), 2) for x in history[c]])
                        for c in shown])
