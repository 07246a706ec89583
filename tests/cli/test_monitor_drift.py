"""`nbo monitor drift` on the session service's audit, its bad input, and the drift gauges of /metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.reference import load_reference
from models.registry import connect
from serving.app import create_app
from sources.io import read_table
from tests.conftest import Trained, run_cli, run_json, settings_from
from tests.http.conftest import app_client, as_role  # noqa: F401 - the session's service

SCORED = 40  # customers scored through the service


@pytest.fixture(scope="module")
def served(app_client: TestClient, as_role, bank_dir: Path) -> str:  # noqa: F811
    """Churn and delinquency scores of 40 open customers through the service; the month they fall in."""
    customers = read_table(bank_dir, "customers")
    scored = (
        customers.loc[customers["close_date"].isna(), "customer_id"]
        .astype(str)
        .head(SCORED)
        .tolist()
    )
    for customer_id in scored:
        assert (
            app_client.get(f"/v1/customers/{customer_id}/churn", headers=as_role("rm")).status_code
            == 200
        )
    response = app_client.post(
        "/v1/delinquency/batch", json={"customer_ids": scored}, headers=as_role("risk")
    )
    assert response.status_code == 200 and not response.json()["errors"]
    return time.strftime("%Y-%m", time.gmtime())


def test_json_report_has_every_served_risk_model_of_the_month(trained: Trained, served: str):
    report = run_json("monitor", "drift", env=trained.env)
    assert "Monte Carlo" in report["rule"] and report["unreferenced"] == []
    entries = {e["model"]: e for e in report["models"] if e["month"] == served}
    assert set(entries) == {"nbo-churn", "nbo-delinquency"}
    for model, entry in entries.items():
        assert entry["version"] == str(trained.runs[model.removeprefix("nbo-")]["model_version"])
        assert entry["portfolio"] == "demo" and entry["n"] >= SCORED
        assert entry["verdict"] in {"stable", "investigate", "act"}
        assert 0 <= entry["score"]["psi"] and 0 < entry["score"]["p_value"] <= 1
        features = entry["features"]
        reference = load_reference(
            connect(settings_from(trained.env).mlflow), model, entry["version"]
        )
        assert reference is not None and {f["feature"] for f in features} == set(reference.features)
        assert [f["csi"] for f in features] == sorted((f["csi"] for f in features), reverse=True)
        assert all(
            0 <= f["missing_share"] <= 1 and 0 <= f["out_of_range_share"] <= 1 for f in features
        )


def test_since_a_future_day_finds_nothing_and_says_so(trained: Trained, served: str):
    proc = run_cli("monitor", "drift", "--since", "2999-01-01", env=trained.env)
    assert "no churn or delinquency decisions in the audit since 2999-01-01" in proc.stdout


@pytest.mark.parametrize("since", ["2026-13-01", "01/11/2026"])
def test_a_bad_since_is_a_usage_error_that_says_the_format(trained: Trained, since: str):
    proc = run_cli("monitor", "drift", "--since", since, "--json", env=trained.env, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "not a date: give YYYY-MM-DD" in proc.stderr and since in proc.stderr


def test_metrics_show_the_drift_gauges_after_a_background_refresh(trained: Trained, served: str):
    with TestClient(create_app(settings_from(trained.env))) as client:
        started = time.monotonic()
        first = client.get("/metrics")
        assert first.status_code == 200 and time.monotonic() - started < 2  # the scrape never waits
        lines: list[str] = []
        while time.monotonic() - started < 60 and not lines:
            lines = [
                line
                for line in client.get("/metrics").text.splitlines()
                if line.startswith("nbo_drift_verdict{") and 'feature="model"' in line
            ]
            time.sleep(0.2)
    assert any(
        'model="nbo-delinquency"' in line and f'month="{served}"' in line for line in lines
    ), lines
    assert all(line.rsplit(" ", 1)[1] in {"0.0", "1.0", "2.0"} for line in lines)
