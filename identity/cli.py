"""`nbo identity`: resolve source-system extracts into OneID customers, and measure the links against a truth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from identity.evaluate import evaluate
from identity.io import Extract, parse_system
from identity.resolve import DEFAULT_THRESHOLD, STEPS, resolve
from nbo.console import emit, handles_errors, json_option, stage, steps
from nbo.settings import load_settings


@click.group("identity")
def identity_group() -> None:
    """OneID: one customer out of many systems that share no key."""


def _extract(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[Extract]:
    try:
        return [parse_system(v) for v in values]
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@identity_group.command("resolve")
@click.option("--system", "extracts", multiple=True, required=True, callback=_extract, metavar="NAME=FILE",
              help="A system's extract (CSV or parquet with record_id and identifying columns); repeat per system.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Output folder (links.parquet, report.json, ...); a previous run there makes this run incremental.")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=DEFAULT_THRESHOLD, show_default=True,
              help="Match probability at or above which two records are the same customer.")
@click.option("--backend", type=click.Choice(["duckdb", "spark"]), default=None,
              help="Where Splink runs (default: the settings' stores.offline, DuckDB unless set to spark).")
@json_option
@handles_errors
def resolve_command(extracts: list[Extract], out: Path, threshold: float, backend: str | None,
                    as_json: bool) -> None:
    """Link and deduplicate the extracts: every record gets a OneID customer_id."""
    settings = load_settings()
    with steps("identity resolve", STEPS):
        report = resolve(extracts, out, settings.state_dir, threshold,
                         backend or settings.stores.offline,  # type: ignore[arg-type]
                         settings.stores.spark_master, stage)
    emit({"out": out, **{k: v for k, v in report.items() if k != "parameters"}}, as_json, _resolve_text)


def _resolve_text(r: dict[str, Any]) -> str:
    systems = ", ".join(f"{k} {v:,}" for k, v in r["records_by_system"].items())
    return (f"{r['records']:,} records ({r['new_records']:,} new; {systems})\n"
            f"{r['candidate_pairs_compared']:,} candidate pairs compared, {r['clusters']:,} customers "
            f"at threshold {r['threshold']}\nwrote {r['out']}/links.parquet and report.json")


@identity_group.command("evaluate")
@click.option("--links", "links_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The output folder of `nbo identity resolve` (links.parquet, pairs.parquet).")
@click.option("--truth", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Parquet with system, record_id, customer_id: the true person behind each record.")
@json_option
@handles_errors
def evaluate_command(links_dir: Path, truth: Path, as_json: bool) -> None:
    """Pairwise precision, recall and F1 of the links against a truth, per pair of systems, with the threshold curve."""
    emit(evaluate(links_dir, truth), as_json, _evaluate_text)


def _evaluate_text(r: dict[str, Any]) -> str:
    lines = [f"{r['records']:,} records; {r['true_customers']:,} true customers, {r['predicted_customers']:,} found",
             f"precision {r['precision']:.4f}  recall {r['recall']:.4f}  F1 {r['f1']:.4f}  "
             f"exact {r['exact_share']:.4f}",
             f"{r['records_without_identifiers']:,} records hold no identifier: best possible F1 "
             f"{r['f1_ceiling']:.4f}; F1 over the other records {r['f1_records_with_identifiers']:.4f}",
             "by pair of systems:"]
    lines += [f"  {p['system_a']:<15} {p['system_b']:<15} P {p['precision']:.4f} R {p['recall']:.4f} "
              f"F1 {p['f1']:.4f} ({p['true_pairs']:,} true pairs)" for p in r["by_system_pair"]]
    lines.append("threshold curve:")
    lines += [f"  {c['threshold']:<6} P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f} "
              f"exact {c['exact_share']:.4f}" for c in r["threshold_curve"]]
    return "\n".join(lines)
