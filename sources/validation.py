"""Validate a directory of canonical tables against the contract.

Every violation is reported with its file, row (1-based data row) and column; validation never
stops at the first one. Checks: missing or unreadable files, missing and unknown columns, wrong
types (with the rows whose values cannot be read as the contract's type), the pandera model's
rules (ranges, sets, patterns, duplicate keys), dates in the future and orphan foreign keys.
Given OneID links, it also reports every source-system record that no link covers: the extracts
`nbo data assemble` built the directory from (its `assembly.json`), else `DIR/sources/<system>.parquet`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors as pae
import pandera.pandas as pa
import pyarrow.parquet as pq

from nbo.errors import ContractViolation
from sources.contract import (
    EVENT_TYPES,
    FOREIGN_KEYS,
    HISTORY_COLUMNS,
    OPTIONAL_TABLES,
    TABLES,
    columns_of,
    is_nullable,
)
from sources.extensions import read_extensions, read_extras, read_metrics
from sources.io import table_path

SHOWN_VALUE_MAX = 80  # characters of a failing value quoted in a violation
SOURCES_DIR = "sources"  # source-system extracts inside a data directory
ASSEMBLY_FILE = "assembly.json"  # written by `nbo data assemble`: the extracts and links the tables came from
LINKS_FILE = "links.parquet"
LINK_COLUMNS = ("system", "record_id", "customer_id")
# Activity keyed by a system's records: `<system>_<table>.parquet` beside the extracts.
KEYED_TABLES = ("events", "transactions", "holdings", "credit", "products", "customer_history", "payments",
                "account_events", "contact_consent")
DISAGREEMENTS_SHOWN = 5  # customers named in the warning that today's version and the customers table differ


@dataclass(frozen=True)
class Violation:
    """One broken rule at one place."""

    file: str
    row: int | None
    column: str | None
    check: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f" column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ValidationReport:
    """What validation found in one data directory."""

    data_dir: str
    rows: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self, limit: int = 1000) -> dict[str, object]:
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "rows": self.rows,
            "violation_count": len(self.violations),
            "violations": [asdict(v) for v in self.violations[:limit]],
            "warnings": self.warnings,
        }


def _coerce_column(
    table: str, column: str, values: pd.Series, file: str
) -> tuple[pd.Series, list[Violation]]:
    """Return the column in its contract type and the rows whose values could not be read."""
    kind = columns_of(table)[column]
    bad: pd.Series | None = None
    out = values
    if kind in ("float", "int") and not pd.api.types.is_numeric_dtype(values):
        out = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & out.isna()
        label = "not a number"
    elif kind in ("date", "timestamp") and not pd.api.types.is_datetime64_any_dtype(values):
        out = pd.to_datetime(values, errors="coerce", utc=kind == "timestamp", format="mixed")
        bad = values.notna() & out.isna()
        label = "not a date"
    elif kind == "bool" and not pd.api.types.is_bool_dtype(values):
        mapped = values.map({True: True, False: False, "true": True, "false": False, "1": True, "0": False})
        bad = values.notna() & mapped.isna()
        out = mapped
        label = "not a boolean"
    elif kind == "str" and not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values.astype(object).where(values.notna(), None), [
            Violation(file, None, column, "dtype", f"stored as {values.dtype}, expected text")
        ]
    if kind == "int" and pd.api.types.is_float_dtype(out):
        fractional = out.notna() & (out != out.round())
        bad = fractional if bad is None else bad | fractional
        label = "not a whole number"
    found = []
    if bad is not None and bad.any():
        for idx in bad[bad].index:
            found.append(Violation(file, int(idx) + 1, column, "dtype", f"{label}: {values[idx]!r}"))
    return _to_storage(kind, out, table, column), found


def _to_storage(kind: str, values: pd.Series, table: str, column: str) -> pd.Series:
    if kind == "int":
        nullable = is_nullable(table, column) or values.isna().any()
        return values.astype("Int64") if nullable else values.astype("int64")
    if kind == "float":
        return values.astype("float64")
    if kind == "timestamp" and values.dt.tz is None:
        return values.dt.tz_localize("UTC")
    if kind == "date" and getattr(values.dt, "tz", None) is not None:
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if kind == "bool":
        return values.astype("boolean") if values.isna().any() else values.astype(bool)
    return values


def _schema_violations(table: str, df: pd.DataFrame, file: str, missing: list[str],
                       event_types: tuple[str, ...] = ()) -> list[Violation]:
    schema = TABLES[table].to_schema()
    if table == "events" and event_types and "event_type" not in missing:  # extensions.json's own types
        schema = copy.deepcopy(schema)
        column = schema.columns["event_type"]
        schema.columns["event_type"] = column.set_checks([pa.Check.isin([*EVENT_TYPES, *event_types])])
    if missing:
        schema = copy.deepcopy(schema).remove_columns(missing)
        schema.checks = []
    try:
        schema.validate(df, lazy=True)
    except pae.SchemaErrors as err:
        return [_from_failure(row, file) for row in err.failure_cases.itertuples(index=False)]
    return []


def _from_failure(case: object, file: str) -> Violation:
    index = case.index
    row = None if pd.isna(index) else int(index) + 1
    column = case.column
    column = None if column is None or pd.isna(column) or column == table_name(file) else str(column)
    check = str(case.check)
    shown = repr(case.failure_case)
    if len(shown) > SHOWN_VALUE_MAX:  # a 5,000-character name is reported, not printed
        shown = f"{shown[:SHOWN_VALUE_MAX]}... ({len(str(case.failure_case)):,} characters)"
    return Violation(file, row, column, check, f"fails {check}: {shown}")


def table_name(file: str) -> str:
    return Path(file).stem


def validate_frame(table: str, df: pd.DataFrame, file: str, now: pd.Timestamp,
                   event_types: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[Violation]]:
    """Check one table's frame; return it coerced to contract types and its violations
    (`event_types`: those a data directory's extensions.json adds to the contract's)."""
    expected = columns_of(table)
    found = [Violation(file, None, c, "unknown_column", "column is not in the contract")
             for c in df.columns if c not in expected]
    missing = [c for c in expected if c not in df.columns]
    found += [Violation(file, None, c, "missing_column", "required column is missing") for c in missing]
    df = df.loc[:, [c for c in expected if c in df.columns]].reset_index(drop=True)
    for column in df.columns:
        df[column], bad = _coerce_column(table, column, df[column], file)
        found += bad
    found += _schema_violations(table, df, file, missing, event_types)
    found += _future_dates(table, df, file, now)
    return df, found


def _future_dates(table: str, df: pd.DataFrame, file: str, now: pd.Timestamp) -> list[Violation]:
    found = []
    for column, kind in columns_of(table).items():
        if column not in df.columns or kind not in ("date", "timestamp"):
            continue
        limit = now if kind == "timestamp" else now.tz_convert("UTC").tz_localize(None)
        future = df[column] > limit
        for idx in future[future.fillna(False)].index:
            found.append(Violation(file, int(idx) + 1, column, "not_in_future",
                                   f"date in the future: {df.at[idx, column]}"))
    return found


def _orphans(frames: dict[str, pd.DataFrame], files: dict[str, str]) -> list[Violation]:
    found = []
    for (child, column), (parent, key) in FOREIGN_KEYS.items():
        if child not in frames or parent not in frames:
            continue
        if column not in frames[child] or key not in frames[parent]:
            continue
        values = frames[child][column]
        orphan = values.notna() & ~values.isin(frames[parent][key])
        for idx in orphan[orphan].index:
            found.append(Violation(files[child], int(idx) + 1, column, "foreign_key",
                                   f"{values[idx]!r} is not a {parent}.{key}"))
    return found


def duplicate_event_count(events: pd.DataFrame) -> int:
    """Count events that repeat another event's customer, time, type, topic, product and channel."""
    keys = [c for c in ("customer_id", "event_time", "event_type", "topic", "product_id", "channel") if c in events]
    return int(events.duplicated(subset=keys).sum()) if keys else 0


