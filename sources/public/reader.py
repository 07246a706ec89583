"""Read a public dataset's CSV and check it cell by cell before anything is mapped.

Every problem is collected, never only the first: missing columns (row None), missing values,
cells that are not numbers, whole numbers or dates, codes outside their set, values below a
minimum, duplicate ids and bytes that are not UTF-8. They are raised together as one
`ContractViolation` whose violations are dicts with file, row (1-based data row), column, check,
message and text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from nbo.errors import ContractViolation, InputFileError

ViolationDict = dict[str, object]


@dataclass(frozen=True)
class Column:
    """One required source column: its kind and the rules its cells must follow."""

    name: str
    kind: Literal["text", "number", "date"] = "text"
    date_format: str | None = None
    is_nullable: bool = False
    allowed: tuple[object, ...] | None = None
    min_value: float | None = None
    is_whole: bool = False
    is_unique: bool = False


def resolve_source_file(path: Path, file_name: str) -> Path:
    """Return the dataset file: `path` itself, or `file_name` inside the folder `path`."""
    found = Path(path) / file_name if Path(path).is_dir() else Path(path)
    if not found.is_file():
        raise InputFileError(f"{found}: no such file (give {file_name} or the folder holding it)")
    return found


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cell_violation(
    path: Path, row: int | None, column: str | None, check: str, message: str
) -> ViolationDict:
    """Return one violation dict, with a one-line `text` for people."""
    where = Path(path).name + (f" row {row}" if row is not None else "")
    where += f" column {column}" if column else ""
    return {"file": str(path), "row": row, "column": column, "check": check, "message": message,
            "text": f"{where}: {message}"}


def raise_if_any(path: Path, found: list[ViolationDict]) -> None:
    """Raise one `ContractViolation` carrying every violation found, if there are any."""
    if found:
        raise ContractViolation(f"{Path(path).name}: {len(found)} problems; nothing was imported", found)


def read_checked_csv(
    path: Path, columns: Sequence[Column], missing: Collection[str] = ("",)
) -> pd.DataFrame:
    """Return the CSV with `columns` parsed: numbers float64, dates datetime64, text stripped.

    Cells whose stripped text is in `missing` are missing values. Other columns of the file stay
    as raw text.

    Raises:
        ContractViolation: listing every bad cell, missing column and undecodable line.
        InputFileError: the file is empty or gzip-compressed.
    """
    return check_columns(path, read_csv_text(path), columns, missing)


def read_csv_text(path: Path) -> pd.DataFrame:
    """Return every cell of a UTF-8 CSV as text (nothing parsed, nothing taken for missing).

    Raises:
        ContractViolation: bytes that are not UTF-8 (by line) or a malformed CSV.
        InputFileError: the file is empty or gzip-compressed.
    """
    return _parse_csv(path, _decode(path))


def check_columns(
    path: Path, frame: pd.DataFrame, columns: Sequence[Column], missing: Collection[str] = ("",)
) -> pd.DataFrame:
    """Return `frame` (text cells) with `columns` parsed; raise one `ContractViolation` listing every
    missing column and bad cell (see `read_checked_csv`)."""
    found = [cell_violation(path, None, c.name, "missing_column", "required column is missing")
             for c in columns if c.name not in frame.columns]
    for column in columns:
        if column.name in frame.columns:
            frame[column.name], bad = _check_column(path, frame[column.name], column, missing)
            found += bad
    raise_if_any(path, found)
    return frame


def _decode(path: Path) -> str:
    data = Path(path).read_bytes()
    if data.startswith(b"\x1f\x8b"):
        raise InputFileError(f"{path}: gzip-compressed; decompress it to a CSV first")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ContractViolation(f"{Path(path).name} is not UTF-8 text; save it as UTF-8",
                                _encoding_violations(path, data)) from None


def _encoding_violations(path: Path, data: bytes) -> list[ViolationDict]:
    """Name every line (and where possible the column) holding bytes that are not UTF-8."""
    lines = data.split(b"\n")
    header = _cells(lines[0].removeprefix(b"\xef\xbb\xbf"))
    found = []
    for number, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            at = next((i for i, cell in enumerate(_cells(line)) if "\ufffd" in cell), None)
            column = header[at] if number and at is not None and at < len(header) else None
            message = f"not UTF-8: byte {line[err.start:err.end].hex(' ')}"
            message += "" if number else " in the header"
            found.append(cell_violation(path, number or None, column, "encoding", message))
    return found


def _cells(line: bytes) -> list[str]:
    """Split one CSV line into cells, undecodable bytes shown as U+FFFD; [] if it is not CSV."""
    try:
        return next(csv.reader([line.decode("utf-8", errors="replace")]), [])
    except csv.Error:
        return []


def _parse_csv(path: Path, text: str) -> pd.DataFrame:
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputFileError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as err:
        line = re.search(r"line (\d+)", str(err))
        row = int(line.group(1)) - 1 if line else None
        raise ContractViolation(f"{Path(path).name}: not a well-formed CSV",
                                [cell_violation(path, row, None, "csv_syntax", str(err).strip())]) from None


def _check_column(
    path: Path, raw: pd.Series, spec: Column, missing: Collection[str]
) -> tuple[pd.Series, list[ViolationDict]]:
    """Return the column parsed to its kind and a violation for every bad cell."""
    text = raw.str.strip()
    absent = text.isna() | text.isin(list(missing))
    parsed, unreadable = _parse_values(text.where(~absent), spec)
    ok = ~absent & ~unreadable
    problems: list[tuple[pd.Series, str, str]] = [(unreadable, f"not_a_{spec.kind}", f"not a {spec.kind}")]
    if not spec.is_nullable:
        problems.append((absent, "missing_value", "missing value"))
    if spec.allowed is not None:
        shown = ", ".join(str(v) for v in spec.allowed)
        problems.append((ok & ~parsed.isin(list(spec.allowed)), "not_allowed", f"not one of {shown}"))
    if spec.is_whole:
        problems.append((ok & (parsed != parsed.round()), "not_whole", "not a whole number"))
    if spec.min_value is not None:
        problems.append((ok & (parsed < spec.min_value), "below_minimum", f"below {spec.min_value:g}"))
    if spec.is_unique:
        problems.append((ok & parsed.duplicated(keep="first"), "duplicate", "duplicate value"))
    found = [cell_violation(path, int(i) + 1, spec.name, check, f"{message}: {raw[i]!r}")
             for mask, check, message in problems for i in mask[mask].index]
    return parsed, found


def _parse_values(text: pd.Series, spec: Column) -> tuple[pd.Series, pd.Series]:
    """Return the parsed values and the mask of present cells that could not be parsed."""
    present = text.notna()
    if spec.kind == "number":
        values = pd.to_numeric(text, errors="coerce").astype("float64")
        unreadable = present & ~np.isfinite(values)
        return values.where(~unreadable), unreadable
    if spec.kind == "date":
        values = pd.to_datetime(text, format=spec.date_format, errors="coerce")
        return values, present & values.isna()
    return text.where(present, None), pd.Series(False, index=text.index)
