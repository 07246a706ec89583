"""`nbo train fraud`: replay the payments, fit, log to MLflow as `nbo-fraud`, promote if better.

The run logs the tree settings and budgets as params, the thresholds (`thresholds.json`, also in the
model's spec), the split, the drift reference of the development months and the test-month metrics
of the three screens (`model_*`, `rules_*`, `served_*`: see `training.fraud.fit`). The primary
metric, the one promotion compares, is `fraud_value_held`: the share of the test month's fraud value
that model + rules (what the service decides) hold within the 0.5 % hold budget. A champion is
measured on the candidate's own test month with its own thresholds and the same rules.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import sklearn

from evaluation.drift import numeric_reference
from evaluation.fraud import decide
from features.payments.counters import (
    CHANNELS,
    COUNTER_FEATURES,
    NEVER_DAYS,
    NEVER_HOURS,
    NEVER_MINUTES,
    PROFILE_FEATURES,
)
from models.alias_history import AliasHistory
from models.fraud import MODEL_CODE, FraudScorer, fraud_signature
from models.reference import DriftReference, feature_reference, write_reference
from models.registry import FRAUD, load_fraud, registered_name
from models.risk import save_artifacts
from nbo.console import stage
from nbo.settings import Settings
from sources.portfolio import currency_of, training_portfolio
from training import registry
from training.fraud.data import read_labels, split_by_month
from training.fraud.fit import (
    HOLD_BUDGET,
    STEP_UP_BUDGET,
    FraudCandidate,
    fit_fraud,
    rule_codes,
    screen_metrics,
)
from training.risk.fit import TreeSettings
from training.risk.review import HOLDOUT_ARTIFACT, read_holdout

log = logging.getLogger(__name__)

PRIMARY_METRIC = "fraud_value_held"  # = served_fraud_value_held
FEATURES = [*COUNTER_FEATURES, *PROFILE_FEATURES]
NEVER = {"hours_since_password_change": NEVER_HOURS, "hours_since_device_bound": NEVER_HOURS,
         "device_age_days": NEVER_DAYS, "days_since_prev_payment": NEVER_DAYS, "minutes_since_credit": NEVER_MINUTES}


def payment_rows(data_dir: Path, truth: Path | None) -> pd.DataFrame:
    """The replayed payments of a data directory, labelled by `truth` (default: DATA/truth/fraud.parquet;
    `features.payments.replay.payment_frame`)."""
    from features.payments.replay import payment_frame

    return payment_frame(data_dir, truth)


def champion_value(uri: str, test: pd.DataFrame) -> float:
    """The champion's primary metric on the candidate's test month (its thresholds, the same rules)."""
    champion = load_fraud(uri)
    scores = champion.scores(test)
    decisions = np.maximum(decide(scores, champion.spec.hold_above, champion.spec.step_up_above),
                           rule_codes(test, champion.spec.limits))
    return screen_metrics("served", decisions, test)[f"served_{PRIMARY_METRIC}"]


def development_reference(scorer: FraudScorer, development: pd.DataFrame) -> DriftReference:
    """The score's and each feature's distribution on the training and validation months."""
    return DriftReference(numeric_reference(scorer.scores(development)),
                          {n: feature_reference(development[n], False) for n in scorer.spec.features},
                          len(development))


def _log_model(scorer: FraudScorer, example: pd.DataFrame, name: str, work_dir: Path) -> mlflow.models.model.ModelInfo:
    return mlflow.pyfunc.log_model(
        name="model", python_model=MODEL_CODE, artifacts=save_artifacts(scorer.booster, scorer.spec, work_dir),
        signature=fraud_signature(scorer.spec), input_example=example[scorer.spec.features].astype(float),
        registered_model_name=name,
        pip_requirements=[f"lightgbm=={lgb.__version__}", f"mlflow=={mlflow.__version__}",
                          f"pandas=={pd.__version__}", f"numpy=={np.__version__}",
                          f"scikit-learn=={sklearn.__version__}"])


def train_fraud(settings: Settings, data_dir: Path, trees: TreeSettings, force: bool, labels: Path | None,
                truth: Path | None, isolation: bool) -> dict[str, object]:
    """Train, log, register and (if better, or forced) promote a fraud model; what `nbo train fraud` prints."""
    owner, currency = training_portfolio(data_dir, None), currency_of(data_dir)
    name = registered_name(FRAUD, owner)
    started_ms = registry.now_ms()
    stage("training set")
    served = None if labels is None else read_labels(labels, FEATURES)  # a bad file fails before the replay
    split = split_by_month(payment_rows(data_dir, truth), served)
    stage("fit")
    candidate = fit_fraud(split, FEATURES, trees, {"never": NEVER, "channels": list(CHANNELS), "portfolio": owner,
                                                   "currency": currency}, isolation)
    stage("evaluate")
    metrics = candidate.metrics | {PRIMARY_METRIC: candidate.metrics[f"served_{PRIMARY_METRIC}"]}
    stage("log")
    client = registry.connect(settings.mlflow)
    history = AliasHistory(settings.audit_url)
    experiment = registry.ensure_experiment(client, name, settings.mlflow.artifact_location)
    params = trees.to_params() | {"kind": "fraud", "data_dir": str(data_dir.resolve()), "portfolio": owner,
                                  "currency": currency, "split": "time (calendar months)",
                                  "labels_file": str(labels) if labels else "none",
                                  "truth_file": str(truth) if truth else "DATA/truth/fraud.parquet",
                                  "labelled_rows": split.labelled_rows, "best_iteration": candidate.scorer.booster.best_iteration,
                                  "features": len(FEATURES), "primary_metric": PRIMARY_METRIC,
                                  "isolation_forest": isolation} | candidate.scorer.spec.thresholds()
    keys = ["payment_id", "customer_id", "payment_time", "label", *FEATURES]
    snapshot = registry.data_snapshot_id([p for p in data_dir.rglob("*.parquet")
                                          if p.stem.startswith(("payments", "account_events", "fraud"))])
    with tempfile.TemporaryDirectory(prefix="nbo-run-") as tmp:
        artifacts = Path(tmp) / "artifacts"
        artifacts.mkdir()
        (artifacts / "thresholds.json").write_text(json.dumps(
            candidate.scorer.spec.thresholds() | {"model_alone": candidate.model_alone.__dict__}, indent=2))
        (artifacts / "split.json").write_text(json.dumps(split.description(), indent=2))
        write_reference(development_reference(candidate.scorer, pd.concat([split.train, split.valid])), artifacts)
        holdout = artifacts / HOLDOUT_ARTIFACT  # the test month, for `nbo promote` to measure a champion on later
        holdout.parent.mkdir(parents=True, exist_ok=True)
        split.test[list(dict.fromkeys([*keys, "amount", "age"]))].to_parquet(holdout, index=False)
        run = registry.TrainingRun(
            name=registry.run_name("fraud", data_dir, started_ms), started_ms=started_ms, params=params,
            metrics=metrics, features=FEATURES, data_snapshot=snapshot,
            holdout_id=_holdout_id(split.test), artifact_dir=artifacts, portfolio=owner,
            extra_metrics={f"valid_{k}": v for k, v in candidate.valid_metrics.items()},
            datasets=[registry.RunDataset(part[keys], f"fraud-{context}", context, data_dir, "label")
                      for part, context in ((split.train, "training"), (split.valid, "validation"),
                                            (split.test, "test"))])
        registered = registry.log_and_register(
            name, experiment, run, lambda: _log_model(candidate.scorer, split.test.head(3), name, Path(tmp) / "model"),
            history)
    promotion = registry.promote_if_better(client, name, registered, PRIMARY_METRIC, True, force,
                                           champion_metric=lambda uri: champion_value(uri, split.test), history=history)
    return _result(name, owner, registered, promotion, candidate, metrics, split.description(), settings)


def promote_fraud(settings: Settings, model_name: str, version: str, force: bool, note: str | None = None
                  ) -> dict[str, object]:
    """Make fraud model `version` champion if model + rules hold more of its test month's fraud value than
    the champion does on the same month, or when forced (`note`: why)."""
    client = registry.connect(settings.mlflow)
    found = registry.resolve_version(client, f"{model_name}/{version}")
    run = registry.RegisteredRun(found.run_id, model_name, str(found.version),
                                 dict(client.get_run(found.run_id).data.metrics))
    promotion = registry.promote_if_better(client, model_name, run, PRIMARY_METRIC, True, force,
                                           lambda uri: champion_value(uri, read_holdout(found.run_id)), note,
                                           history=AliasHistory(settings.audit_url))
    return {"model": model_name, "model_version": run.version, "run_id": run.run_id} | promotion.to_dict()


def _holdout_id(test: pd.DataFrame) -> str:
    """A digest of the test month's payment ids and labels (which payments a comparison was made on)."""
    digest = pd.util.hash_pandas_object(test[["payment_id", "label"]], index=False).sum()
    return f"{int(digest) & 0xFFFFFFFFFFFF:012x}"


def _result(name: str, owner: str, registered: registry.RegisteredRun, promotion: registry.Promotion,
            candidate: FraudCandidate, metrics: dict[str, float], split: dict[str, object],
            settings: Settings) -> dict[str, object]:
    return {"model": name, "portfolio": owner, "run_id": registered.run_id, "model_version": registered.version,
            "promoted": promotion.promoted, "forced": promotion.forced, "promotion": promotion.to_dict(),
            "primary_metric": PRIMARY_METRIC, "metrics": metrics, "thresholds": candidate.scorer.spec.thresholds(),
            "budgets": {"hold": HOLD_BUDGET, "step_up": STEP_UP_BUDGET}, "split": split,
            "tracking_uri": settings.mlflow.tracking_uri}

