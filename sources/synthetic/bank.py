"""Generate the synthetic bank: canonical tables in a directory, hidden traits in `truth/`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sources.io import TableWriter, write_table
from sources.synthetic.catalogue import TOPICS, build_products
from sources.synthetic.population import draw_population
from sources.synthetic.simulate import BankSimulation, MonthRows

log = logging.getLogger(__name__)

TRUTH_DIR = "truth"


@dataclass(frozen=True)
class GeneratedBank:
    """Where the bank was written and how big each table is."""

    out: Path
    rows: dict[str, int]
    first_month: str
    last_month: str


def last_complete_month(today: pd.Timestamp | None = None) -> str:
    """The month before today's (UTC) as YYYY-MM: the default end of the history, so the demo's
    features are fresh. Pass `--end-month` explicitly for the same bytes on any day."""
    today = today or pd.Timestamp.now(tz="UTC")
    return (today.tz_localize(None).to_period("M") - 1).strftime("%Y-%m")


def history_months(months: int, end_month: str) -> pd.DatetimeIndex:
    """Month starts of a history of `months` months ending with `end_month` (YYYY-MM)."""
    end = pd.Timestamp(f"{end_month}-01")
    return pd.date_range(end=end, periods=months, freq="MS")


def generate_bank(
    out: Path, customers: int, months: int, seed: int,
    end_month: str | None = None, on_month: Callable[[int, int], None] | None = None,
) -> GeneratedBank:
    """Simulate `customers` customers over `months` months; same arguments ⇒ same bytes."""
    if customers < 1 or months < 2:
        raise ValueError("need at least 1 customer and 2 months")
    out = Path(out)
    end_month = end_month or last_complete_month()
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    span = history_months(months, end_month)
    population = draw_population(rng, customers, span)
    products = build_products()
    sim = BankSimulation(rng, population.customers, population.traits, products, list(TOPICS), span)
    sim.seed_holdings()
    writers = {t: TableWriter(out, t) for t in ("holdings", "events", "transactions", "credit")}
    next_event_id = 0

    def sink(rows: MonthRows) -> None:
        nonlocal next_event_id
        writers["holdings"].write(rows.holdings)
        writers["transactions"].write(rows.transactions)
        writers["credit"].write(rows.credit)
        table = rows.events.to_arrow(sim.ids, sim.pid, list(TOPICS), next_event_id)
        writers["events"].write_arrow(table)
        next_event_id += table.num_rows

    try:
        for t in range(months):
            sim.step(t, sink)
            if on_month is not None:
                on_month(t + 1, months)
    finally:
        for w in writers.values():
            w.close()
    customers_df = _finalise_customers(population.customers, sim)
    write_table(out, "customers", customers_df)
    write_table(out, "products", products)
    _write_truth(out / TRUTH_DIR, population.traits, sim, span)
    rows = {t: w.rows for t, w in writers.items()} | {"customers": len(customers_df), "products": len(products)}
    return GeneratedBank(out, rows, span[0].strftime("%Y-%m"), span[-1].strftime("%Y-%m"))


def _finalise_customers(customers: pd.DataFrame, sim: BankSimulation) -> pd.DataFrame:
    """Record leavers' close dates and risk assessments renewed at investment purchases."""
    out = customers.copy()
    out["close_date"] = pd.DatetimeIndex(sim.close_date).normalize()
    renewed = pd.DatetimeIndex(sim.last_invest)
    out["risk_assessed_at"] = np.where(renewed > out["risk_assessed_at"], renewed, out["risk_assessed_at"])
    out["risk_assessed_at"] = pd.to_datetime(out["risk_assessed_at"])
    return out


def _write_truth(truth: Path, traits: pd.DataFrame, sim: BankSimulation, span: pd.DatetimeIndex) -> None:
    """Hidden traits and churn onsets: read by tests and evaluation only, never by the pipeline."""
    truth.mkdir(parents=True, exist_ok=True)
    onset = np.where(sim.onset_month >= 0, sim.onset_month, 0)
    frame = traits.assign(
        churn_onset_month=np.where(sim.onset_month >= 0, span[onset].strftime("%Y-%m"), None),
        exit_kind=np.where(sim.exit_kind == "", None, sim.exit_kind),
    )
    frame.to_parquet(truth / "traits.parquet", index=False)
