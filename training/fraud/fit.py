"""Fit the fraud model, choose its thresholds at the budgets, and measure three screens on the test month.

- Fit: LightGBM (the risk models' small trees, `training.risk.fit.TreeSettings`) on the training
  months, stopped early on the validation month by log loss (average precision, on the few fraud
  cases of a small bank's month, stopped after one tree); the rare fraud cases weigh more
  (`training.fraud.data.positive_weight`).
- Thresholds, chosen on the validation month: hold above the score that at most `HOLD_BUDGET` (0.5 %)
  of its payments exceed, step up above the one at most `STEP_UP_BUDGET` (3 %, holds included)
  exceed. What the service runs (model + rules) counts the rules' holds and step-ups inside those
  budgets: the model's thresholds leave room for them. The model alone has its own thresholds.
- Screens measured on the test month (`evaluation.fraud.fraud_metrics`): the model alone, the rules
  alone (the baseline), and model + rules (the strictest of both: what serving decides).
- Isolation forest (unless fast): an unsupervised anomaly score on the same features, alone at the
  0.5 % hold budget and as an extra model feature, measured against the model alone.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

from evaluation.fraud import ALLOW, HOLD, STEP_UP, as_codes, budget_threshold, decide, fraud_metrics
from models.fraud import FraudScorer, FraudSpec
from models.fraud_rules import (
    DEFAULT_LIMITS,
    RULE_FEATURES,
    RuleLimits,
    evaluate_rules,
    rules_decision,
)
from training.fraud.data import FraudSplit, positive_weight
from training.risk.fit import TreeSettings, fit_booster

log = logging.getLogger(__name__)

HOLD_BUDGET = 0.005  # at most 0.5 % of payments held
STEP_UP_BUDGET = 0.03  # at most 3 % held or stepped up
IFOREST_ROWS = 200_000  # training rows the isolation forest sees at most (a seeded sample)
SCREENS = ("model", "rules", "served")


def age_column(frame: pd.DataFrame) -> np.ndarray:
    """The customers' ages (`age`, else the profile's `age_years`)."""
    return frame["age" if "age" in frame else "age_years"].to_numpy(dtype=float, na_value=np.nan)


def rule_codes(frame: pd.DataFrame, limits: RuleLimits = DEFAULT_LIMITS) -> np.ndarray:
    """The rules' decision code for every payment (one call of `evaluate_rules` per row)."""
    present = [name for name in RULE_FEATURES if name in frame]
    rows = frame[present].to_dict("records")
    return as_codes([rules_decision(evaluate_rules(row, limits)) for row in rows]) if rows else np.zeros(0, int)


@dataclass(frozen=True)
class Thresholds:
    hold_above: float
    step_up_above: float


def thresholds_at_budgets(scores: np.ndarray, forced: np.ndarray | None = None) -> Thresholds:
    """The thresholds of the budgets on one period's scores; `forced` (rule codes) already hold or
    step up some payments, which count inside the budgets."""
    held = scores if forced is None else np.where(forced == HOLD, math.inf, scores)
    stopped = scores if forced is None else np.where(forced >= STEP_UP, math.inf, scores)
    return Thresholds(budget_threshold(held, HOLD_BUDGET), budget_threshold(stopped, STEP_UP_BUDGET))


def fit_booster_on(split: FraudSplit, features: list[str], trees: TreeSettings,
                   extra: tuple[np.ndarray, np.ndarray] | None = None) -> lgb.Booster:
    """The booster of the training months, stopped early on the validation month; `extra`: one more
    column (train, valid) appended to the features."""
    def x(part: pd.DataFrame, column: np.ndarray | None) -> pd.DataFrame:
        out = part[features].astype(float)
        return out if column is None else out.assign(iforest=column)

    params = trees.lgb_params([]) | {"metric": "binary_logloss",
                                     "scale_pos_weight": positive_weight(split.train["label"])}
    return fit_booster(params, x(split.train, None if extra is None else extra[0]), split.train["label"],
                       x(split.valid, None if extra is None else extra[1]), split.valid["label"], trees)


@dataclass(frozen=True)
class FraudCandidate:
    """A fitted fraud scorer (thresholds of model + rules), the model-alone thresholds, and the
    test-month metrics of each screen (`model_*`, `rules_*`, `served_*`) and of the isolation forest."""

    scorer: FraudScorer
    model_alone: Thresholds
    metrics: dict[str, float]
    valid_metrics: dict[str, float]


def screen_metrics(prefix: str, decisions: np.ndarray, part: pd.DataFrame) -> dict[str, float]:
    return {f"{prefix}_{k}": v for k, v in fraud_metrics(decisions, part["label"], part["amount"],
                                                         age_column(part)).items()}


