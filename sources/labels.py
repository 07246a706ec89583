"""Labels derived by code, always relative to an as-of date (DESIGN §3).

An as-of date T is the first instant of a month: everything observed before T is known, and
months are whole calendar months. Each function returns the population it labels, so rates are
computed over the right denominator.

- churn: active at T, then closes or goes dormant within the next 90 days.
  Dormant in a month: no login, no customer-initiated transaction, holdings below a threshold.
- delinquency: has credit exposure at T and is not 30+ DPD then; reaches 30+ DPD within 12 months.
- adoption: holds product p at the month end after T, having not held it at the month end before T.
"""

from __future__ import annotations

import pandas as pd

from nbo.errors import ContractViolation

DORMANT_BALANCE_CNY = 1_000.0
CHURN_HORIZON_DAYS = 90
DELINQUENCY_DPD = 30
DELINQUENCY_MONTHS = 12
DELINQUENCY_POPULATIONS = ("performing", "all")


def as_of_timestamp(value: str | pd.Timestamp) -> pd.Timestamp:
    """Parse an as-of date; it must be the first day of a month (00:00)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if ts != ts.normalize() or ts.day != 1:
        raise ContractViolation(f"as-of date {value} is not the first day of a month")
    return ts


def monthly_activity(events: pd.DataFrame, transactions: pd.DataFrame, holdings: pd.DataFrame) -> pd.DataFrame:
    """Per customer and month: logins, customer-initiated transactions and month-end balance."""
    logins = events.loc[events["event_type"] == "login", ["customer_id", "event_time"]]
    login_month = logins["event_time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    logins = logins.assign(month=login_month).groupby(["customer_id", "month"]).size().rename("logins")
    txns = transactions.set_index(["customer_id", "month"])["txn_count"]
    bal_month = holdings["snapshot_date"].dt.to_period("M").dt.to_timestamp()
    balance = holdings.assign(month=bal_month).groupby(["customer_id", "month"])["balance"].sum()
    frame = pd.concat([logins, txns, balance.rename("balance")], axis=1).fillna(0)
    frame.index = frame.index.set_names(["customer_id", "month"])
    frame["is_dormant"] = (frame["logins"] == 0) & (frame["txn_count"] == 0) & (frame["balance"] < DORMANT_BALANCE_CNY)
    return frame.reset_index()


def _require_history(last_month: pd.Timestamp, needed: pd.Timestamp, what: str) -> None:
    if needed > last_month:
        raise ContractViolation(
            f"{what} label needs data through {needed:%Y-%m}; the data ends at {last_month:%Y-%m}"
        )


def churn_labels(customers: pd.DataFrame, activity: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Return customer_id, as_of, churn for customers active at `as_of`."""
    horizon_end = as_of + pd.Timedelta(days=CHURN_HORIZON_DAYS)
    last_needed = (horizon_end - pd.Timedelta(days=1)).to_period("M").to_timestamp()
    _require_history(activity["month"].max(), last_needed, "churn")
    prev = activity[activity["month"] == as_of - pd.DateOffset(months=1)]
    dormant_before = set(prev.loc[prev["is_dormant"], "customer_id"])
    seen_before = set(prev["customer_id"])
    c = customers
    joined = c["join_date"].isna() | (c["join_date"] < as_of)  # no join date: a customer since before the data
    active = joined & ~(c["close_date"] < as_of) & c["customer_id"].isin(seen_before)
    active &= ~c["customer_id"].isin(dormant_before)
    pop = c.loc[active, ["customer_id", "close_date"]]
    window = activity[(activity["month"] >= as_of) & (activity["month"] <= last_needed)]
    goes_dormant = set(window.loc[window["is_dormant"], "customer_id"])
    closes = pop["close_date"].notna() & (pop["close_date"] < horizon_end)
    churn = closes | pop["customer_id"].isin(goes_dormant)
    return pd.DataFrame({"customer_id": pop["customer_id"].to_numpy(), "as_of": as_of, "churn": churn.to_numpy()})


