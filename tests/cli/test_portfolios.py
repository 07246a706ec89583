"""Portfolios: another bank's model never touches the demo's champion, and `nbo score` refuses the wrong one.

The sequence that went wrong (issue 22): after the demo's training, `nbo train churn --data
<Churn_Modelling imported>` in the same state compared the demo's champion with the new model on
the other bank's holdout, promoted it, and after `POST /v1/admin/reload` the service scored the
synthetic bank's customers with it. Here it runs on a copy of the session's MLflow store, with the
session's feature state, the real app (reload included) and the CLI as a user runs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from models.registry import load_risk
from models.scorecard import Bands
from serving.app import create_app
from serving.audit.store import sqlite_url
from sources.io import read_table
from tests.conftest import Trained, private_mlflow_store, run_cli, run_json, settings_from
from training import registry
from training.risk.review import read_holdout

OTHER = "churn-modelling"
ANSWER_KEYS = ("model_version", "probability", "band", "reasons", "action")


@dataclass(frozen=True)
class TwoPortfolios:
    """The session's demo models plus Churn_Modelling's churn model, in one private store."""

    env: dict[str, str]
    other_dir: Path
    other_run: dict
    demo_champion: str
    before: dict[str, dict]  # the service's churn answers for demo customers before the other training
    after: dict[str, dict]  # the same after training the other portfolio and reloading
    reload: dict


def _answers(client: TestClient, key: str, customers: list[str]) -> dict[str, dict]:
    out = {}
    for customer in customers:
        response = client.get(f"/v1/customers/{customer}/churn", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        out[customer] = {k: response.json()[k] for k in ANSWER_KEYS}
    return out


def _demo_champion(env: dict[str, str]) -> str:
    client = registry.connect(settings_from(env).mlflow)
    return str(client.get_model_version_by_alias("nbo-churn", "champion").version)


@pytest.fixture(scope="module")
def portfolios(trained: Trained, bank_dir: Path, shared_data: Path,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoPortfolios]:
    tmp = tmp_path_factory.mktemp("portfolios")
    env = trained.env | private_mlflow_store(trained, tmp) | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "audit.db")}
    customers = sorted(read_table(bank_dir, "customers")["customer_id"])[:12]
    other_dir = tmp / OTHER
    run_json("data", "import", "churn-modelling", shared_data / "Churn_Modelling", "--out", other_dir, env=env)
    meta_path = other_dir / "source.json"  # what `nbo data import snapshot --portfolio` writes (i22-import)
    meta_path.write_text(json.dumps(json.loads(meta_path.read_text()) | {"portfolio": OTHER}), encoding="utf-8")
    demo_champion = _demo_champion(env)
    with TestClient(create_app(settings_from(env)), raise_server_exceptions=False) as client:
        before = _answers(client, trained.keys["rm"], customers)
        other_run = run_json("train", "churn", "--fast", "--data", other_dir, env=env)
        response = client.post("/v1/admin/reload", headers={"X-API-Key": trained.keys["admin"]})
        assert response.status_code == 200, response.text
        after = _answers(client, trained.keys["rm"], customers)
    yield TwoPortfolios(env, other_dir, other_run, demo_champion, before, after, response.json())


def test_another_banks_model_leaves_the_demo_champion_and_its_answers_unchanged(portfolios) -> None:
    run = portfolios.other_run
    assert run["model"] == f"nbo-churn.{OTHER}" and run["portfolio"] == OTHER
    assert run["promoted"] and run["promotion"]["reason"] == "no champion yet"
    assert run["champion_metrics"] is None, "never measured against the demo's champion"
    assert _demo_champion(portfolios.env) == portfolios.demo_champion
    assert portfolios.reload["versions"]["nbo-churn"]["champion"] == portfolios.demo_champion
    assert f"nbo-churn.{OTHER}" not in portfolios.reload["versions"]
    assert portfolios.after == portfolios.before


def test_runs_and_versions_carry_their_portfolio(portfolios) -> None:
    client = registry.connect(settings_from(portfolios.env).mlflow)
    other = client.get_model_version_by_alias(f"nbo-churn.{OTHER}", "champion")
    assert other.tags["nbo.portfolio"] == OTHER
    assert client.get_run(other.run_id).data.tags["nbo.portfolio"] == OTHER
    assert client.get_run(other.run_id).data.params["portfolio"] == OTHER


def latest_rows(holdout: pd.DataFrame) -> pd.DataFrame:
    """A holdout as a scoring file: each customer's latest row (an id on two rows is rejected)."""
    return holdout.sort_values("as_of").drop_duplicates("customer_id", keep="last")


