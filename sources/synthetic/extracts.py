"""Source-system extracts of the synthetic bank: what a bank that has no shared customer key holds.

`write_extracts` reads the canonical tables `generate_bank` wrote and writes, under `DIR/sources/`,
one parquet file per system (`<system>.parquet`: `record_id` and the identifiers that system holds,
with its noise) and the activity keyed by a system's own ids (`mobile_app_events`: the events with the
app record's `record_id`; `core_banking_transactions`, `_holdings`, `_credit`, `_customer_history`, and the payment
system's `_payments` and `_account_events`, which know the customer by the core-banking number: keyed
by the core-banking record (its first one); `core_banking_products`: the catalogue). The person behind every record goes to
`DIR/truth/source_records.parquet` only. Same canonical tables and seed ⇒ same bytes.
`write_identity_extracts` writes the same systems' extracts for people drawn without a bank history.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sources.io import table_path
from sources.synthetic.bank import AppendWriter, history_months
from sources.synthetic.identities import Pinyin
from sources.synthetic.people import draw_people
from sources.synthetic.population import draw_population
from sources.synthetic.systems import SYSTEMS, Context

SOURCES_DIR = "sources"
TRUTH_FILE = "source_records.parquet"
CUSTOMER_KEYED = {"mobile_app": ("events",),
                  "core_banking": ("transactions", "holdings", "credit", "customer_history", "payments",
                                   "account_events", "contact_consent")}
RE_REGISTERED = "mobile_app"  # the system whose second record takes a customer's later activity
_STREAM_ROWS = 1_000_000
CHUNK_PEOPLE = 100_000
HISTORY_MONTHS = 24  # the demo bank's history, over which the fast path's customers joined


def write_extracts(out: Path, seed: int, truth_dir: str = "truth") -> dict[str, int]:
    """Write every system's extract, the keyed activity and the truth; return rows per file stem.

    People are drawn and written `CHUNK_PEOPLE` at a time (families form within a chunk), so memory
    is bounded by the chunk, not by the bank."""
    out = Path(out)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    customers = pq.read_table(table_path(out, "customers"))
    ids = customers.column("customer_id").to_pandas()
    ends = pq.read_table(table_path(out, "holdings"), columns=["snapshot_date"]).column(0)
    last_day = pd.Timestamp(pc.max(ends).as_py())
    app_users = _customers_with_events(out, ids)
    chunks = ((first, customers.slice(first, CHUNK_PEOPLE).to_pandas(), app_users[first:first + CHUNK_PEOPLE])
              for first in range(0, len(ids), CHUNK_PEOPLE))
    rows, keys = _write_systems(rng, out, chunks, last_day, truth_dir)
    frames = {system: pd.concat(k, ignore_index=True) for system, k in keys.items() if k}
    rows |= _write_keyed(rng, out, ids, frames, last_day)
    pq.write_table(pq.read_table(table_path(out, "products")), out / SOURCES_DIR / "core_banking_products.parquet",
                   compression="zstd")
    return rows


def write_identity_extracts(out: Path, customers: int, seed: int, end_month: str = "2025-12",
                            truth_dir: str = "truth") -> dict[str, int]:
    """The identifying extracts and the truth alone, for `customers` people drawn as the bank draws its
    customers but without simulating their history (no activity tables): the fast path to any size
    for the identity benchmark and tests. Everyone counts as an app user: over the demo bank's
    24 months, 99.5 % of customers have app events. Same arguments ⇒ same bytes."""
    out = Path(out)
    draw = np.random.default_rng(np.random.SeedSequence([seed, 22]))
    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    span = history_months(HISTORY_MONTHS, end_month)
    last_day = span[-1] + pd.offsets.MonthEnd(0)
    chunks = ((first, draw_population(draw, min(CHUNK_PEOPLE, customers - first), span, first + 1).customers,
               np.ones(min(CHUNK_PEOPLE, customers - first), dtype=bool))
              for first in range(0, customers, CHUNK_PEOPLE))
    return _write_systems(rng, out, chunks, last_day, truth_dir)[0]


def _write_systems(rng: np.random.Generator, out: Path, chunks: Iterable[tuple[int, pd.DataFrame, np.ndarray]],
                   last_day: pd.Timestamp, truth_dir: str) -> tuple[dict[str, int], dict[str, list[pd.DataFrame]]]:
    """Write each system's extract and the truth from chunks of (first row, canonical customers, app
    users); the rows per system and, per system, its records' (_row, _copy, record_id)."""
    target = out / SOURCES_DIR
    target.mkdir(parents=True, exist_ok=True)
    writers = {system: AppendWriter(target / f"{system}.parquet", "zstd") for system in SYSTEMS}
    truth = AppendWriter(out / truth_dir / TRUTH_FILE, "zstd")
    numbers = {system: int(rng.integers(10 ** (digits - 2), 10 ** (digits - 1)))
               for system, (_, _, digits) in SYSTEMS.items()}
    keys: dict[str, list[pd.DataFrame]] = {system: [] for system in SYSTEMS}
    pinyin, taken = Pinyin(), set()
    try:
        for first, chunk, app_users in chunks:
            ids = chunk["customer_id"].to_numpy()
            people = draw_people(rng, chunk, taken).frame
            ctx = Context.build(people, chunk, pinyin, last_day, app_users)
            for system, (build, prefix, digits) in SYSTEMS.items():
                records = build(rng, ctx)
                if not records:
                    continue
                frame = _with_record_ids(rng, pd.DataFrame(records), prefix, digits, numbers[system])
                numbers[system] += len(frame)
                truth.write(pa.table({"system": pa.array([system] * len(frame), pa.string()),
                                      "record_id": pa.array(frame["record_id"], pa.string()),
                                      "customer_id": pa.array(ids[frame["_row"]], pa.string())}))
                frame["_row"] += first
                keys[system].append(frame[["_row", "_copy", "record_id"]])
                writers[system].write(pa.Table.from_pandas(frame.drop(columns=["_row", "_copy"]),
                                                           preserve_index=False))
    finally:
        for writer in (*writers.values(), truth):
            writer.close()
    return {system: w.rows for system, w in writers.items()}, keys


