"""LightGBM churn and delinquency models: fit on the training part, stop early and calibrate on
the validation part, measure on the test part.

Trees are small (8 leaves, depth 4): as good on the holdout as larger ones here, and SHAP
contributions (reason codes) cost grows with depth squared. Calibration is Platt scaling: on
these validation sizes isotonic regression matched its Brier score but tied scores and cost AUC.

Delinquency carries monotone constraints: PD never falls as utilization, missed payments, days
past due or the income shock (no salary credited lately) get worse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from evaluation import metrics
from models.calibration import CalibrationMethod, fit_calibration
from models.registry import CHURN, DELINQUENCY
from models.risk import RiskKind, RiskScorer, RiskSpec
from models.scorecard import Scorecard
from training.tuning import Tuner, TuningBudget, TuningResult, tune

log = logging.getLogger(__name__)

# +1: the risk never falls as the feature rises; -1: never rises.
DELINQUENCY_MONOTONE: dict[str, int] = {
    "utilization": 1, "utilization_avg_3m": 1, "utilization_max_12m": 1,
    "missed_payments": 1, "missed_payments_12m": 1,
    "days_past_due": 1, "worst_dpd_12m": 1, "months_past_due_12m": 1,
    "salary_credit_cny_30d": -1,
}


@dataclass(frozen=True)
class RiskModelKind:
    """What differs between the two risk models."""

    kind: RiskKind
    model_name: str
    label: str
    primary_metric: str
    calibration: CalibrationMethod
    monotone: dict[str, int]


RISK_MODELS: dict[str, RiskModelKind] = {
    "churn": RiskModelKind("churn", CHURN, "churn", "roc_auc", "platt", {}),
    "delinquency": RiskModelKind("delinquency", DELINQUENCY, "delinquency", "roc_auc", "platt",
                                 DELINQUENCY_MONOTONE),
}


def prepare_features(frame: pd.DataFrame, spec: RiskSpec) -> pd.DataFrame:
    """The model's feature columns in order, as LightGBM trains on them: categoricals as pandas
    categories (their levels are stored with the booster), the rest as floats."""
    out = frame[spec.features].copy()
    for name in spec.features:
        if name in spec.categorical:
            out[name] = out[name].astype("string").replace("", pd.NA).astype("category")
        else:
            out[name] = pd.to_numeric(out[name], errors="raise").astype(float)
    return out


def explain_sample(scorer: RiskScorer, sample: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """SHAP contributions of a sample's rows (by the scorer's one path) and their features as a report shows them."""
    return scorer.contributions(scorer.encode_frame(sample).matrix), prepare_features(sample, scorer.spec)


@dataclass(frozen=True)
class TreeSettings:
    """LightGBM size and learning settings; `fast()` is a small model for tests and smoke runs."""

    max_trees: int = 1000
    num_leaves: int = 8
    max_depth: int = 4
    learning_rate: float = 0.05
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    lambda_l2: float = 1.0
    early_stopping_rounds: int = 50
    seed: int = 0
    num_threads: int = 0

    @classmethod
    def fast(cls) -> TreeSettings:
        return cls(max_trees=80, num_leaves=7, max_depth=3, learning_rate=0.1, early_stopping_rounds=15)

    def with_overrides(self, **overrides: object) -> TreeSettings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def lgb_params(self, monotone: list[int]) -> dict[str, object]:
        params: dict[str, object] = {
            "objective": "binary", "metric": "binary_logloss", "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate, "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction, "bagging_fraction": 0.8, "bagging_freq": 1,
            "lambda_l2": self.lambda_l2, "seed": self.seed, "deterministic": True,
            "num_threads": self.num_threads, "verbose": -1,
        }
        if any(monotone):
            params |= {"monotone_constraints": monotone, "monotone_constraints_method": "intermediate"}
        return params

    def to_params(self) -> dict[str, object]:
        return asdict(self)


def monotone_vector(model: RiskModelKind, features: list[str]) -> list[int]:
    """The LightGBM monotone_constraints list for these features (0 = unconstrained)."""
    return [model.monotone.get(name, 0) for name in features]


# (params, x_train, y_train, x_valid, y_valid, trees) -> booster stopped early on the validation part
BoosterFit = Callable[[dict[str, object], pd.DataFrame, pd.Series, pd.DataFrame, pd.Series, TreeSettings],
                      lgb.Booster]


def fit_booster(params: dict[str, object], x_train: pd.DataFrame, y_train: pd.Series, x_valid: pd.DataFrame,
                y_valid: pd.Series, trees: TreeSettings) -> lgb.Booster:
    """Train a booster on this machine, stopping early on the validation part."""
    d_train = lgb.Dataset(x_train, y_train, free_raw_data=False)
    d_valid = lgb.Dataset(x_valid, y_valid, reference=d_train)
    return lgb.train(params, d_train, num_boost_round=trees.max_trees, valid_sets=[d_valid],
                     callbacks=[lgb.early_stopping(trees.early_stopping_rounds, verbose=False)])


@dataclass(frozen=True)
class TrainingEngine:
    """Where boosters are trained: a name the run records, and the fit."""

    name: str
    fit: BoosterFit


LOCAL_ENGINE = TrainingEngine("local", fit_booster)


NO_TUNING = TuningBudget(trials=0)


def tune_settings(model: RiskModelKind, rows: pd.DataFrame, features: list[str], categorical: list[str],
                  trees: TreeSettings, budget: TuningBudget, tuner: Tuner | None = None, label: str = "tuning"
                  ) -> tuple[TreeSettings, TuningResult | None]:
    """`trees` with the settings tuned on `rows` (training rows only: never a test part or outer
    test fold), or `trees` unchanged when the budget is zero. `tuner` defaults to `tune` with `budget`."""
    if not budget.enabled:
        return trees, None
    spec = RiskSpec(model.kind, features, [c for c in categorical if c in features])
    run = tuner or (lambda base, x, y, groups: tune(budget, base, trees.max_trees, trees.early_stopping_rounds,
                                                    x, y, groups, trees.seed, label))
    result = run(trees.lgb_params(monotone_vector(model, features)), prepare_features(rows, spec),
                 rows[model.label].astype(int), rows["customer_id"])
    return trees.with_overrides(**result.params), result


def fit_risk_model(model: RiskModelKind, train: pd.DataFrame, valid: pd.DataFrame, features: list[str],
                   categorical: list[str], trees: TreeSettings, fit: BoosterFit = fit_booster) -> RiskScorer:
    """Train on `train` with `fit` (this machine, or `training.risk.dask_fit`), stop early on `valid`,
    then fit the calibration on `valid` only."""
    spec = RiskSpec(model.kind, features, [c for c in categorical if c in features])
    x_train, x_valid = prepare_features(train, spec), prepare_features(valid, spec)
    y_train, y_valid = train[model.label].astype(int), valid[model.label].astype(int)
    booster = fit(trees.lgb_params(monotone_vector(model, features)), x_train, y_train, x_valid, y_valid, trees)
    raw_valid = booster.predict(x_valid, num_threads=trees.num_threads)
    calibration = fit_calibration(model.calibration, raw_valid, y_valid)
    log.info("risk_model_fitted", extra={"model": model.model_name, "trees": booster.best_iteration,
                                         "train_rows": len(train), "valid_rows": len(valid)})
    return RiskScorer(booster, replace(spec, calibration=calibration), num_threads=trees.num_threads)


def score_metrics(kind: RiskKind, y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The metrics DESIGN §6 asks of each model, on one set of labels and probabilities."""
    result = {
        "roc_auc": metrics.roc_auc(y, p), "pr_auc": metrics.pr_auc(y, p), "brier": metrics.brier(y, p),
        "calibration_error": metrics.reliability(y, p).calibration_error,
        "positive_rate": float(np.mean(y)), "rows": float(len(y)),
    }
    if kind == "churn":
        return result | {"lift_top_decile": metrics.lift_at(y, p, 0.1)}
    return result | {"ks": metrics.ks(y, p), "gini": metrics.gini(y, p)}


