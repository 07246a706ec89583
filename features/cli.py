"""`nbo features ...`: build feature tables, apply the Feast repo, materialize, training sets, reads.

Feast takes ~5 s to import, so it is imported inside the commands that need it: `nbo --help`
and the other command groups stay fast.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pandas as pd

from features.build.monthly import build_feature_tables, offline_dir, read_manifest
from features.tables import ALL_TABLES, CUSTOMER_TABLES, INTENT_REALTIME
from features.training_set import LABEL_COLUMNS, LABEL_SERVICES, label_rows
from nbo.console import captured_output, emit, handles_errors, json_option, steps
from nbo.errors import ContractViolation, InputFileError
from nbo.settings import load_settings
from sources.ids import CUSTOMER
from sources.labels import as_of_timestamp

log = logging.getLogger(__name__)


@click.group("features")
def features_group() -> None:
    """Feast features: build tables, apply, materialize, training sets and online reads."""


@features_group.command("build")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@json_option
@handles_errors
def build(data_dir: Path, as_json: bool) -> None:
    """Turn the canonical tables in DATA_DIR into feature tables (one row per customer per month).

    Writes parquet into the state dir (NBO_STATE_DIR, default var/) under feast/offline/.
    """
    if not data_dir.is_dir():
        raise InputFileError(f"{data_dir}: no such data directory")
    settings = load_settings()
    started = time.perf_counter()
    built = build_feature_tables(data_dir, offline_dir(settings))
    extra = sum(len(columns) for columns in built.extension_tables.values())  # extensions.json's features
    result = {"data_dir": built.data_dir, "out_dir": built.out_dir, "rows": built.rows,
              "first_as_of": built.first_as_of, "last_as_of": built.last_as_of,
              "customer_feature_count": sum(len(t.columns) for t in (*CUSTOMER_TABLES, INTENT_REALTIME)) + extra,
              "feature_count": sum(len(t.columns) for t in ALL_TABLES) + extra,
              "seconds": round(time.perf_counter() - started, 2)}
    emit(result, as_json, lambda r: "\n".join(
        [f"built {r['feature_count']} features into {r['out_dir']} in {r['seconds']} s "
         f"(as of {r['first_as_of']} .. {r['last_as_of']})"]
        + [f"  {name:<28} {rows:>10,} rows" for name, rows in r["rows"].items()]))


@features_group.command("apply")
@json_option
@handles_errors
def apply(as_json: bool) -> None:
    """Register entities, feature views and services in the registry (NBO_STORES__PROFILE picks stores)."""
    from features.repo.store import apply_repo, describe_stores, open_store, store_errors

    settings = load_settings()
    started = time.perf_counter()
    with captured_output(), store_errors(settings):
        applied = apply_repo(open_store(settings), settings)
    result = describe_stores(settings) | {
        "entities": applied.entities, "feature_views": applied.feature_views,
        "feature_services": applied.feature_services, "feature_count": applied.feature_count,
        "seconds": round(time.perf_counter() - started, 2)}
    emit(result, as_json, lambda r: (
        f"applied {len(r['feature_views'])} feature views ({r['feature_count']} features) and "
        f"{len(r['feature_services'])} services to project {r['project']} in {r['seconds']} s\n"
        f"  registry      {r['registry']}\n  online store  {r['online_store']}"))


@features_group.command("materialize")
@click.option("--end", "end_text", metavar="TIMESTAMP", help="Load rows up to this instant (UTC; default now).")
@json_option
@handles_errors
def materialize(end_text: str | None, as_json: bool) -> None:
    """Load each entity's latest feature row up to --end into the online store."""
    end = _utc(end_text) if end_text else datetime.now(UTC)
    settings = load_settings()
    from features.repo.store import describe_stores, materialize_store, open_store, store_errors
    from features.repo.views import built_tables

    started = time.perf_counter()
    names = [t.name for t in built_tables(offline_dir(settings))]  # the extension tables too
    with steps("materializing", names), captured_output(), store_errors(settings):
        rows = materialize_store(open_store(settings), settings, end)
    seconds = time.perf_counter() - started
    result = describe_stores(settings) | {
        "end": end.isoformat(), "rows": rows, "total_rows": sum(rows.values()),
        "seconds": round(seconds, 2), "rows_per_s": round(sum(rows.values()) / seconds)}
    emit(result, as_json, lambda r: (
        f"materialized {r['total_rows']:,} rows into {r['online_store']} in {r['seconds']} s "
        f"({r['rows_per_s']:,} rows/s), up to {r['end']}"))


