"""extensions.json: names made from source columns, and the format's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nbo.errors import ContractViolation
from sources.extensions import Extensions, extension_name, read_extensions, read_metrics


@pytest.mark.parametrize(("column", "name"), [
    ("EstimatedSalary", "estimated_salary"), ("NumOfProducts", "num_of_products"), ("PAY_0", "pay_0"),
    ("default.payment.next.month", "default_payment_next_month"), ("2nd Line", "c_2nd_line"),
    ("Région", "region"), ("HTTPStatus", "http_status"), ("年龄", "column"),
])
def test_extension_names_are_snake_case_ascii(column: str, name: str) -> None:
    assert extension_name(column) == name


def test_no_file_means_no_extensions(tmp_path: Path) -> None:
    assert read_extensions(tmp_path) == Extensions()


def test_every_format_problem_is_named(tmp_path: Path) -> None:
    (tmp_path / "extensions.json").write_text(json.dumps({
        "version": 1, "customer_attributes": {"Score": "numeric", "region": "text"},
        "event_types": ["complaint", "login", "complaint"], "colour": "red"}))
    with pytest.raises(ContractViolation) as caught:
        read_extensions(tmp_path)
    messages = [v["message"] for v in caught.value.violations]
    assert "unknown key 'colour' (known: version, customer_attributes, event_types, monthly_metrics)" in messages
    assert "customer_attributes: 'Score' is not a snake_case ASCII name" in messages
    assert "customer_attributes.region: kind 'text' is not numeric or categorical" in messages
    assert "event_types: 'login' is already a contract event type" in messages
    assert "event_types: 'complaint' is declared twice" in messages


def test_monthly_metrics_are_checked_by_row(tmp_path: Path) -> None:
    (tmp_path / "extensions.json").write_text(json.dumps({"monthly_metrics": {"night_minutes": "numeric"}}))
    pd.DataFrame({"customer_id": ["C00000001", "C00000001", "nobody"],
                  "month": pd.to_datetime(["2026-09-01", "2026-09-01", "2026-09-15"]),
                  "night_minutes": [1.0, 2.0, 3.0]}).to_parquet(tmp_path / "customer_metrics_monthly.parquet")
    with pytest.raises(ContractViolation) as caught:
        read_metrics(tmp_path, read_extensions(tmp_path))
    texts = [v["text"] for v in caught.value.violations]
    assert "customer_metrics_monthly.parquet row 3 column customer_id: 'nobody' is not a customer id" in texts
    assert ("customer_metrics_monthly.parquet row 3 column month: 2026-09-15 00:00:00 is not the first day "
            "of a month") in texts
    assert "customer_metrics_monthly.parquet row 2 column month: C00000001 has 2026-09 twice" in texts
