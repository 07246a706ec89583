"""`nbo data assemble`: the canonical tables from source-system extracts and OneID links."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from identity.assemble import assemble
from identity.golden import RULES_FILE
from nbo.console import emit, handles_errors, json_option, progress_bar

SHOWN_MAX = 1000  # uncovered records listed in --json (all are counted)


@click.command("assemble")
@click.option("--sources", "sources_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="The extracts: <system>.parquet per system, activity as <system>_<table>.parquet.")
@click.option("--links", type=click.Path(path_type=Path), required=True,
              help="OneID links: the folder `nbo identity resolve --out` wrote, or its links.parquet.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where the canonical tables go.")
@click.option("--rules", type=click.Path(dir_okay=False, path_type=Path), default=RULES_FILE, show_default=True,
              help="Survivorship rules of the golden record (TOML).")
@json_option
@handles_errors
def assemble_command(sources_dir: Path, links: Path, out: Path, rules: Path, as_json: bool) -> None:
    """Build customers (one golden record per OneID customer) and re-key events, transactions,
    holdings and credit through the links; report every record and row no link covers."""
    with progress_bar(f"assembling {sources_dir} through {links}"):
        done = assemble(sources_dir, links, out, rules)
    result = {"out": done.out.resolve(), "rows": done.rows, "uncovered_count": len(done.uncovered),
              "uncovered": [asdict(v) for v in done.uncovered[:SHOWN_MAX]], "unlinked_rows": done.unlinked_rows}
    emit(result, as_json, _text)


def _text(r: dict[str, Any]) -> str:
    lines = [f"wrote the canonical tables to {r['out']}"]
    lines += [f"  {table:<13} {rows:>12,} rows" for table, rows in r["rows"].items()]
    for v in r["uncovered"][:50]:
        lines.append(f"uncovered: {v['file']} row {v['row']} column {v['column']}: {v['message']}")
    if r["uncovered_count"] > 50:
        lines.append(f"... and {r['uncovered_count'] - 50} more uncovered records (--json lists {SHOWN_MAX})")
    lines += [f"unlinked: {rows:,} rows of {file} belong to records no link covers (left out)"
              for file, rows in r["unlinked_rows"].items()]
    return "\n".join(lines)
