"""`nbo models history`: every alias change of the registered models, from the audit database."""

from __future__ import annotations

from typing import Any

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings


@click.group("models")
def models_group() -> None:
    """The registered models' governance record."""


@models_group.command("history")
@click.option("--model", metavar="NAME", help="One registered model (nbo-churn, nbo-recommender.acme, ...).")
@click.option("--limit", type=click.IntRange(min=1), default=500, show_default=True, help="Newest entries shown.")
@json_option
@handles_errors
def history(model: str | None, limit: int, as_json: bool) -> None:
    """Who moved which alias (champion, challenger, shadow) of which model when and why, with the
    evidence and whether it was forced, newest first: `train` (a version registered), `promote`
    (a promotion decision, promoted or not), `set` (challenger or shadow) and `reload` (the service
    began serving another version behind an alias)."""
    from models.alias_history import AliasHistory

    store = AliasHistory(load_settings().audit_url)
    try:
        entries = store.entries(model, limit)
    finally:
        store.close()
    emit({"model": model, "entries": [e | {"at": e["at"].isoformat()} for e in entries]}, as_json, _history_text)


def _evidence(entry: dict[str, Any]) -> str:
    e = entry["evidence"]
    if entry["action"] == "promote":
        champion = "-" if e.get("champion") is None else f"{e['champion']:.4f}"
        state = "promoted" if e.get("promoted") else "not promoted"
        return f"{state}; {e.get('primary_metric')} {e.get('candidate'):.4f} vs {champion} on holdout {e.get('holdout_id')}"
    if entry["action"] == "train":
        return f"holdout {e.get('holdout_id')}"
    return ""


def _history_text(r: dict[str, Any]) -> str:
    if not r["entries"]:
        return "no alias changes recorded" + (f" for {r['model']}" if r["model"] else "")
    lines = [f"{'at (UTC)':<19} {'model':<18} {'action':<8} {'alias':<10} {'version':>7} {'prev':>5} "
             f"{'forced':<6} {'by':<22} why"]
    for e in r["entries"]:
        evidence = _evidence(e)
        lines.append(f"{e['at'][:19].replace('T', ' ')} {e['model']:<18} {e['action']:<8} {e['alias'] or '-':<10} "
                     f"{e['version'] or '-':>7} {e['previous_version'] or '-':>5} {'yes' if e['forced'] else '':<6} "
                     f"{e['by'][:22]:<22} {e['reason']}" + (f" [{evidence}]" if evidence else ""))
    return "\n".join(lines)
