"""Read source-system extracts (`--system NAME=FILE`, CSV or parquet) into normalised, privacy-hashed records.

Every problem in every file is collected first and raised together (ContractViolation, exit 2;
a missing file is InputFileError, exit 3), so nothing is written from bad input. Rows are named as
the user sees them: `line N` of a CSV (the header is line 1), `row N` of a parquet file (from 1)."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from identity import normalise
from identity.privacy import keyed_hash
from nbo.errors import ContractViolation, InputFileError

log = logging.getLogger(__name__)

IDENTIFYING = ("full_name", "given_name", "family_name", "birth_date", "gender", "phone", "email", "id_number",
               "address", "postcode", "city")
RECORD_COLUMNS = ("system", "record_id", "uid", "family", "given", "name_fg", "name_gf", "birth_date", "gender",
                  "phone_hash", "email_hash", "id_hash", "id_valid", "id_birth_date", "address", "postcode", "city")
SYSTEM_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Extract:
    """One `--system NAME=FILE` argument."""

    system: str
    path: Path


def parse_system(option: str) -> Extract:
    """`NAME=FILE` -> Extract; ValueError saying what is wrong."""
    name, sep, file = option.partition("=")
    if not sep or not file:
        raise ValueError(f"{option!r}: expected NAME=FILE, e.g. core_banking=core.csv")
    if not SYSTEM_NAME.match(name):
        raise ValueError(f"{option!r}: the system name must be lower-case letters, digits and _ (e.g. mobile_app)")
    return Extract(name, Path(file))


def _where(path: Path, index: int) -> str:
    if index < 0:
        return f"{path} header (line 1)" if path.suffix.lower() != ".parquet" else f"{path} schema"
    return f"{path} line {index + 2}" if path.suffix.lower() != ".parquet" else f"{path} row {index + 1}"


def _violation(path: Path, index: int, column: str | None, text: str) -> dict[str, object]:
    where = _where(path, index) + (f", column {column}" if column else "")
    return {"file": str(path), "row": index + 1, "column": column, "text": f"{where}: {text}"}


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: not a readable CSV or parquet file ({err})") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.reset_index(drop=True)


def _check(extract: Extract, frame: pd.DataFrame) -> list[dict[str, object]]:
    path = extract.path
    if frame.empty:
        return [_violation(path, 0, None, "the file is empty: no records to resolve")]
    problems: list[dict[str, object]] = []
    if "record_id" not in frame.columns:
        problems.append(_violation(path, -1, "record_id", "no record_id column (the system's own id of each record)"))
    if not any(c in frame.columns for c in IDENTIFYING):
        problems.append(_violation(path, -1, None, "none of the identifying columns "
                                   f"({', '.join(IDENTIFYING)}); columns found: {', '.join(map(str, frame.columns))}"))
    if problems:
        return problems
    ids = frame["record_id"].astype("string").str.strip()
    for index in ids[ids.isna() | (ids == "")].index[:100]:
        problems.append(_violation(path, index, "record_id", "empty record_id"))
    seen = ids[ids.notna() & (ids != "")]
    repeated = seen.duplicated()
    first = pd.Series(seen.index[~repeated], index=seen[~repeated].to_numpy())  # record_id -> its first row
    for index in seen[repeated].index[:100]:
        problems.append(_violation(path, index, "record_id",
                                   f"record_id {seen[index]!r} duplicates {_where(path, int(first[seen[index]]))}"))
    if "birth_date" in frame.columns:
        for index, value in frame["birth_date"].items():
            try:
                normalise.birth_date(value)
            except ValueError as err:
                problems.append(_violation(path, int(index), "birth_date", str(err)))
                if len(problems) >= 100:
                    break
    return problems


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _mapped(values: pd.Series, func) -> pd.Series:  # type: ignore[no-untyped-def]
    """`func` applied once per distinct value (names and cities repeat a lot)."""
    uniques = pd.unique(values.astype(object))
    table = {v: func(v) for v in uniques}
    return values.astype(object).map(table)


def _hashed(values: pd.Series, key: bytes) -> pd.Series:
    return values.map(lambda v: None if v is None else keyed_hash(v, key))


def normalised(extract: Extract, frame: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """The extract's records as RECORD_COLUMNS: pinyin names, ISO dates, hashed phones, e-mails and ID numbers."""
    names = pd.Series(list(zip(_column(frame, "full_name"), _column(frame, "family_name"),
                               _column(frame, "given_name"), strict=True)), index=frame.index)
    parts = _mapped(names, lambda t: normalise.name(*(None if normalise._blank(v) else str(v) for v in t)))
    ids = _mapped(_column(frame, "id_number"), normalise.id_number)
    out = pd.DataFrame({
        "system": extract.system,
        "record_id": frame["record_id"].astype(str).str.strip(),
        "family": parts.map(lambda p: p.family),
        "given": parts.map(lambda p: p.given),
        "name_fg": parts.map(lambda p: p.full),
        "name_gf": parts.map(lambda p: p.given + p.family if p.family and p.given else p.full),
        "birth_date": _mapped(_column(frame, "birth_date"), normalise.birth_date),
        "gender": _mapped(_column(frame, "gender"), normalise.gender),
        "phone_hash": _hashed(_mapped(_column(frame, "phone"), normalise.phone), key),
        "email_hash": _hashed(_mapped(_column(frame, "email"), normalise.email), key),
        "id_hash": _hashed(ids.map(lambda i: None if i is None else i.value), key),
        "id_valid": ids.map(lambda i: None if i is None else i.valid),
        "id_birth_date": ids.map(lambda i: None if i is None else i.birth_date),
        "address": _mapped(_column(frame, "address"), normalise.address),
        "postcode": _mapped(_column(frame, "postcode"), normalise.postcode),
        "city": _mapped(_column(frame, "city"), normalise.address),
    })
    out.insert(2, "uid", out["system"] + ":" + out["record_id"])
    out["id_valid"] = out["id_valid"].astype("boolean")
    # An ID number's embedded birth date stands in for a missing birth date.
    embedded = out["id_birth_date"].where(out["id_valid"].fillna(False).astype(bool))
    out["birth_date"] = out["birth_date"].where(out["birth_date"].notna(), embedded)
    return out.astype({c: "string" for c in RECORD_COLUMNS if c != "id_valid"})


def read_extracts(extracts: list[Extract], key: bytes) -> pd.DataFrame:
    """All extracts normalised into one frame; every problem in every file raised together."""
    systems = [e.system for e in extracts]
    if len(set(systems)) != len(systems):
        twice = sorted({s for s in systems if systems.count(s) > 1})
        raise ContractViolation(f"system {', '.join(twice)} given more than once: one --system per system")
    frames, problems = [], []
    for extract in extracts:
        frame = _read_table(extract.path)
        found = _check(extract, frame)
        problems += found
        if found:
            continue
        ignored = [c for c in frame.columns if c not in IDENTIFYING and c != "record_id"]
        if ignored:
            log.warning("extract_columns_ignored", extra={"file": str(extract.path), "columns": ignored})
        frames.append(normalised(extract, frame, key))
    if problems:
        raise ContractViolation(f"{len(problems)} problem(s) in the extracts; nothing was written: "
                                + problems[0]["text"], problems)  # type: ignore[operator]
    return pd.concat(frames, ignore_index=True)
