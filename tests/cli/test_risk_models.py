"""Churn and delinquency models through the CLI on the session's synthetic bank, with a file MLflow store.

`nbo retrain --model churn --model delinquency --fast` trains both (first versions become champions); a worse churn model is not
promoted, forcing it is recorded, and the better one wins back; the risk team scores a portfolio
with bad rows; a version is evaluated into an HTML report; PD is monotone in the risk drivers; the
comparison notebook runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, reaches_measured, run_cli, run_json

DELINQUENCY_METRICS = {"roc_auc", "pr_auc", "brier", "ks", "gini", "psi", "calibration_error"}
CHURN_METRICS = {"roc_auc", "pr_auc", "brier", "lift_top_decile", "calibration_error"}


@pytest.fixture(scope="module")
def risk(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("risk")
    env = {"NBO_DATA_DIR": str(bank_dir), "NBO_STATE_DIR": str(root / "var"),
           "NBO_MLFLOW__TRACKING_URI": f"file:{root / 'mlruns'}"}
    return SimpleNamespace(root=root, env=env, retrained=run_json("retrain", "--model", "churn", "--model", "delinquency", "--fast",
                                                                  env=env))


@pytest.fixture(scope="module")
def client(risk: SimpleNamespace):
    from nbo.settings import MlflowSettings
    from training import registry

    return registry.connect(MlflowSettings(tracking_uri=risk.env["NBO_MLFLOW__TRACKING_URI"]))


def test_retrain_trains_both_and_promotes_the_first_versions(risk):
    by_model = {row["model"]: row for row in risk.retrained["comparison"]}
    assert set(by_model) == {"nbo-churn", "nbo-delinquency"}
    assert all(row["promoted"] and row["champion_version"] is None for row in by_model.values())
    runs = {run["model"]: run for run in risk.retrained["runs"]}
    assert DELINQUENCY_METRICS <= set(runs["nbo-delinquency"]["metrics"])
    assert CHURN_METRICS <= set(runs["nbo-churn"]["metrics"])
    for model, run in runs.items():
        assert run["model_version"] == "1" and not run["forced"] and run["split"]["method"] == "time"
        assert reaches_measured(model, run["metrics"]), (model, run["metrics"])
        train_dates, test_dates = run["split"]["train"]["as_of"], run["split"]["test"]["as_of"]
        assert max(train_dates) < min(test_dates)


def test_worse_model_is_not_promoted_forcing_is_recorded_and_better_wins_back(risk, client):
    worse = run_json("train", "churn", "--trees", "1", "--leaves", "2", env=risk.env)
    assert {"run_id", "model_version", "promoted", "forced", "metrics"} <= set(worse)
    assert worse["model_version"] == "2" and not worse["promoted"] and not worse["forced"]
    assert worse["promotion"]["candidate_value"] < worse["promotion"]["champion_value"]
    assert client.get_model_version_by_alias("nbo-churn", "champion").version == 1

    forced = run_json("promote", "nbo-churn", "--version", "2", "--force", env=risk.env)
    assert forced["promoted"] and forced["forced"]
    tags = client.get_run(worse["run_id"]).data.tags
    assert (tags["nbo.forced"], tags["nbo.promoted"]) == ("true", "true")
    assert client.get_model_version_by_alias("nbo-churn", "champion").version == 2

    better = run_json("promote", "nbo-churn", "--version", "1", env=risk.env)
    assert better["promoted"] and not better["forced"]
    assert client.get_model_version_by_alias("nbo-churn", "champion").version == 1


def _portfolio(client, tmp_path: Path) -> Path:
    from training.risk.review import read_holdout

    run_id = client.get_model_version_by_alias("nbo-delinquency", "champion").run_id
    frame = read_holdout(run_id).sort_values("as_of").drop_duplicates("customer_id", keep="last")  # a customer's latest row
    frame = frame.drop(columns=["as_of", "delinquency"])
    path = tmp_path / "portfolio.csv"
    frame.to_csv(path, index=False)
    rows = list(csv.reader(path.open(encoding="utf-8")))
    header = rows[0]
    rows[2][header.index("utilization")] = "lots"          # data row 2
    rows[4][header.index("missed_payments_12m")] = "1.5"   # data row 4
    rows[4][header.index("age_years")] = "-3"              # data row 4, second column
    rows[6][header.index("customer_id")] = ""              # data row 6
    rows[8][header.index("income_monthly_cny")] = ""       # missing is allowed
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_score_reports_bad_rows_by_row_and_column_and_scores_the_rest(risk, client, tmp_path):
    portfolio = _portfolio(client, tmp_path)
    rows_in = sum(1 for _ in portfolio.open(encoding="utf-8")) - 1
    out = tmp_path / "scores.csv"
    proc = run_cli("score", "delinquency", "--input", portfolio, "--output", out, "--lang", "zh",
                   "--json", env=risk.env)
    result = json.loads(proc.stdout)
    assert "rows" in proc.stderr and "rejected" in proc.stderr
    assert (result["rows_in"], result["rows_rejected"], result["rows_scored"]) == (rows_in, 3, rows_in - 3)
    errors = pd.read_csv(result["errors"], dtype=str)
    assert errors[["row", "column"]].values.tolist() == [
        ["2", "utilization"], ["4", "age_years"], ["4", "missed_payments_12m"], ["6", "customer_id"]]
    scores = pd.read_csv(out)
    assert len(scores) == rows_in - 3
    assert scores["pd"].between(0, 1).all() and set(scores["band"]) <= set("ABCDE")
    assert scores.columns.tolist()[:4] == ["customer_id", "pd", "score", "band"]
    assert [c for c in scores.columns if c.startswith("reason_code_")] == [f"reason_code_{i}" for i in range(1, 5)]
    reasons = scores["reason_1"].dropna()
    assert len(reasons) > 0 and reasons.str.contains("[\u4e00-\u9fff]").all()


def test_score_rejects_a_duplicated_id_by_row_and_flags_an_unseen_category(risk, client, tmp_path):
    """Issue 22: a duplicated id was scored twice; "astronaut" became the top reason without a word."""
    from training.risk.review import read_holdout

    run_id = client.get_model_version_by_alias("nbo-delinquency", "champion").run_id
    frame = read_holdout(run_id).sort_values("as_of").drop_duplicates("customer_id", keep="last").head(40)
    frame = frame.drop(columns=["as_of", "delinquency"]).reset_index(drop=True)
    frame.loc[2, "customer_id"] = frame.loc[0, "customer_id"]  # data rows 1 and 3: one id
    frame.loc[4, "occupation"] = "astronaut"                    # data row 5: a category never seen
    portfolio, out = tmp_path / "portfolio.csv", tmp_path / "scores.csv"
    frame.to_csv(portfolio, index=False)
    proc = run_cli("score", "delinquency", "--input", portfolio, "--output", out, "--json", env=risk.env)
    result = json.loads(proc.stdout)
    assert (result["rows_in"], result["rows_rejected"], result["rows_scored"]) == (40, 2, 38)
    errors = pd.read_csv(result["errors"], dtype=str)
    assert errors[["row", "column"]].values.tolist() == [["1", "customer_id"], ["3", "customer_id"]]
    assert errors["message"].tolist() == ["duplicated id: also on row 3", "duplicated id: also on row 1"]
    scores = pd.read_csv(out, keep_default_na=False).set_index("customer_id")
    astronaut = scores.loc[frame.loc[4, "customer_id"]]
    assert "occupation: unseen category 'astronaut'" in astronaut["flags"]
    assert not scores.filter(regex=r"^reason_\d").apply(lambda c: c.str.contains("astronaut")).any().any()
    assert result["rows_flagged"] >= 1 and "row 5" in proc.stderr and "astronaut" in proc.stderr


def test_evaluate_writes_an_html_report_with_its_plots(risk, tmp_path):
    result = run_json("evaluate", "nbo-delinquency@champion", "--out", tmp_path / "report", env=risk.env)
    assert result["model_version"] == "1" and DELINQUENCY_METRICS - {"psi"} <= set(result["metrics"])
    html = Path(result["report"]).read_text(encoding="utf-8")
    for figure in ("roc", "pr", "reliability", "lift", "score_distribution", "shap_summary"):
        assert (tmp_path / "report" / f"{figure}.png").is_file()
        assert f"{figure}.png" in html


def test_pd_is_monotone_in_utilization_and_missed_payments(risk, client):
    from models.registry import load_risk
    from training.risk.review import read_holdout

    champion = client.get_model_version_by_alias("nbo-delinquency", "champion")
    scorer = load_risk("models:/nbo-delinquency@champion")
    row = read_holdout(champion.run_id).iloc[[0]]
    sweeps = {"utilization": np.linspace(0, 1.2, 25), "utilization_avg_3m": np.linspace(0, 1.2, 25),
              "missed_payments_12m": np.arange(0, 7), "missed_payments": np.arange(0, 2)}
    for feature, values in sweeps.items():
        grid = pd.concat([row] * len(values), ignore_index=True).assign(**{feature: values})
        pd_ = scorer.probability(grid)
        assert np.all(np.diff(pd_) >= -1e-12), feature
    both = pd.concat([row] * 2, ignore_index=True).assign(utilization=[0.0, 1.2], utilization_avg_3m=[0.0, 1.2],
                                                          missed_payments_12m=[0, 6])
    low, high = scorer.probability(both)
    assert high > low


def test_churn_scores_carry_reasons_and_a_retention_action_in_both_languages(risk, client):
    from models.registry import load_risk
    from training.risk.review import read_holdout

    run_id = client.get_model_version_by_alias("nbo-churn", "champion").run_id
    customers = read_holdout(run_id).head(200)
    scorer = load_risk("models:/nbo-churn@champion")
    zh, en = scorer.score(customers, lang="zh"), scorer.score(customers, lang="en")
    assert zh.columns.tolist() == ["probability", "band", *[f"reason{s}_{i}" for i in range(1, 4)
                                                          for s in ("_code", "")], "action_id", "action", "flags"]
    assert set(zh["band"]) <= {"low", "medium", "high"} and zh["probability"].between(0, 1).all()
    assert (zh["reason_code_1"] == en["reason_code_1"]).all() and (zh["action_id"] == en["action_id"]).all()
    reasoned = zh["reason_code_1"] != ""
    assert reasoned.any() and zh.loc[reasoned, "reason_1"].str.contains("[\u4e00-\u9fff]").all()
    assert en.loc[reasoned, "reason_1"].str.contains("[A-Za-z]").all()


def test_a_missing_model_is_reported_as_unavailable(risk, client):
    from models.registry import load_risk
    from nbo.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="challenger"):
        load_risk("models:/nbo-delinquency@challenger")


def test_notebook_compares_the_champion_with_the_last_run(risk, monkeypatch):
    monkeypatch.setenv("NBO_MLFLOW__TRACKING_URI", risk.env["NBO_MLFLOW__TRACKING_URI"])
    notebook = nbformat.read(ROOT / "notebooks" / "compare_champion.ipynb", as_version=4)
    parameters = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source = 'MODEL_NAME = "nbo-delinquency"'
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in outputs)
    assert "champion v1" in text and "roc_auc" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)
