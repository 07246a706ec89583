"""LightGBM on Dask (DESIGN §10): churn and delinquency trained with `lightgbm.dask` on a local
cluster (2 workers × 1 thread) reach the single-machine test ROC AUC, and `nbo train --engine dask`
logs, registers and reports such a model like any other.

The engines are compared on the mean test ROC AUC over SEEDS model seeds, on the same split of the
session's bank. One pair of fits is no fair comparison here: on this small bank (its months end
with the last full month, so it changes month by month) a fit's test AUC moves by 0.01 to 0.03
(standard deviation) with the seed alone, and a Dask fit is one more such draw (each worker bags
and bins its own rows, and lightgbm.dask orders the workers' ranks at random). So Dask must not
fall short by more than AUC_TOLERANCE plus twice the standard error of the difference of the two
means, as measured from the seeds' own spread; Dask coming out better is no failure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import lightgbm as lgb
import numpy as np
import pandas as pd
import psutil
import pytest
from distributed import Client, LocalCluster
from sklearn.metrics import log_loss

from evaluation import metrics
from models.risk import RiskScorer
from tests.conftest import METRIC_TOLERANCE, run_cli, run_json, settings_from
from training.datasets import TrainingSet, load_training_set
from training.risk.dask_fit import (
    dask_client,
    early_stopping_iteration,
    fit_booster_on_dask,
    validation_losses,
)
from training.risk.fit import (
    RISK_MODELS,
    RiskSpec,
    TreeSettings,
    fit_booster,
    fit_risk_model,
    monotone_vector,
    prepare_features,
)
from training.splits import Split, split_training_set

KINDS = ("churn", "delinquency")
SEEDS = 8
AUC_TOLERANCE = 0.01
# README's seed table (the same fixed session bank, seeds 0-7): the single-machine mean test ROC AUC and
# the worst fit of either engine; each must be reached less METRIC_TOLERANCE.
# delinquency re-measured on the OneID session bank with attribute history (2026-12-07, 8 seeds)
CLAIMED_MEAN_AUC = {"churn": 0.7494, "delinquency": 0.6394}
CLAIMED_WORST_AUC = {"churn": 0.7319, "delinquency": 0.6007}
# One LightGBM thread, as each Dask worker has: on a busy 2-core machine more threads only wait.
FAST = replace(TreeSettings.fast(), num_threads=1)
TRAIN_KEYS = {"model", "engine", "run_id", "model_version", "promoted", "forced", "promotion", "metrics",
              "valid_metrics", "cv_metrics", "champion_metrics", "split", "data_snapshot", "source", "tracking_uri",
              "training_customers", "sampled_customers", "portfolio", "bands", "tuning"}


@pytest.fixture(scope="module")
def env(bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dask")
    return {"NBO_DATA_DIR": str(bank_dir), "NBO_STATE_DIR": str(root / "var"),
            "NBO_MLFLOW__TRACKING_URI": f"file:{root / 'mlruns'}"}


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """A client of the local cluster `nbo train --engine dask` starts (2 workers × 1 thread)."""
    before = _children()
    with dask_client(None) as connected:
        yield connected
    assert connected.status == "closed" and _children() <= before


@pytest.fixture
def scheduler() -> Iterator[str]:
    """A running scheduler with 2 single-thread workers (threads of this process) the CLI can reach."""
    before = _children()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address=":0") as cluster:
        yield cluster.scheduler_address
    assert cluster.status.name == "closed" and _children() <= before


@dataclass(frozen=True)
class Data:
    training_set: TrainingSet
    split: Split


@pytest.fixture(scope="module")
def data(env: dict[str, str], bank_dir: Path) -> dict[str, Data]:
    """Each model's training set and the split `nbo train --fast` makes of it (seed 0)."""
    settings = settings_from(env)
    out = {}
    for kind in KINDS:
        training_set = load_training_set(settings, RISK_MODELS[kind].label, bank_dir)
        out[kind] = Data(training_set, split_training_set(training_set.frame, RISK_MODELS[kind].label, 0))
    return out


