"""The canonical tables a block of customers at a time, and the data months of the whole bank."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.build import aggregates as agg
from sources.contract import CONTACT_CHANNELS
from sources.history import customer_versions, history_of, read_history, snapshot_date
from sources.io import table_path

log = logging.getLogger(__name__)

PER_CUSTOMER = ("holdings", "events", "transactions", "credit")  # read a block of customers at a time
EVENT_ROW = "_row"  # an event's row in events.parquet: ties in event time keep file order across blocks
_COLUMNS = {  # the columns the build reads (all of the other tables)
    "customers": ["customer_id", "birth_date", "gender", "city_tier", "occupation", "segment", "join_date",
                  "close_date", "risk_tolerance", "risk_assessed_at", "marketing_consent", "preferred_channel",
                  "income_monthly"],
    "events": ["customer_id", "event_time", "event_type", "topic", "product_id"],
}
_MONTH_COLUMNS = {"transactions": "month", "credit": "month", "holdings": "snapshot_date"}
_BATCH_ROWS = 4_000_000  # rows split at once: each batch looks up every customer id once


class CanonicalBlocks:
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
                           for t in PER_CUSTOMER}
            observed = [_months_of(t, self._whole[t]) for t in _MONTH_COLUMNS]
        else:
            started = time.perf_counter()
            observed = [months for t in PER_CUSTOMER for months in self._split(t)]
            log.info("canonical_tables_split", extra={"blocks": self.count, "customers": self.customers.num_rows,
                                                      "seconds": round(time.perf_counter() - started, 1)})
        self.months = pd.DatetimeIndex(sorted(pd.concat(observed).dropna().unique()))
        self.snapshot = snapshot_date(data_dir, self.months[-1])
        self.history = read_history(data_dir)  # arrow: a block's rows become pandas in `frames`
        self.consent = read_consent(data_dir)  # optional: consent per channel

    def frames(self, block: int) -> dict[str, pd.DataFrame]:
        """One block's canonical rows by table name, and its customers' attribute `versions` (each
        block once: parts are freed as read)."""
        customers = with_consent(self.customers.slice(block * self.size, self.size).to_pandas(), self.consent)
        versions = customer_versions(customers, history_of(self.history, customers["customer_id"]), self.snapshot)
        if self._whole is None:
            return {"customers": customers, "versions": versions} | {t: self._read(t, block) for t in PER_CUSTOMER}
        whole, self._whole = self._whole, None
        return {"customers": customers, "versions": versions, **whole}

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
            schema = schema.append(pa.field(EVENT_ROW, pa.int64()))
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
                    batch = batch.append_column(EVENT_ROW, pa.array(np.arange(offset, offset + batch.num_rows)))
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
            frame.index = pd.Index(frame.pop(EVENT_ROW).to_numpy())
        return frame


def read_consent(data_dir: Path) -> pd.DataFrame | None:
    """The optional contact_consent table indexed by customer, or None when the bank has none."""
    consent = table_path(data_dir, "contact_consent")
    return pd.read_parquet(consent).set_index("customer_id") if consent.is_file() else None


def with_consent(customers: pd.DataFrame, consent: pd.DataFrame | None) -> pd.DataFrame:
    """`customers` with `consent_<channel>` for each contact channel: True, False, or None where the
    customer has no row of contact_consent (or the bank no such table)."""
    rows = None if consent is None else consent.reindex(customers["customer_id"])
    return customers.assign(**{
        f"consent_{c}": [None] * len(customers) if rows is None
        else rows[c].astype(object).where(rows[c].notna(), None).to_numpy() for c in CONTACT_CHANNELS})


def _months_of(table: str, frame: pd.DataFrame) -> pd.Series:
    """The distinct data months in (part of) a monthly table.

    The bank's months are those of any monthly table: a public snapshot may carry only credit
    history (UCI) or only holdings (Zimnat).
    """
    values = frame[_MONTH_COLUMNS[table]].drop_duplicates()
    return agg.month_start(values) if table == "holdings" else values