def _utc(text: str) -> datetime:
    """An instant as UTC (naive means UTC); ContractViolation when unreadable."""
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        stamp = pd.NaT
    if stamp is pd.NaT:
        raise ContractViolation(f"--end {text!r} is not a timestamp (e.g. 2026-10-01T00:00:00Z)")
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).to_pydatetime()


@features_group.command("training-set")
@click.option("--label", type=click.Choice(sorted(LABEL_SERVICES)), required=True)
@click.option("--as-of", "as_of_texts", multiple=True, required=True, metavar="DATE",
              help="An as-of date, the first day of a month (repeat for several).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Parquet file to write.")
@json_option
@handles_errors
def training_set_command(label: str, as_of_texts: tuple[str, ...], out: Path, as_json: bool) -> None:
    """Labels at each as-of date joined point-in-time to the label's feature service.

    Labels come from the canonical data the last `nbo features build` read; each as-of instant is
    the entity timestamp of Feast's point-in-time join, so no feature observed after it is used.
    """
    as_of = sorted({as_of_timestamp(text) for text in as_of_texts})
    settings = load_settings()
    data_dir = Path(read_manifest(offline_dir(settings)).data_dir)
    from features.repo.store import feature_service, open_store, store_errors
    from features.training_set import training_set

    started = time.perf_counter()
    rows = label_rows(data_dir, label, as_of)
    log.info("label_rows_read", extra={"label": label, "rows": len(rows), "as_of_dates": len(as_of)})
    with captured_output(), store_errors(settings):
        store = open_store(settings)
        frame = training_set(store, feature_service(store, LABEL_SERVICES[label]), rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    target = LABEL_COLUMNS[label]
    result = {"label": label, "service": LABEL_SERVICES[label], "as_of": [d.date().isoformat() for d in as_of],
              "rows": len(frame), "positives": int(frame[target].sum()), "label_rate": round(float(frame[target].mean()), 4),
              "feature_count": len(frame.columns) - len(rows.columns), "out": out.resolve(),
              "seconds": round(time.perf_counter() - started, 2)}
    emit(result, as_json, lambda r: (
        f"wrote {r['rows']:,} rows × {r['feature_count']} features ({r['label']} rate {r['label_rate']:.2%}) "
        f"to {r['out']} in {r['seconds']} s"))


@features_group.command("online")
@click.argument("customer_id", type=CUSTOMER)
@click.option("--service", default="customer_360_v1", show_default=True, help="Feature service to read.")
@json_option
@handles_errors
def online(customer_id: str, service: str, as_json: bool) -> None:
    """One customer's online features with their timestamps; values older than their TTL are flagged.

    CUSTOMER_ID is the canonical id (C00000042) or the customer number (42)."""
    from features.online.reader import OnlineReader
    from features.repo.store import open_store, store_errors

    settings = load_settings()
    with store_errors(settings):
        reader = OnlineReader(open_store(settings), service)
        started = time.perf_counter()
        read = reader.read_customer(customer_id)
    result = {"customer_id": customer_id, "service": service, "values": read.values,
              "timestamps": {k: v.isoformat() if v else None for k, v in read.timestamps.items()},
              "stale": list(read.stale), "is_fresh": read.is_fresh,
              "read_ms": round((time.perf_counter() - started) * 1000, 2)}
    emit(result, as_json, _online_text)


def _online_text(r: dict[str, Any]) -> str:
    lines = [f"{r['customer_id']} ({r['service']}, read in {r['read_ms']} ms)"]
    lines += [f"  {name:<32} {value!s:<24} {r['timestamps'][name] or '-'}"
              + ("  STALE" if name in r["stale"] else "") for name, value in sorted(r["values"].items())]
    return "\n".join(lines)
