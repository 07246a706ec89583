"""`nbo data validate` bounds text lengths and keeps identifiers ASCII (the README's contract table)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sources.io import read_table, table_path
from tests.conftest import run_cli

LONG_NAME = "Wolfeschlegelsteinhausenbergerdorff" * 143  # 5,005 characters, no space


@pytest.fixture()
def small_bank(tmp_path: Path) -> Path:
    out = tmp_path / "bank"
    run_cli("data", "generate", "--customers", 200, "--months", 13, "--seed", 11, "--out", out)
    return out


def _rewrite(bank: Path, table: str, frame) -> None:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), table_path(bank, table))


def _violation(report: dict, file: str, row: int, column: str, check: str) -> dict:
    for v in report["violations"]:
        if v["file"].endswith(file) and v["row"] == row and v["column"] == column and check in v["check"]:
            return v
    raise AssertionError(f"no {check} violation at {file} row {row} column {column}: {report['violations'][:20]}")


def test_overlong_text_and_non_ascii_ids_are_violations(small_bank: Path) -> None:
    customers = read_table(small_bank, "customers")
    customers.loc[0, "name"] = LONG_NAME
    customers.loc[1, "name"] = "王" * 101
    customers.loc[2, "occupation"] = "x" * 65
    customers.loc[3, "external_id"] = "ID 42"            # a space
    customers.loc[4, "external_id"] = "客户42"            # not ASCII
    customers.loc[5, "external_id"] = "A" * 65
    customers.loc[6, "customer_id"] = "C０００００００７"  # fullwidth digits
    customers.loc[7, "customer_id"] = "C00000008\n"      # a trailing newline
    customers.loc[8, "phone"] = "１３８００１３８０００"    # fullwidth digits
    customers.loc[9, "name"] = "王" * 100                 # at the limit: fine
    _rewrite(small_bank, "customers", customers)
    products = read_table(small_bank, "products")
    products.loc[0, "name_en"] = "Fund " * 21            # 105 characters
    _rewrite(small_bank, "products", products)
    holdings = read_table(small_bank, "holdings")
    holdings.loc[0, "customer_id"] = "C٠٠٠٠٠٠٠١"          # Arabic-Indic digits
    _rewrite(small_bank, "holdings", holdings)
    events = read_table(small_bank, "events")
    events.loc[0, "topic"] = "t" * 41
    _rewrite(small_bank, "events", events)

    proc = run_cli("data", "validate", small_bank, "--json", check=False)
    assert proc.returncode == 2, proc.stderr
    report = json.loads(proc.stdout)
    long_name = _violation(report, "customers.parquet", 1, "name", "str_length")
    assert len(long_name["message"]) < 200 and "5,005 characters" in long_name["message"], long_name
    _violation(report, "customers.parquet", 2, "name", "str_length")
    _violation(report, "customers.parquet", 3, "occupation", "str_length")
    for row in (4, 5, 6):
        _violation(report, "customers.parquet", row, "external_id", "str_matches")
    for row in (7, 8):
        _violation(report, "customers.parquet", row, "customer_id", "str_matches")
    _violation(report, "customers.parquet", 9, "phone", "str_matches")
    _violation(report, "products.parquet", 1, "name_en", "str_length")
    _violation(report, "holdings.parquet", 1, "customer_id", "str_matches")
    _violation(report, "events.parquet", 1, "topic", "str_matches")
    assert not [v for v in report["violations"] if v["file"].endswith("customers.parquet") and v["row"] == 10]
