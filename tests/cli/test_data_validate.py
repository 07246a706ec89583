"""`nbo data validate`: every violation is reported with file, row and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sources.io import read_table, table_path
from tests.conftest import run_cli, run_json


@pytest.fixture()
def small_bank(tmp_path: Path) -> Path:
    out = tmp_path / "bank"
    run_cli("data", "generate", "--customers", 200, "--months", 13, "--seed", 11, "--out", out)
    return out


def _rewrite(bank: Path, table: str, frame: pd.DataFrame) -> Path:
    """Write a corrupted table as plain parquet (bypassing the contract's writer)."""
    path = table_path(bank, table)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _validate(bank: Path) -> tuple[int, dict]:
    proc = run_cli("data", "validate", bank, "--json", check=False)
    import json

    return proc.returncode, json.loads(proc.stdout)


def _find(report: dict, file: str, row: int | None, column: str | None, words: str) -> dict:
    for v in report["violations"]:
        if v["file"].endswith(file) and v["row"] == row and v["column"] == column and words in v["message"]:
            return v
    raise AssertionError(f"no violation {file} row {row} column {column} '{words}' in {report['violations'][:20]}")


def test_generated_bank_is_valid(generated_bank: Path) -> None:
    report = run_json("data", "validate", generated_bank)
    assert report["ok"] and report["rows"]["customers"] == 2000
    assert any("duplicate events" in w for w in report["warnings"])
    assert report["rows"]["customer_history"] > 2000  # real history: versions beyond the first
    assert not any(w.startswith("customer_history") for w in report["warnings"])  # today's version = customers
    assert report["rows"]["payments"] > 10_000 and report["rows"]["account_events"] > report["rows"]["payments"]


def test_history_violations_name_file_row_and_column(small_bank: Path) -> None:
    history = read_table(small_bank, "customer_history")
    first = history["customer_id"].iloc[0]
    history.loc[1] = history.loc[0]                                        # a second version the same day
    history.loc[2, "customer_id"] = "C99999999"                            # no such customer
    history.loc[3, "segment"] = "vip"                                      # not a segment
    history.loc[4, "risk_assessed_at"] = history.loc[4, "valid_from"] + pd.Timedelta(days=30)  # not yet made
    last = history.groupby("customer_id").tail(1).index
    history.loc[last[-1], "income_monthly"] = 1_234_567.0                  # today's version differs
    _rewrite(small_bank, "customer_history", history)
    code, report = _validate(small_bank)
    assert code == 2
    assert any(v["file"].endswith("customer_history.parquet") and v["row"] in (1, 2) and "unique" in v["check"]
               for v in report["violations"]), report["violations"]
    _find(report, "customer_history.parquet", 3, "customer_id", "is not a customers.customer_id")
    _find(report, "customer_history.parquet", 4, "segment", "vip")
    _find(report, "customer_history.parquet", 5, "risk_assessed_at", "assessment not yet made")
    warning = next(w for w in report["warnings"] if w.startswith("customer_history"))
    assert history.loc[last[-1], "customer_id"] in warning and first
    table_path(small_bank, "customer_history").unlink()  # optional: a bank without history is valid
    code, report = _validate(small_bank)
    assert code == 0 and "customer_history" not in report["rows"]


def test_payment_violations_name_file_row_and_column(small_bank: Path) -> None:
    payments = read_table(small_bank, "payments")
    payments.loc[0, "amount"] = 0.0                        # a transfer of nothing
    payments.loc[1, "customer_id"] = "C99999999"           # no such customer
    payments.loc[2, "channel"] = "atm"                     # not a payment channel
    payments.loc[3, "payment_id"] = payments.loc[4, "payment_id"]  # the same payment twice
    _rewrite(small_bank, "payments", payments)
    events = read_table(small_bank, "account_events")
    login = int(events.index[events["event_type"] == "login"][0])
    events.loc[login, "amount"] = 10.0                     # an amount on a login
    events.loc[login + 1, "event_type"] = "sim_swap"       # not an account event type
    _rewrite(small_bank, "account_events", events)
    code, report = _validate(small_bank)
    assert code == 2
    _find(report, "payments.parquet", 1, "amount", "greater_than(0)")
    _find(report, "payments.parquet", 2, "customer_id", "is not a customers.customer_id")
    _find(report, "payments.parquet", 3, "channel", "atm")
    assert any(v["file"].endswith("payments.parquet") and v["row"] in (4, 5) and "unique" in v["check"]
               for v in report["violations"])
    _find(report, "account_events.parquet", login + 1, "amount", "inbound credit")
    _find(report, "account_events.parquet", login + 2, "event_type", "sim_swap")
    for table in ("payments", "account_events"):  # optional: a bank without them is valid
        table_path(small_bank, table).unlink()
    code, report = _validate(small_bank)
    assert code == 0 and "payments" not in report["rows"]


def test_every_kind_of_violation_is_reported_at_once(small_bank: Path, tmp_path: Path) -> None:
    holdings = read_table(small_bank, "holdings")
    holdings["balance"] = holdings["balance"].astype(str)  # balances exported as text
    holdings.loc[4, "balance"] = "abc"              # not a number
    holdings.loc[6, "balance"] = "-5.0"             # negative balance
    holdings.loc[8, "product_id"] = "NO_SUCH_PRODUCT"  # orphan foreign key
    holdings.loc[9] = holdings.loc[10]              # duplicate key
    _rewrite(small_bank, "holdings", holdings)

    customers = read_table(small_bank, "customers")
    customers.loc[2, "risk_tolerance"] = "C7"       # level out of range
    customers.loc[3, "join_date"] = pd.Timestamp("2099-01-01")  # in the future
    customers["favourite_colour"] = "blue"          # unknown column
    _rewrite(small_bank, "customers", customers)

    products = read_table(small_bank, "products")
    products.loc[1, "risk_level"] = "R9"
    _rewrite(small_bank, "products", products.drop(columns=["margin"]))  # missing column

    report_csv = tmp_path / "violations.csv"
    proc = run_cli("data", "validate", small_bank, "--report", report_csv, "--json", check=False)
    assert proc.returncode == 2
    import json

    report = json.loads(proc.stdout)
    _find(report, "holdings.parquet", 5, "balance", "not a number: 'abc'")
    _find(report, "holdings.parquet", 7, "balance", "greater_than_or_equal_to(0)")
    _find(report, "holdings.parquet", 9, "product_id", "is not a products.product_id")
    assert any(v["file"].endswith("holdings.parquet") and v["row"] in (10, 11) and "unique" in v["check"]
               for v in report["violations"])
    _find(report, "customers.parquet", 3, "risk_tolerance", "C7")
    _find(report, "customers.parquet", 4, "join_date", "in the future")
    _find(report, "customers.parquet", None, "favourite_colour", "not in the contract")
    _find(report, "products.parquet", None, "margin", "missing")
    _find(report, "products.parquet", 2, "risk_level", "R9")
    written = pd.read_csv(report_csv)
    assert len(written) == report["violation_count"] >= 9


def test_human_output_names_file_row_and_column(small_bank: Path) -> None:
    credit = read_table(small_bank, "credit")
    credit.loc[0, "days_past_due"] = -30
    _rewrite(small_bank, "credit", credit)
    proc = run_cli("data", "validate", small_bank, check=False)
    assert proc.returncode == 2
    assert "credit.parquet row 1 column days_past_due" in proc.stdout


def test_missing_and_unreadable_files_are_reported(small_bank: Path) -> None:
    table_path(small_bank, "credit").unlink()
    events = table_path(small_bank, "events")
    events.write_bytes(events.read_bytes()[:200])  # truncated parquet
    code, report = _validate(small_bank)
    assert code == 2
    _find(report, "credit.parquet", None, None, "missing")
    _find(report, "events.parquet", None, None, "cannot read parquet")


def test_a_directory_that_does_not_exist_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_cli("data", "validate", tmp_path / "nope", check=False)
    assert proc.returncode == 3
    assert "no such data directory" in proc.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
