"""Batch scoring of a portfolio file for the risk team.

A portfolio has one row per customer: `customer_id` and the model's feature columns (the names of
the Feast feature service). Every cell is checked; a bad row is reported by row number and column
in the errors file and left out of the scores, and every good row is scored, so rows in =
rows scored + rows rejected.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from features.tables import CUSTOMER_TABLES
from models.explain.lang import Lang
from models.risk import RiskScorer
from nbo.errors import InputFileError

FEATURE_KINDS: dict[str, str] = {n: k for t in CUSTOMER_TABLES for n, k in t.columns.items()}
NEGATIVE_ALLOWED = ("net_flow_cny_30d", "net_flow_cny_90d", "net_flow_cny_180d", "aum_change_3m_pct")
TRUE_WORDS = {"true", "1", "yes", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "n", "f"}
ERROR_COLUMNS = ["row", "customer_id", "column", "value", "message"]


def read_portfolio(path: Path) -> pd.DataFrame:
    """Read a parquet or CSV portfolio (CSV columns typed by pandas; a column with text stays text).

    Raises:
        InputFileError: no such file, another format, a damaged parquet file, a CSV that is not
            UTF-8 (naming the row and column of the first bad byte) or that pandas cannot parse.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    if path.suffix.lower() == ".parquet":
        try:
            return pd.read_parquet(path)
        except (pa.ArrowException, OSError) as err:
            raise InputFileError(f"{path}: not a readable parquet file (truncated or damaged?): {err}") from None
    if path.suffix.lower() == ".csv":
        try:
            return pd.read_csv(path, dtype={"customer_id": str}, keep_default_na=False, na_values=[""])
        except UnicodeDecodeError:
            raise InputFileError(f"{path}: {_first_undecodable(path)}; save the file as UTF-8") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InputFileError(f"{path}: not a readable CSV file: {err}") from None
    raise InputFileError(f"{path}: a portfolio must be .csv or .parquet")


def _first_undecodable(path: Path) -> str:
    """Where the first byte that is not UTF-8 sits: data row (1-based, after the header) and column."""
    lines = path.read_bytes().split(b"\n")
    header = lines[0].decode("utf-8", errors="replace").rstrip("\r").split(",")
    for number, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            column = line[:err.start].count(b",")
            name = header[column] if column < len(header) else f"#{column + 1}"
            where = "the header" if number == 0 else f"row {number}"
            return f"not UTF-8 text: byte 0x{line[err.start]:02x} in {where}, column {name}"
    return "not UTF-8 text"


def _is_text(values: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))


def _is_blank(values: pd.Series) -> pd.Series:
    if not _is_text(values):
        return values.isna()
    return values.isna() | (values.astype("string").str.strip() == "")


Problems = list[tuple[pd.Series, str]]  # (bad cells, message)


def _numeric(values: pd.Series, name: str, kind: str) -> tuple[pd.Series, Problems]:
    """Parsed values and the bad cells: not a number, not whole (int columns), negative."""
    if _is_text(values):
        blank = _is_blank(values)
        parsed = pd.to_numeric(values.where(~blank), errors="coerce").astype(float)
        unreadable = parsed.isna() & ~blank
    else:
        parsed, unreadable = values.astype(float), pd.Series(False, index=values.index)
    problems = [(unreadable | np.isinf(parsed), "not a finite number")]
    if kind == "int":
        problems.append((parsed.notna() & (parsed != np.round(parsed)), "not a whole number"))
    if name not in NEGATIVE_ALLOWED and name in FEATURE_KINDS:
        problems.append((parsed < 0, "negative"))
    return parsed, problems


