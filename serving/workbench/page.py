"""One customer's workbench page: the 360° profile, offers (blocked ones too), churn and
delinquency, each answered by the service's own code (`OfferService`, `RiskService`) and so
audited exactly as the API's answers are. No FastAPI in here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from models.explain.risk import top_contributors
from models.registry import CHURN, DELINQUENCY
from models.risk import RiskScorer
from serving.audit.store import AuditStore
from serving.decisions.offers import OfferPolicy, OfferService
from serving.decisions.risk import RiskPolicy, RiskService, freshness
from serving.runtime import Runtime
from serving.schemas import ChurnScore, DelinquencyScore, Reason, RmOfferList
from serving.triggers.engine import customer_tags
from serving.triggers.store import TriggerStore
from serving.workbench.charts import Bars, Lines, Series, encode
from serving.workbench.data import BALANCE_COLUMNS, WorkbenchData
from serving.workbench.i18n import Labels, labels

OFFERS_SHOWN = 5


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


def build_customer_page(ctx: PageContext, customer_id: str, lang: str, request_id: str) -> CustomerPage:
    """Read, score and audit one customer (CustomerNotFound before anything is audited)."""
    features = ctx.runtime.reader.read_customer(customer_id)
    offers = OfferService(ctx.runtime, ctx.audit, ctx.offer_policy).for_customer(
        customer_id, OFFERS_SHOWN, lang, True, request_id, "rm")
    risk = RiskService(ctx.runtime, ctx.audit, ctx.risk_policy)
    churn = risk.churn(customer_id, lang, request_id)
    delinquency = risk.delinquency(customer_id, lang, request_id)
    words = labels(lang)
    v = features.values
    return CustomerPage(
        customer_id=customer_id, identity=ctx.data.identity(customer_id), features=v,
        freshness=freshness(features), held=sorted(v.get("held_product_ids") or ()),
        balances=[(c.removesuffix("_balance_cny"), float(v.get(c) or 0.0)) for c in BALANCE_COLUMNS[1:]
                  if v.get(c)],
        events=ctx.data.recent_events(customer_id), offers=offers,
        product_names=_product_names(ctx.runtime, lang), churn=churn, delinquency=delinquency,
        tags=customer_tags(ctx.runtime, ctx.offer_policy.segments, ctx.trigger_store, features).as_dict(),
        tag_names=ctx.offer_policy.segments.names(lang), tasks=ctx.trigger_store.open_tasks(customer_id),
        charts={"balances": encode(_balances_chart(ctx.data.balances(customer_id), words)),
                "churn": encode(_reasons_chart(ctx.runtime, CHURN, churn.model_version, churn.reasons, v,
                                               words, "churn_chart")),
                "delinquency": encode(_reasons_chart(ctx.runtime, DELINQUENCY, delinquency.model_version,
                                                     delinquency.reason_codes, v, words, "delinquency_chart"))})


def _product_names(runtime: Runtime, lang: str) -> dict[str, str]:
    catalogue = runtime.recommender("champion").scorer.catalogue.frame
    column = "name_zh" if lang == "zh" else "name_en"
    return {str(p): str(name) for p, name in catalogue[column].items()}


def reason_contributions(scorer: RiskScorer, values: dict[str, object], k: int) -> list[float]:
    """The SHAP contributions (log-odds) behind the scorer's top-k reasons, in the reasons' order.

    One row, through `RiskScorer.contributions_of` (the float-array path of `probability_of`)."""
    contributions = scorer.contributions_of(values)
    indices, is_reason = top_contributors(contributions, k)
    return [float(contributions[0, i]) for i, ok in zip(indices[0], is_reason[0], strict=True) if ok]


def _scorer(runtime: Runtime, model: str, version: str) -> RiskScorer:
    """The loaded scorer of `model` at `version` (the one that gave the answer)."""
    for models in runtime.risk.values():
        if models.refs[model].version == version:
            return models.churn if model == CHURN else models.delinquency
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