def evaluate_split(model: RiskModelKind, scorer: RiskScorer, train: pd.DataFrame, valid: pd.DataFrame,
                   test: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Metrics on each part; delinquency adds the PSI of scorecard points, train vs test."""
    parts = {"train": train, "valid": valid, "test": test}
    probabilities = {name: scorer.probability(part) for name, part in parts.items()}
    result = {name: score_metrics(model.kind, parts[name][model.label].to_numpy(int), p)
              for name, p in probabilities.items()}
    if model.kind == "delinquency":
        points = Scorecard().points
        result["test"]["psi"] = metrics.psi(points(probabilities["train"]), points(probabilities["test"]))
    return result


@dataclass(frozen=True)
class CrossValidation:
    """The mean and standard deviation of each test metric over the folds, and each fold's tuning."""

    metrics: dict[str, float]
    tuning: list[TuningResult]


def cross_validate(model: RiskModelKind, frame: pd.DataFrame, features: list[str], categorical: list[str],
                   trees: TreeSettings, folds: int = 5, fit: BoosterFit = fit_booster,
                   budget: TuningBudget = NO_TUNING, tuner: Tuner | None = None) -> CrossValidation:
    """Stratified k-fold estimate for single-snapshot data (the protocol of the public anchors).

    Each fold is scored by a model fitted on the other folds, 75 % to train and 25 % to stop early
    and calibrate; with a tuning budget the settings are tuned first on those other folds only
    (nested: the fold's test rows never reach the tuner). Metrics: the mean of each test metric
    and its standard deviation (`*_std`).
    """
    y = frame[model.label].astype(int).to_numpy()
    per_fold, tunings = [], []
    outer = StratifiedKFold(folds, shuffle=True, random_state=trees.seed).split(frame, y)
    for fold, (fit_rows, test_rows) in enumerate(outer, start=1):
        fold_trees, tuning = tune_settings(model, frame.iloc[fit_rows], features, categorical, trees, budget, tuner,
                                           f"tuning in CV fold {fold} of {folds}")
        tunings += [tuning] if tuning else []
        train_rows, valid_rows = train_test_split(fit_rows, test_size=0.25, stratify=y[fit_rows],
                                                  random_state=trees.seed)
        scorer = fit_risk_model(model, frame.iloc[train_rows], frame.iloc[valid_rows], features, categorical,
                                fold_trees, fit)
        per_fold.append(score_metrics(model.kind, y[test_rows], scorer.probability(frame.iloc[test_rows])))
    table = pd.DataFrame(per_fold).drop(columns=["rows", "positive_rate"])
    metrics = table.mean().to_dict() | table.std(ddof=0).add_suffix("_std").to_dict() | {"folds": float(folds)}
    return CrossValidation(metrics, tunings)