def delinquency_labels(
    credit: pd.DataFrame, as_of: pd.Timestamp, horizon_months: int = DELINQUENCY_MONTHS,
    population: str = "performing",
) -> pd.DataFrame:
    """Return customer_id, as_of, delinquency for customers with credit exposure at `as_of`.

    The horizon is 12 months by default; a public dataset whose label covers a shorter window
    (UCI credit card: the next month) passes its own `horizon_months`. The population is the
    accounts below 30 days past due at `as_of` ("performing", the design's default) or every
    account with exposure ("all": a source whose label is defined that way, such as UCI's
    `default.payment.next.month`).
    """
    if population not in DELINQUENCY_POPULATIONS:
        raise ValueError(f"delinquency population must be one of {DELINQUENCY_POPULATIONS}, not {population!r}")
    last_needed = as_of + pd.DateOffset(months=horizon_months - 1)
    _require_history(credit["month"].max(), last_needed, "delinquency")
    now = credit[credit["month"] == as_of - pd.DateOffset(months=1)]
    performing = now["days_past_due"] < DELINQUENCY_DPD
    pop = now.loc[performing if population == "performing" else slice(None), "customer_id"]
    future = credit[(credit["month"] >= as_of) & (credit["month"] <= last_needed)]
    bad = set(future.loc[future["days_past_due"] >= DELINQUENCY_DPD, "customer_id"])
    return pd.DataFrame({"customer_id": pop.to_numpy(), "as_of": as_of, "delinquency": pop.isin(bad).to_numpy()})


def adoption_labels(holdings: pd.DataFrame, products: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Return customer_id, product_id, as_of, adopted for every product not held at `as_of`."""
    before = as_of - pd.Timedelta(days=1)
    after = as_of + pd.offsets.MonthEnd(0)
    _require_history(holdings["snapshot_date"].max(), after, "adoption")
    held_before = holdings[holdings["snapshot_date"] == before]
    held_after = holdings[holdings["snapshot_date"] == after]
    customers = held_before["customer_id"].unique()
    stayed = set(held_after["customer_id"])
    customers = customers[pd.Series(customers).isin(stayed).to_numpy()]
    grid = pd.MultiIndex.from_product([customers, products["product_id"]], names=["customer_id", "product_id"])
    had = pd.MultiIndex.from_frame(held_before[["customer_id", "product_id"]])
    has = pd.MultiIndex.from_frame(held_after[["customer_id", "product_id"]])
    candidates = grid.difference(had)
    frame = candidates.to_frame(index=False)
    frame["as_of"] = as_of
    frame["adopted"] = candidates.isin(has)
    return frame


Counts = dict[str, dict[pd.Timestamp, tuple[int, int]]]  # label -> as-of -> (positives, population)
RATE_NAMES = {"churn": "churn_rate_90d", "delinquency": "delinquency_rate_12m", "adoption": "adoption_rate_monthly"}


def label_counts(tables: dict[str, pd.DataFrame]) -> Counts:
    """Per label and every as-of date the data can label: positives and population.

    Populations are sets of customers, so the counts of disjoint groups of customers add up
    (`sources/synthetic/rates.py` sums them block by block).
    """
    months = pd.DatetimeIndex(sorted(tables["transactions"]["month"].unique()))
    activity = monthly_activity(tables["events"], tables["transactions"], tables["holdings"])
    counts: Counts = {label: {} for label in RATE_NAMES}
    for as_of in months[1:]:
        if as_of + pd.DateOffset(months=2) <= months[-1]:
            counts["churn"][as_of] = _count(churn_labels(tables["customers"], activity, as_of)["churn"])
        if as_of + pd.DateOffset(months=DELINQUENCY_MONTHS - 1) <= months[-1]:
            counts["delinquency"][as_of] = _count(delinquency_labels(tables["credit"], as_of)["delinquency"])
        adopted = adoption_labels(tables["holdings"], tables["products"], as_of)
        counts["adoption"][as_of] = _count(adopted.groupby("customer_id")["adopted"].any())
    return counts


def label_rates(counts: Counts) -> dict[str, float | dict[str, int]]:
    """Average label rates over the as-of dates of `counts`: churn per quarter (90 days),
    delinquency per year and monthly adoption (share of active customers taking up at least one
    new product next month); an as-of date with an empty population counts as NaN and is skipped."""
    rates: dict[str, float | dict[str, int]] = {name: _mean_rate(counts[label]) for label, name in RATE_NAMES.items()}
    rates["as_of_dates"] = {label: len(counts[label]) for label in RATE_NAMES}
    return rates


def _count(flags: pd.Series) -> tuple[int, int]:
    return int(flags.sum()), len(flags)


def _mean_rate(counts: dict[pd.Timestamp, tuple[int, int]]) -> float:
    rates = [p / n if n else float("nan") for _, (p, n) in sorted(counts.items())]
    return float(pd.Series(rates, dtype=float).mean()) if rates else float("nan")