def scheme_metrics(decisions: np.ndarray, part: pd.DataFrame) -> dict[str, float]:
    """Per fraud scheme, the share of its test cases held and stopped by model + rules."""
    if "scheme" not in part:
        return {}
    out = {}
    fraud = part["label"].to_numpy() == 1
    for scheme in sorted(part.loc[fraud, "scheme"].dropna().unique()):
        rows = fraud & (part["scheme"] == scheme).to_numpy()
        out[f"served_cases_held_{scheme}"] = float((decisions[rows] == HOLD).mean())
        out[f"served_cases_stopped_{scheme}"] = float((decisions[rows] != ALLOW).mean())
    return out


def fit_fraud(split: FraudSplit, features: list[str], trees: TreeSettings, spec_extras: dict[str, object],
              isolation: bool) -> FraudCandidate:
    """Fit, choose thresholds on the validation month, measure every screen on the test month."""
    booster = fit_booster_on(split, features, trees)
    scorer = FraudScorer(booster, FraudSpec(features, math.inf, math.inf, HOLD_BUDGET, STEP_UP_BUDGET,
                                            **spec_extras), num_threads=trees.num_threads)  # type: ignore[arg-type]
    valid_scores, test_scores = scorer.scores(split.valid), scorer.scores(split.test)
    valid_rules, test_rules = rule_codes(split.valid, scorer.spec.limits), rule_codes(split.test, scorer.spec.limits)
    alone = thresholds_at_budgets(valid_scores)
    served = thresholds_at_budgets(valid_scores, valid_rules)
    scorer = FraudScorer(booster, FraudSpec(**(scorer.spec.to_dict() | {
        "limits": scorer.spec.limits, "hold_above": served.hold_above, "step_up_above": served.step_up_above})),
        num_threads=trees.num_threads)
    decisions = {"model": decide(test_scores, alone.hold_above, alone.step_up_above), "rules": test_rules,
                 "served": np.maximum(decide(test_scores, served.hold_above, served.step_up_above), test_rules)}
    metrics: dict[str, float] = {}
    for name in SCREENS:
        metrics |= screen_metrics(name, decisions[name], split.test)
    metrics |= scheme_metrics(decisions["served"], split.test)
    valid_served = np.maximum(decide(valid_scores, served.hold_above, served.step_up_above), valid_rules)
    valid_metrics = screen_metrics("served", valid_served, split.valid)
    if isolation:
        metrics |= isolation_study(split, features, trees)
    log.info("fraud_model_fitted", extra={"trees": booster.best_iteration, "train_rows": len(split.train)})
    return FraudCandidate(scorer, alone, metrics, valid_metrics)


def held_metrics(prefix: str, scores: np.ndarray, hold_above: float, part: pd.DataFrame) -> dict[str, float]:
    """The hold figures (no step-ups) of a score held above `hold_above` on `part`, keys prefixed."""
    found = fraud_metrics(decide(scores, hold_above, math.inf), part["label"], part["amount"], age_column(part))
    kept = ("fraud_value_held", "fraud_cases_held", "hold_precision", "hold_rate")
    return {f"{prefix}_{k}": v for k, v in found.items() if k.startswith(kept)}


def isolation_study(split: FraudSplit, features: list[str], trees: TreeSettings) -> dict[str, float]:
    """An isolation forest's anomaly score on the test month, at the hold budget: alone
    (`iforest_*`), and as one more feature of a refitted model (`with_iforest_*`)."""
    train_x = split.train[features].astype(float).fillna(-1.0)
    sample = train_x.sample(min(IFOREST_ROWS, len(train_x)), random_state=trees.seed)
    forest = IsolationForest(n_estimators=100, random_state=trees.seed, n_jobs=1).fit(sample.to_numpy())

    def anomaly(part: pd.DataFrame) -> np.ndarray:
        return -forest.score_samples(part[features].astype(float).fillna(-1.0).to_numpy())

    a_train, a_valid, a_test = anomaly(split.train), anomaly(split.valid), anomaly(split.test)
    out = held_metrics("iforest", a_test, thresholds_at_budgets(a_valid).hold_above, split.test)
    booster = fit_booster_on(split, features, trees, (a_train, a_valid))
    with_valid = booster.predict(split.valid[features].astype(float).assign(iforest=a_valid))
    with_test = booster.predict(split.test[features].astype(float).assign(iforest=a_test))
    return out | held_metrics("with_iforest", with_test, thresholds_at_budgets(with_valid).hold_above, split.test)
