"""The contract-extension file `extensions.json` of a data directory, and its extension tables.

A bank's own columns that the canonical contract has no place for are declared here, so they
are validated like the rest and become features with no code change:

    {
      "version": 1,
      "customer_attributes": {"credit_score": "numeric", "region": "categorical"}
    }

- `customer_attributes`: the columns of `customer_extras.parquet` (one row per customer:
  `customer_id`, then each declared column, float64 for numeric, string for categorical), known
  as of the data's snapshot. They become the Feast view `customer_extras`, feature `x_<name>`.
- `event_types`: event types the bank records beyond the contract's (a service contact, a
  complaint, a branch visit); `events.parquet` may then hold them, validated like the rest. Each
  becomes the features `x_<type>_30d`, `x_<type>_90d` (counts) and `x_days_since_last_<type>` of
  the Feast view `customer_events_extra`.
- `monthly_metrics`: the bank's own monthly numbers (usage split by time of day, service minutes),
  name → "numeric": the columns of `customer_metrics_monthly.parquet` (`customer_id`, `month` the
  first day of a month, then each metric as float64; one row per customer and month). Each becomes
  `x_<name>_1m` (the month's value), `x_<name>_3m_avg` and `x_<name>_6m_avg` (means over the months
  present) of the Feast view `customer_metrics_extra`.

Names are snake_case ASCII (`extension_name` makes one from any source column name).
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nbo.errors import ContractViolation
from sources.contract import CUSTOMER_ID, EVENT_TYPES, TOPIC
from sources.meta import read_meta

EXTENSIONS_FILE = "extensions.json"
EXTRAS_TABLE = "customer_extras"
EVENTS_TABLE = "customer_events_extra"
METRICS_TABLE = "customer_metrics_extra"  # the feature view; its source table is METRICS_FILE
METRICS_FILE = "customer_metrics_monthly"
EXTRA_PREFIX = "x_"
ATTRIBUTE_KINDS = ("numeric", "categorical")
NAME = r"^[a-z][a-z0-9_]{0,62}\Z"
FORMAT_VERSION = 1
_ARROW = {"numeric": pa.float64(), "categorical": pa.string()}


@dataclass(frozen=True)
class Extensions:
    """What a data directory adds to the contract."""

    customer_attributes: dict[str, str] = field(default_factory=dict)
    event_types: tuple[str, ...] = ()
    monthly_metrics: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"version": FORMAT_VERSION, "customer_attributes": self.customer_attributes}
        out |= {"event_types": list(self.event_types)} if self.event_types else {}
        return out | ({"monthly_metrics": self.monthly_metrics} if self.monthly_metrics else {})


def extension_name(source_column: str) -> str:
    """A snake_case ASCII name for a source column: `EstimatedSalary` → `estimated_salary`,
    `default.payment.next.month` → `default_payment_next_month`, `2nd Line` → `c_2nd_line`."""
    text = unicodedata.normalize("NFKD", source_column).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not text:
        text = "column"
    if not text[0].isalpha():
        text = f"c_{text}"
    return text[:63]


def feature_name(attribute: str) -> str:
    """The feature an extra attribute becomes: `x_<name>`."""
    return f"{EXTRA_PREFIX}{attribute}"


def extensions_path(data_dir: Path) -> Path:
    return Path(data_dir) / EXTENSIONS_FILE


def extras_path(data_dir: Path) -> Path:
    return Path(data_dir) / f"{EXTRAS_TABLE}.parquet"


def read_extensions(data_dir: Path) -> Extensions:
    """The data directory's extensions (none when it has no `extensions.json`).

    Raises:
        ContractViolation: the file is not valid JSON or breaks the format above.
    """
    path = extensions_path(data_dir)
    if not path.is_file():
        return Extensions()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ContractViolation(f"{path}: not valid JSON ({err})") from None
    problems = _format_problems(raw)
    if problems:
        raise ContractViolation(f"{path}: {len(problems)} problems",
                                [{"file": str(path), "row": None, "column": None, "check": "extensions",
                                  "message": p, "text": f"{path.name}: {p}"} for p in problems])
    return Extensions(dict(raw.get("customer_attributes", {})), tuple(raw.get("event_types", ())),
                      dict(raw.get("monthly_metrics", {})))


def _format_problems(raw: object) -> list[str]:
    if not isinstance(raw, dict):
        return ["the file must hold one JSON object"]
    known = ("version", "customer_attributes", "event_types", "monthly_metrics")
    problems = [f"unknown key {k!r} (known: {', '.join(known)})" for k in raw if k not in known]
    types = raw.get("event_types", [])
    if not isinstance(types, list):
        problems.append("event_types must be a list of names")
    else:
        problems += [f"event_types: {t!r} is not a snake_case ASCII name (up to 40 characters)"
                     for t in types if not re.match(TOPIC, str(t))]
        problems += [f"event_types: {t!r} is already a contract event type" for t in types if t in EVENT_TYPES]
        problems += [f"event_types: {t!r} is declared twice" for t in set(types) if types.count(t) > 1]
    if raw.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        problems.append(f"version {raw.get('version')!r} is not {FORMAT_VERSION}")
    metrics = raw.get("monthly_metrics", {})
    if not isinstance(metrics, dict):
        problems.append("monthly_metrics must be an object of name → numeric")
    else:
        problems += [f"monthly_metrics: {name!r} is not a snake_case ASCII name" for name in metrics
                     if not re.match(NAME, str(name)) or name in ("customer_id", "month")]
        problems += [f"monthly_metrics.{name}: kind {kind!r} is not numeric" for name, kind in metrics.items()
                     if kind != "numeric"]
    attributes = raw.get("customer_attributes", {})
    if not isinstance(attributes, dict):
        return [*problems, "customer_attributes must be an object of name → numeric|categorical"]
    for name, kind in attributes.items():
        if not re.match(NAME, str(name)):
            problems.append(f"customer_attributes: {name!r} is not a snake_case ASCII name")
        if kind not in ATTRIBUTE_KINDS:
            problems.append(f"customer_attributes.{name}: kind {kind!r} is not numeric or categorical")
    return problems


def extras_schema(extensions: Extensions) -> pa.Schema:
    """The arrow schema of `customer_extras.parquet`."""
    return pa.schema([("customer_id", pa.string()),
                      *((name, _ARROW[kind]) for name, kind in extensions.customer_attributes.items())])


def write_extensions(data_dir: Path, extensions: Extensions, extras: pd.DataFrame) -> None:
    """Write `extensions.json` and `customer_extras.parquet` (columns as declared) into `data_dir`."""
    table = pa.Table.from_pandas(extras, schema=extras_schema(extensions), preserve_index=False)
    pq.write_table(table, extras_path(data_dir), compression="zstd")
    extensions_path(data_dir).write_text(json.dumps(extensions.to_json(), indent=2) + "\n", encoding="utf-8")


def extras_from_source(customer_ids: pd.Series, src: pd.DataFrame,
                       kinds: dict[str, str]) -> tuple[Extensions, pd.DataFrame]:
    """`customer_extras` rows and their declaration from source columns (column → numeric|categorical,
    in `src`'s row order beside `customer_ids`), each named by `extension_name`; an empty cell is null."""
    extras = pd.DataFrame({"customer_id": customer_ids.to_numpy()})
    for column, kind in kinds.items():
        cells = src[column].where(src[column] != "").to_numpy()
        extras[extension_name(column)] = pd.to_numeric(cells) if kind == "numeric" else pd.Series(cells, dtype=object)
    return Extensions({extension_name(column): kind for column, kind in kinds.items()}), extras


def _schema_violations(path: Path, table: pa.Table, expected: dict[str, pa.DataType | None]) -> list[dict]:
    """A file's columns against the declared ones: missing, undeclared, or of another type (None: any)."""
    names = table.schema.names
    found = [_violation(path, None, name, "missing_column" if name in expected else "unknown_column",
                        "declared but missing" if name in expected else f"not declared in {EXTENSIONS_FILE}")
             for name in set(expected) ^ set(names)]
    return found + [_violation(path, None, name, "type", f"is {table.schema.field(name).type}, declared {kind}")
                    for name, kind in expected.items()
                    if kind is not None and name in names and not table.schema.field(name).type.equals(kind)]


def read_extras(data_dir: Path, extensions: Extensions) -> pd.DataFrame:
    """`customer_extras.parquet`, checked against the declaration: every declared column in its
    kind, nothing undeclared, one row per known customer id.

    Raises:
        ContractViolation: naming file, row (1-based) and column of each problem.
    """
    path = extras_path(data_dir)
    if not path.is_file():
        raise ContractViolation(f"{path}: missing; {EXTENSIONS_FILE} declares customer attributes")
    table = pq.read_table(path)
    found = _schema_violations(path, table, {f.name: f.type for f in extras_schema(extensions)})
    if found:
        raise ContractViolation(f"{path}: does not match {EXTENSIONS_FILE}", found)
    frame = table.to_pandas()
    ids = frame["customer_id"]
    bad = ids.isna() | ~ids.fillna("").str.match(CUSTOMER_ID) | ids.duplicated()
    found = [_violation(path, int(i) + 1, "customer_id", "customer_id",
                        f"{ids[i]!r} is missing, not a customer id or repeated") for i in bad[bad].index]
    if found:
        raise ContractViolation(f"{path}: bad customer ids", found)
    return frame


def metrics_path(data_dir: Path) -> Path:
    return Path(data_dir) / f"{METRICS_FILE}.parquet"


def read_metrics(data_dir: Path, extensions: Extensions) -> pd.DataFrame:
    """`customer_metrics_monthly.parquet`, checked against the declaration: customer_id, month (a
    month's first day), each declared metric as float64, nothing else, one row per customer and month.

    Raises:
        ContractViolation: naming file, row (1-based) and column of each problem.
    """
    path = metrics_path(data_dir)
    if not path.is_file():
        raise ContractViolation(f"{path}: missing; {EXTENSIONS_FILE} declares monthly metrics")
    table = pq.read_table(path)
    expected = {"customer_id": pa.string(), "month": None, **dict.fromkeys(extensions.monthly_metrics, pa.float64())}
    found = _schema_violations(path, table, expected)
    if "month" in table.schema.names and not pa.types.is_timestamp(table.schema.field("month").type):
        found.append(_violation(path, None, "month", "type", "is not a date"))
    if found:
        raise ContractViolation(f"{path}: does not match {EXTENSIONS_FILE}", found)
    frame = table.to_pandas()
    ids, month = frame["customer_id"], frame["month"]
    bad_id = ids.isna() | ~ids.fillna("").str.match(CUSTOMER_ID)
    found = [_violation(path, int(i) + 1, "customer_id", "customer_id", f"{ids[i]!r} is not a customer id")
             for i in bad_id[bad_id].index]
    bad_month = month.isna() | ~(month.dt.is_month_start & (month.dt.normalize() == month))
    found += [_violation(path, int(i) + 1, "month", "month", f"{month[i]} is not the first day of a month")
              for i in bad_month[bad_month].index]
    twice = frame.duplicated(["customer_id", "month"])
    found += [_violation(path, int(i) + 1, "month", "duplicate", f"{ids[i]} has {month[i]:%Y-%m} twice")
              for i in twice[twice].index]
    if found:
        raise ContractViolation(f"{path}: {len(found)} problems", found)
    return frame


def _violation(path: Path, row: int | None, column: str | None, check: str, message: str) -> dict[str, object]:
    where = path.name + (f" row {row}" if row is not None else "") + (f" column {column}" if column else "")
    return {"file": str(path), "row": row, "column": column, "check": check, "message": message,
            "text": f"{where}: {message}"}


def snapshot_as_of(data_dir: Path) -> pd.Timestamp | None:
    """The as-of date in `source.json` of an imported snapshot (its attributes are known from then
    on); None for data without one (nbo's own: its attributes hold from its last month)."""
    as_of = read_meta(data_dir).get("as_of")
    return pd.Timestamp(as_of) if as_of else None
