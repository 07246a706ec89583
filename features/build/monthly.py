"""Canonical tables → feature tables: one row per customer per as-of instant, point-in-time correct.

The row describing data month m carries `event_timestamp` = the first instant of month m + 1
(UTC): nothing observed at or after an as-of instant T is in a row stamped T or earlier. The
steps live beside this module: `blocks` (reading), `columns` (each table's columns), `intents`
(the intent history), `writers` (the files).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.build import aggregates as agg
from features.build import columns as col
from features.build.blocks import CanonicalBlocks
from features.build.extensions import extension_frames
from features.build.intents import intent_history, last_intents
from features.build.writers import MANIFEST, FeatureWriters, cells_frame, product_frame
from features.tables import (
    BALANCES,
    CREDIT,
    ENGAGEMENT,
    INTENT_REALTIME,
    PRODUCT_ATTRIBUTES,
    PROFILE,
    RFM,
)
from nbo.console import progress_bar
from nbo.errors import InputFileError
from nbo.settings import Settings
from sources.io import read_table, table_path

log = logging.getLogger(__name__)

_CANONICAL = ("customers", "products", "holdings", "events", "transactions", "credit")
BLOCK_CUSTOMERS = 25_000  # customers built at once: ~1.5 GB resident at 24 months


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote: where, how many rows per table and the as-of range."""

    data_dir: str
    out_dir: str
    rows: dict[str, int]
    first_as_of: str
    last_as_of: str
    extension_tables: dict[str, dict[str, str]] = field(default_factory=dict)  # name → column → kind


def offline_dir(settings: Settings) -> Path:
    """Where the feature tables (the offline store's files) live."""
    return settings.feast_dir / "offline"


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
        blocks = CanonicalBlocks(data_dir, work, block_customers)
        products = read_table(data_dir, "products")
        everyone = blocks.customers.select(["customer_id", "join_date", "close_date"]).to_pandas()
        extensions = extension_frames(data_dir, _month_grid(everyone, blocks.months))
        writers = FeatureWriters(work, tuple(table for table, _ in extensions))
        with progress_bar("building feature tables", blocks.count + 1, unit="steps") as bar:
            intents = []
            for block in range(blocks.count):
                bar.advance(0, note=f"customer block {block + 1}/{blocks.count}")
                intents.append(_write_block(writers, blocks, block, products))
                bar.advance()
            bar.advance(0, note="products and intents")
            intents += [last_intents(events) for events in blocks.orphan_events()]
            writers.append(PRODUCT_ATTRIBUTES, product_frame(products, blocks.months[0]))
            writers.append(INTENT_REALTIME, intent_history(intents))
            for table, rows in extensions:
                writers.append(table, rows)
        as_of = agg.as_of_instants(blocks.months)
        result = BuildResult(str(data_dir.resolve()), str(out_dir.resolve()), writers.rows,
                             as_of[0].isoformat(), as_of[-1].isoformat(),
                             {table.name: table.columns for table, _ in extensions})
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


def _month_grid(customers: pd.DataFrame, months: pd.DatetimeIndex) -> agg.MonthGrid:
    """Customers who had a relationship during each data month (joined, not closed)."""
    as_of = (months + pd.DateOffset(months=1)).to_numpy()
    join = customers["join_date"].to_numpy()[:, None]
    close = customers["close_date"].to_numpy()[:, None]
    active = (np.isnat(join) | (join < as_of)) & (np.isnat(close) | (close >= months.to_numpy()))
    return agg.MonthGrid(customers["customer_id"].to_numpy(), months, active)


def _write_block(writers: FeatureWriters, blocks: CanonicalBlocks, block: int, products: pd.DataFrame) -> pa.Table:
    """Append one block's rows to every customer table; return its last intents.

    Each canonical table is dropped once its feature table is written, so a block holds at most
    one feature table's arrays at a time.
    """
    started = time.perf_counter()
    frames = blocks.frames(block)
    grid = _month_grid(frames["customers"], blocks.months)
    builders = [(PROFILE, lambda: col.profile_columns(grid, frames.pop("customers"), frames.pop("versions"))),
                (BALANCES, lambda: col.balance_columns(grid, frames.pop("holdings"), products)),
                (RFM, lambda: col.rfm_columns(grid, frames.pop("transactions"))),
                (CREDIT, lambda: col.credit_columns(grid, frames.pop("credit"))),
                (ENGAGEMENT, lambda: col.engagement_columns(grid, frames["events"]))]
    for table, columns in builders:
        writers.append(table, cells_frame(grid, columns(), table))
    intents = last_intents(frames.pop("events"))
    log.info("feature_block_built", extra={"block": block + 1, "blocks": blocks.count, "customers": grid.shape[0],
                                           "seconds": round(time.perf_counter() - started, 1)})
    return intents
