"""Write the synthetic bank's `payments` and `account_events` tables and `truth/fraud.parquet`.

Customers are drawn `CHUNK_CUSTOMERS` at a time (memory bounded by the chunk) from one generator
derived from the seed alone, so the bank's other tables keep their bytes; same arguments ⇒ same bytes.
Ids: payments `PM` + 10 digits, account events `AE` + 10 digits, fraud cases `F` + 6 digits, in time
order within each chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sources.io import TableWriter, table_path
from sources.synthetic.fraud import TRUTH_COLUMNS, plant_fraud
from sources.synthetic.payments import Customers, Window, draw_behaviour, prepare

CHUNK_CUSTOMERS = 100_000
CURRENCY = "CNY"
FRAUD_FILE = "fraud.parquet"
_CUSTOMER_COLUMNS = ["customer_id", "birth_date", "join_date", "close_date", "preferred_channel", "city_tier",
                     "income_monthly"]


def numbered(prefix: str, first: int, n: int) -> np.ndarray:
    """Ids prefix + 10 digits, from `first` on."""
    return np.char.add(prefix, np.char.zfill(np.arange(first, first + n).astype(str), 10)).astype(object)


def finish_payments(payments: pd.DataFrame, c: Customers, first_id: int) -> pd.DataFrame:
    """The canonical payments table: `first_to_payee` (no earlier payment to a payee not paid before the
    window), time order, ids `PM` + 10 digits from `first_id`."""
    frame = payments.sort_values(["cust", "t"], kind="stable")
    frame["first_to_payee"] = ~frame["known"].to_numpy() & ~frame.duplicated(["cust", "payee_id"]).to_numpy()
    frame = frame.sort_values(["t", "cust"], kind="stable").reset_index(drop=True)
    frame["payment_id"] = numbered("PM", first_id, len(frame))
    frame["customer_id"] = c.ids[frame["cust"].to_numpy()]
    frame["payment_time"] = pd.to_datetime(frame["t"].to_numpy(), utc=True)
    frame["currency"] = CURRENCY
    return frame


def finish_events(events: pd.DataFrame, c: Customers, first_id: int) -> pd.DataFrame:
    """The canonical account_events table: time order, ids `AE` + 10 digits from `first_id`."""
    frame = events.sort_values(["t", "cust"], kind="stable").reset_index(drop=True)
    frame["event_id"] = numbered("AE", first_id, len(frame))
    frame["customer_id"] = c.ids[frame["cust"].to_numpy()]
    frame["event_time"] = pd.to_datetime(frame["t"].to_numpy(), utc=True)
    frame["amount"] = frame["amount"].astype(float)
    return frame


def write_payments(out: Path, seed: int, span: pd.DatetimeIndex, truth_dir: str = "truth") -> dict[str, int]:
    """Write `payments`, `account_events` and `truth/fraud.parquet` for the customers in `out`; rows per table."""
    out = Path(out)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 24]))
    window = Window.of(span)
    customers = pq.read_table(table_path(out, "customers"), columns=_CUSTOMER_COLUMNS)
    writers = {t: TableWriter(out, t) for t in ("payments", "account_events")}
    truth: list[pd.DataFrame] = []
    cases_done = 0
    try:
        for first in range(0, customers.num_rows, CHUNK_CUSTOMERS):
            c = prepare(rng, customers.slice(first, CHUNK_CUSTOMERS).to_pandas(), window)
            payments, events = draw_behaviour(rng, c)
            payments, events, cases = plant_fraud(rng, c, window, payments, events)
            payments = finish_payments(payments, c, writers["payments"].rows)
            events = finish_events(events, c, writers["account_events"].rows)
            writers["payments"].write(payments)
            writers["account_events"].write(events)
            fraud = payments[payments["case"] >= 0][["payment_id", "customer_id", "case"]].merge(cases, on="case")
            truth.append(fraud.assign(case_id=[f"F{cases_done + k:06d}" for k in fraud["case"]]))
            cases_done += len(cases)
    finally:
        for writer in writers.values():
            writer.close()
    fraud = pd.concat(truth, ignore_index=True)[list(TRUTH_COLUMNS)] if truth else pd.DataFrame(columns=TRUTH_COLUMNS)
    (out / truth_dir).mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(fraud, preserve_index=False), out / truth_dir / FRAUD_FILE,
                   compression="zstd")
    return {t: w.rows for t, w in writers.items()}


def fraud_rates(out: Path, truth_dir: str = "truth") -> dict[str, object]:
    """Payments, fraudulent ones and each scheme's share of all payments and its cases, from the truth."""
    payments = pq.read_metadata(table_path(out, "payments")).num_rows
    fraud = pd.read_parquet(Path(out) / truth_dir / FRAUD_FILE, columns=["scheme", "case_id"])
    share = len(fraud) / payments if payments else 0.0
    return {"payments": payments, "fraud_payments": len(fraud), "fraud_share": round(share, 6),
            "by_scheme": {scheme: {"payments": len(g), "cases": int(g["case_id"].nunique()),
                                   "share": round(len(g) / payments, 6)}
                          for scheme, g in fraud.groupby("scheme", sort=True)}}