def _customers_with_events(out: Path, ids: pd.Series) -> np.ndarray:
    """Which customers (in `ids` order) have at least one event, read batch by batch."""
    seen = np.zeros(len(ids), dtype=bool)
    id_set = pa.array(ids.to_numpy(), type=pa.string())
    for batch in pq.ParquetFile(table_path(out, "events")).iter_batches(_STREAM_ROWS, columns=["customer_id"]):
        row = pc.index_in(pc.unique(batch.column(0)), value_set=id_set).drop_null().to_numpy()
        seen[row] = True
    return seen


def _with_record_ids(rng: np.random.Generator, frame: pd.DataFrame, prefix: str, digits: int,
                     start: int) -> pd.DataFrame:
    """Shuffle the records (ids say nothing about the person) and number them from `start`."""
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, "record_id", [f"{prefix}{start + i:0{digits}d}" for i in range(len(frame))])
    return frame


def _write_keyed(rng: np.random.Generator, out: Path, ids: pd.Series, keys: dict[str, pd.DataFrame],
                 last_day: pd.Timestamp) -> dict[str, int]:
    """Re-key customer activity to a system's records: the first record takes it; in the app, a
    re-registration takes the events from a random day of the history on."""
    rows = {}
    for system, tables in CUSTOMER_KEYED.items():
        if system not in keys:
            continue
        frame = keys[system]
        first = _record_of(frame[frame["_copy"] == 0], len(ids))
        second = _record_of(frame[frame["_copy"] == 1], len(ids))
        cut = np.full(len(ids), np.iinfo(np.int64).max)
        has_second = second.is_valid().to_numpy(zero_copy_only=False)
        days = rng.integers(1, 720, int(has_second.sum()))
        cut[has_second] = (last_day.tz_localize("UTC") - pd.to_timedelta(days, unit="D")).asi8
        if system != RE_REGISTERED:
            cut[:] = np.iinfo(np.int64).max
        for table in (t for t in tables if table_path(out, t).is_file()):  # optional tables may be absent
            name = f"{system}_{table}"
            rows[name] = _rekey_file(table_path(out, table), out / SOURCES_DIR / f"{name}.parquet",
                                     ids, first, second, cut)
    return rows


def _record_of(frame: pd.DataFrame, n: int) -> pa.Array:
    """The record id of each customer row (null where the system has none)."""
    record = np.full(n, None, dtype=object)
    record[frame["_row"].to_numpy()] = frame["record_id"].to_numpy()
    return pa.array(record, type=pa.string())


def _rekey_file(source: Path, target: Path, ids: pd.Series, first: pa.Array, second: pa.Array,
                cut: np.ndarray) -> int:
    """Copy a customer-keyed table batch by batch with `record_id` in place of `customer_id`; rows of
    customers the system has no record of are left out."""
    reader = pq.ParquetFile(source)
    id_set = pa.array(ids.to_numpy(), type=pa.string())
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in reader.iter_batches(batch_size=_STREAM_ROWS):
            table = pa.Table.from_batches([batch])
            row = pc.index_in(table.column("customer_id"), value_set=id_set)
            record = first.take(row)
            if "event_time" in table.column_names:
                times = table.column("event_time").cast(pa.int64()).to_numpy()
                late = pa.array(times >= cut[row.to_numpy(zero_copy_only=False)])
                later = second.take(row)
                record = pc.if_else(pc.and_(late, later.is_valid()), later, record)
            position = table.column_names.index("customer_id")
            table = table.set_column(position, "record_id", record).filter(record.is_valid())
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema, compression="zstd")
            writer.write_table(table)
            rows += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return rows
