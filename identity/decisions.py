"""Manual corrections to OneID: merge two customers, split a record out. A decision wins over the
matcher on every run (`identity.clusters.assign_ids` replays them all).

`OUT/decisions.parquet` keeps every decision: `decision_id` (D and 6 digits, in the order made),
`kind` (merge | split), `subjects` (merge: the two customer ids; split: the record's
SYSTEM:RECORD_ID, the customer it left and, when named, the customer it went to), `records` (the SYSTEM:RECORD_ID keys it
binds: for a merge every record of both customers, for a split the record then the target's
records), `who`, `when` (UTC), `why`. A decision is applied at once: decisions, then links, then
aliases are each rewritten atomically (temporary file, then rename), under a lock on the folder so concurrent
decisions are never lost. Bad input raises before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from identity.clusters import (
    ALIAS_COLUMNS,
    as_utc,
    assign_ids,
    pairs_from_links,
    record_key,
    split_key,
)
from identity.folder import locked, write_parquet
from nbo.errors import ContractViolation, NotFound

DECISION_COLUMNS = ["decision_id", "kind", "subjects", "records", "who", "when", "why"]
LINKS = "links.parquet"
ALIASES = "aliases.parquet"
DECISIONS = "decisions.parquet"


class LinksNotFound(NotFound):
    """The folder holds no links: OneID has not run there."""


class UnknownCustomer(NotFound):
    """No customer (nor alias) with this id in the links."""


class UnknownRecord(NotFound):
    """No record with this SYSTEM:RECORD_ID in the links."""


@dataclass(frozen=True)
class Outcome:
    """A decision made and applied: the decision row, and the customer(s) it left."""

    decision: dict[str, object]
    customer_id: str  # merge: the surviving id; split: the record's customer now
    other_id: str  # merge: the id that became an alias; split: the record's customer before


def load_links(out: Path) -> pd.DataFrame:
    """The links in `out` (LinksNotFound if OneID has not run there)."""
    path = out / LINKS
    if not path.is_file():
        raise LinksNotFound(f"{path}: no links (run `nbo identity resolve --out {out}` first)")
    return pd.read_parquet(path)


def load_aliases(out: Path) -> pd.DataFrame:
    """The aliases in `out` (none yet: an empty frame)."""
    path = out / ALIASES
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=ALIAS_COLUMNS)


def load_decisions(out: Path) -> pd.DataFrame:
    """Every manual decision made in `out`, oldest first (none yet: an empty frame)."""
    path = out / DECISIONS
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame(columns=DECISION_COLUMNS)


def merge(out: Path, first: str, second: str, *, why: str, who: str, now: datetime | None = None) -> Outcome:
    """Merge two customers (an alias is followed to its customer) and apply it to the links."""
    with _locked(out):
        links, aliases, decisions = load_links(out), load_aliases(out), load_decisions(out)
        a, b = _customer(first, links, aliases), _customer(second, links, aliases)
        _check_reason(why)
        if a == b:
            same = f"{first} and {second} are both {a}" if {first, second} != {a} else f"{a} with itself"
            raise ContractViolation(f"cannot merge {same}: nothing to merge")
        records = _records_of(links, a) + _records_of(links, b)
        decision = _decision(decisions, "merge", [a, b], records, who, why, now)
        links = _apply(out, links, aliases, decisions, decision, now)
        survivor = links.loc[links["customer_id"].isin([a, b]), "customer_id"].iloc[0]
        return Outcome(decision, survivor, b if survivor == a else a)


def split(out: Path, record: str, *, why: str, who: str, into: str | None = None,
          now: datetime | None = None) -> Outcome:
    """Split one record (SYSTEM:RECORD_ID) out of its customer, alone or `into` a named customer."""
    with _locked(out):
        links, aliases, decisions = load_links(out), load_aliases(out), load_decisions(out)
        try:
            system, record_id = split_key(record)
        except ValueError as err:
            raise ContractViolation(f"{record!r}: expected SYSTEM:RECORD_ID, e.g. core_banking:123") from err
        row = links[(links["system"] == system) & (links["record_id"] == record_id)]
        if row.empty:
            raise UnknownRecord(f"no record {record} in {out / LINKS}")
        before = str(row["customer_id"].iloc[0])
        target = _customer(into, links, aliases) if into is not None else None
        _check_reason(why)
        if target == before:
            raise ContractViolation(f"{record} already belongs to {before}")
        if target is None and (links["customer_id"] == before).sum() == 1:
            raise ContractViolation(f"{record} is already the only record of {before}: nothing to split")
        key = record_key(system, record_id)
        subjects = [key, before] + ([target] if target else [])
        records = [key] + (_records_of(links, target) if target else [])
        decision = _decision(decisions, "split", subjects, records, who, why, now)
        links = _apply(out, links, aliases, decisions, decision, now)
        after = links.loc[(links["system"] == system) & (links["record_id"] == record_id), "customer_id"].iloc[0]
        return Outcome(decision, str(after), before)


def _customer(customer_id: str, links: pd.DataFrame, aliases: pd.DataFrame) -> str:
    """The live customer id for an id or alias (UnknownCustomer if neither)."""
    if (links["customer_id"] == customer_id).any():
        return customer_id
    alias = aliases.loc[aliases["alias_id"] == customer_id, "customer_id"]
    if len(alias):
        return str(alias.iloc[0])
    raise UnknownCustomer(f"no customer {customer_id} in the OneID links")


def _check_reason(why: str) -> None:
    if not why.strip():
        raise ContractViolation("the reason is empty: say why (--reason)")


def _records_of(links: pd.DataFrame, customer_id: str) -> list[str]:
    mine = links[links["customer_id"] == customer_id].sort_values(["system", "record_id"])
    return [record_key(s, r) for s, r in zip(mine["system"], mine["record_id"], strict=True)]


def _decision(decisions: pd.DataFrame, kind: str, subjects: list[str], records: list[str], who: str, why: str,
              now: datetime | None) -> dict[str, object]:
    return {"decision_id": f"D{len(decisions) + 1:06d}", "kind": kind, "subjects": subjects, "records": records,
            "who": who, "when": as_utc(now or datetime.now(UTC)), "why": why.strip()}


def _apply(out: Path, links: pd.DataFrame, aliases: pd.DataFrame, decisions: pd.DataFrame,
           decision: dict[str, object], now: datetime | None) -> pd.DataFrame:
    """Store the decision, then rewrite links and aliases with every decision applied; the new links."""
    row = pd.DataFrame([decision])[DECISION_COLUMNS]
    every = pd.concat([decisions, row], ignore_index=True) if len(decisions) else row
    assignment = assign_ids(links[["system", "record_id"]], pairs_from_links(links, every), 0.0,
                            previous=links, decisions=every, aliases=aliases, now=now)
    write_parquet(every, out / DECISIONS)
    write_parquet(assignment.links, out / LINKS)
    write_parquet(assignment.aliases, out / ALIASES)
    return assignment.links


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One decision at a time in `out` (an existing OneID folder)."""
    if not out.is_dir():
        raise LinksNotFound(f"{out}: no such folder (run `nbo identity resolve --out {out}` first)")
    with locked(out):
        yield
