"""Assemble the canonical tables from source-system extracts through OneID links.

Customers are golden records (`identity.golden`, rules in survivorship.toml). Activity keyed by a
system's records (`<system>_<table>.parquet`: events, transactions, holdings, credit, and the optional
customer_history, payments and account_events) is re-keyed to
the OneID customer of its record; where one customer's records held the same month (or product and
month), their rows are combined (amounts summed, days past due the worst). Extract records and
activity rows that no link covers are reported, never dropped silently. `assembly.json` beside the
tables records what they came from (the extracts, the links, the rules), so the workbench and
`nbo data validate --links` find the extracts behind them; `rm_assignments.parquet` (`identity.owners`)
which relationship manager owns each customer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from identity.golden import RULES_FILE, golden_records, load_survivorship
from identity.owners import write_owners
from nbo.errors import InputFileError
from sources.io import write_table
from sources.validation import (
    ASSEMBLY_FILE,
    KEYED_TABLES,
    LINK_COLUMNS,
    Violation,
    extract_files,
    read_links,
    uncovered_records,
)

_SUMMED = {
    "transactions": (("customer_id", "month"),
                     ("inflow", "outflow", "outflow_other_banks", "txn_count", "card_spend", "salary_credit")),
    "holdings": (("customer_id", "product_id", "snapshot_date"), ("balance",)),
    "credit": (("customer_id", "month"), ("credit_limit", "balance", "payment_amount", "missed_payments")),
}


@dataclass(frozen=True)
class Assembly:
    """What was written, and what no link covered."""

    out: Path
    rows: dict[str, int]
    uncovered: list[Violation]
    unlinked_rows: dict[str, int] = field(default_factory=dict)


def assemble(sources_dir: Path, links: Path, out: Path, rules_file: Path = RULES_FILE) -> Assembly:
    """Write customers (golden records), products and the re-keyed activity into `out`."""
    sources_dir, out = Path(sources_dir), Path(out)
    if not sources_dir.is_dir():
        raise InputFileError(f"{sources_dir}: no such sources directory")
    extracts = extract_files(sources_dir)
    if not extracts:
        raise InputFileError(f"{sources_dir}: no source-system extract (<system>.parquet) in it")
    try:
        link_frame = read_links(links)
    except (OSError, ValueError) as err:
        raise InputFileError(str(err)) from err
    rules = load_survivorship(rules_file)
    link_frame = link_frame[list(LINK_COLUMNS)].astype(str)
    records = pd.concat([_read_extract(s, p) for s, p in extracts.items()], ignore_index=True)
    linked = records.merge(link_frame, on=["system", "record_id"], how="inner")
    unlinked: dict[str, int] = {}
    tables = {"customers": golden_records(linked, rules)}
    for table, frames in _activity(sources_dir, set(extracts), link_frame, unlinked).items():
        tables[table] = _combine(table, pd.concat(frames, ignore_index=True))
    uncovered = uncovered_records(sources_dir, link_frame)
    for table, frame in tables.items():  # written only once every input has been read
        write_table(out, table, frame)
    write_owners(out, tables["customers"])
    done = Assembly(out, {t: len(f) for t, f in tables.items()}, uncovered, unlinked)
    _write_manifest(done, sources_dir, Path(links), Path(rules_file))
    return done


def _write_manifest(done: Assembly, sources_dir: Path, links: Path, rules_file: Path) -> None:
    """`assembly.json`: absolute paths of the inputs, the rows written and what no link covered."""
    manifest = {"sources": str(sources_dir.resolve()), "links": str(links.resolve()), "rules": str(rules_file.resolve()),
                "assembled_at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": done.rows,
                "uncovered_records": len(done.uncovered), "unlinked_rows": done.unlinked_rows}
    (done.out / ASSEMBLY_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _read_extract(system: str, path: Path) -> pd.DataFrame:
    """One system's records with `system`; a missing or repeated record_id is an error naming the row."""
    frame = pd.read_parquet(path)
    if "record_id" not in frame:
        raise InputFileError(f"{path}: no record_id column")
    ids = frame["record_id"].astype(str)
    repeated = ids.duplicated() | frame["record_id"].isna()
    if repeated.any():
        row = int(np.flatnonzero(repeated)[0])
        raise InputFileError(f"{path} row {row + 1} column record_id: {frame['record_id'].iat[row]!r} "
                             "is missing or repeats an earlier record's id")
    return _with_full_name(frame.assign(system=system, record_id=ids))