def fit(kind: str, part: Data, trees: TreeSettings, booster_fit=fit_booster) -> RiskScorer:
    return fit_risk_model(RISK_MODELS[kind], part.split.train, part.split.valid, part.training_set.features,
                          part.training_set.categorical, trees, booster_fit)


def holdout_auc(kind: str, part: Data, scorer: RiskScorer) -> float:
    test = part.split.test
    return metrics.roc_auc(test[RISK_MODELS[kind].label].to_numpy(int), scorer.probability(test))


@pytest.fixture(scope="module")
def fits(data: dict[str, Data], client: Client) -> dict[str, SimpleNamespace]:
    """Test AUC of the fast model for seeds 0..SEEDS-1 on each engine, and the Dask scorer of seed 0."""
    out = {}
    for kind, part in data.items():
        local, dask, scorers = [], [], []
        for seed in range(SEEDS):
            trees = replace(FAST, seed=seed)
            local.append(holdout_auc(kind, part, fit(kind, part, trees)))
            scorers.append(fit(kind, part, trees, partial(fit_booster_on_dask, client)))
            dask.append(holdout_auc(kind, part, scorers[-1]))
        out[kind] = SimpleNamespace(local=np.array(local), dask=np.array(dask), dask_scorer=scorers[0])
    return out


def test_early_stopping_rule_worked_by_hand() -> None:
    losses = np.array([0.50, 0.40, 0.41, 0.39, 0.395, 0.392, 0.391, 0.30])
    assert early_stopping_iteration(losses, 3) == 4    # rounds 5, 6, 7 fail to beat round 4: stop
    assert early_stopping_iteration(losses, 4) == 8    # one more round of patience reaches 0.30
    assert early_stopping_iteration(np.array([0.5, 0.5, 0.5]), 2) == 1  # a tie is no improvement


def test_validation_losses_pick_the_round_lightgbm_early_stopping_picks(data: dict[str, Data]) -> None:
    for kind, part in data.items():
        features = part.training_set.features
        spec = RiskSpec(kind, features, part.training_set.categorical)  # type: ignore[arg-type]
        x_train, x_valid = prepare_features(part.split.train, spec), prepare_features(part.split.valid, spec)
        y_train, y_valid = part.split.train[kind].astype(int), part.split.valid[kind].astype(int)
        d_train = lgb.Dataset(x_train, y_train)
        booster = lgb.train(FAST.lgb_params(monotone_vector(RISK_MODELS[kind], features)), d_train,
                            num_boost_round=FAST.max_trees,
                            valid_sets=[lgb.Dataset(x_valid, y_valid, reference=d_train)],
                            callbacks=[lgb.early_stopping(FAST.early_stopping_rounds, verbose=False)],
                            keep_training_booster=True)
        assert booster.current_iteration() > booster.best_iteration  # the rounds past the best are kept
        losses = validation_losses(booster, x_valid, y_valid)
        assert losses[-1] == pytest.approx(log_loss(y_valid, booster.predict(x_valid, num_iteration=len(losses))))
        assert early_stopping_iteration(losses, FAST.early_stopping_rounds) == booster.best_iteration


@pytest.mark.parametrize("kind", KINDS)
def test_dask_reaches_the_single_machine_test_auc(fits: dict[str, SimpleNamespace], kind: str,
                                                  record_property) -> None:
    local, dask = fits[kind].local, fits[kind].dask
    record_property("local_auc", local.round(4).tolist())
    record_property("dask_auc", dask.round(4).tolist())
    noise = float(np.sqrt(local.var(ddof=1) / len(local) + dask.var(ddof=1) / len(dask)))
    record_property("mean_difference", round(float(dask.mean() - local.mean()), 4))
    record_property("standard_error", round(noise, 4))
    assert dask.mean() >= local.mean() - (AUC_TOLERANCE + 2 * noise), (local, dask)
    assert local.mean() >= CLAIMED_MEAN_AUC[kind] - METRIC_TOLERANCE, local
    assert min(local.min(), dask.min()) > CLAIMED_WORST_AUC[kind] - METRIC_TOLERANCE, (local, dask)


