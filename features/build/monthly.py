"""Canonical tables → feature tables: one row per customer per as-of instant, point-in-time correct.

The row describing data month m carries `event_timestamp` = the first instant of month m + 1
(UTC): nothing observed at or after an as-of instant T is in a row stamped T or earlier.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.build import aggregates as agg
from features.tables import (
    ALL_TABLES,
    BALANCES,
    CREATED_TIMESTAMP,
    CREDIT,
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
from sources.contract import TOPICS
from sources.io import read_table, table_path

log = logging.getLogger(__name__)

MANIFEST = "build.json"
_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_(),
          "str_list": pa.list_(pa.string())}
_TIMESTAMP = pa.timestamp("us", tz="UTC")
_CANONICAL = ("customers", "products", "holdings", "events", "transactions", "credit")
BLOCK_CUSTOMERS = 25_000  # customers built at once: ~1.5 GB resident at 24 months
_PER_CUSTOMER = ("holdings", "events", "transactions", "credit")  # read a block of customers at a time
_COLUMNS = {  # the columns the build reads (all of the other tables)
    "customers": ["customer_id", "birth_date", "gender", "city_tier", "occupation", "segment", "join_date",
                  "close_date", "risk_tolerance", "risk_assessed_at", "marketing_consent", "preferred_channel",
                  "income_monthly"],
    "events": ["customer_id", "event_time", "event_type", "topic", "product_id"],
}
_MONTH_COLUMNS = {"transactions": "month", "credit": "month", "holdings": "snapshot_date"}
_ROW = "_row"  # an event's row in events.parquet: ties in event time keep file order across blocks
_TIME_NS = "_time_ns"  # its event time at full precision (the intent table's is microseconds)
_BATCH_ROWS = 4_000_000  # rows split at once: each batch looks up every customer id once


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


def build_feature_tables(data_dir: Path, out_dir: Path, block_customers: int = BLOCK_CUSTOMERS) -> BuildResult:
    """Read the canonical tables in `data_dir` and write every feature table into `out_dir`.

    Customers are built `block_customers` at a time, in the customers table's order, so the rows
    are those of a one-block build, in the same order. Files are written aside, then moved in.
    """
    missing = [t for t in _CANONICAL if not table_path(data_dir, t).is_file()]
    if missing:
        raise InputFileError(f"{data_dir}: missing canonical tables {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))
    try:
        blocks = _CanonicalBlocks(data_dir, work, block_customers)
        products = read_table(data_dir, "products")
        writers = _FeatureWriters(work)
        intents = [_write_block(writers, blocks, block, products) for block in range(blocks.count)]
        intents += [_last_intents(events) for events in blocks.orphan_events()]
        writers.append(PRODUCT_ATTRIBUTES, _product_frame(products, blocks.months[0]))
        writers.append(INTENT_REALTIME, _intent_history(intents))
        as_of = agg.as_of_instants(blocks.months)
        result = BuildResult(str(data_dir.resolve()), str(out_dir.resolve()), writers.rows,
                             as_of[0].isoformat(), as_of[-1].isoformat())
        writers.move_to(out_dir, manifest=json.dumps(asdict(result), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log.info("feature_tables_built", extra={"tables": len(result.rows), "rows": sum(result.rows.values())})
    return result


def read_manifest(out_dir: Path) -> BuildResult:
    """The last build's manifest; InputFileError when nothing was built there."""
    path = out_dir / MANIFEST
    if not path.is_file():
        raise InputFileError(f"{out_dir}: no feature tables; run `nbo features build DATA_DIR` first")
    return BuildResult(**json.loads(path.read_text(encoding="utf-8")))


