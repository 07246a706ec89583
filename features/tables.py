"""The feature tables: name, entity, TTL and typed columns of each (shared by build and views).

One table per Feast feature view; a Feast `Field` name equals its table column name by
construction. This module imports no Feast, so building tables stays fast.

Column kinds: int, float, str, bool, str_list (an array of strings). Dates are str, ISO
'YYYY-MM-DD' (the columns named `*_date` or `*_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pandas as pd

from sources.contract import CATEGORIES, CONTACT_CHANNELS, TOPICS
from sources.extensions import EVENTS_TABLE, EXTRA_PREFIX, EXTRAS_TABLE, METRICS_TABLE, feature_name

CUSTOMER_KEY = "customer_id"
PRODUCT_KEY = "product_id"
EVENT_TIMESTAMP = "event_timestamp"
CREATED_TIMESTAMP = "created_timestamp"

MONTHLY_TTL = timedelta(days=35)  # a monthly build is due at each month start; a few days' slack
INTENT_TTL = timedelta(days=14)  # real-time intent fades within two weeks
RFM_WINDOWS_DAYS = (30, 90, 180)  # over whole calendar months: 1, 3 and 6 months
INTENT_COUNTS = {"page_view": "page_views", "search": "searches"}  # event type → column stem
INTENT_PUSH_SOURCE = "customer_intent_push"
INTENT_STAMP_STEP = pd.Timedelta(microseconds=1)  # the finest step the parquet files and DuckDB's join keep


def intent_stamps(event_times: pd.Series) -> pd.Series:
    """The `event_timestamp` of intent rows: the first microsecond strictly after each event (UTC).

    Feast's point-in-time join takes the rows stamped at or before an entity's timestamp, so a
    row stamped with its raw event time would put an event at exactly an as-of instant T into the
    training row at T. Stamped after the event, it enters the rows of instants after it only (an
    event at T enters the row at T + 1 µs; one at T - 0.5 µs, the row at T). Online reads give
    timestamps to the second (Feast's SQLite store keeps seconds; the reader drops the rest), so
    an answer shows the event's own second.
    """
    return pd.to_datetime(event_times, utc=True).dt.floor("us") + INTENT_STAMP_STEP


@dataclass(frozen=True)
class FeatureTable:
    """One feature table and the feature view that serves it."""

    name: str
    entity_key: str
    ttl: timedelta | None
    columns: dict[str, str]
    description: str

    @property
    def file_name(self) -> str:
        return f"{self.name}.parquet"


def _rfm_columns(days: int) -> dict[str, str]:
    money = ("inflow", "outflow", "outflow_other_banks", "card_spend", "salary_credit", "net_flow")
    return {f"txn_count_{days}d": "int", **{f"{m}_cny_{days}d": "float" for m in money},
            f"active_months_{days}d": "int"}


PROFILE = FeatureTable("customer_profile", CUSTOMER_KEY, MONTHLY_TTL, {
    "age_years": "int", "gender": "str", "city_tier": "int", "occupation": "str", "segment": "str",
    "tenure_months": "int", "risk_tolerance": "str", "risk_tolerance_level": "int",
    "risk_assessment_age_days": "int", "has_marketing_consent": "bool", "preferred_channel": "str",
    "income_monthly_cny": "float", "is_closed": "bool", "birth_date": "str", "risk_assessed_at": "str",
    **{f"has_{c}_consent": "bool" for c in CONTACT_CHANNELS},
}, "Who the customer is at the month end: demographics, segment, risk profile, consent (overall and per "
   "contact channel: null where the bank has no contact_consent row); birth and risk-assessment dates for the "
   "rules' exact-date arithmetic.")

BALANCES = FeatureTable("customer_balances_month_end", CUSTOMER_KEY, MONTHLY_TTL, {
    **{f"{c}_balance_cny": "float" for c in CATEGORIES},
    "aum_cny": "float", "aum_change_3m_pct": "float", "products_held_count": "int",
    "categories_held_count": "int", "held_product_ids": "str_list",
}, "Month-end balances by category, assets under management (AUM) and products held.")

RFM = FeatureTable("customer_rfm_180d", CUSTOMER_KEY, MONTHLY_TTL, {
    **{name: kind for days in RFM_WINDOWS_DAYS for name, kind in _rfm_columns(days).items()},
    "months_since_last_txn": "int",
}, "Recency, frequency and monetary value of transactions over 30, 90 and 180 days.")

ENGAGEMENT = FeatureTable("customer_engagement_90d", CUSTOMER_KEY, MONTHLY_TTL, {
    "logins_30d": "int", "page_views_30d": "int", "searches_30d": "int", "clicks_30d": "int",
    "offers_shown_30d": "int", "offers_accepted_30d": "int", "days_since_last_login": "int",
    "logins_90d": "int", "page_views_90d": "int", "searches_90d": "int",
    "offers_accepted_90d": "int", "login_trend_ratio": "float",
    **{f"{stem}_{topic}_30d": "int" for stem in INTENT_COUNTS.values() for topic in TOPICS},
}, "Digital engagement over 30 and 90 days (login_trend_ratio: last 30 days over the 90-day "
   "average), days since the last login, page views and searches by topic.")

CREDIT = FeatureTable("customer_credit_12m", CUSTOMER_KEY, MONTHLY_TTL, {
    "credit_limit_cny": "float", "credit_balance_cny": "float", "utilization": "float",
    "utilization_avg_3m": "float", "utilization_max_12m": "float", "payment_cny": "float",
    "days_past_due": "int", "worst_dpd_12m": "int", "missed_payments": "int",
    "missed_payments_12m": "int", "months_past_due_12m": "int",
}, "Credit behaviour: utilization, days past due (DPD) and missed payments over 12 months.")

INTENT_REALTIME = FeatureTable("customer_intent_realtime", CUSTOMER_KEY, INTENT_TTL, {
    "last_intent_topic": "str", "last_intent_event_type": "str",
}, "The latest page view or search pushed by the service's /events endpoint.")

PRODUCT_ATTRIBUTES = FeatureTable("product_attributes", PRODUCT_KEY, None, {
    "name_zh": "str", "name_en": "str", "category": "str", "risk_level": "str", "risk_level_num": "int",
    "is_credit": "bool", "min_amount_cny": "float", "expected_yield_rate": "float", "margin_rate": "float",
    "min_age_years": "int", "max_age_years": "int",
}, "Catalogue attributes of each product, with its display names in zh-CN and en.")

CUSTOMER_TABLES = (PROFILE, BALANCES, RFM, ENGAGEMENT, CREDIT)
BUILT_TABLES = (*CUSTOMER_TABLES, PRODUCT_ATTRIBUTES)
ALL_TABLES = (*BUILT_TABLES, INTENT_REALTIME)



def extras_table(attributes: dict[str, str]) -> FeatureTable:
    """The feature table of a data directory's extra customer attributes (`extensions.json`):
    feature `x_<name>`, float for numeric, str for categorical; known from the data's snapshot on
    and never expiring (a snapshot attribute has no later row to replace it)."""
    kinds = {"numeric": "float", "categorical": "str"}
    return FeatureTable(EXTRAS_TABLE, CUSTOMER_KEY, None,
                        {feature_name(name): kinds[kind] for name, kind in attributes.items()},
                        "The bank's own customer attributes, declared in the data directory's extensions.json, "
                        "as of its snapshot.")


def events_extra_table(event_types: tuple[str, ...]) -> FeatureTable:
    """The feature table of a data directory's own event types (`extensions.json`): counts over 30
    and 90 days and days since the last, per type, each month."""
    columns = {}
    for kind in event_types:
        columns |= {f"{EXTRA_PREFIX}{kind}_30d": "int", f"{EXTRA_PREFIX}{kind}_90d": "int",
                    f"{EXTRA_PREFIX}days_since_last_{kind}": "int"}
    return FeatureTable(EVENTS_TABLE, CUSTOMER_KEY, MONTHLY_TTL, columns,
                        "The bank's own event types, declared in the data directory's extensions.json: counts "
                        "over 30 and 90 days and days since the last.")


def metrics_extra_table(metrics: tuple[str, ...]) -> FeatureTable:
    """The feature table of a data directory's own monthly metrics (`extensions.json`): the month's
    value and its 3- and 6-month means."""
    columns = {}
    for name in metrics:
        columns |= {f"{EXTRA_PREFIX}{name}_{suffix}": "float" for suffix in METRIC_WINDOWS}
    return FeatureTable(METRICS_TABLE, CUSTOMER_KEY, MONTHLY_TTL, columns,
                        "The bank's own monthly metrics, declared in the data directory's extensions.json: the "
                        "month's value and its 3- and 6-month means.")


METRIC_WINDOWS = {"1m": 1, "3m_avg": 3, "6m_avg": 6}  # feature suffix → months


def extension_tables(manifest_tables: dict[str, dict[str, str]]) -> tuple[FeatureTable, ...]:
    """The extension feature tables a build wrote (its manifest's `extension_tables`)."""
    known = {t.name: t for t in (extras_table({}), events_extra_table(()), metrics_extra_table(()))}
    return tuple(FeatureTable(name, CUSTOMER_KEY, known[name].ttl, columns, known[name].description)
                 for name, columns in manifest_tables.items())