def read_for_validation(path: Path) -> pd.DataFrame:
    """Read a parquet file, raising OSError/ValueError-family errors for unreadable files."""
    return pq.read_table(path).to_pandas()


def validate_dir(data_dir: Path, now: pd.Timestamp | None = None) -> ValidationReport:
    """Validate every canonical table in `data_dir` and their cross-table keys."""
    now = now or pd.Timestamp.now(tz="UTC")
    report = ValidationReport(data_dir=str(data_dir))
    frames: dict[str, pd.DataFrame] = {}
    files: dict[str, str] = {}
    try:
        event_types = read_extensions(data_dir).event_types
    except ContractViolation as err:
        report.violations += [Violation(str(v["file"]), None, None, "extensions", str(v["message"]))
                              for v in err.violations] or [Violation(str(data_dir), None, None, "extensions",
                                                                     str(err))]
        event_types = ()
    else:
        report.violations += _extras_violations(data_dir)
    for table in TABLES:
        path = table_path(data_dir, table)
        files[table] = str(path)
        if not path.exists():
            if table in OPTIONAL_TABLES:
                continue
            report.violations.append(Violation(str(path), None, None, "missing_file", "table file is missing"))
            continue
        try:
            raw = read_for_validation(path)
        except Exception as err:  # noqa: BLE001 - any reader failure is a finding, not a crash
            report.violations.append(Violation(str(path), None, None, "unreadable", f"cannot read parquet: {err}"))
            continue
        report.rows[table] = len(raw)
        frames[table], found = validate_frame(table, raw, str(path), now, event_types)
        report.violations += found
    report.violations += _orphans(frames, files)
    if "customer_history" in frames:
        report.violations += assessed_after_valid_from(frames["customer_history"], files["customer_history"])
        if "customers" in frames:
            report.warnings += history_disagreements(frames["customers"], frames["customer_history"])
    if "events" in frames:
        dupes = duplicate_event_count(frames["events"])
        if dupes:
            report.warnings.append(
                f"{dupes} duplicate events (same customer, time, type, topic, product, channel; "
                "distinct event_id): feature building counts each once"
            )
    return report


