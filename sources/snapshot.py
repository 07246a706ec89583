"""`nbo data import snapshot`: any customer-level table (CSV or parquet) as canonical tables.

One row per customer, one label column. The id goes to `customers.external_id` (customer_id is
C + file order, zero-padded); `--map` puts a column into a canonical column; every other column
is an extra attribute (`customer_extras`, declared in `extensions.json`), numeric when every
non-blank cell is a number, else categorical. Nothing is invented: a canonical column the source
lacks stays null (the contract's few required customer columns take the defaults that
`sources.public.canonical.FILLED_DEFAULTS` states).

The snapshot is laid on the canonical timeline around the as-of date T (the first day of a month),
so that the label code reproduces the source's label for every row:
- churn: the month before T holds one placeholder transaction for everybody (all are active);
  leavers close 30 days after T, stayers have one placeholder transaction in each horizon month.
- delinquency: the month before T holds one credit row per customer (mapped credit columns, null
  amounts otherwise); month T holds the label: 30 days past due on a positive. The population is
  every row ("all") and the horizon one month.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from nbo.errors import ContractViolation, InputFileError
from sources.contract import EXTERNAL_ID
from sources.extensions import (
    EXTRAS_TABLE,
    Extensions,
    extension_name,
    extras_from_source,
    write_extensions,
)
from sources.io import write_table
from sources.labels import CHURN_HORIZON_DAYS, DELINQUENCY_DPD, as_of_timestamp
from sources.meta import SOURCE_META
from sources.public.canonical import (
    FILLED_DEFAULTS,
    customers_frame,
    dates_years_before,
    empty_table,
)
from sources.public.reader import (
    Column,
    cell_violation,
    check_columns,
    file_sha256,
    raise_if_any,
    read_csv_text,
)
from sources.validation import ValidationReport, validate_dir, validate_frame

LABELS = ("churn", "delinquency")
TYPES = ("numeric", "categorical", "ignore")
PORTFOLIO = r"^[a-z][a-z0-9_-]{0,31}\Z"
CURRENCY = r"^[A-Z]{3}\Z"
CLOSE_AFTER_DAYS = 30  # a leaver's close date: inside the 90-day horizon (the day is unknown)
DELINQUENCY_HORIZON_MONTHS = 1
TRUE_LIKE = ("1", "true", "yes", "y")  # a two-valued label's positive value when none is given
# Canonical columns a source column can be mapped to, and how its cells are read.
TARGETS: dict[str, str] = {
    "customers.name": "text", "customers.phone": "text", "customers.gender": "text",
    "customers.birth_date": "date_or_years", "customers.join_date": "date_or_years",
    "customers.city_tier": "number", "customers.occupation": "text", "customers.segment": "text",
    "customers.risk_tolerance": "text", "customers.marketing_consent": "flag",
    "customers.preferred_channel": "text", "customers.income_monthly": "number",
    "credit.credit_limit": "number", "credit.balance": "number", "credit.utilization": "number",
    "credit.payment_amount": "number", "credit.days_past_due": "number", "credit.missed_payments": "number",
}
_FLAGS = {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False, "y": True, "n": False}


@dataclass(frozen=True)
class SnapshotSpec:
    """What to import and how: the command's options (or a mapping file's keys)."""

    file: Path
    id_column: str
    as_of: str
    label: str
    label_column: str
    positive: str | None = None
    maps: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    currency: str = "CNY"
    portfolio: str | None = None


@dataclass(frozen=True)
class SnapshotImport:
    """The canonical tables, the extension table and the meta made from one snapshot."""

    tables: dict[str, pd.DataFrame]
    extensions: Extensions
    extras: pd.DataFrame
    meta: dict[str, object]


def parse_label(text: str) -> tuple[str, str, str | None]:
    """`churn=Exited` or `delinquency=status:default` → (label, column, positive or None)."""
    match = re.fullmatch(r"(churn|delinquency)=([^:]+)(?::(.+))?", text.strip())
    if not match:
        raise ContractViolation(f"--label {text!r} is not churn|delinquency=COLUMN[:POSITIVE]")
    return match.group(1), match.group(2), match.group(3)


def parse_pairs(option: str, pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """`SOURCE=VALUE` pairs as a dict (the value is everything after the last `=`)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.rpartition("=")
        if not sep or not key or not value:
            raise ContractViolation(f"{option} {pair!r} is not COLUMN=VALUE")
        out[key] = value
    return out


