"""LightGBM training on a Dask cluster (`lightgbm.dask`): the scale path of DESIGN §10.

`fit_booster_on_dask` trains what `training.risk.fit.fit_booster` trains (the same parameters,
monotone constraints included, on the same training rows) with `DaskLGBMClassifier`, data-parallel
across the cluster's workers. It returns a plain `lgb.Booster`, so calibration, reason codes, the
scorecard, MLflow logging and serving run the same code whichever engine trained the trees.

Early stopping: lightgbm 4.7's Dask interface takes an `eval_set` but does not support early
stopping (lightgbm issues #3712 and #4493; with `early_stopping_round` the workers can stop at
different rounds and training hangs, #6351). So the cluster trains `max_trees` trees and the rule
of `lgb.early_stopping` (stop once `early_stopping_rounds` rounds pass without a lower validation
binary log loss, keep the best round) is applied afterwards, here, on the whole validation part;
the booster is cut at that round. The trees are chosen by the single-machine rule without a
single-machine fit; the price is training the trees past the stopping point.

The model is not the single-machine one, and two Dask runs on the same data can differ: each
worker bags its own rows and finds the bins of its share of the features from its own rows, and
lightgbm.dask gives the workers their ranks in no fixed order. tests/scale/test_dask_training.py
measures how close the test ROC AUC comes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from functools import partial
from typing import Any

import dask.dataframe as dd
import lightgbm as lgb
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster
from numpy.typing import NDArray

from nbo.errors import NboError
from training.risk.fit import TrainingEngine, TreeSettings

log = logging.getLogger(__name__)

# `--engine dask` without a scheduler address: a one-machine stand-in for a real cluster.
LOCAL_WORKERS = 2
LOCAL_THREADS_PER_WORKER = 1
_LABEL = "__label__"


@contextlib.contextmanager
def dask_client(scheduler: str | None) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a local cluster (threads in this process)
    when it is None; the local cluster is closed on exit.

    Raises:
        NboError: the scheduler cannot be reached.
    """
    if scheduler is None:
        with LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=LOCAL_THREADS_PER_WORKER,
                          processes=False, dashboard_address=":0") as cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler)
    except OSError as err:
        raise NboError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    with client:
        yield client


def dask_engine(client: Client) -> TrainingEngine:
    """The training engine that fits boosters on `client`'s cluster."""
    return TrainingEngine("dask", partial(fit_booster_on_dask, client))


def fit_booster_on_dask(client: Client, params: dict[str, object], x_train: pd.DataFrame, y_train: pd.Series,
                        x_valid: pd.DataFrame, y_valid: pd.Series, trees: TreeSettings) -> lgb.Booster:
    """Train `trees.max_trees` trees on the cluster, then cut the booster at the early-stopping round."""
    frame = spread_rows(client, x_train.assign(**{_LABEL: y_train.to_numpy()}))
    # lightgbm.dask sets each worker's threads itself (and warns of the wrapper's own n_jobs).
    dask_params: dict[str, Any] = {k: v for k, v in params.items() if k != "num_threads"}
    model = lgb.DaskLGBMClassifier(client=client, n_estimators=trees.max_trees, **dask_params)
    with warnings.catch_warnings(), _stdout_to_stderr():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
        model.fit(frame[list(x_train.columns)], frame[_LABEL])
    booster = model.booster_
    best = early_stopping_iteration(validation_losses(booster, x_valid, y_valid), trees.early_stopping_rounds)
    cut = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
    cut.best_iteration = best
    log.info("dask_booster_fitted", extra={"workers": frame.npartitions, "best_iteration": best,
                                           "trees_trained": booster.current_iteration()})
    return cut


def spread_rows(client: Client, frame: pd.DataFrame) -> dd.DataFrame:
    """`frame` as a Dask frame of one partition per worker, held by that worker: row i goes to the
    (i mod n)-th worker, so every worker trains on a like share of periods and labels.

    Left to the scheduler, small partitions can all land on one worker, and LightGBM then trains
    on one machine only.
    """
    workers = sorted(client.nthreads())
    shares = [frame.iloc[k::len(workers)] for k in range(len(workers))]
    futures = [client.scatter(share, workers=[worker]) for share, worker in zip(shares, workers, strict=True)]
    return dd.from_delayed(futures, meta=frame.iloc[:0], verify_meta=False)


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send stdout to stderr, file descriptor included, so `--json` output stays clean: lightgbm.dask
    prints its progress, and LightGBM's network setup in the local cluster's worker threads writes
    straight to file descriptor 1."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def validation_losses(booster: lgb.Booster, x_valid: pd.DataFrame, y_valid: pd.Series) -> NDArray[np.float64]:
    """Binary log loss on the validation part after each boosting round (LightGBM's `binary_logloss`).

    One prediction of every row's leaf in every tree; a round's raw score is the sum of its leaves'
    outputs so far (the first tree carries the average LightGBM boosts from).
    """
    leaves = np.asarray(booster.predict(x_valid, pred_leaf=True), dtype=int).reshape(len(x_valid), -1)
    y = y_valid.to_numpy(float)
    raw = np.zeros(len(x_valid))
    losses = np.empty(leaves.shape[1])
    for tree in range(leaves.shape[1]):
        outputs = np.array([booster.get_leaf_output(tree, leaf) for leaf in range(leaves[:, tree].max() + 1)])
        raw += outputs[leaves[:, tree]]
        p = np.clip(1.0 / (1.0 + np.exp(-raw)), 1e-15, 1 - 1e-15)
        losses[tree] = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return losses


def early_stopping_iteration(losses: NDArray[np.float64], rounds: int) -> int:
    """The round (1-based) `lgb.early_stopping(rounds)` keeps, given the loss after each round.

    The best round is the first with the lowest loss so far; training stops once `rounds` rounds
    pass without a strictly lower loss.
    """
    best = 0
    for i, loss in enumerate(losses):
        if loss < losses[best]:
            best = i
        elif i - best >= rounds:
            break
    return best + 1
