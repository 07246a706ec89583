"""`nbo payments labels`: the risk team's decided alerts as labelled rows for `nbo train fraud --labels`."""

from __future__ import annotations

from pathlib import Path

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings


@click.group("payments")
def payments_group() -> None:
    """Payment fraud decisions and the alert queue (in the audit database)."""


@payments_group.command("labels")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Parquet file to write.")
@json_option
@handles_errors
def labels(out: Path, as_json: bool) -> None:
    """Write every decided alert as one row: payment_id, customer_id, payment_time (UTC), label
    (1 confirmed fraud, 0 released) and the feature values the decision used."""
    import pandas as pd

    from features.payments.counters import COUNTER_FEATURES, PROFILE_FEATURES
    from serving.audit.store import AuditStore
    from serving.payments.ledger import PaymentLedger

    settings = load_settings()
    audit = AuditStore(settings.audit_url)
    try:
        rows = PaymentLedger(audit.engine).labelled()
    finally:
        audit.close()
    columns = ["payment_id", "customer_id", "payment_time", "label", *COUNTER_FEATURES, *PROFILE_FEATURES]
    frame = pd.DataFrame(rows).reindex(columns=columns)
    frame["payment_time"] = pd.to_datetime(frame["payment_time"], utc=True)
    frame[[*COUNTER_FEATURES, *PROFILE_FEATURES]] = frame[[*COUNTER_FEATURES, *PROFILE_FEATURES]].astype("float64")
    frame["label"] = frame["label"].astype("int64")
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    emit({"out": out.resolve(), "rows": len(frame), "confirmed_fraud": int(frame["label"].sum())}, as_json,
         lambda r: f"{r['rows']} labelled payments ({r['confirmed_fraud']} confirmed fraud) written to {r['out']}")
