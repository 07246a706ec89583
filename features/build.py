"""Canonical tables → feature tables: one row per customer per as-of instant, point-in-time correct.

The row describing data month m carries `event_timestamp` = the first instant of month m + 1
(UTC): nothing observed at or after an as-of instant T is in a row stamped T or earlier.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from features import aggregates as agg
from features.tables import (
    BALANCES,
    CREATED_TIMESTAMP,
    CREDIT,
    CUSTOMER_TABLES,
    ENGAGEMENT,
    EVENT_TIMESTAMP,
    INTENT_COUNTS,
    INTENT_REALTIME,
    PRODUCT_ATTRIBUTES,
    PROFILE,
    RFM,
    RFM_WINDOWS_DAYS,
    FeatureTable,
)
from nbo.errors import InputFileError
from nbo.settings import Settings
from sources.io import read_table, table_path
from sources.synthetic.catalogue import TOPICS

log = logging.getLogger(__name__)

MANIFEST = "build.json"
_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
          "str_list": pa.list_(pa.string())}
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_CANONICAL = ("customers", "products", "holdings", "events", "transactions", "credit")


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: where, how many rows per table and the as-of range."""

    data_dir: str
    out_dir: str
    rows: dict[str, int]
    first_as_of: str
    last_as_of: str


def offline_dir(settings: Settings) -> Path:
    """Where the feature tables (the offline store's files) live."""
    return settings.feast_dir / "offline"


def arrow_schema(table: FeatureTable) -> pa.Schema:
    """The parquet schema of a feature table: key, event timestamp(s), then its columns."""
    stamps = [(EVENT_TIMESTAMP, _TIMESTAMP)]
    if table is INTENT_REALTIME:
        stamps.append((CREATED_TIMESTAMP, _TIMESTAMP))
    fields = [(table.entity_key, pa.string()), *stamps]
    return pa.schema(fields + [(name, _ARROW[kind]) for name, kind in table.columns.items()])


def build_feature_tables(data_dir: Path, out_dir: Path) -> BuildResult:
    """Read the canonical tables in `data_dir` and write every feature table into `out_dir`."""
    tables = _read_canonical(data_dir)
    grid = _month_grid(tables)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {}
    columns = _customer_columns(grid, tables)
    for table in CUSTOMER_TABLES:
        rows[table.name] = _write(out_dir, table, _cells_frame(grid, columns[table.name], table))
    rows[PRODUCT_ATTRIBUTES.name] = _write(out_dir, PRODUCT_ATTRIBUTES,
                                           _product_frame(tables["products"], grid.months[0]))
    rows[INTENT_REALTIME.name] = _write(out_dir, INTENT_REALTIME, _intent_history(tables["events"]))
    result = BuildResult(str(data_dir.resolve()), str(out_dir.resolve()), rows,
                         grid.as_of[0].isoformat(), grid.as_of[-1].isoformat())
    (out_dir / MANIFEST).write_text(json.dumps(asdict(result), indent=2), encoding="utf-8")
    log.info("feature_tables_built", extra={"tables": len(rows), "rows": sum(rows.values())})
    return result


def read_manifest(out_dir: Path) -> BuildResult:
    """The last build's manifest; InputFileError when nothing was built there."""
    path = out_dir / MANIFEST
    if not path.is_file():
        raise InputFileError(f"{out_dir}: no feature tables; run `nbo features build DATA_DIR` first")
    return BuildResult(**json.loads(path.read_text(encoding="utf-8")))


