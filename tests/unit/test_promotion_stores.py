"""Promotion against real MLflow stores: SQLite (the default), the file store and PostgreSQL (a fresh
database, dropped after).

Real LightGBM risk models on a small labelled frame are logged, registered and compared on one
holdout: the first version is promoted, a worse one is not, a better one is, and a forced one is
promoted with `nbo.forced` recorded on its run. Each registration and promotion decision is in the
alias history (in PostgreSQL beside the PostgreSQL store, in SQLite otherwise).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.alias_history import AliasHistory
from models.registry import load_risk
from nbo.errors import NotFound
from nbo.settings import MlflowSettings
from training import registry
from training.risk.fit import RISK_MODELS, TreeSettings, fit_risk_model, score_metrics
from training.risk.pipeline import log_risk_model

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MODEL = RISK_MODELS["delinquency"]
FEATURES = ["utilization", "missed_payments_12m", "income_monthly_cny", "gender"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    utilization = rng.uniform(0, 1.2, n)
    missed = rng.poisson(0.3, n)
    logit = -4 + 3 * utilization + 0.8 * missed
    return pd.DataFrame({
        "customer_id": [f"C{i:08d}" for i in range(n)], "as_of": pd.Timestamp("2025-01-01"),
        "utilization": utilization, "missed_payments_12m": missed,
        "income_monthly_cny": rng.lognormal(9, 0.5, n), "gender": rng.choice(["F", "M"], n),
        "delinquency": rng.uniform(size=n) < 1 / (1 + np.exp(-logit)),
    })


@pytest.fixture(params=["sqlite", "file", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """MLflow settings for a temporary SQLite or file store, or for a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield MlflowSettings(tracking_uri=f"sqlite:///{tmp_path}/mlruns/mlflow.db")
        return
    if request.param == "file":
        yield MlflowSettings(tracking_uri=f"file:{tmp_path}/mlruns")
        return
    import psycopg  # PostgreSQL runs on every machine (.ci/run starts it): no skip when it is down

    name = f"nbo_mlflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield MlflowSettings(tracking_uri=f"postgresql://postgres@127.0.0.1:5432/{name}",
                                 artifact_root=str(tmp_path / "artifacts"))
        finally:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _history(settings: MlflowSettings, tmp_path: Path) -> AliasHistory:
    """The alias history: in the PostgreSQL database of a PostgreSQL store, else in a SQLite file."""
    uri = settings.tracking_uri
    return AliasHistory(uri if uri.startswith("postgresql") else f"sqlite:///{tmp_path}/audit.db")


def _register(settings: MlflowSettings, trees: TreeSettings, force: bool, tmp_path: Path) -> tuple:
    client = registry.connect(settings)
    train, valid, test = _frame(3000, 1), _frame(1500, 2), _frame(1500, 3)
    scorer = fit_risk_model(MODEL, train, valid, FEATURES, ["gender"], trees)
    metrics = score_metrics(MODEL.kind, test[MODEL.label].to_numpy(int), scorer.probability(test))
    run = registry.TrainingRun(params={"max_trees": trees.max_trees}, metrics=metrics, features=FEATURES,
                               data_snapshot="test", holdout_id="test", name="delinquency · test",
                               started_ms=registry.now_ms())
    experiment = registry.ensure_experiment(client, MODEL.model_name, settings.artifact_location)
    work = tmp_path / uuid.uuid4().hex
    registered = registry.log_and_register(MODEL.model_name, experiment, run,
                                           lambda: log_risk_model(scorer, test.head(3), MODEL.model_name, work),
                                           _history(settings, tmp_path))

    def champion_metric(uri: str) -> float:
        return score_metrics(MODEL.kind, test[MODEL.label].to_numpy(int), load_risk(uri).probability(test))["roc_auc"]

    outcome = registry.promote_if_better(client, MODEL.model_name, registered, "roc_auc", True, force,
                                         champion_metric, history=_history(settings, tmp_path))
    return client, registered, outcome


def test_only_better_models_become_champion_and_force_is_recorded(store: MlflowSettings, tmp_path: Path):
    fair = TreeSettings(max_trees=3, num_leaves=4, max_depth=2, early_stopping_rounds=3)
    weak = TreeSettings(max_trees=1, num_leaves=2, max_depth=1, early_stopping_rounds=1)
    strong = TreeSettings(max_trees=60, num_leaves=8, max_depth=4, learning_rate=0.1, early_stopping_rounds=10)

    client, first, outcome = _register(store, fair, False, tmp_path)
    assert outcome.promoted and outcome.reason == "no champion yet"

    _, worse, outcome = _register(store, weak, False, tmp_path)
    assert not outcome.promoted and not outcome.forced
    assert outcome.candidate_value < outcome.champion_value
    assert registry.champion_version(client, MODEL.model_name).version == int(first.version)
    assert client.get_run(worse.run_id).data.tags["nbo.promoted"] == "false"

    _, better, outcome = _register(store, strong, False, tmp_path)
    assert outcome.promoted and outcome.candidate_value > outcome.champion_value
    assert registry.champion_version(client, MODEL.model_name).version == int(better.version)
    assert client.get_run(better.run_id).data.metrics["champion_roc_auc"] == pytest.approx(outcome.champion_value)

    _, forced, outcome = _register(store, weak, True, tmp_path)
    assert outcome.promoted and outcome.forced
    assert registry.champion_version(client, MODEL.model_name).version == int(forced.version)
    tags = client.get_run(forced.run_id).data.tags
    assert (tags["nbo.forced"], tags["nbo.promoted"]) == ("true", "true")
    assert client.get_model_version(MODEL.model_name, forced.version).tags["nbo.forced"] == "true"

    for ref in (forced.run_id, f"{MODEL.model_name}@champion", f"models:/{MODEL.model_name}/{forced.version}"):
        assert str(registry.resolve_version(client, ref).version) == forced.version
    with pytest.raises(NotFound):
        registry.resolve_version(client, f"{MODEL.model_name}/99")

    history = _history(store, tmp_path)
    entries = history.entries(MODEL.model_name)[::-1]  # oldest first
    history.close()
    versions = [first.version, worse.version, better.version, forced.version]
    assert [(e["action"], e["version"]) for e in entries] == [
        (action, v) for v in versions for action in ("train", "promote")]
    decisions = [e for e in entries if e["action"] == "promote"]
    assert [e["evidence"]["promoted"] for e in decisions] == [True, False, True, True]
    assert [e["forced"] for e in decisions] == [False, False, False, True]
    assert [e["previous_version"] for e in decisions] == [None, first.version, first.version, better.version]
    assert decisions[1]["evidence"]["candidate"] < decisions[1]["evidence"]["champion"]
    assert all(e["evidence"]["holdout_id"] == "test" and e["at"].tzinfo is not None for e in entries)
