"""`nbo identity merge` and `nbo identity split`: manual corrections to OneID, applied at once and
kept by every later `nbo identity resolve`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click

from identity import decisions
from nbo.console import emit, handles_errors, json_option

out_option = click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
                          help="The OneID folder (`nbo identity resolve --out`): links, aliases, decisions.")
reason_option = click.option("--reason", "why", required=True, help="Why (kept with the decision; not empty).")
by_option = click.option("--by", "who", default=getpass.getuser, show_default="the OS user",
                         help="Who decides (kept with the decision).")


@click.command("merge")
@click.argument("first")
@click.argument("second")
@out_option
@reason_option
@by_option
@json_option
@handles_errors
def merge_command(first: str, second: str, out: Path, why: str, who: str, as_json: bool) -> None:
    """Merge customers FIRST and SECOND (OneID ids, e.g. O0000000042) into one.

    The id held by more records survives (ties: the older one); the other becomes an alias."""
    done = decisions.merge(out, first, second, why=why, who=who)
    emit(_result(done, out, "alias_id"), as_json,
         lambda r: f"{r['decision_id']}: merged {r['alias_id']} into {r['customer_id']} "
                   f"({r['alias_id']} is now an alias of {r['customer_id']})")


@click.command("split")
@click.argument("record")
@click.option("--into", default=None, help="Put the record with this customer instead of on its own.")
@out_option
@reason_option
@by_option
@json_option
@handles_errors
def split_command(record: str, into: str | None, out: Path, why: str, who: str, as_json: bool) -> None:
    """Split RECORD (SYSTEM:RECORD_ID, e.g. branch_crm:R000123) out of its customer."""
    done = decisions.split(out, record, why=why, who=who, into=into)
    emit(_result(done, out, "previous_customer_id"), as_json,
         lambda r: f"{r['decision_id']}: {record} moved from {r['previous_customer_id']} to {r['customer_id']}")


def _result(done: decisions.Outcome, out: Path, other: str) -> dict[str, Any]:
    d = done.decision
    return {"decision_id": d["decision_id"], "kind": d["kind"], "subjects": list(d["subjects"]),  # type: ignore[call-overload]
            "who": d["who"], "when": str(d["when"]), "why": d["why"], "customer_id": done.customer_id,
            other: done.other_id, "out": out}