def _read_canonical(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Every canonical table the build needs; InputFileError naming the missing ones."""
    missing = [t for t in _CANONICAL if not table_path(data_dir, t).is_file()]
    if missing:
        raise InputFileError(f"{data_dir}: missing canonical tables {', '.join(missing)}")
    return {t: read_table(data_dir, t) for t in _CANONICAL}


def _month_grid(tables: dict[str, pd.DataFrame]) -> agg.MonthGrid:
    """Every data month, and customers who had a relationship during each (joined, not closed).

    The months are those of any monthly table: a public snapshot may carry only credit history
    (UCI) or only holdings (Zimnat).
    """
    customers = tables["customers"]
    observed = [tables["transactions"]["month"], tables["credit"]["month"],
                agg.month_start(tables["holdings"]["snapshot_date"])]
    months = pd.DatetimeIndex(sorted(pd.concat(observed).dropna().unique()))
    as_of = (months + pd.DateOffset(months=1)).to_numpy()
    join = customers["join_date"].to_numpy()[:, None]
    close = customers["close_date"].to_numpy()[:, None]
    active = (np.isnat(join) | (join < as_of)) & (np.isnat(close) | (close >= months.to_numpy()))
    return agg.MonthGrid(customers["customer_id"].to_numpy(), months, active)


def _customer_columns(grid: agg.MonthGrid, t: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Each customer table's columns as (customers × months) arrays, by table name."""
    return {
        PROFILE.name: _profile_columns(grid, t["customers"]),
        BALANCES.name: _balance_columns(grid, t["holdings"], t["products"]),
        RFM.name: _rfm_columns(grid, t["transactions"]),
        ENGAGEMENT.name: _engagement_columns(grid, t["events"]),
        CREDIT.name: _credit_columns(grid, t["credit"]),
    }


def _profile_columns(grid: agg.MonthGrid, c: pd.DataFrame) -> dict[str, np.ndarray]:
    """Demographics and risk profile at each as-of instant (an assessment dated later is unknown)."""
    as_of = grid.as_of.tz_localize(None).to_numpy()[None, :]

    def days_before(col: str) -> np.ndarray:
        return (as_of - c[col].to_numpy()[:, None]) / np.timedelta64(1, "D")

    join = c["join_date"]
    tenure = (as_of.astype("datetime64[M]").astype(int) - join.to_numpy().astype("datetime64[M]").astype(int)[:, None])
    assessed_days = days_before("risk_assessed_at")
    assessed_on = _repeat(_iso_dates(c["risk_assessed_at"]), grid)
    columns = {name: np.repeat(c[name].to_numpy()[:, None], grid.shape[1], axis=1)
               for name in ("gender", "occupation", "segment", "risk_tolerance", "preferred_channel")}
    return columns | {
        "age_years": np.floor(days_before("birth_date") / 365.25),
        "city_tier": _repeat(c["city_tier"].astype(float), grid),
        "tenure_months": np.where(join.isna().to_numpy()[:, None], np.nan, tenure),
        "risk_tolerance_level": _repeat(c["risk_tolerance"].str[1:].astype(float), grid),
        "risk_assessment_age_days": np.where(assessed_days > 0, np.floor(assessed_days), np.nan),
        "has_marketing_consent": _repeat(c["marketing_consent"], grid),
        "income_monthly_cny": _repeat(c["income_monthly"], grid),
        "is_closed": days_before("close_date") > 0,
        "birth_date": _repeat(_iso_dates(c["birth_date"]), grid),
        "risk_assessed_at": np.where(assessed_days > 0, assessed_on, np.array(None)),
    }


def _iso_dates(values: pd.Series) -> pd.Series:
    """Dates as 'YYYY-MM-DD' strings; None where missing."""
    return values.dt.strftime("%Y-%m-%d").astype(object).where(values.notna(), None)


def _repeat(values: pd.Series, grid: agg.MonthGrid) -> np.ndarray:
    """A per-customer value in every month."""
    return np.repeat(values.to_numpy()[:, None], grid.shape[1], axis=1)


def _balance_columns(grid: agg.MonthGrid, holdings: pd.DataFrame, products: pd.DataFrame) -> dict:
    """Month-end balances by category; AUM sums the non-credit ones."""
    columns: dict = agg.category_balances(grid, holdings, products)
    credit_categories = set(products.loc[products["is_credit"], "category"])
    aum = sum(v for k, v in columns.items() if k.endswith("_balance_cny") and k[:-12] not in credit_categories)
    before = np.full(aum.shape, np.nan)
    before[:, 3:] = aum[:, :-3]
    change = np.divide(aum - before, before, out=np.full(aum.shape, np.nan), where=before > 0) * 100
    return columns | {"aum_cny": aum, "aum_change_3m_pct": change,
                      "held_product_ids": agg.held_products(grid, holdings)}


def _rfm_columns(grid: agg.MonthGrid, transactions: pd.DataFrame) -> dict[str, np.ndarray]:
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


def _engagement_columns(grid: agg.MonthGrid, events: pd.DataFrame) -> dict[str, np.ndarray]:
    """Event counts over 30 and 90 days, by topic over 30 days, and days since the last login."""
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


def _credit_columns(grid: agg.MonthGrid, credit: pd.DataFrame) -> dict[str, np.ndarray]:
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


def _cells_frame(grid: agg.MonthGrid, columns: dict[str, np.ndarray], table: FeatureTable) -> pa.Table:
    """The grid cells a table has rows for (active customers; credit: months with credit data)."""
    mask = grid.active & ~np.isnan(columns["credit_limit_cny"]) if table is CREDIT else grid.active
    rows, cols = np.nonzero(mask)
    data = {table.entity_key: grid.customer_ids[rows], EVENT_TIMESTAMP: grid.as_of[cols]}
    for name in table.columns:
        values = columns[name]  # an arrow array holds one value per cell, row-major
        data[name] = values.take(rows * grid.shape[1] + cols) if isinstance(values, pa.Array) else values[rows, cols]
    return _to_arrow(table, data)


def _to_arrow(table: FeatureTable, data: dict) -> pa.Table:
    """Columns as the table's arrow schema; NaN in an int column becomes null."""
    schema = arrow_schema(table)
    arrays = []
    for field in schema:
        values = data[field.name]
        if field.type == pa.int64():
            values = np.asarray(values, dtype=float)
            arrays.append(pa.array(np.nan_to_num(values).astype(np.int64), mask=np.isnan(values)))
        elif isinstance(values, pa.Array):
            arrays.append(values)
        else:
            arrays.append(pa.array(values, type=field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def _product_frame(products: pd.DataFrame, first_month: pd.Timestamp) -> pa.Table:
    """Catalogue attributes, known from the first data month on."""
    p = products
    data = {"product_id": p["product_id"], EVENT_TIMESTAMP: [first_month.tz_localize("UTC")] * len(p),
            "name_zh": p["name_zh"], "name_en": p["name_en"],
            "category": p["category"], "risk_level": p["risk_level"],
            "risk_level_num": p["risk_level"].str[1:].astype(float), "is_credit": p["is_credit"],
            "min_amount_cny": p["min_amount"], "expected_yield_rate": p["expected_yield"],
            "margin_rate": p["margin"], "min_age_years": p["min_age"], "max_age_years": p["max_age"]}
    return _to_arrow(PRODUCT_ATTRIBUTES, data)


def _intent_history(events: pd.DataFrame) -> pa.Table:
    """Each customer's last page view or search with a topic per month: the push source's history."""
    intent = events[events["event_type"].isin(INTENT_COUNTS) & events["topic"].notna()]
    intent = intent.sort_values("event_time", kind="stable")
    last = intent.groupby([intent["customer_id"], agg.month_start(intent["event_time"])]).tail(1)
    data = {"customer_id": last["customer_id"], EVENT_TIMESTAMP: last["event_time"],
            CREATED_TIMESTAMP: last["event_time"], "last_intent_topic": last["topic"],
            "last_intent_event_type": last["event_type"]}
    return _to_arrow(INTENT_REALTIME, data)


def _write(out_dir: Path, table: FeatureTable, frame: pa.Table) -> int:
    """Write one feature table; return its row count."""
    pq.write_table(frame, out_dir / table.file_name, compression="zstd")
    return frame.num_rows