def assessed_after_valid_from(history: pd.DataFrame, file: str) -> list[Violation]:
    """A violation for every version showing a risk assessment made after the version's valid_from."""
    if "risk_assessed_at" not in history or "valid_from" not in history:
        return []
    later = (history["risk_assessed_at"] > history["valid_from"]).fillna(False).astype(bool)
    return [Violation(file, int(idx) + 1, "risk_assessed_at", "assessed_by_valid_from",
                      f"assessed on {history.at[idx, 'risk_assessed_at']:%Y-%m-%d}, after the version's valid_from "
                      f"{history.at[idx, 'valid_from']:%Y-%m-%d}: the version shows an assessment not yet made")
            for idx in later[later].index]


def history_disagreements(customers: pd.DataFrame, history: pd.DataFrame) -> list[str]:
    """A warning when a customer's latest version differs from the customers table (features use the history)."""
    columns = [c for c in HISTORY_COLUMNS if c in history and c in customers]
    if "valid_from" not in history or not columns:
        return []
    latest = history.sort_values("valid_from", kind="stable").drop_duplicates("customer_id", keep="last")
    today = customers.drop_duplicates("customer_id").set_index("customer_id")
    latest = latest[latest["customer_id"].isin(today.index)].set_index("customer_id")
    differ = pd.Series(False, index=latest.index)
    for column in columns:
        now, was = today.loc[latest.index, column], latest[column]
        differ |= ~((now == was).fillna(False).astype(bool) | (now.isna() & was.isna()))
    if not differ.any():
        return []
    shown = ", ".join(differ[differ].index[:DISAGREEMENTS_SHOWN])
    return [f"customer_history: the latest version of {int(differ.sum())} customer(s) differs from the customers "
            f"table ({shown}): features follow the history, the customers table is not used for them"]