def _boolean(values: pd.Series) -> tuple[pd.Series, Problems]:
    """true/false, yes/no, 1/0 (any case); anything else is bad."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float), []
    words = values.astype("string").str.strip().str.lower().str.replace(r"\.0$", "", regex=True)
    parsed = pd.Series(np.where(words.isin(TRUE_WORDS), 1.0, np.where(words.isin(FALSE_WORDS), 0.0, np.nan)),
                       index=values.index)
    return parsed, [(parsed.isna() & ~_is_blank(values), "not true/false")]


def check_portfolio(frame: pd.DataFrame, features: list[str],
                    categorical: Collection[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (clean feature frame, errors); errors name the 1-based data row and the column.
    A feature nbo does not define (a bank's own `x_` column) is text when the model takes it as a
    category, else a number of any sign."""
    missing = [c for c in ["customer_id", *features] if c not in frame.columns]
    if missing:
        raise InputFileError(f"the portfolio lacks columns {', '.join(missing)}")
    clean = pd.DataFrame({"customer_id": frame["customer_id"].astype("string").str.strip()}, index=frame.index)
    problems = [(_is_blank(frame["customer_id"]), "customer_id", "empty")]
    for name in features:
        kind = "str" if name in categorical else FEATURE_KINDS.get(name, "float")
        if kind == "str":  # any text is a category; blank or unseen ones count as missing
            clean[name] = frame[name].astype("string")
            continue
        parsed, found = _boolean(frame[name]) if kind == "bool" else _numeric(frame[name], name, kind)
        clean[name] = parsed
        problems += [(bad, name, message) for bad, message in found]
    errors = [pd.DataFrame({"row": np.flatnonzero(bad.to_numpy()) + 1, "column": column, "message": message})
              for bad, column, message in problems if bad.any()]
    found = pd.concat(errors, ignore_index=True) if errors else pd.DataFrame(columns=["row", "column", "message"])
    found["customer_id"] = frame["customer_id"].to_numpy()[found["row"].to_numpy(int) - 1]
    found["value"] = [frame.at[frame.index[r - 1], c] for r, c in zip(found["row"], found["column"], strict=True)]
    return clean, found.sort_values(["row", "column"], ignore_index=True)[ERROR_COLUMNS]


def score_frame(scorer: RiskScorer, clean: pd.DataFrame, lang: Lang, chunk_rows: int,
                on_chunk: Callable[[int], None]) -> pd.DataFrame:
    """Score rows chunk by chunk (calling `on_chunk(rows)` after each), reasons included."""
    parts = []
    for start in range(0, len(clean), chunk_rows):
        chunk = clean.iloc[start:start + chunk_rows]
        parts.append(pd.concat([chunk[["customer_id"]], scorer.score(chunk, lang=lang)], axis=1))
        on_chunk(len(chunk))
    return pd.concat(parts) if parts else pd.DataFrame(columns=["customer_id"])


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write a frame as parquet (`.parquet`) or UTF-8 CSV (anything else), atomically.

    The frame goes to a temporary file beside `path`, is flushed to disk and then renamed over
    `path`: a run killed at any moment leaves either the previous file or the whole new one,
    never a partial file, so rerunning the command is always safe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            if path.suffix.lower() == ".parquet":
                frame.to_parquet(fh, index=False)
            else:
                frame.to_csv(fh, index=False, encoding="utf-8")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@dataclass(frozen=True)
class PortfolioScores:
    """The scores of the good rows and the errors of the bad ones."""

    scores: pd.DataFrame
    errors: pd.DataFrame
    rows_in: int

    @property
    def rows_rejected(self) -> int:
        return int(self.errors["row"].nunique())


def score_portfolio(scorer: RiskScorer, frame: pd.DataFrame, lang: Lang, chunk_rows: int = 20_000,
                    on_chunk: Callable[[int], None] = lambda _rows: None) -> PortfolioScores:
    """Check every cell, then score every row without an error; `on_chunk(rows)` reports progress."""
    clean, errors = check_portfolio(frame, scorer.spec.features, scorer.spec.categorical)
    good = ~np.isin(np.arange(1, len(frame) + 1), errors["row"].to_numpy())
    on_chunk(int((~good).sum()))
    scores = score_frame(scorer, clean[good], lang, chunk_rows, on_chunk)
    return PortfolioScores(scores, errors, len(frame))
