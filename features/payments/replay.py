"""Offline replay: a data directory's payments and account events → one feature row per payment.

Each customer's items are fed in time order (at equal times, account events before payments) to a
`CustomerCounters`, the same state machine the service keeps, and every payment's counter features
are read just before it is added: a payment never sees itself or anything later. The profile
features are the Feast profile's (`features.build.columns.profile_columns`) as the online store holds
them when the payment arrives: those of the last month end before it. Payments of the first
`warmup_months` calendar months only warm the counters and are left out.

Labels: `label` is 1 for a payment in the fraud truth (`truth/fraud.parquet` beside the data, or the
file given), else 0; `scheme` names its scheme (None for genuine payments). Without a truth file
there are no labels and `payment_frame` says so (a bank's own labels come from its alert outcomes,
`nbo payments labels`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from features.build.aggregates import MonthGrid, month_start
from features.build.blocks import read_consent, with_consent
from features.build.columns import profile_columns
from features.payments.counters import (
    COUNTER_FEATURES,
    PROFILE_FEATURES,
    AccountEvent,
    CustomerCounters,
    Payment,
)
from nbo.errors import InputFileError
from sources.history import customer_versions, history_of, read_history, snapshot_date
from sources.io import read_table, table_path

TRUTH_FILE = Path("truth") / "fraud.parquet"
WARMUP_MONTHS = 1
FRAME_COLUMNS = ("payment_id", "customer_id", "payment_time", "amount", "age",
                 *(f for f in COUNTER_FEATURES if f != "amount"),
                 *PROFILE_FEATURES, "label", "scheme")


def payment_frame(data_dir: Path, truth: Path | None = None, warmup_months: int = WARMUP_MONTHS) -> pd.DataFrame:
    """One row per payment after the warm-up, in time order: ids, time, `age` (completed years at the
    payment), every counter and profile feature, `label` and `scheme`."""
    data_dir = Path(data_dir)
    truth = Path(truth) if truth is not None else data_dir / TRUTH_FILE
    if not table_path(data_dir, "payments").is_file():
        raise InputFileError(f"{table_path(data_dir, 'payments')}: no payments table in {data_dir}")
    if not truth.is_file():
        raise InputFileError(f"{truth}: no fraud truth to label the payments with (give its path)")
    payments = read_table(data_dir, "payments").sort_values(["payment_time", "payment_id"], kind="stable",
                                                              ignore_index=True)
    events_path = table_path(data_dir, "account_events")
    events = read_table(data_dir, "account_events") if events_path.is_file() else None
    counters = replay_counters(payments, events)
    start = month_start(payments["payment_time"]).min() + pd.DateOffset(months=warmup_months)
    kept = (payments["payment_time"].dt.tz_localize(None) >= start).to_numpy()
    frame = payments.loc[kept, ["payment_id", "customer_id", "payment_time"]].reset_index(drop=True)
    frame = pd.concat([frame, counters[kept].reset_index(drop=True)], axis=1)
    profile, age = profile_at(data_dir, frame["customer_id"], frame["payment_time"])
    frame.insert(4, "age", age)
    frame = pd.concat([frame, profile], axis=1)
    fraud = pd.read_parquet(truth, columns=["payment_id", "scheme"]).drop_duplicates("payment_id")
    frame["scheme"] = frame["payment_id"].map(fraud.set_index("payment_id")["scheme"])
    frame["label"] = frame["scheme"].notna().astype(int)
    frame["scheme"] = frame["scheme"].astype(object).where(frame["scheme"].notna(), None)
    return frame[list(FRAME_COLUMNS)]


def replay_counters(payments: pd.DataFrame, events: pd.DataFrame | None) -> pd.DataFrame:
    """COUNTER_FEATURES of every payment (rows in `payments` order), each from its customer's state
    just before it."""
    n = len(payments)
    pay_t = payments["payment_time"].array.asi8
    stream = pd.DataFrame({"customer_id": payments["customer_id"].to_numpy(), "t": pay_t, "kind": 1,
                           "row": np.arange(n)})
    if events is not None and len(events):
        stream = pd.concat([stream, pd.DataFrame({
            "customer_id": events["customer_id"].to_numpy(), "t": events["event_time"].array.asi8, "kind": 0,
            "row": np.arange(len(events))})], ignore_index=True)
    stream = stream.sort_values(["customer_id", "t", "kind", "row"], kind="stable")
    out = np.empty((n, len(COUNTER_FEATURES)))
    pay = _columns(payments, ("payment_id", "customer_id", "amount", "currency", "payee_id", "channel",
                              "device_id", "city"))
    ev = _columns(events, ("customer_id", "event_type", "device_id", "city", "amount")) if events is not None else {}
    ev_t = events["event_time"].array.asi8 if events is not None else np.empty(0, np.int64)
    state, current = CustomerCounters(), None
    for customer, kind, row in zip(stream["customer_id"].tolist(), stream["kind"].tolist(),
                                   stream["row"].tolist(), strict=True):
        if customer != current:
            state, current = CustomerCounters(), customer
        if kind == 0:
            amount = ev["amount"][row]
            state.add_event(AccountEvent(customer, ev["event_type"][row], _when(ev_t[row]), ev["device_id"][row],
                                         ev["city"][row], None if amount != amount else amount))
            continue
        p = Payment(pay["payment_id"][row], customer, pay["amount"][row], pay["currency"][row],
                    pay["payee_id"][row], pay["channel"][row], pay["device_id"][row], pay["city"][row],
                    _when(pay_t[row]))
        out[row] = list(state.features(p).values())
        state.add_payment(p)
    return pd.DataFrame(out, columns=list(COUNTER_FEATURES))


def profile_at(data_dir: Path, customer_ids: pd.Series, times: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """PROFILE_FEATURES as the online profile holds them at each time (the last month end's build) and
    the exact age in completed years at each time (NaN where the birth date is unknown)."""
    customers = with_consent(read_table(data_dir, "customers"), read_consent(data_dir))
    data_month = month_start(times) - pd.DateOffset(months=1)  # known from the first instant of the next month
    months = pd.DatetimeIndex(sorted(data_month.unique()))
    snapshot = snapshot_date(data_dir, month_start(times).max())
    versions = customer_versions(customers, history_of(read_history(data_dir), customers["customer_id"]), snapshot)
    grid = MonthGrid(customers["customer_id"].to_numpy(), months, np.ones((len(customers), len(months)), bool))
    columns = profile_columns(grid, customers, versions)
    rows, cols = grid.cells(customer_ids, data_month)
    if (rows < 0).any():
        raise InputFileError(f"{table_path(data_dir, 'payments')}: customer {customer_ids[rows < 0].iloc[0]!r} "
                             "is not in the customers table")
    profile = pd.DataFrame({name: np.asarray(columns[name][rows, cols], dtype=float) for name in PROFILE_FEATURES})
    birth = customers.set_index("customer_id")["birth_date"].reindex(customer_ids).to_numpy()
    when = times.dt.tz_localize(None).to_numpy()
    return profile, np.floor((when - birth) / np.timedelta64(1, "D") / 365.25)


def _columns(frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, list]:
    """Columns as Python lists (None for missing text), for the per-item loop."""
    return {name: frame[name].astype(object).where(frame[name].notna(), None).tolist()
            if frame[name].dtype == object else frame[name].tolist() for name in names}


def _when(ns: int) -> datetime:
    return datetime.fromtimestamp(int(ns) / 1e9, UTC)
