"""Generate the synthetic bank: canonical tables in a directory, hidden traits in `truth/`.

Payments and account events (`sources.synthetic.payment_tables`) are drawn last, from the finished
customers table and a generator of their own.

Customers are simulated in independent blocks so that memory is bounded by the block size, not
by the bank's (DESIGN §4: up to millions of customers). Each block draws from its own generator,
derived from (seed, block), and appends its rows to every table before the next block starts;
the calendar and the product catalogue are shared. A bank of one block draws from
`default_rng(seed)` itself, so banks up to `BLOCK_CUSTOMERS` have the bytes they always had.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sources.contract import TOPICS
from sources.io import TableWriter, table_path, to_arrow, write_table
from sources.synthetic.catalogue import build_products
from sources.synthetic.history import draw_history
from sources.synthetic.payment_tables import write_payments
from sources.synthetic.population import MAX_CUSTOMERS, draw_population
from sources.synthetic.simulate import BankSimulation, MonthRows

log = logging.getLogger(__name__)

TRUTH_DIR = "truth"
BLOCK_CUSTOMERS = 100_000
_STREAMED = ("holdings", "events", "transactions", "credit")


@dataclass(frozen=True)
class BankBlock:
    """One block of customers (numbers `first`..`last`, 1-based) and the file rows it wrote."""

    index: int
    first: int
    last: int
    rows: dict[str, range]


@dataclass(frozen=True)
class GeneratedBank:
    """Where the bank was written, how big each table is and which rows each block wrote."""

    out: Path
    rows: dict[str, int]
    first_month: str
    last_month: str
    blocks: tuple[BankBlock, ...]


def last_complete_month(today: pd.Timestamp | None = None) -> str:
    """The month before today's (UTC) as YYYY-MM: the default end of the history, so the demo's
    features are fresh. Pass `--end-month` explicitly for the same bytes on any day."""
    today = today or pd.Timestamp.now(tz="UTC")
    return (today.tz_localize(None).to_period("M") - 1).strftime("%Y-%m")


def history_months(months: int, end_month: str) -> pd.DatetimeIndex:
    """Month starts of a history of `months` months ending with `end_month` (YYYY-MM)."""
    end = pd.Timestamp(f"{end_month}-01")
    return pd.date_range(end=end, periods=months, freq="MS")


def plan_blocks(customers: int, block_customers: int) -> list[range]:
    """Split customer numbers 1..`customers` into the fewest blocks of at most `block_customers`,
    as even as possible (sizes differ by at most one, so no block is tiny)."""
    n = -(-customers // block_customers)
    edges = [b * customers // n for b in range(n + 1)]
    return [range(edges[b] + 1, edges[b + 1] + 1) for b in range(n)]


def block_rng(seed: int, block: int, blocks: int) -> np.random.Generator:
    """The generator of one block: the seed's own in a one-block bank, else the block's child
    (`SeedSequence(seed).spawn(blocks)[block]`), independent of the other blocks."""
    if blocks == 1:
        return np.random.default_rng(seed)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))


def generate_bank(
    out: Path, customers: int, months: int, seed: int,
    end_month: str | None = None, on_month: Callable[[int, int], None] | None = None,
    block_customers: int = BLOCK_CUSTOMERS, on_block: Callable[[int, int, range], None] | None = None,
) -> GeneratedBank:
    """Simulate `customers` customers over `months` months; same arguments ⇒ same bytes."""
    if customers < 1 or months < 2 or block_customers < 1:
        raise ValueError("need at least 1 customer, 2 months and 1 customer per block")
    if customers > MAX_CUSTOMERS:
        raise ValueError(f"at most {MAX_CUSTOMERS:,} customers (ids are C + 8 digits)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    span = history_months(months, end_month or last_complete_month())
    products = build_products()
    plan = plan_blocks(customers, block_customers)
    sink = _BankSink(out)
    blocks = []
    try:
        for b, numbers in enumerate(plan):
            if on_block is not None:
                on_block(b + 1, len(plan), numbers)
            rng = block_rng(seed, b, len(plan))
            blocks.append(_simulate_block(sink, b, numbers, rng, products, span, on_month))
    finally:
        sink.close()
    write_table(out, "products", products)
    consent = draw_contact_consent(seed, pq.read_table(table_path(out, "customers"),
                                                       columns=["customer_id", "marketing_consent"]).to_pandas())
    write_table(out, "contact_consent", consent)
    rows = (sink.row_counts() | {"products": len(products), "contact_consent": len(consent)}
            | write_payments(out, seed, span, TRUTH_DIR))
    return GeneratedBank(out, rows, span[0].strftime("%Y-%m"), span[-1].strftime("%Y-%m"), tuple(blocks))


def _simulate_block(
    sink: _BankSink, index: int, numbers: range, rng: np.random.Generator, products: pd.DataFrame,
    span: pd.DatetimeIndex, on_month: Callable[[int, int], None] | None,
) -> BankBlock:
    """Simulate one block's customers over the whole history and append all their rows."""
    before = sink.row_counts()
    population = draw_population(rng, len(numbers), span, first_number=numbers.start)
    sim = BankSimulation(rng, population.customers, population.traits, products, list(TOPICS), span)
    sim.seed_holdings()
    aum = np.zeros((len(numbers), len(span)))
    for t in range(len(span)):
        sim.step(t, lambda rows: sink.write_month(rows, sim))
        aum[:, t] = (sim.balance * sim.held)[:, ~sim.is_credit].sum(axis=1)
        if on_month is not None:
            on_month(t + 1, len(span))
    customers = _finalise_customers(population.customers, sim)
    sink.customers.write(to_arrow("customers", customers))
    history = draw_history(rng, customers, population.traits["wealth_cny"].to_numpy(), aum, span)
    sink.history.write(to_arrow("customer_history", history))
    sink.traits.write(pa.Table.from_pandas(_truth_frame(population.traits, sim, span), preserve_index=False))
    after = sink.row_counts()
    return BankBlock(index, numbers.start, numbers[-1], {t: range(before[t], after[t]) for t in after})


