"""`nbo nps load FILE`: store NPS answers from a parquet or CSV file, idempotently by answer id."""

from __future__ import annotations

from pathlib import Path

import click

from nbo.console import emit, handles_errors, json_option, progress_bar
from nbo.databases import audit_engine
from nbo.settings import load_settings
from serving.nps.answers import answers_of, read_answer_file
from serving.nps.store import NpsStore

BATCH = 1000  # answers per transaction


@click.group("nps")
def nps_group() -> None:
    """Net promoter score answers (0-10) from customers."""


@nps_group.command("load")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@json_option
@handles_errors
def load(file: Path, as_json: bool) -> None:
    """Store the NPS answers of FILE (parquet or CSV; columns answer_id, customer_id, answered_at, score
    and optionally comment, channel, campaign_id). Every row is checked first: a bad one stops the load
    naming its row (1 = first data row) and column. An answer id already stored with the same content
    is skipped; with other content the load stops (exit 2), nothing is overwritten (earlier batches of
    1,000 stay stored)."""
    answers = answers_of(file, read_answer_file(file))
    store = NpsStore(audit_engine(load_settings().audit_url))
    added = unchanged = 0
    with progress_bar(f"loading NPS answers from {file.name}", len(answers), unit="answers") as bar:
        for start in range(0, len(answers), BATCH):
            chunk = answers[start:start + BATCH]
            counts = store.add(chunk)
            added, unchanged = added + counts["added"], unchanged + counts["unchanged"]
            bar.advance(len(chunk))
    emit({"file": str(file), "rows": len(answers), "added": added, "unchanged": unchanged}, as_json,
         lambda r: f"{r['file']}: {r['rows']} answers, {r['added']} added, {r['unchanged']} already stored")
