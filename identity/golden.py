"""The golden record: one canonical customers row per OneID customer, by documented survivorship.

The rules live in `survivorship.toml` (per canonical column: the extract column it is read from and
the systems trusted for it, most trusted first). For each customer and column, the value of the most
trusted system that has one wins; within that system, the most recently updated record; ties go to
the lowest record_id. A missing value never wins.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from nbo.errors import InputFileError
from sources.contract import columns_of

RULES_FILE = Path(__file__).with_name("survivorship.toml")
OWNER = "rm_id"  # the one survivorship column outside the contract: the customer's relationship manager


@dataclass(frozen=True)
class Rule:
    """Where one canonical column comes from: extract column, systems (most trusted first), default."""

    column: str
    source: str
    systems: tuple[str, ...]
    default: Any = None


@dataclass(frozen=True)
class Survivorship:
    """Every column's rule and the extracts' last-update column."""

    rules: tuple[Rule, ...]
    updated_at: str


def load_survivorship(path: Path = RULES_FILE) -> Survivorship:
    """Read the rules; an unknown canonical column or a rule without systems is an error naming it."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise InputFileError(f"{path}: cannot read the survivorship rules: {err}") from err
    known = set(columns_of("customers")) - {"customer_id"} | {OWNER}
    rules = []
    for column, spec in raw.get("columns", {}).items():
        if column not in known:
            raise InputFileError(f"{path}: [columns.{column}] is not a column of the canonical customers table "
                                 f"(nor {OWNER})")
        if not spec.get("systems") or not spec.get("source"):
            raise InputFileError(f"{path}: [columns.{column}] needs `source` and a non-empty `systems` list")
        rules.append(Rule(column, spec["source"], tuple(spec["systems"]), spec.get("default")))
    return Survivorship(tuple(rules), raw.get("updated_at", "updated_at"))


def golden_records(records: pd.DataFrame, rules: Survivorship) -> pd.DataFrame:
    """One row per `customer_id` of `records` (linked extract rows with `system` and `record_id`),
    holding the contract's customers columns chosen by `rules`, and `rm_id` (None where no rule or
    record gives one)."""
    customers = pd.DataFrame({"customer_id": sorted(records["customer_id"].unique())})
    if rules.updated_at in records:
        updated = pd.to_datetime(records[rules.updated_at].map(_iso_date), errors="coerce", format="mixed")
    else:
        updated = pd.Series(pd.NaT, index=records.index)
    base = records.assign(_updated=updated)
    for rule in rules.rules:
        customers[rule.column] = customers["customer_id"].map(_survivors(base, rule))
        if rule.default is not None:
            customers[rule.column] = customers[rule.column].where(customers[rule.column].notna(), rule.default)
    for column in columns_of("customers"):
        if column not in customers:
            customers[column] = None
    owner = customers[OWNER] if OWNER in customers else pd.Series(None, index=customers.index, dtype=object)
    return _typed(customers[list(columns_of("customers"))]).assign(
        **{OWNER: owner.astype(object).where(owner.notna(), None)})


def _survivors(records: pd.DataFrame, rule: Rule) -> pd.Series:
    """customer_id → the winning value of one rule."""
    if rule.source not in records:
        return pd.Series(dtype=object)
    rank = {system: i for i, system in enumerate(rule.systems)}
    keep = records["system"].isin(rank) & records[rule.source].notna()
    candidates = records.loc[keep, ["customer_id", "system", "record_id", "_updated"]].assign(
        _value=records.loc[keep, rule.source], _rank=records.loc[keep, "system"].map(rank))
    candidates = candidates.sort_values(["customer_id", "_rank", "_updated", "record_id"],
                                        ascending=[True, True, False, True], na_position="last")
    return candidates.drop_duplicates("customer_id").set_index("customer_id")["_value"]


def _typed(customers: pd.DataFrame) -> pd.DataFrame:
    """Cast each column to its contract kind (dates from YYYY-MM-DD or YYYYMMDD text)."""
    out = customers.copy()
    for column, kind in columns_of("customers").items():
        values = out[column]
        if kind == "date":
            out[column] = pd.to_datetime(values.map(_iso_date), errors="coerce", format="mixed")
        elif kind == "int":
            out[column] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif kind == "float":
            out[column] = pd.to_numeric(values, errors="coerce").astype(float)
        elif kind == "bool":
            out[column] = values.astype(bool)
        else:
            out[column] = values.astype(object).where(values.notna(), None)
    return out


def _iso_date(value: Any) -> Any:
    """YYYYMMDD text as YYYY-MM-DD; anything else as it is."""
    if isinstance(value, str) and len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value