def test_two_portfolios_keep_their_own_champions_and_score_refuses_the_wrong_one(portfolios, trained,
                                                                                    tmp_path) -> None:
    env = portfolios.env
    client = registry.connect(settings_from(env).mlflow)
    demo_file, other_file = tmp_path / "demo.parquet", tmp_path / "other.parquet"
    latest_rows(read_holdout(client.get_model_version_by_alias("nbo-churn", "champion").run_id)).to_parquet(demo_file)
    latest_rows(read_holdout(portfolios.other_run["run_id"])).to_parquet(other_file)

    # Each portfolio's file is scored by its own champion: the demo's by default, the other by --data.
    demo = run_json("score", "churn", "--input", demo_file, "--output", tmp_path / "demo.csv", env=env)
    other = run_json("score", "churn", "--input", other_file, "--output", tmp_path / "other.csv",
                     "--data", portfolios.other_dir, env=env)
    assert (demo["model_uri"], demo["forced"]) == ("models:/nbo-churn@champion", [])
    assert (other["model_uri"], other["model_portfolio"], other["forced"]) == (
        f"models:/nbo-churn.{OTHER}@champion", OTHER, [])

    # The demo's file with the other portfolio's model: refused, naming both; nothing written.
    wrong = ("score", "churn", "--input", demo_file, "--output", tmp_path / "wrong.csv",
             "--model-uri", f"models:/nbo-churn.{OTHER}@champion")
    refused = run_cli(*wrong, env=env, check=False)
    assert refused.returncode == 2, refused.stderr
    assert f"belongs to portfolio 'demo', models:/nbo-churn.{OTHER}@champion to portfolio '{OTHER}'" in refused.stderr
    assert not (tmp_path / "wrong.csv").exists()

    # A file without one of the model's feature columns: its schema differs, refused the same way.
    feature = load_risk(f"models:/nbo-churn.{OTHER}@champion").spec.features[0]
    short_file = tmp_path / "short.parquet"
    pd.read_parquet(other_file).drop(columns=[feature]).to_parquet(short_file)
    short = run_cli("score", "churn", "--input", short_file, "--output", tmp_path / "short.csv",
                    "--data", portfolios.other_dir, env=env, check=False)
    assert short.returncode == 2 and f"lacks 1 of the feature columns of models:/nbo-churn.{OTHER}@champion" in short.stderr
    assert not (tmp_path / "short.csv").exists()
    short_forced = run_json("score", "churn", "--input", short_file, "--output", tmp_path / "short.csv",
                            "--data", portfolios.other_dir, "--force", env=env)
    assert len(short_forced["forced"]) == 1 and short_forced["rows_scored"] == short_forced["rows_in"]

    # --force scores anyway and says so, in the output and the log.
    forced = run_cli(*wrong, "--force", "--json", env=env)
    result = json.loads(forced.stdout)
    assert len(result["forced"]) == 1 and result["rows_scored"] == result["rows_in"]
    assert "score_forced" in forced.stderr


def test_train_refuses_a_portfolio_other_than_the_data_names(portfolios) -> None:
    refused = run_cli("train", "churn", "--fast", "--data", portfolios.other_dir, "--portfolio", "demo",
                      env=portfolios.env, check=False)
    assert refused.returncode == 2
    assert f"--portfolio demo differs from portfolio '{OTHER}'" in refused.stderr


def test_a_portfolios_fitted_bands_travel_with_its_model_into_scoring(portfolios, bank_dir, tmp_path) -> None:
    """The session bank trained as portfolio `fitted` (its source.json names none): the run fits its
    risk bands on the development sample, the spec keeps them and `nbo score` assigns them."""
    env = portfolios.env
    run = run_json("train", "delinquency", "--fast", "--data", bank_dir, "--portfolio", "fitted", env=env)
    assert (run["model"], run["bands"]["version"]) == ("nbo-delinquency.fitted", "risk-bands-fitted-fitted")
    assert run["bands"]["lower_bounds"] != [660.0, 620.0, 580.0, 540.0]
    holdout = tmp_path / "holdout.parquet"
    latest_rows(read_holdout(run["run_id"])).to_parquet(holdout)
    scored = run_json("score", "delinquency", "--input", holdout, "--output", tmp_path / "scores.parquet",
                      "--portfolio", "fitted", env=env)
    assert scored["model_uri"] == "models:/nbo-delinquency.fitted@champion" and scored["forced"] == []
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    expected = Bands.from_dict(run["bands"]).assign(scores["score"])
    assert (scores["band"] == expected).all()
    assert set(scores["band"]) == set("ABCDE"), "a test part of the same bank reaches every fitted band"


def test_the_service_refuses_a_champion_tagged_with_another_portfolio(portfolios, trained, bank_dir) -> None:
    """A demo champion whose version says it belongs elsewhere is not loaded: the reload answers 503
    naming both portfolios and the service keeps answering with the models it had."""
    client = registry.connect(settings_from(portfolios.env).mlflow)
    customer = sorted(read_table(bank_dir, "customers")["customer_id"])[0]
    with TestClient(create_app(settings_from(portfolios.env)), raise_server_exceptions=False) as app:
        client.set_model_version_tag("nbo-churn", portfolios.demo_champion, "nbo.portfolio", OTHER)
        try:
            response = app.post("/v1/admin/reload", headers={"X-API-Key": trained.keys["admin"]})
        finally:
            client.set_model_version_tag("nbo-churn", portfolios.demo_champion, "nbo.portfolio", "demo")
        assert response.status_code == 503, response.text
        assert f"belongs to portfolio '{OTHER}', not 'demo'" in response.text
        still = app.get(f"/v1/customers/{customer}/churn", headers={"X-API-Key": trained.keys["rm"]})
        assert still.status_code == 200 and still.json()["probability"] == portfolios.before[customer]["probability"]


def test_a_bad_portfolio_name_is_refused_before_anything_is_read(tmp_path) -> None:
    refused = run_cli("score", "churn", "--input", tmp_path / "absent.csv", "--output", tmp_path / "out.csv",
                      "--portfolio", "Acme Bank", check=False)
    assert refused.returncode == 2 and "--portfolio: 'Acme Bank' is not a portfolio name" in refused.stderr