# Of customers with marketing consent, the share who also consent to each channel (the rest opted out of it).
CHANNEL_CONSENT_SHARE = {"app_push": 0.9, "sms": 0.7, "rm_call": 0.6, "wechat": 0.5}


def draw_contact_consent(seed: int, customers: pd.DataFrame) -> pd.DataFrame:
    """Consent per channel: only customers with marketing consent, each channel with its share.

    Drawn from a generator of its own, derived from the seed, after everything else: every other
    table keeps the bytes it had before the table existed."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 25]))
    draws = rng.random((len(customers), len(CHANNEL_CONSENT_SHARE)))
    overall = customers["marketing_consent"].to_numpy(dtype=bool)
    return pd.DataFrame({"customer_id": customers["customer_id"].to_numpy()} | {
        channel: overall & (draws[:, i] < share) for i, (channel, share) in enumerate(CHANNEL_CONSENT_SHARE.items())})


def _finalise_customers(customers: pd.DataFrame, sim: BankSimulation) -> pd.DataFrame:
    """Record leavers' close dates and risk assessments renewed at investment purchases."""
    out = customers.copy()
    out["close_date"] = pd.DatetimeIndex(sim.close_date).normalize()
    renewed = pd.DatetimeIndex(sim.last_invest)
    out["risk_assessed_at"] = np.where(renewed > out["risk_assessed_at"], renewed, out["risk_assessed_at"])
    out["risk_assessed_at"] = pd.to_datetime(out["risk_assessed_at"])
    return out


def _truth_frame(traits: pd.DataFrame, sim: BankSimulation, span: pd.DatetimeIndex) -> pd.DataFrame:
    """Hidden traits and churn onsets: read by tests and evaluation only, never by the pipeline."""
    onset = np.where(sim.onset_month >= 0, sim.onset_month, 0)
    return traits.assign(
        churn_onset_month=np.where(sim.onset_month >= 0, span[onset].strftime("%Y-%m"), None),
        exit_kind=np.where(sim.exit_kind == "", None, sim.exit_kind),
    )


class AppendWriter:
    """Append arrow tables to one parquet file (a row group each) under the first table's schema,
    pandas metadata included: one table gives the bytes `pq.write_table` (and pandas) would."""

    def __init__(self, path: Path, compression: str):
        self.path, self.compression, self.rows = path, compression, 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # an all-missing column of the first block is typed null; later blocks may hold text
            fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            schema = pa.schema(fields, metadata=table.schema.metadata)
            self._writer = pq.ParquetWriter(self.path, schema, compression=self.compression)
        self._writer.write_table(table.cast(self._writer.schema))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class _BankSink:
    """Every table's parquet file, appended to month by month and block by block."""

    def __init__(self, out: Path):
        self.streamed = {t: TableWriter(out, t) for t in _STREAMED}
        self.customers = AppendWriter(table_path(out, "customers"), "zstd")
        self.history = AppendWriter(table_path(out, "customer_history"), "zstd")
        self.traits = AppendWriter(out / TRUTH_DIR / "traits.parquet", "snappy")  # pandas' default
        self.next_event_id = 0

    def write_month(self, rows: MonthRows, sim: BankSimulation) -> None:
        self.streamed["holdings"].write(rows.holdings)
        self.streamed["transactions"].write(rows.transactions)
        self.streamed["credit"].write(rows.credit)
        table = rows.events.to_arrow(sim.ids, sim.pid, list(TOPICS), self.next_event_id)
        self.streamed["events"].write_arrow(table)
        self.next_event_id += table.num_rows

    def row_counts(self) -> dict[str, int]:
        return {t: w.rows for t, w in self.streamed.items()} | {"customers": self.customers.rows,
                                                                  "customer_history": self.history.rows}

    def close(self) -> None:
        for w in self.streamed.values():
            w.close()
        self.customers.close()
        self.history.close()
        self.traits.close()
