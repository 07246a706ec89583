"""The columns of each customer feature table on a customers × months grid (numpy arrays)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.build import aggregates as agg
from features.tables import INTENT_COUNTS, RFM_WINDOWS_DAYS
from sources.contract import CONTACT_CHANNELS, TOPICS


def profile_columns(grid: agg.MonthGrid, c: pd.DataFrame, versions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Demographics and the attribute version valid at each as-of instant (`versions`: sorted by
    customer and valid_from; one from on or after the instant is unknown, and before a customer's
    first version the attributes are missing)."""
    as_of = grid.as_of.tz_localize(None).to_numpy()[None, :]

    def days_before(col: str) -> np.ndarray:
        return (as_of - c[col].to_numpy()[:, None]) / np.timedelta64(1, "D")

    join = c["join_date"]
    tenure = (as_of.astype("datetime64[M]").astype(int) - join.to_numpy().astype("datetime64[M]").astype(int)[:, None])
    at = _version_at(grid, versions)

    def valid(col: str, missing: object = None) -> np.ndarray:
        """The column of the version valid in each cell (`missing` where none is)."""
        values = versions[col].to_numpy(dtype=object if missing is None else float, na_value=missing)
        return np.append(values, np.array([missing], dtype=values.dtype))[at]

    assessed_at = pd.to_datetime(versions["risk_assessed_at"])
    assessed = np.append(assessed_at.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"))[at]
    assessed_days = (as_of - assessed) / np.timedelta64(1, "D")
    assessed_on = np.append(_iso_dates(assessed_at).to_numpy(), None)[at]
    level = versions["risk_tolerance"].str[1:].astype(float).to_numpy()
    return {
        "gender": _repeat(c["gender"], grid),
        **{name: valid(name) for name in ("occupation", "segment", "risk_tolerance", "preferred_channel")},
        "age_years": np.floor(days_before("birth_date") / 365.25),
        "city_tier": valid("city_tier", np.nan),
        "tenure_months": np.where(join.isna().to_numpy()[:, None], np.nan, tenure),
        "risk_tolerance_level": np.append(level, np.nan)[at],
        "risk_assessment_age_days": np.where(assessed_days > 0, np.floor(assessed_days), np.nan),
        "has_marketing_consent": valid("marketing_consent"),
        **{f"has_{ch}_consent": _repeat(c[f"consent_{ch}"], grid) for ch in CONTACT_CHANNELS},
        "income_monthly_cny": valid("income_monthly", np.nan),
        "is_closed": days_before("close_date") > 0,
        "birth_date": _repeat(_iso_dates(c["birth_date"]), grid),
        "risk_assessed_at": np.where(assessed_days > 0, assessed_on, np.array(None)),
    }


def _version_at(grid: agg.MonthGrid, versions: pd.DataFrame) -> np.ndarray:
    """Per cell, the row of `versions` valid at its as-of instant: the customer's last version with
    valid_from before the instant; -1 where there is none."""
    rows = pd.Index(grid.customer_ids).get_indexer(versions["customer_id"])
    first_cell = np.searchsorted(grid.as_of.tz_localize(None).to_numpy(), versions["valid_from"].to_numpy(),
                                 side="right")  # the first as-of instant after valid_from
    n, m = grid.shape
    cell = rows * (m + 1) + first_cell
    last = np.append(cell[1:] != cell[:-1], True)  # sorted: of versions first valid in one cell, the latest
    mark = np.full(n * (m + 1), -1)
    mark[cell[last]] = np.flatnonzero(last)
    mark = mark.reshape(n, m + 1)
    return np.maximum.accumulate(mark, axis=1)[:, :m]


def _iso_dates(values: pd.Series) -> pd.Series:
    """Dates as 'YYYY-MM-DD' strings; None where missing."""
    return values.dt.strftime("%Y-%m-%d").astype(object).where(values.notna(), None)


def _repeat(values: pd.Series, grid: agg.MonthGrid) -> np.ndarray:
    """A per-customer value in every month."""
    return np.repeat(values.to_numpy()[:, None], grid.shape[1], axis=1)


def balance_columns(grid: agg.MonthGrid, holdings: pd.DataFrame, products: pd.DataFrame) -> dict:
    """Month-end balances by category; AUM sums the non-credit ones."""
    columns: dict = agg.category_balances(grid, holdings, products)
    credit_categories = set(products.loc[products["is_credit"], "category"])
    aum = sum(v for k, v in columns.items() if k.endswith("_balance_cny") and k[:-12] not in credit_categories)
    before = np.full(aum.shape, np.nan)
    before[:, 3:] = aum[:, :-3]
    change = np.divide(aum - before, before, out=np.full(aum.shape, np.nan), where=before > 0) * 100
    return columns | {"aum_cny": aum, "aum_change_3m_pct": change,
                      "held_product_ids": agg.held_products(grid, holdings)}


def rfm_columns(grid: agg.MonthGrid, transactions: pd.DataFrame) -> dict[str, np.ndarray]:
    """Transaction counts and amounts over 30/90/180 days, and months since the last transaction."""
    t = transactions.assign(net_flow=transactions["inflow"] - transactions["outflow"])
    money = ("inflow", "outflow", "outflow_other_banks", "card_spend", "salary_credit", "net_flow")
    monthly = {name: grid.dense_sum(t, "month", name) for name in (*money, "txn_count")}
    columns = {"months_since_last_txn": agg.months_since(monthly["txn_count"] > 0)}
    for days in RFM_WINDOWS_DAYS:
        months = days // 30
        columns |= {f"{name}_cny_{days}d": agg.window_sum(monthly[name], months) for name in money}
        columns[f"txn_count_{days}d"] = agg.window_sum(monthly["txn_count"], months)
        columns[f"active_months_{days}d"] = agg.window_sum((monthly["txn_count"] > 0).astype(float), months)
    return columns


def engagement_columns(grid: agg.MonthGrid, events: pd.DataFrame) -> dict[str, np.ndarray]:
    """Event counts over 30 and 90 days, by topic over 30 days, and days since the last login.

    An event counts in the calendar month of its time: one at exactly the as-of instant T (the
    first instant of a month) is in the rows stamped after T, not in the row stamped T.
    """
    counts = agg.event_counts(grid, events)
    names = {"login": "logins", "page_view": "page_views", "search": "searches", "click": "clicks",
             "offer_shown": "offers_shown", "offer_accepted": "offers_accepted"}
    columns = {f"{name}_30d": counts[kind] for kind, name in names.items()}
    columns |= {f"{names[kind]}_90d": agg.window_sum(counts[kind], 3)
                for kind in ("login", "page_view", "search", "offer_accepted")}
    columns["login_trend_ratio"] = np.divide(
        counts["login"] * 3, columns["logins_90d"], out=np.full(grid.shape, np.nan), where=columns["logins_90d"] > 0)
    columns["days_since_last_login"] = agg.days_since_last_login(grid, events)
    by_topic = [f"{stem}_{topic}" for stem in INTENT_COUNTS.values() for topic in TOPICS]
    return columns | {f"{key}_30d": counts[key] for key in by_topic}


def credit_columns(grid: agg.MonthGrid, credit: pd.DataFrame) -> dict[str, np.ndarray]:
    """The month's credit position and its 3- and 12-month history (NaN: no credit that month)."""
    rows, cols = grid.cells(credit["customer_id"], credit["month"])
    keep = (rows >= 0) & (cols >= 0)

    def dense(col: str) -> np.ndarray:
        out = np.full(grid.shape, np.nan)
        out[rows[keep], cols[keep]] = credit[col].to_numpy(float)[keep]
        return out

    dpd, missed, util = dense("days_past_due"), dense("missed_payments"), dense("utilization")
    return {
        "credit_limit_cny": dense("credit_limit"), "credit_balance_cny": dense("balance"),
        "utilization": util, "utilization_avg_3m": agg.window_mean(util, 3),
        "utilization_max_12m": agg.window_max(util, 12), "payment_cny": dense("payment_amount"),
        "days_past_due": dpd, "worst_dpd_12m": agg.window_max(dpd, 12), "missed_payments": missed,
        "missed_payments_12m": agg.window_sum(np.nan_to_num(missed), 12),
        "months_past_due_12m": agg.window_sum((dpd > 0).astype(float), 12),
    }
