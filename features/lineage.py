"""Which canonical columns each model feature is computed from (its lineage).

A reason text may describe a feature in the bank's words only when the canonical columns behind it
are the bank's own data; when a data directory's `source.json` says a canonical column was mapped
from a source column, the reason names that source column instead (`training.risk.origins` joins
the two and stores the result in the model's spec, since `models/` may not import `features/`).

`DIRECT` features read their column's value as of the month (the 30-day windows are the last
calendar month), so on a snapshot they show the source value itself.
"""

from __future__ import annotations

from features.tables import INTENT_COUNTS, RFM_WINDOWS_DAYS
from sources.contract import CATEGORIES, CONTACT_CHANNELS, TOPICS

EXTRA_PREFIX = "x_"  # the feature of an extra attribute `<name>` is `x_<name>` (its column: extra.<name>)

_HOLDINGS = ("holdings.balance", "holdings.product_id", "holdings.snapshot_date")
_RFM_MONEY = {"inflow": ("transactions.inflow",), "outflow": ("transactions.outflow",),
              "outflow_other_banks": ("transactions.outflow_other_banks",),
              "card_spend": ("transactions.card_spend",), "salary_credit": ("transactions.salary_credit",),
              "net_flow": ("transactions.inflow", "transactions.outflow")}
_EVENTS = ("events.event_type", "events.event_time")


def _rfm() -> dict[str, tuple[str, ...]]:
    out = {"months_since_last_txn": ("transactions.txn_count", "transactions.month")}
    for days in RFM_WINDOWS_DAYS:
        out[f"txn_count_{days}d"] = ("transactions.txn_count",)
        out |= {f"{money}_cny_{days}d": columns for money, columns in _RFM_MONEY.items()}
        out[f"active_months_{days}d"] = ("transactions.txn_count",)
    return out


def _engagement() -> dict[str, tuple[str, ...]]:
    counts = ("logins", "page_views", "searches", "clicks", "offers_shown", "offers_accepted")
    out = {f"{count}_{days}d": _EVENTS for count in counts for days in (30, 90)}
    out |= {"days_since_last_login": _EVENTS, "login_trend_ratio": _EVENTS}
    out |= {f"{stem}_{topic}_30d": (*_EVENTS, "events.topic") for stem in INTENT_COUNTS.values() for topic in TOPICS}
    return out


FEATURE_COLUMNS: dict[str, tuple[str, ...]] = {
    "age_years": ("customers.birth_date",), "gender": ("customers.gender",),
    "city_tier": ("customers.city_tier",), "occupation": ("customers.occupation",),
    "segment": ("customers.segment",), "tenure_months": ("customers.join_date",),
    "risk_tolerance": ("customers.risk_tolerance",), "risk_tolerance_level": ("customers.risk_tolerance",),
    "risk_assessment_age_days": ("customers.risk_assessed_at",),
    "has_marketing_consent": ("customers.marketing_consent",),
    **{f"has_{c}_consent": (f"contact_consent.{c}",) for c in CONTACT_CHANNELS},
    "preferred_channel": ("customers.preferred_channel",), "income_monthly_cny": ("customers.income_monthly",),
    "is_closed": ("customers.close_date",),
    **{f"{category}_balance_cny": _HOLDINGS for category in CATEGORIES},
    "aum_cny": _HOLDINGS, "aum_change_3m_pct": _HOLDINGS, "products_held_count": _HOLDINGS,
    "categories_held_count": _HOLDINGS,
    **_rfm(), **_engagement(),
    "credit_limit_cny": ("credit.credit_limit",), "credit_balance_cny": ("credit.balance",),
    "utilization": ("credit.utilization",), "utilization_avg_3m": ("credit.utilization",),
    "utilization_max_12m": ("credit.utilization",), "payment_cny": ("credit.payment_amount",),
    "days_past_due": ("credit.days_past_due",), "worst_dpd_12m": ("credit.days_past_due",),
    "months_past_due_12m": ("credit.days_past_due",),
    "missed_payments": ("credit.missed_payments",), "missed_payments_12m": ("credit.missed_payments",),
}

DIRECT: frozenset[str] = frozenset({
    "gender", "city_tier", "occupation", "segment", "risk_tolerance", "has_marketing_consent",
    *(f"has_{c}_consent" for c in CONTACT_CHANNELS), "preferred_channel", "income_monthly_cny", "credit_limit_cny", "credit_balance_cny", "utilization",
    "payment_cny", "days_past_due", "missed_payments",
    *(f"{money}_cny_30d" for money in _RFM_MONEY if money != "net_flow"), "txn_count_30d",
})


def canonical_columns(feature: str) -> tuple[str, ...]:
    """The canonical columns (`table.column`, `extra.<name>` for an extra attribute) a feature is
    computed from; () for a feature nbo does not know (a contract extension's own features)."""
    if feature.startswith(EXTRA_PREFIX):
        return (f"extra.{feature.removeprefix(EXTRA_PREFIX)}",)
    return FEATURE_COLUMNS.get(feature, ())


def is_direct(feature: str) -> bool:
    """Whether the feature's value is its one column's value as of the month (extras included)."""
    return feature in DIRECT or feature.startswith(EXTRA_PREFIX)