class _CanonicalBlocks:
    """The canonical tables one block of customers at a time, and the data months of the whole bank.

    A one-block bank is read straight from its files. A larger one has each per-customer table
    split first, in one pass, into an Arrow IPC file per block (file order kept within a block):
    each block then reads only its own rows, and the time stays linear in the bank's size. Rows
    of customers missing from the customers table go to one more part, read for intents only.
    """

    def __init__(self, data_dir: Path, work: Path, block_customers: int):
        self.data_dir, self.work, self.size = data_dir, work, block_customers
        self.customers = pq.read_table(table_path(data_dir, "customers"), columns=_COLUMNS["customers"])
        self.count = max(1, -(-self.customers.num_rows // block_customers))
        self._whole: dict[str, pd.DataFrame] | None = None
        if self.count == 1:
            self._whole = {t: pd.read_parquet(table_path(data_dir, t), columns=_COLUMNS.get(t))
                           for t in _PER_CUSTOMER}
            observed = [_months_of(t, self._whole[t]) for t in _MONTH_COLUMNS]
        else:
            started = time.perf_counter()
            observed = [months for t in _PER_CUSTOMER for months in self._split(t)]
            log.info("canonical_tables_split", extra={"blocks": self.count, "customers": self.customers.num_rows,
                                                      "seconds": round(time.perf_counter() - started, 1)})
        self.months = pd.DatetimeIndex(sorted(pd.concat(observed).dropna().unique()))

    def frames(self, block: int) -> dict[str, pd.DataFrame]:
        """One block's canonical rows by table name (each block once: parts are freed as read)."""
        customers = self.customers.slice(block * self.size, self.size).to_pandas()
        if self._whole is None:
            return {"customers": customers} | {t: self._read(t, block) for t in _PER_CUSTOMER}
        whole, self._whole = self._whole, None
        return {"customers": customers, **whole}

    def orphan_events(self) -> list[pd.DataFrame]:
        """Events of customers missing from the customers table (a one-block bank has them in its block)."""
        return [self._read("events", self.count)] if self.count > 1 else []

    def _path(self, table: str, part: int) -> Path:
        return self.work / f"{table}-{part}.arrow"

    def _split(self, table: str) -> list[pd.Series]:
        """Write each part's rows of `table` to its own file; return the data months of each batch."""
        source = pq.ParquetFile(table_path(self.data_dir, table))
        names = _COLUMNS.get(table) or source.schema_arrow.names
        schema = pa.schema([source.schema_arrow.field(name) for name in names])
        if table == "events":
            schema = schema.append(pa.field(_ROW, pa.int64()))
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        writers = [pa.ipc.new_file(self._path(table, part), schema, options=options) for part in range(self.count + 1)]
        ids = self.customers.column("customer_id").combine_chunks()
        months, offset = [], 0
        try:
            for batch in source.iter_batches(_BATCH_ROWS, columns=names):
                if table in _MONTH_COLUMNS:
                    months.append(_months_of(table, batch.select([_MONTH_COLUMNS[table]]).to_pandas()))
                batch = batch.select(names)
                if table == "events":
                    batch = batch.append_column(_ROW, pa.array(np.arange(offset, offset + batch.num_rows)))
                offset += batch.num_rows
                self._scatter(batch, ids, writers)
        finally:
            for writer in writers:
                writer.close()
        return months

    def _scatter(self, batch: pa.RecordBatch, ids: pa.Array, writers: list[pa.ipc.RecordBatchFileWriter]) -> None:
        """Append each row of `batch` to its customer's part (position in `ids` // block size), in order."""
        position = pc.fill_null(pc.index_in(batch.column("customer_id"), value_set=ids), -1).to_numpy()
        part = np.where(position < 0, self.count, position // self.size)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(self.count + 2))
        batch = batch.take(pa.array(order))
        for p in np.flatnonzero(np.diff(bounds)):
            writers[p].write_batch(batch.slice(bounds[p], bounds[p + 1] - bounds[p]))

    def _read(self, table: str, part: int) -> pd.DataFrame:
        """One part of a split table (events indexed by their row in events.parquet); frees its file."""
        path = self._path(table, part)
        with pa.OSFile(str(path)) as file:
            frame = pa.ipc.open_file(file).read_all().to_pandas()
        path.unlink()
        if table == "events":
            frame.index = pd.Index(frame.pop(_ROW).to_numpy())
        return frame


class _FeatureWriters:
    """A parquet writer per feature table, writing into a work dir; rows counted per table."""

    def __init__(self, work: Path):
        self.work = work
        self._writers = {t.name: pq.ParquetWriter(work / t.file_name, arrow_schema(t), compression="zstd")
                         for t in ALL_TABLES}
        self.rows = dict.fromkeys(self._writers, 0)

    def append(self, table: FeatureTable, frame: pa.Table) -> None:
        self._writers[table.name].write_table(frame)
        self.rows[table.name] += frame.num_rows

    def move_to(self, out_dir: Path, manifest: str) -> None:
        """Close every file and move it into `out_dir`, then the manifest (each move atomic)."""
        (self.work / MANIFEST).write_text(manifest, encoding="utf-8")
        for writer in self._writers.values():
            writer.close()
        for name in (*(t.file_name for t in ALL_TABLES), MANIFEST):
            os.replace(self.work / name, out_dir / name)


def _months_of(table: str, frame: pd.DataFrame) -> pd.Series:
    """The distinct data months in (part of) a monthly table.

    The bank's months are those of any monthly table: a public snapshot may carry only credit
    history (UCI) or only holdings (Zimnat).
    """
    values = frame[_MONTH_COLUMNS[table]].drop_duplicates()
    return agg.month_start(values) if table == "holdings" else values


def _month_grid(customers: pd.DataFrame, months: pd.DatetimeIndex) -> agg.MonthGrid:
    """Customers who had a relationship during each data month (joined, not closed)."""
    as_of = (months + pd.DateOffset(months=1)).to_numpy()
    join = customers["join_date"].to_numpy()[:, None]
    close = customers["close_date"].to_numpy()[:, None]
    active = (np.isnat(join) | (join < as_of)) & (np.isnat(close) | (close >= months.to_numpy()))
    return agg.MonthGrid(customers["customer_id"].to_numpy(), months, active)


def _write_block(writers: _FeatureWriters, blocks: _CanonicalBlocks, block: int, products: pd.DataFrame) -> pa.Table:
    """Append one block's rows to every customer table; return its last intents.

    Each canonical table is dropped once its feature table is written, so a block holds at most
    one feature table's arrays at a time.
    """
    started = time.perf_counter()
    frames = blocks.frames(block)
    grid = _month_grid(frames["customers"], blocks.months)
    builders = [(PROFILE, lambda: _profile_columns(grid, frames.pop("customers"))),
                (BALANCES, lambda: _balance_columns(grid, frames.pop("holdings"), products)),
                (RFM, lambda: _rfm_columns(grid, frames.pop("transactions"))),
                (CREDIT, lambda: _credit_columns(grid, frames.pop("credit"))),
                (ENGAGEMENT, lambda: _engagement_columns(grid, frames["events"]))]
    for table, columns in builders:
        writers.append(table, _cells_frame(grid, columns(), table))
    intents = _last_intents(frames.pop("events"))
    log.info("feature_block_built", extra={"block": block + 1, "blocks": blocks.count, "customers": grid.shape[0],
                                           "seconds": round(time.perf_counter() - started, 1)})
    return intents


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


def _last_intents(events: pd.DataFrame) -> pa.Table:
    """Each customer's last page view or search with a topic per month, and its row in events.parquet."""
    intent = events[events["event_type"].isin(INTENT_COUNTS) & events["topic"].notna()]
    intent = intent.sort_values("event_time", kind="stable")
    last = intent.groupby([intent["customer_id"], agg.month_start(intent["event_time"])]).tail(1)
    data = {"customer_id": last["customer_id"], EVENT_TIMESTAMP: last["event_time"],
            CREATED_TIMESTAMP: last["event_time"], "last_intent_topic": last["topic"],
            "last_intent_event_type": last["event_type"]}
    order = {_TIME_NS: pd.DatetimeIndex(last["event_time"]).asi8, _ROW: last.index.to_numpy()}
    table = _to_arrow(INTENT_REALTIME, data)
    for name, values in order.items():
        table = table.append_column(name, pa.array(values, type=pa.int64()))
    return table


def _intent_history(parts: list[pa.Table]) -> pa.Table:
    """The push source's history: every block's last intents by event time, as a stable sort of events.parquet."""
    intents = pa.concat_tables(parts)
    order = pc.sort_indices(intents, sort_keys=[(_TIME_NS, "ascending"), (_ROW, "ascending")])
    return intents.take(order).drop_columns([_TIME_NS, _ROW])