def _with_full_name(frame: pd.DataFrame) -> pd.DataFrame:
    """`full_name` where a record holds only family and given name: 王 + 芳 → 王芳, Wang + Fang → Wang Fang."""
    if "family_name" not in frame or "given_name" not in frame:
        return frame
    family, given = frame["family_name"], frame["given_name"]
    both = family.notna() & given.notna()
    latin = (family.fillna("") + given.fillna("")).map(str.isascii)
    joined = family.where(both, "") + np.where(latin, " ", "") + given.where(both, "")
    full = frame["full_name"] if "full_name" in frame else pd.Series(None, index=frame.index, dtype=object)
    return frame.assign(full_name=full.where(full.notna() | ~both, joined))


def _activity(sources_dir: Path, systems: set[str], links: pd.DataFrame,
              unlinked: dict[str, int]) -> dict[str, list[pd.DataFrame]]:
    """table → its re-keyed frames, one per `<system>_<table>` file; counts rows no link covers."""
    found: dict[str, list[pd.DataFrame]] = {}
    for path in sorted(sources_dir.glob("*.parquet")):
        match = next(((s, t) for s in systems for t in KEYED_TABLES if path.stem == f"{s}_{t}"), None)
        if match is None:
            continue
        system, table = match
        frame = pd.read_parquet(path)
        if table != "products":
            frame = _rekey(frame, links[links["system"] == system], path, unlinked)
        found.setdefault(table, []).append(frame)
    return found


def _rekey(frame: pd.DataFrame, links: pd.DataFrame, path: Path, unlinked: dict[str, int]) -> pd.DataFrame:
    if "record_id" not in frame:
        raise InputFileError(f"{path}: no record_id column to re-key")
    customer = frame["record_id"].astype(str).map(links.set_index("record_id")["customer_id"])
    missing = int(customer.isna().sum())
    if missing:
        unlinked[str(path)] = missing
    position = frame.columns.get_loc("record_id")
    frame = frame.drop(columns="record_id")
    frame.insert(position, "customer_id", customer)
    return frame[customer.notna().to_numpy()].reset_index(drop=True)


def _combine(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per the table's key where several records of one customer held the same key."""
    if table == "events":
        if frame["event_id"].duplicated().any():
            frame["event_id"] = np.arange(len(frame), dtype=np.int64)
        return frame
    if table == "products":
        return frame.drop_duplicates("product_id").reset_index(drop=True)
    if table in ("payments", "account_events"):  # one row per payment or event, each with its own id
        return frame
    if table == "contact_consent":  # several records of one customer: the first record's consent wins
        return frame.drop_duplicates("customer_id").reset_index(drop=True)
    if table == "customer_history":  # one version a day: records of one customer agree or the first wins
        return (frame.sort_values(["customer_id", "valid_from"], kind="stable")
                .drop_duplicates(["customer_id", "valid_from"]).reset_index(drop=True))
    keys, summed = _SUMMED[table]
    if not frame.duplicated(list(keys)).any():
        return frame
    grouped = frame.groupby(list(keys), sort=True)
    out = grouped[list(summed)].sum()
    if table == "credit":
        out["days_past_due"] = grouped["days_past_due"].max()
        limit = out["credit_limit"].to_numpy()
        ratio = np.divide(out["balance"].to_numpy(), limit, out=np.zeros(len(out)), where=limit > 0)
        out["utilization"] = np.clip(ratio, 0, 5)
    return out.reset_index()[list(frame.columns)]
