"""`nbo data ...`: generate the synthetic bank, validate a data directory, import public data."""

from __future__ import annotations

import csv
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import pandas as pd

from nbo.console import Bar, emit, handles_errors, json_option, progress_bar
from nbo.errors import ContractViolation, InputFileError
from sources.history import change_rates
from sources.io import write_table
from sources.public import ADAPTERS
from sources.snapshot import (
    SnapshotSpec,
    import_snapshot,
    parse_label,
    parse_pairs,
    read_mapping_file,
    write_snapshot,
)
from sources.synthetic.bank import BLOCK_CUSTOMERS, TRUTH_DIR, generate_bank
from sources.synthetic.extracts import write_extracts
from sources.synthetic.payment_tables import fraud_rates
from sources.synthetic.population import MAX_CUSTOMERS
from sources.synthetic.rates import label_rates_by_block
from sources.synthetic.responses import load_settings, respond
from sources.validation import ValidationReport, validate_dir, validate_links

log = logging.getLogger(__name__)


@click.group("data")
def data_group() -> None:
    """Canonical data: the synthetic bank, validation and public-data import."""


def _end_month(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        month = pd.Period(value, freq="M") if re.fullmatch(r"[0-9]{4}-[0-9]{2}", value) else None
    except ValueError:
        month = None
    if month is None:
        raise click.BadParameter(f"{value!r} is not a month like 2026-09")
    if month >= pd.Timestamp.now(tz="UTC").tz_localize(None).to_period("M"):
        raise click.BadParameter(f"{value} is not a complete month yet; the history must end in the past")
    return value


@data_group.command("generate")
@click.option("--customers", type=click.IntRange(min=1, max=MAX_CUSTOMERS), default=20_000, show_default=True)
@click.option("--months", type=click.IntRange(min=2, max=240), default=24, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--end-month", metavar="YYYY-MM", callback=_end_month,
              help="Last simulated month. Default: the last complete month, so features are fresh; "
                   "give it explicitly for identical bytes on any day.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--block-customers", type=click.IntRange(min=100), default=BLOCK_CUSTOMERS, show_default=True,
              help="Customers simulated at a time, each block from its own seeded generator; memory grows "
                   "with this, not with --customers. Banks larger than one block depend on it.")
@click.option("--extracts/--no-extracts", default=True, show_default=True,
              help="Also write the source systems' extracts (OUT/sources/, truth in OUT/truth/) for OneID.")
@json_option
@handles_errors
def generate(customers: int, months: int, seed: int, end_month: str | None, out: Path,
             block_customers: int, extracts: bool, as_json: bool) -> None:
    """Simulate a bank (deterministic for a seed) and print its label rates.

    Writes customers, products, holdings, events, transactions, credit, customer_history (the
    attributes' versions), payments and account_events (the last 6 months, fraud planted; truth in
    OUT/truth/fraud.parquet) as parquet into OUT,
    the hidden traits into OUT/truth/ (read by tests and evaluation only) and, unless
    --no-extracts, each source system's extract into OUT/sources/ (the person behind each record
    in OUT/truth/source_records.parquet).
    """
    started = time.perf_counter()
    with progress_bar("simulating the bank", unit="months") as bar:
        bank = generate_bank(out, customers, months, seed, end_month,
                             on_month=lambda _i, _n: bar.advance(),
                             block_customers=block_customers, on_block=_block_progress(bar, months))
    seconds = time.perf_counter() - started
    extract_rows: dict[str, int] = {}
    if extracts:
        started = time.perf_counter()
        with progress_bar("writing the source systems' extracts"):
            extract_rows = write_extracts(out, seed, TRUTH_DIR)
        extract_seconds = round(time.perf_counter() - started, 2)
    with progress_bar("computing label rates", len(bank.blocks), unit="blocks") as bar:
        rates = label_rates_by_block(out, bank.blocks, on_block=lambda _i, _n: bar.advance())
    result = {"out": out.resolve(), "customers": customers, "months": months, "seed": seed,
              "first_month": bank.first_month, "last_month": bank.last_month, "rows": bank.rows,
              "generate_seconds": round(seconds, 2), "label_rates": rates, "payment_fraud": fraud_rates(out),
              "history_changes_per_customer_year": change_rates(out, pd.Timestamp(bank.first_month),
                                                                pd.Timestamp(bank.last_month))}
    if extracts:
        result |= {"extracts": extract_rows, "extract_seconds": extract_seconds}
    emit(result, as_json, _generate_text)


def _block_progress(bar: Bar, months: int) -> Callable[[int, int, range], None]:
    """Each block of customers runs every month: the bar counts months over all blocks."""
    def on_block(block: int, blocks: int, numbers: range) -> None:
        bar.set_total(blocks * months)
        bar.milestone(f"block {block}/{blocks}: customers {numbers.start:,}–{numbers[-1]:,}")
    return on_block


def _generate_text(r: dict[str, Any]) -> str:
    rates = r["label_rates"]
    lines = [f"wrote {r['customers']} customers × {r['months']} months "
             f"({r['first_month']}..{r['last_month']}) to {r['out']} in {r['generate_seconds']} s"]
    lines += [f"  {table:<13} {rows:>12,} rows" for table, rows in r["rows"].items()]
    if "extracts" in r:
        lines.append(f"  source-system extracts in {r['extract_seconds']} s:")
        lines += [f"    sources/{name:<26} {rows:>10,} rows" for name, rows in r["extracts"].items()]
    lines.append(f"  churn within 90 days      {rates['churn_rate_90d']:.2%} (per quarter)")
    lines.append(f"  30+ DPD within 12 months  {rates['delinquency_rate_12m']:.2%} (per year)")
    lines.append(f"  adoption next month       {rates['adoption_rate_monthly']:.2%} (per month)")
    lines.append("  attribute changes per customer-year: " + ", ".join(
        f"{column} {rate:.3f}" for column, rate in r["history_changes_per_customer_year"].items()))
    fraud = r["payment_fraud"]
    lines.append(f"  payments {fraud['payments']:,}, fraud {fraud['fraud_payments']:,} ({fraud['fraud_share']:.3%}): "
                 + ", ".join(f"{scheme} {s['payments']} in {s['cases']} cases ({s['share']:.3%})"
                             for scheme, s in fraud["by_scheme"].items()))
    return "\n".join(lines)


@data_group.command("validate")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Write every violation to this CSV (file,row,column,check,message).")
@click.option("--links", type=click.Path(path_type=Path),
              help="OneID links (a directory holding links.parquet, or the file): also report every record "
                   "of DATA_DIR/sources that no link covers.")
@json_option
@handles_errors
def validate(data_dir: Path, report: Path | None, links: Path | None, as_json: bool) -> None:
    """Check every table in DATA_DIR against the canonical contract.

    Reports every violation with file, row (1-based data row) and column; exits 2 if any.
    """
    if not data_dir.is_dir():
        raise InputFileError(f"{data_dir}: no such data directory")
    found = validate_dir(data_dir)
    if links is not None:
        validate_links(data_dir, links, found)
    if report is not None:
        _write_report(found, report)
    emit(found.to_dict() | {"report": report}, as_json, _validate_text)
    if not found.ok:
        raise SystemExit(ContractViolation.exit_code)


def _write_report(found: ValidationReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["file", "row", "column", "check", "message"])
        writer.writeheader()
        writer.writerows(asdict(v) for v in found.violations)


def _validate_text(r: dict[str, Any]) -> str:
    lines = [f"{table:<13} {rows:>12,} rows" for table, rows in r["rows"].items()]
    lines += [f"warning: {w}" for w in r["warnings"]]
    if r["ok"]:
        lines.append(f"{r['data_dir']}: valid")
        return "\n".join(lines)
    shown = r["violations"][:50]
    lines += [_violation_text(v) for v in shown]
    if r["violation_count"] > len(shown):
        lines.append(f"... and {r['violation_count'] - len(shown)} more (use --report FILE for all)")
    lines.append(f"{r['data_dir']}: {r['violation_count']} violations")
    return "\n".join(lines)


def _violation_text(v: dict[str, Any]) -> str:
    where = v["file"] + (f" row {v['row']}" if v["row"] is not None else "")
    where += f" column {v['column']}" if v["column"] is not None else ""
    return f"{where}: {v['message']}"


@data_group.group("import")
def import_group() -> None:
    """Turn a customer table (`snapshot`) or a public dataset into canonical tables."""


def _import_public(source: str) -> click.Command:
    """`nbo data import SOURCE PATH --out DIR` for one public-data adapter."""

    @click.argument("path", type=click.Path(path_type=Path))
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
    @json_option
    @handles_errors
    def command(path: Path, out: Path, as_json: bool) -> None:
        adapter = ADAPTERS[source]
        if not path.exists():
            raise InputFileError(f"{path}: no such file or directory")
        log.info("public_data_reading", extra={"source": source, "path": str(path)})
        imported = adapter(path)
        for table, frame in imported.tables.items():
            write_table(out, table, frame)
        imported.write_extensions(out)
        imported.write_meta(out)
        found = validate_dir(out)
        if not found.ok:
            raise ContractViolation(f"{out}: the imported tables break the contract",
                                    [asdict(v) | {"text": str(v)} for v in found.violations])
        result = {"source": source, "path": path.resolve(), "out": out.resolve(),
                  "rows": found.rows, "meta": imported.meta}
        emit(result, as_json, _import_text)

    command.__doc__ = f"Turn the public dataset {source} (a file, or its folder in ../shared/data) into canonical tables."
    return click.command(source)(command)


def _import_text(r: dict[str, Any]) -> str:
    return "\n".join([f"imported {r['source']} into {r['out']}"]
                     + [f"  {t:<15} {n:>10,} rows" for t, n in r["rows"].items()])


for _source in sorted(ADAPTERS):
    import_group.add_command(_import_public(_source))


@import_group.command("snapshot")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path),
              help="A TOML mapping file (id, as_of, label, currency, portfolio, [map], [type], [values.COLUMN]); "
                   "the options below override it.")