def read_mapping_file(path: Path) -> dict[str, object]:
    """A mapping file (TOML): id, as_of, label, currency, portfolio, [map], [type], [values.COLUMN].

    Raises:
        InputFileError: the file is missing or not TOML.
        ContractViolation: an unknown key.
    """
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such mapping file") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputFileError(f"{path}: not a TOML mapping file ({err})") from None
    known = ("id", "as_of", "label", "currency", "portfolio", "map", "type", "values")
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise ContractViolation(f"{path}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return raw


def read_source_table(file: Path) -> pd.DataFrame:
    """Every cell of a CSV or parquet file as stripped text ('' where missing)."""
    if not Path(file).is_file():
        raise InputFileError(f"{file}: no such file")
    if Path(file).suffix.lower() == ".parquet":
        try:
            frame = pd.read_parquet(file)
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file, named
            raise InputFileError(f"{file}: cannot read parquet ({err})") from None
        return frame.astype(object).where(frame.notna(), "").astype(str).apply(lambda s: s.str.strip())
    return read_csv_text(file).apply(lambda s: s.str.strip())


def import_snapshot(spec: SnapshotSpec) -> SnapshotImport:
    """Map one customer-level table to canonical tables, `customer_extras` and the meta.

    Raises:
        ContractViolation: every problem found, each naming file, row (1-based data row) and column.
    """
    file = Path(spec.file)
    as_of = _as_of(spec)
    _check_options(spec)
    src = read_source_table(file)
    ids = check_columns(file, src.copy(), [Column(spec.id_column, is_unique=True)])[spec.id_column]
    found = _unknown_columns(file, src, spec)
    raise_if_any(file, found)
    found = [cell_violation(file, int(i) + 1, spec.id_column, "external_id",
                            f"{ids[i]!r} is not 1-64 printable ASCII characters without spaces")
             for i in ids.index[~ids.str.match(EXTERNAL_ID)]]
    positive, label_found = _label(file, src[spec.label_column], spec)
    found += label_found
    roles = _roles(src, spec)
    kinds, type_found = _extra_kinds(file, src, roles, spec.types)
    found += type_found
    customers, credit_now, map_found = _mapped(file, src, spec, as_of)
    found += map_found
    raise_if_any(file, found)
    customers["external_id"] = ids.to_numpy()
    names = _extra_names(file, [c for c in src.columns if roles[c] == "extra" and kinds[c]])
    extensions, extras = extras_from_source(customers["customer_id"], src, {c: kinds[c] for c in names})
    tables = _timeline(spec.label, customers, credit_now, positive, as_of)
    meta = _meta(file, src, spec, as_of, positive, roles, kinds, names)
    return SnapshotImport(tables, extensions, extras, meta)


def _as_of(spec: SnapshotSpec) -> pd.Timestamp:
    """The as-of date: YYYY-MM-DD, a month's first day, its label horizon already over."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", spec.as_of or ""):
        raise ContractViolation(f"--as-of {spec.as_of!r} is not a date like 2019-01-01")
    try:
        as_of = as_of_timestamp(spec.as_of)
    except ValueError:
        raise ContractViolation(f"--as-of {spec.as_of!r} is not a date like 2019-01-01") from None
    ends = (as_of + pd.Timedelta(days=CHURN_HORIZON_DAYS) if spec.label == "churn"
            else as_of + pd.DateOffset(months=DELINQUENCY_HORIZON_MONTHS))
    if ends > pd.Timestamp.now(tz="UTC").tz_localize(None):
        raise ContractViolation(f"--as-of {spec.as_of}: the {spec.label} label's horizon ends {ends:%Y-%m-%d}, "
                                "in the future; the source's label must already be known")
    return as_of


def _check_options(spec: SnapshotSpec) -> None:
    if spec.label not in LABELS:
        raise ContractViolation(f"--label {spec.label!r} is not churn or delinquency")
    if not re.match(CURRENCY, spec.currency):
        raise ContractViolation(f"--currency {spec.currency!r} is not an ISO 4217 code like EUR")
    if spec.portfolio is not None and not re.match(PORTFOLIO, spec.portfolio):
        raise ContractViolation(f"--portfolio {spec.portfolio!r} must match {PORTFOLIO[1:-2]}")
    bad = {c: t for c, t in spec.maps.items() if t not in TARGETS}
    if bad:
        column, target = next(iter(bad.items()))
        raise ContractViolation(f"--map {column}={target}: unknown target; known: {', '.join(TARGETS)}")
    bad = {c: t for c, t in spec.types.items() if t not in TYPES}
    if bad:
        column, kind = next(iter(bad.items()))
        raise ContractViolation(f"--type {column}={kind}: the type must be numeric, categorical or ignore")
    twice = [t for t in set(spec.maps.values()) if list(spec.maps.values()).count(t) > 1]
    if twice:
        raise ContractViolation(f"--map: {twice[0]} is the target of more than one column")


def _unknown_columns(file: Path, src: pd.DataFrame, spec: SnapshotSpec) -> list[dict[str, object]]:
    """A missing-column violation for every column the options name that the file lacks."""
    named = [(spec.label_column, "--label"), *((c, "--map") for c in spec.maps),
             *((c, "--type") for c in spec.types), *((c, "values") for c in spec.values)]
    return [cell_violation(file, None, column, "missing_column", f"named by {option} but not in the file")
            for column, option in named if column not in src.columns]


def _label(file: Path, cells: pd.Series, spec: SnapshotSpec) -> tuple[np.ndarray, list[dict[str, object]]]:
    """The positive flag of every row; violations for blank cells or an ambiguous positive value."""
    column = spec.label_column
    found = [cell_violation(file, int(i) + 1, column, "missing_value", "missing label")
             for i in cells.index[cells == ""]]
    values = sorted(set(cells[cells != ""]))
    if spec.positive is not None:  # compared as _normal says: 1 and 1.0 are one value
        positive = (cells.map(_normal) == _normal(spec.positive)) & (cells != "")
        if not positive.any():
            found.append(cell_violation(file, None, column, "label_positive",
                                        f"the positive value {spec.positive!r} never occurs (values: "
                                        f"{', '.join(values[:10])})"))
        return positive.to_numpy(), found
    if len(values) != 2:
        found.append(cell_violation(file, None, column, "label_values",
                                    f"{len(values)} distinct values ({', '.join(values[:10])}); a label needs "
                                    "two, or say which one is positive with --label KIND=COLUMN:POSITIVE"))
        return np.zeros(len(cells), dtype=bool), found
    positive = [v for v in values if _normal(v) in TRUE_LIKE]
    if len(positive) != 1:
        found.append(cell_violation(file, None, column, "label_positive",
                                    f"cannot tell which of {values[0]!r} and {values[1]!r} is positive; "
                                    "say it with --label KIND=COLUMN:POSITIVE"))
        return np.zeros(len(cells), dtype=bool), found
    return (cells == positive[0]).to_numpy(), found


def _normal(value: str) -> str:
    """'1.0' → '1', 'True' → 'true': how a two-valued label's cells are compared with TRUE_LIKE."""
    try:
        number = float(value)
    except ValueError:
        return value.lower()
    return str(int(number)) if number.is_integer() else value


def _roles(src: pd.DataFrame, spec: SnapshotSpec) -> dict[str, str]:
    """Each source column's role: id, label, mapped, ignored or extra."""
    roles = {}
    for column in src.columns:
        if column == spec.id_column:
            roles[column] = "id"
        elif column == spec.label_column:
            roles[column] = "label"
        elif column in spec.maps:
            roles[column] = "mapped"
        elif spec.types.get(column) == "ignore":
            roles[column] = "ignored"
        else:
            roles[column] = "extra"
    return roles


def _extra_kinds(file: Path, src: pd.DataFrame, roles: dict[str, str], types: dict[str, str]
                 ) -> tuple[dict[str, str | None], list[dict[str, object]]]:
    """numeric or categorical per extra column (None: every cell blank); violations of `--type numeric`."""
    kinds: dict[str, str | None] = {}
    found = []
    for column in [c for c, role in roles.items() if role == "extra"]:
        cells = src[column]
        present = cells != ""
        numbers = pd.to_numeric(cells.where(present), errors="coerce")
        unreadable = present & ~np.isfinite(numbers.astype(float))
        declared = types.get(column)
        if declared == "numeric":
            found += [cell_violation(file, int(i) + 1, column, "not_a_number",
                                     f"--type numeric, but {cells[i]!r} is not a number")
                      for i in cells.index[unreadable]]
        if not present.any():
            kinds[column] = None
        else:
            kinds[column] = declared or ("categorical" if unreadable.any() else "numeric")
    return kinds, found


def _extra_names(file: Path, columns: list[str]) -> dict[str, str]:
    """Source column → its extension name; two columns with one name is an error naming both."""
    names: dict[str, str] = {}
    for column in columns:
        name = extension_name(column)
        clash = next((c for c, n in names.items() if n == name), None)
        if clash is not None:
            raise ContractViolation(f"{file.name}: columns {clash!r} and {column!r} both become the extra "
                                    f"attribute {name!r}; rename one, or --type one of them =ignore")
        names[column] = name
    return names


def _mapped(file: Path, src: pd.DataFrame, spec: SnapshotSpec, as_of: pd.Timestamp
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, object]]]:
    """The customers and the snapshot month's credit rows (source order) from the mapped columns,
    checked against the contract; violations name the source column and row."""
    found: list[dict[str, object]] = []
    parsed: dict[str, dict[str, object]] = {"customers": {}, "credit": {}}
    for column, target in spec.maps.items():
        table, name = target.split(".")
        cells = src[column].replace(spec.values.get(column, {}))
        values, bad = _parse(cells, TARGETS[target], as_of)
        found += [cell_violation(file, int(i) + 1, column, "unreadable",
                                 f"{src[column][i]!r} cannot be read for {target} ({TARGETS[target]})")
                  for i in cells.index[bad]]
        if target == "customers.gender":
            values = values.fillna("U")  # the contract's "unknown"
        if target == "customers.join_date":
            late = values >= as_of
            found += [cell_violation(file, int(i) + 1, column, "join_date",
                                     f"joins on or after the as-of date ({values[i]:%Y-%m-%d}): the label "
                                     "cannot be about this customer") for i in cells.index[late]]
        parsed[table][name] = values
    customers = customers_frame(len(src), **parsed["customers"])
    n = len(src)
    credit = pd.DataFrame({"customer_id": customers["customer_id"],
                           "month": as_of - pd.DateOffset(months=1),
                           **{c: np.full(n, np.nan) for c in ("credit_limit", "balance", "utilization",
                                                              "payment_amount")},
                           "days_past_due": 0, "missed_payments": 0})
    for name, values in parsed["credit"].items():
        credit[name] = values.to_numpy()
    if found:
        return customers, credit, found
    reverse = {target: column for column, target in spec.maps.items()}
    for table, frame in (("customers", customers), ("credit", credit)):
        frame, violations = validate_frame(table, frame, file.name, pd.Timestamp.now(tz="UTC"))
        for v in violations:
            column = reverse.get(f"{table}.{v.column}")
            text = f"{v.message} (as {table}.{v.column})" if column else f"{table}.{v.column}: {v.message}"
            found.append(cell_violation(file, v.row, column, v.check, text))
    if not found:
        credit = credit.astype({"days_past_due": "int64", "missed_payments": "int64"})
    return customers, credit, found


