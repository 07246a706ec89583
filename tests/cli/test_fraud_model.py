"""`nbo train fraud --fast` on the session's bank (run once by the `trained` fixture): registered as
`nbo-fraud` with a champion, thresholds at the budgets logged, the test month's figures of the model,
the rules-only baseline and model + rules computed; the champion loads and holds an account takeover
with reasons; a bad labels file is refused naming its row and column."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import pandas as pd

from features.payments.counters import COUNTER_FEATURES, PROFILE_FEATURES
from models.alias_history import AliasHistory
from models.registry import CHAMPION, FRAUD, connect, load_alias
from nbo.settings import load_settings
from serving.audit.store import sqlite_url
from tests.conftest import Trained, private_mlflow_store, run_cli, run_json


def test_fraud_champion_is_registered_with_its_thresholds_and_test_month_figures(trained: Trained, monkeypatch) -> None:
    run = trained.runs["fraud"]
    assert run["model"] == FRAUD and run["promoted"] and run["promotion"]["reason"] == "no champion yet"
    m = run["metrics"]
    assert m["fraud_value_held"] == m["served_fraud_value_held"]
    for screen in ("model", "rules", "served"):
        assert 0.0 <= m[f"{screen}_fraud_value_held"] <= 1.0 and m[f"{screen}_fraud_cases"] > 0
    # model + rules holds everything the rules hold; on this bank the model adds fraud value the rules miss
    assert m["served_fraud_value_held"] > m["rules_fraud_value_held"], m
    assert m["served_hold_rate"] <= 0.01  # thresholds from the validation month: near the 0.5 % budget
    t = run["thresholds"]
    assert t["hold_budget"] == 0.005 and t["step_up_budget"] == 0.03 and t["step_up_above"] <= t["hold_above"]

    for name, value in trained.env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    client = connect(settings.mlflow)
    logged = client.get_run(run["run_id"])
    assert logged.data.metrics["served_fraud_value_held"] == m["served_fraud_value_held"]
    assert float(logged.data.params["hold_above"]) == t["hold_above"]
    thresholds = json.loads(Path(mlflow.artifacts.download_artifacts(run_id=run["run_id"],
                                                                     artifact_path="thresholds.json")).read_text())
    assert thresholds["hold_above"] == t["hold_above"]
    history = AliasHistory(settings.audit_url).entries(FRAUD)
    assert {("train", None), ("promote", CHAMPION)} <= {(e["action"], e["alias"]) for e in history}

    champion = load_alias(settings.mlflow, FRAUD, CHAMPION)
    assert champion is not None and champion.ref.version == run["model_version"]
    takeover = dict.fromkeys(champion.scorer.spec.features, 0.0) | {
        "amount": 50_000.0, "log_amount": math.log1p(50_000.0), "amount_to_typical": 20.0, "new_payee": 1.0,
        "new_device": 1.0, "device_changed": 1.0, "device_age_days": 0.0, "hours_since_password_change": 2.0,
        "hours_since_device_bound": 1.0, "is_night": 1.0, "hour_of_day": 2.0, "age_years": 45.0,
        "payments_seen": 30.0, "days_since_prev_payment": 3.0, "minutes_since_credit": 10080.0}
    score, decision, reasons = champion.scorer.score(takeover)
    assert decision == "hold" and 0.0 <= score <= 1.0
    assert reasons[0].code == "R2_TAKEOVER" and any(r.source == "model" for r in reasons)


def test_a_bad_labels_file_is_refused_naming_row_and_column(trained: Trained, tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    rows = pd.DataFrame({"payment_id": ["P1", "P2"], "customer_id": "O1", "payment_time": "2026-11-02T10:00:00Z",
                         "label": [1, 3]})
    rows.to_parquet(path)
    proc = run_cli("train", "fraud", "--fast", "--labels", path, env=trained.env, check=False)
    assert proc.returncode == 3 and "lacks columns amount" in proc.stderr
    rows.assign(**dict.fromkeys([*COUNTER_FEATURES, *PROFILE_FEATURES], 1.0)).to_parquet(path)
    proc = run_cli("train", "fraud", "--fast", "--labels", path, env=trained.env, check=False)
    assert proc.returncode == 3 and "row 2, column label: '3' is not 0 or 1" in proc.stderr, proc.stderr


def test_a_fraud_version_is_promoted_by_alias_like_the_others(trained: Trained, generated_bank: Path,
                                                               tmp_path: Path) -> None:
    """A second fit on the same data (a private copy of the session's MLflow store) is compared with the
    champion on its own logged test month by `nbo promote`, then forced, and the alias follows."""
    env = trained.env | private_mlflow_store(trained, tmp_path) | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}
    second = run_json("train", "fraud", "--fast", "--truth", generated_bank / "truth" / "fraud.parquet", env=env)
    version = second["model_version"]
    assert version != trained.runs["fraud"]["model_version"]
    asked = run_json("promote", FRAUD, "--version", version, env=env)
    assert asked["model_version"] == version and asked["primary_metric"] == "fraud_value_held", asked
    if not second["promoted"]:  # measured again by `promote`: the champion on the candidate's logged test month
        assert 0.0 <= asked["champion_value"] <= 1.0, asked
        assert asked["promoted"] == (asked["candidate_value"] > asked["champion_value"]), asked
    forced = run_json("promote", FRAUD, "--version", version, "--force", "--reason", "fraud committee", env=env)
    assert forced["promoted"] and forced["forced"]
    history = run_json("models", "history", "--model", FRAUD, env=env)["entries"]
    assert (history[0]["action"], history[0]["version"], history[0]["forced"]) == ("promote", version, True), history[0]