@click.option("--id", "id_column", metavar="COLUMN", help="The column that identifies a customer (unique).")
@click.option("--as-of", metavar="YYYY-MM-DD", help="The first day of the month after the snapshot; the label "
                                                    "is what happened from then on.")
@click.option("--label", metavar="churn|delinquency=COLUMN[:POSITIVE]",
              help="Which label the source's column is; POSITIVE names its positive value.")
@click.option("--map", "maps", multiple=True, metavar="SOURCE=TABLE.COLUMN",
              help="Put a source column into a canonical column (repeatable; README lists the targets).")
@click.option("--type", "types", multiple=True, metavar="COLUMN=numeric|categorical|ignore",
              help="Override an extra column's automatic type, or leave it out (repeatable).")
@click.option("--currency", metavar="CODE", help="ISO 4217 code of the amounts (default CNY).")
@click.option("--portfolio", metavar="NAME", help="The portfolio the data belongs to (default: the file's name).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@json_option
@handles_errors
def import_snapshot_command(file: Path, mapping: Path | None, id_column: str | None, as_of: str | None,
                            label: str | None, maps: tuple[str, ...], types: tuple[str, ...],
                            currency: str | None, portfolio: str | None, out: Path, as_json: bool) -> None:
    """Turn any customer-level table (CSV or parquet, one row per customer) into canonical tables.

    Every column that is not the id, the label or mapped becomes an extra attribute
    (customer_extras.parquet, declared in extensions.json), numeric when every non-blank cell is a
    number, else categorical; it becomes the feature x_<column> of the churn and delinquency models.
    Exits 2, writing nothing, on any bad input, naming file, row and column.
    """
    spec = snapshot_spec(file, mapping, id_column, as_of, label, maps, types, currency, portfolio)
    imported = import_snapshot(spec)
    found = write_snapshot(out, imported)
    result = {"source": "snapshot", "path": file.resolve(), "out": out.resolve(),
              "rows": found.rows | {"customer_extras": len(imported.extras)},
              "extensions": imported.extensions.to_json(), "meta": imported.meta}
    emit(result, as_json, _import_text)


def snapshot_spec(file: Path, mapping: Path | None, id_column: str | None, as_of: str | None, label: str | None,
                  maps: tuple[str, ...], types: tuple[str, ...], currency: str | None,
                  portfolio: str | None) -> SnapshotSpec:
    """The import's spec: the mapping file's keys, overridden by the options given."""
    raw = read_mapping_file(mapping) if mapping else {}
    given = {"--id": id_column or raw.get("id"), "--as-of": as_of or raw.get("as_of"),
             "--label": label or raw.get("label")}
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise click.UsageError(f"missing {', '.join(missing)} (give the option or the mapping file's key)")
    kind, column, positive = parse_label(str(given["--label"]))
    return SnapshotSpec(
        file=file, id_column=str(given["--id"]), as_of=str(given["--as-of"]), label=kind, label_column=column,
        positive=positive, maps={**dict(raw.get("map", {})), **parse_pairs("--map", maps)},
        types={**dict(raw.get("type", {})), **parse_pairs("--type", types)},
        values={str(c): {str(k): str(v) for k, v in m.items()} for c, m in dict(raw.get("values", {})).items()},
        currency=currency or str(raw.get("currency", "CNY")), portfolio=portfolio or raw.get("portfolio"))


@data_group.command("respond")
@click.option("--assignments", "assignments_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A campaign run's output folder: every assignments.parquet under it is read.")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The synthetic bank's data directory (customers, products, holdings); holdings are rewritten.")
@click.option("--truth", "truth_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where campaign_effect.parquet, nps_truth.parquet and nps_model.json go (e.g. DATA/truth).")
@click.option("--seed", type=int, required=True, help="Seeds every draw (with campaign and customer).")
@click.option("--nps-out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where the NPS answers go. Default: TRUTH/../nps_answers.parquet.")
@click.option("--settings", "settings_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The uptake and NPS settings. Default: sources/synthetic/responses.toml.")
@json_option
@handles_errors
def respond_command(assignments_dir: Path, data_dir: Path, truth_dir: Path, seed: int, nps_out: Path | None,
                    settings_file: Path | None, as_json: bool) -> None:
    """The synthetic customers answer campaigns: planted uptake of sent offers, and NPS answers.

    Each treated customer sent an offer takes the product with the channel's probability (settings);
    uptakes add month-end holdings rows to DATA/holdings.parquet (existing rows unchanged) and every
    sent treated customer gets a row in TRUTH/campaign_effect.parquet. Sends already there are skipped,
    so a rerun adds nothing. Exits 2 naming file, row and column on a bad assignments file, 3 if a file
    is missing or unreadable.
    """
    result = respond(assignments_dir, data_dir, truth_dir, seed, nps_out, load_settings(settings_file))
    emit(result, as_json, _respond_text)


def _respond_text(r: dict[str, Any]) -> str:
    lines = [f"{r['assignment_rows']:,} assignment rows from {r['assignments']}; "
             f"{r['sent_treated_new']:,} new sent treated customers ({r['already_applied']:,} rows applied before)",
             f"  drawn {r['drawn']:,}, planted {r['planted']:,}, holdings rows added {r['holdings_rows_added']:,}"]
    lines += [f"    {o:<24} {n:>8,}" for o, n in r["outcomes"].items() if n]
    lines += [f"  {ch:<9} sent {c['sent']:>7,}  drawn {c['drawn']:>6,}  (p = {c['probability']:.2f})"
              for ch, c in r["by_channel"].items() if c["sent"]]
    for e in r["effect"]:
        rate = "-" if e["planted_rate"] is None else f"{e['planted_rate']:.2%}"
        value = "-" if e["planted_value_cny"] is None else f"{e['planted_value_cny']:.2f}"
        lines.append(f"  {e['campaign_id']}: treated {e['treated_n']:,}, control {e['control_n']:,}, "
                     f"planted {e['planted_conversions']:,} ({rate}), value CNY {value} per treated customer")
    lines.append(f"  truth in {r['truth']}; {r['nps_answers']:,} NPS answers in {r['nps']}")
    return "\n".join(lines)