def test_dask_booster_is_a_plain_booster_cut_at_its_best_round_and_monotone(fits: dict[str, SimpleNamespace],
                                                                            data: dict[str, Data]) -> None:
    scorer = fits["delinquency"].dask_scorer
    booster = scorer.booster
    assert type(booster) is lgb.Booster
    assert booster.current_iteration() == booster.best_iteration <= TreeSettings.fast().max_trees
    row = data["delinquency"].split.test.iloc[[0]]
    features = row.iloc[0][scorer.spec.features].to_dict()
    assert scorer.probability_of(features) == pytest.approx(scorer.probability(row)[0])  # the serving path
    for feature, values in {"utilization": np.linspace(0, 1.2, 25), "missed_payments_12m": np.arange(0, 7)}.items():
        grid = pd.concat([row] * len(values), ignore_index=True).assign(**{feature: values})
        assert np.all(np.diff(scorer.probability(grid)) >= -1e-12), feature


def test_nbo_train_engine_dask_logs_and_registers(env: dict[str, str], scheduler: str,
                                                  fits: dict[str, SimpleNamespace], record_property) -> None:
    """`nbo train delinquency --engine dask --dask-scheduler ADDRESS --fast --json`, on a running cluster."""
    from nbo.settings import MlflowSettings
    from training import registry

    run = run_json("train", "delinquency", "--engine", "dask", "--dask-scheduler", scheduler, "--fast", env=env)
    record_property("cli_dask_auc", round(run["metrics"]["roc_auc"], 4))
    assert set(run) == TRAIN_KEYS and run["engine"] == "dask" and run["promoted"]
    logged = registry.connect(MlflowSettings(tracking_uri=env["NBO_MLFLOW__TRACKING_URI"])).get_run(run["run_id"])
    assert logged.data.params["engine"] == "dask" and logged.data.tags["nbo.engine"] == "dask"
    local = fits["delinquency"].local
    # no worse than the worst local seed, less the seed spread (METRIC_TOLERANCE): 19 defaults in the test part
    assert run["metrics"]["roc_auc"] >= local.min() - METRIC_TOLERANCE


def test_sample_customers_trains_on_that_many_customers_drawn_at_random(env: dict[str, str]) -> None:
    """`--sample-customers N`: N of the bank's customers drawn at random before labelling (all their
    as-of dates), the same N every run, recorded on the run: the bounded-memory set for a bank too
    large to label and join whole."""
    from nbo.settings import MlflowSettings
    from training import registry

    runs = [run_json("train", "delinquency", "--fast", "--sample-customers", 1000, env=env) for _ in range(2)]
    first = runs[0]
    everyone = run_json("train", "delinquency", "--fast", env=env)
    assert first["sampled_customers"] == 1000 and everyone["sampled_customers"] is None
    assert 0 < first["training_customers"] < everyone["training_customers"]
    logged = registry.connect(MlflowSettings(tracking_uri=env["NBO_MLFLOW__TRACKING_URI"])).get_run(first["run_id"])
    assert logged.data.params["sampled_customers"] == "1000"
    assert logged.data.params["training_customers"] == str(first["training_customers"])
    assert runs[1]["metrics"] == first["metrics"]  # the same customers, the same model


@pytest.mark.parametrize(("args", "message"), [
    (["recommender", "--sample-customers", "500"], "--sample-customers is for churn and delinquency"),
    (["churn", "--sample-customers", "10"], "10 is not in the range x>=100"),
    (["recommender", "--engine", "dask"], "--engine dask trains churn and delinquency"),
    (["churn", "--dask-scheduler", "tcp://127.0.0.1:8786"], "--dask-scheduler needs --engine dask"),
    (["recommender", "--tune-trials", "5"], "--tune-trials and --tune-seconds are for churn and delinquency"),
    (["churn", "--engine", "dask", "--tune-trials", "5"], "--engine dask takes --tune-trials 0"),
    (["churn", "--leaves", "4", "--tune-trials", "5"], "--leaves fixes what --tune-trials searches"),
])
def test_engine_usage_errors(args: list[str], message: str, env: dict[str, str]) -> None:
    proc = run_cli("train", *args, env=env, check=False)
    assert proc.returncode == 2 and message in proc.stderr