def _parse(cells: pd.Series, how: str, as_of: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Cells read for a target: the values (missing where blank) and the unreadable mask."""
    present = cells != ""
    if how == "text":
        return cells.where(present, None).astype(object), pd.Series(False, index=cells.index)
    if how == "flag":
        flags = cells.str.lower().map(_FLAGS)
        return flags.fillna(False).astype(bool), present & flags.isna()
    numbers = pd.to_numeric(cells.where(present), errors="coerce").astype(float)
    if how == "number":
        return numbers, present & ~np.isfinite(numbers)
    dates = pd.to_datetime(cells.where(present & numbers.isna()), format="%Y-%m-%d", errors="coerce")
    years = dates_years_before(numbers, as_of)  # a number of years: that many and a half before as-of
    values = dates.where(dates.notna(), years)
    return values.astype("datetime64[ns]"), present & values.isna()


def _timeline(label: str, customers: pd.DataFrame, credit_now: pd.DataFrame, positive: np.ndarray,
              as_of: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The canonical tables with the label laid after the as-of date (module docstring)."""
    ids = customers["customer_id"].to_numpy()
    tables = {"customers": customers, "products": empty_table("products"), "holdings": empty_table("holdings"),
              "events": empty_table("events"), "transactions": empty_table("transactions"),
              "credit": empty_table("credit")}
    if label == "churn":
        customers["close_date"] = pd.Series(as_of + pd.Timedelta(days=CLOSE_AFTER_DAYS),
                                            index=customers.index).where(positive).astype("datetime64[ns]")
        last_day = as_of + pd.Timedelta(days=CHURN_HORIZON_DAYS - 1)
        months = pd.date_range(as_of - pd.DateOffset(months=1), last_day, freq="MS")
        frame = pd.concat([pd.DataFrame({"customer_id": ids if month < as_of else ids[~positive], "month": month})
                           for month in months], ignore_index=True)
        tables["transactions"] = frame.assign(inflow=0.0, outflow=0.0, outflow_other_banks=0.0, txn_count=1,
                                              card_spend=0.0, salary_credit=0.0
                                              ).sort_values(["customer_id", "month"], ignore_index=True)
    else:
        label_month = credit_now.assign(month=as_of, credit_limit=np.nan, balance=np.nan, utilization=np.nan,
                                        payment_amount=np.nan, days_past_due=DELINQUENCY_DPD * positive,
                                        missed_payments=positive.astype("int64"))
        tables["credit"] = pd.concat([credit_now, label_month]).sort_values(["customer_id", "month"],
                                                                           ignore_index=True)
    return tables


def _meta(file: Path, src: pd.DataFrame, spec: SnapshotSpec, as_of: pd.Timestamp, positive: np.ndarray,
          roles: dict[str, str], kinds: dict[str, str | None], names: dict[str, str]) -> dict[str, object]:
    """`source.json`: where the data came from, its label, and the lineage of every source column."""
    label_target = {"churn": "customers.close_date", "delinquency": "credit.days_past_due"}[spec.label]
    columns = []
    for column in src.columns:
        role = roles[column]
        if role == "extra" and kinds[column] is None:
            role = "ignored"
        target = {"id": "customers.external_id", "label": label_target, "mapped": spec.maps.get(column),
                  "extra": f"extra.{names[column]}" if column in names else None}.get(role)
        kind = kinds.get(column) if role == "extra" else (
            ("numeric" if TARGETS[spec.maps[column]] in ("number", "date_or_years") else "categorical")
            if role == "mapped" else None)
        columns.append({"source": column, "role": role, "target": target, "kind": kind})
    label_meta: dict[str, object] = (
        {"label_horizon_days": CHURN_HORIZON_DAYS} if spec.label == "churn"
        else {"delinquency_horizon_months": DELINQUENCY_HORIZON_MONTHS, "delinquency_population": "all"})
    return {
        "source": "snapshot",
        "file": file.name,
        "sha256": file_sha256(file),
        "rows": len(src),
        "as_of": as_of.date().isoformat(),
        "snapshot_date": (as_of - pd.Timedelta(days=1)).date().isoformat(),
        "portfolio": spec.portfolio or default_portfolio(file),
        "currency": spec.currency,
        "label": spec.label,
        "label_column": spec.label_column,
        "label_positive": spec.positive,
        "label_positives": int(positive.sum()),
        "label_rate": round(float(positive.mean()), 6),
        **label_meta,
        "columns": columns,
        "extensions": {"table": EXTRAS_TABLE, "attributes": len(names)},
        "timeline": _TIMELINE[spec.label],
        "filled_defaults": FILLED_DEFAULTS,
    }


def write_snapshot(out: Path, imported: SnapshotImport) -> ValidationReport:
    """Write the import into `out` whole or not at all: into a folder beside it first, validated
    against the contract, then each file moved in.

    Raises:
        ContractViolation: the tables break the contract (nothing is written into `out`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-import-", dir=out.parent))
    try:
        for table, frame in imported.tables.items():
            write_table(work, table, frame)
        write_extensions(work, imported.extensions, imported.extras)
        (work / SOURCE_META).write_text(json.dumps(imported.meta, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        found = validate_dir(work)
        if not found.ok:
            raise ContractViolation(f"{out}: the imported tables break the contract; nothing was written",
                                    [{**vars(v), "text": str(v)} for v in found.violations])
        out.mkdir(parents=True, exist_ok=True)
        for path in sorted(work.iterdir()):
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    found.data_dir = str(out)
    return found


def default_portfolio(file: Path) -> str:
    """A portfolio name from the file's name: `Churn_Modelling.csv` → `churn_modelling`."""
    name = re.sub(r"[^a-z0-9_-]+", "_", Path(file).stem.lower()).strip("_-")
    name = name if name[:1].isalpha() else f"p_{name}"
    return name[:32]


_TIMELINE = {
    "churn": {
        "month before as_of": "the snapshot: one placeholder transaction per customer (txn_count 1, amounts 0), "
                              "so everybody is in the labelled population and nobody is dormant",
        "90 days from as_of": f"leavers close {CLOSE_AFTER_DAYS} days after as_of (the day is unknown); stayers "
                              "have one placeholder transaction a month",
    },
    "delinquency": {
        "month before as_of": "the snapshot: one credit row per customer, mapped credit columns or null amounts; "
                              "days_past_due and missed_payments 0 unless mapped",
        "as_of month": "the label: days_past_due 30 and missed_payments 1 on a positive, amounts null",
    },
}