def _extras_violations(data_dir: Path) -> list[Violation]:
    """The extension tables' files against their declaration in extensions.json (none declared: nothing)."""
    extensions = read_extensions(data_dir)
    found = []
    for declared, read in ((extensions.customer_attributes, read_extras), (extensions.monthly_metrics, read_metrics)):
        if not declared:
            continue
        try:
            read(data_dir, extensions)
        except ContractViolation as err:
            found += [Violation(str(v.get("file", data_dir)), v.get("row"), v.get("column"),
                                str(v.get("check", "extensions")), str(v.get("message", err)))
                      for v in err.violations] or [Violation(str(data_dir), None, None, "extensions", str(err))]
    return found


def is_keyed_activity(path: Path) -> bool:
    """Whether a file of a sources directory is keyed activity (`<system>_<table>`), not an extract."""
    return any(path.stem.endswith(f"_{table}") for table in KEYED_TABLES)


def extract_files(sources_dir: Path) -> dict[str, Path]:
    """system → its extract (`<system>.parquet`) in a sources directory, by name."""
    return {p.stem: p for p in sorted(Path(sources_dir).glob("*.parquet")) if not is_keyed_activity(p)}


def read_links(links: Path) -> pd.DataFrame:
    """Read OneID links (a directory holding links.parquet, or the file); `ValueError` names what is wrong."""
    path = Path(links)
    path = path / LINKS_FILE if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"{path}: no links file")
    frame = pd.read_parquet(path)
    missing = [c for c in LINK_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"{path}: links lack the column(s) {', '.join(missing)}")
    twice = frame.duplicated(["system", "record_id"])
    if twice.any():
        row = int(np.flatnonzero(twice)[0])
        raise ValueError(f"{path} row {row + 1} column record_id: {frame['system'].iat[row]} record "
                         f"{frame['record_id'].iat[row]!r} is linked a second time")
    return frame


def uncovered_records(sources_dir: Path, links: pd.DataFrame) -> list[Violation]:
    """A violation (file, 1-based row, column record_id) for every extract record no link covers."""
    found = []
    linked = pd.MultiIndex.from_frame(links[["system", "record_id"]].astype(str))
    for system, path in extract_files(sources_dir).items():
        ids = pq.read_table(path, columns=["record_id"]).column(0).to_pandas().astype(str)
        covered = pd.MultiIndex.from_arrays([[system] * len(ids), ids]).isin(linked)
        for idx in np.flatnonzero(~covered):
            found.append(Violation(str(path), int(idx) + 1, "record_id", "no_link",
                                   f"record {ids.iat[idx]!r} of {system} is in no link: its customer is unknown"))
    return found


def sources_of(data_dir: Path) -> Path:
    """The extracts behind a data directory: those `nbo data assemble` read (its assembly.json), else DIR/sources."""
    manifest = Path(data_dir) / ASSEMBLY_FILE
    if manifest.is_file():
        try:
            return Path(json.loads(manifest.read_text(encoding="utf-8"))["sources"])
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{manifest}: not an assembly manifest with a 'sources' entry ({err})") from err
    return Path(data_dir) / SOURCES_DIR


def validate_links(data_dir: Path, links: Path, report: ValidationReport) -> None:
    """Add to `report` every record of the extracts behind `data_dir` (`sources_of`) that the links in
    `links` do not cover."""
    try:
        sources_dir = sources_of(data_dir)
    except ValueError as err:
        report.violations.append(Violation(str(Path(data_dir) / ASSEMBLY_FILE), None, None, "unreadable", str(err)))
        return
    if not sources_dir.is_dir():
        report.violations.append(Violation(str(sources_dir), None, None, "missing_file",
                                           "no source-system extracts to check against the links"))
        return
    try:
        frame = read_links(links)
    except (OSError, ValueError) as err:
        report.violations.append(Violation(str(links), None, None, "unreadable", str(err)))
        return
    report.violations += uncovered_records(sources_dir, frame)
