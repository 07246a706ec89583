"""Nested tuning of the risk models' LightGBM settings: Optuna TPE, scored by inner cross-validation.

The tuner is given the training rows only (the training and validation parts of a run, or the
training folds of an outer cross-validation fold); the test part and outer test folds never reach
it. Each trial is scored by `lgb.cv` over inner folds of those rows, stratified by label and
grouped by customer (a customer's months never sit on both sides), stopping early on the folds'
mean log loss; the trial's score is the mean inner ROC AUC at that round. The number of trees is
not tuned: the final fit stops early on the run's validation part, as untuned runs do.

The space is small and sensible for these tables: very small trees to medium ones (2-32 leaves,
depth 2-8, which keeps SHAP reason codes cheap), leaf size, learning rate, feature subsampling and
L2. Results are reproducible: a seeded sampler, one thread, deterministic LightGBM; a time budget
(`seconds`) stops between trials, so it trades that reproducibility for a bounded run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from nbo.console import progress_bar

log = logging.getLogger(__name__)

INNER_FOLDS = 3
MAX_ROWS = 25_000  # tuning rows drawn by whole customers above this: bounds the cost on a large bank
SPACE: dict[str, str] = {
    "num_leaves": "int 2-32, log",
    "max_depth": "int 2-8",
    "min_data_in_leaf": "int 5-300, log",
    "learning_rate": "float 0.01-0.2, log (trees: early stopping)",
    "feature_fraction": "float 0.4-1.0",
    "lambda_l2": "float 0.001-30, log",
}


@dataclass(frozen=True)
class TuningBudget:
    """How much tuning a run may do: `trials` (0 = none) and an optional wall-clock limit in seconds."""

    trials: int
    seconds: float | None = None

    @property
    def enabled(self) -> bool:
        return self.trials > 0


@dataclass(frozen=True)
class TuningResult:
    """The best settings found, their inner score and what the search covered."""

    params: dict[str, float | int]
    inner_roc_auc: float
    inner_best_trees: int
    trials: int
    seconds: float
    rows: int
    inner_folds: int = INNER_FOLDS

    def to_dict(self) -> dict[str, object]:
        return asdict(self) | {"space": SPACE}


# (base LightGBM params, rows' features, labels, customer ids) -> best settings
Tuner = Callable[[dict[str, object], pd.DataFrame, pd.Series, pd.Series], TuningResult]


def suggest(trial: optuna.Trial) -> dict[str, float | int]:
    """One point of `SPACE`."""
    return {
        "num_leaves": trial.suggest_int("num_leaves", 2, 32, log=True),
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 300, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


def inner_folds(y: pd.Series, groups: pd.Series, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Label-stratified folds of whole customers (positions into the tuning rows)."""
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y.to_numpy(int), groups.to_numpy()))


def _limit_rows(x: pd.DataFrame, y: pd.Series, groups: pd.Series, seed: int
                ) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """At most about `MAX_ROWS` rows, drawn by whole customers (seeded)."""
    if len(x) <= MAX_ROWS:
        return x, y, groups
    customers = groups.unique()
    keep_share = MAX_ROWS / len(x)
    kept = np.random.default_rng(seed).choice(customers, max(2, int(keep_share * len(customers))), replace=False)
    mask = groups.isin(kept).to_numpy()
    return x[mask], y[mask], groups[mask]


def tune(budget: TuningBudget, base: dict[str, object], max_trees: int, early_stopping_rounds: int,
         x: pd.DataFrame, y: pd.Series, groups: pd.Series, seed: int = 0, label: str = "tuning") -> TuningResult:
    """Search `SPACE` for the settings with the best inner-CV ROC AUC on these (training) rows only.

    `base` is the run's LightGBM parameters (objective, monotone constraints, seed, ...); the first
    trial is `base` itself, so the result is never worse on the inner score than the settings given.
    A trial overrides the tuned ones and trains on one thread (many small fits: threads only contend).
    `groups` are the rows' customer ids; `label` names the progress bar.
    """
    started = time.perf_counter()
    x, y, groups = _limit_rows(x, y.astype(int), groups, seed)
    folds = inner_folds(y, groups, INNER_FOLDS, seed)
    trees: dict[int, int] = {}

    def objective(trial: optuna.Trial) -> float:
        params = base | suggest(trial) | {"metric": ["binary_logloss", "auc"], "first_metric_only": True,
                                          "feature_pre_filter": False, "num_threads": 1}
        history = lgb.cv(params, lgb.Dataset(x, y, free_raw_data=False), num_boost_round=max_trees, folds=folds,
                         callbacks=[lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)])
        trees[trial.number] = len(history["valid auc-mean"])
        return float(history["valid auc-mean"][-1])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({name: base[name] for name in SPACE})  # the first trial: the settings as given
    with progress_bar(label, budget.trials, unit="trials") as bar:
        study.optimize(objective, n_trials=budget.trials, timeout=budget.seconds,
                       callbacks=[lambda _study, _trial: bar.advance()])
    best = study.best_trial
    result = TuningResult(params=dict(best.params), inner_roc_auc=float(best.value),
                          inner_best_trees=trees[best.number], trials=len(study.trials),
                          seconds=round(time.perf_counter() - started, 1), rows=len(x))
    log.info("tuned", extra={"trials": result.trials, "inner_roc_auc": round(result.inner_roc_auc, 4),
                             "seconds": result.seconds, "params": result.params})
    return result
