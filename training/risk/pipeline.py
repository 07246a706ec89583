"""One training run of a risk model: training set → split → fit → evaluate → report → MLflow.

The run is compared with the current champion on the run's own test holdout; it becomes
champion only if it is better there (or when forced). Both belong to the data's portfolio: its
registered name is the portfolio's (`models.registry.registered_name`), its spec carries the
portfolio, currency and risk bands (fitted on the development sample outside the demo).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.models.model import ModelInfo

from evaluation.report import ReportInputs, write_report
from features.build.monthly import offline_dir, read_manifest
from features.repo.store import materialize_store, open_store
from models.alias_history import AliasHistory
from models.reference import build_reference, write_reference
from models.registry import registered_name
from models.risk import (
    MODEL_CODE,
    RiskScorer,
    caller_frame,
    risk_signature,
    save_artifacts,
)
from models.scorecard import Bands, Scorecard, fit_bands
from nbo.console import stage
from nbo.errors import ContractViolation
from nbo.settings import Settings
from sources.portfolio import DEMO, currency_of, training_portfolio
from training import registry
from training.datasets import TrainingSet, ensure_features, feature_settings, load_training_set
from training.risk.fit import (
    LOCAL_ENGINE,
    NO_TUNING,
    RISK_MODELS,
    RiskModelKind,
    TrainingEngine,
    TreeSettings,
    cross_validate,
    evaluate_split,
    explain_sample,
    fit_risk_model,
    tune_settings,
)
from training.risk.origins import with_inputs
from training.risk.review import HOLDOUT_ARTIFACT, ChampionOnHoldout, measure_champion
from training.splits import Split, split_training_set
from training.tuning import SPACE, TuningBudget, TuningResult

log = logging.getLogger(__name__)

SHAP_SAMPLE_ROWS = 2000


@dataclass(frozen=True)
class Candidate:
    """A fitted risk model and its evaluation, before it is logged."""

    model: RiskModelKind
    scorer: RiskScorer
    split: Split
    metrics: dict[str, dict[str, float]]
    data: TrainingSet
    trees: TreeSettings
    started_ms: int  # when its data began to load: the start of its MLflow run
    engine: str = LOCAL_ENGINE.name
    budget: TuningBudget = NO_TUNING
    tuning: TuningResult | None = None  # tuned on the training and validation parts
    cv_tuning: tuple[TuningResult, ...] = ()  # one per outer CV fold, tuned on its training folds

    def tuning_record(self) -> dict[str, object] | None:
        """What was tuned, as the run's `tuning.json` and `nbo train --json` show it; None if nothing."""
        if self.tuning is None:
            return None
        return {"budget": {"trials": self.budget.trials, "seconds": self.budget.seconds}, "space": SPACE,
                "run": self.tuning.to_dict() | {"rows": "training and validation parts"},
                "cv_folds": [t.to_dict() for t in self.cv_tuning]}

    @property
    def portfolio(self) -> str:
        return self.scorer.spec.portfolio

    @property
    def registered_name(self) -> str:
        """The model's registered name in its portfolio (nbo-churn, nbo-churn.<portfolio>)."""
        return registered_name(self.model.model_name, self.portfolio)


def fit_candidate(settings: Settings, kind: str, data_dir: Path, trees: TreeSettings,
                  rebuild: bool = False, engine: TrainingEngine = LOCAL_ENGINE,
                  sample_customers: int | None = None, portfolio: str | None = None,
                  budget: TuningBudget = NO_TUNING) -> Candidate:
    """Pull the training set from Feast (of `sample_customers` customers drawn at random, if given),
    split it, tune within the training and validation parts (`budget`), fit (on `engine`) and
    evaluate a model of the data's portfolio (`portfolio`: see `sources.portfolio.training_portfolio`);
    single-snapshot data adds a cross-validation that tunes inside each fold."""
    model = RISK_MODELS[kind]
    owner, currency = training_portfolio(data_dir, portfolio), currency_of(data_dir)
    started_ms = registry.now_ms()
    stage("training set")
    data = load_training_set(settings, model.label, data_dir, rebuild, sample_customers)
    split = split_training_set(data.frame, model.label, trees.seed)
    _require_both_classes(split, model.label, sample_customers)
    stage("fit")
    development = pd.concat([split.train, split.valid], ignore_index=True)
    tuned, tuning = tune_settings(model, development, data.features, data.categorical, trees, budget)
    scorer = fit_risk_model(model, split.train, split.valid, data.features, data.categorical, tuned, engine.fit)
    spec = replace(scorer.spec, portfolio=owner, currency=currency, bands=portfolio_bands(scorer, development, owner))
    scorer = RiskScorer(scorer.booster, spec, scorer.num_threads)
    scorer = with_inputs(scorer, data, development)  # origins, one-value groups, ranges
    stage("evaluate")
    metrics = evaluate_split(model, scorer, split.train, split.valid, split.test)
    cv_tuning: list[TuningResult] = []
    if split.method == "stratified":
        # each fold tunes from the untuned settings on its own training folds, as the run did on its parts
        cv = cross_validate(model, data.frame, data.features, data.categorical, trees, fit=engine.fit,
                            budget=budget)
        metrics["cv"], cv_tuning = cv.metrics, cv.tuning
    return Candidate(model, scorer, split, metrics, data, tuned, started_ms, engine.name, budget, tuning,
                     tuple(cv_tuning))


def portfolio_bands(scorer: RiskScorer, development: pd.DataFrame, portfolio: str) -> Bands:
    """The bands a model scores into: the fixed ones of its kind for churn and for the demo's
    delinquency (their published PD meaning holds there), else risk bands fitted on the scorecard
    points of the development sample (train and validation parts; `models.scorecard.fit_bands`)."""
    if scorer.spec.kind == "churn" or portfolio == DEMO:
        return scorer.spec.band_set
    return fit_bands(Scorecard().points(scorer.probability(development)), f"risk-bands-fitted-{portfolio}")


def _require_both_classes(split: Split, label: str, sample_customers: int | None) -> None:
    """ContractViolation unless the train, validation and test parts each hold both outcomes."""
    for part, frame in (("train", split.train), ("validation", split.valid), ("test", split.test)):
        if frame[label].nunique() < 2:
            more = f" (--sample-customers {sample_customers} drew too few; ask for more)" if sample_customers else ""
            raise ContractViolation(f"the {part} part of the {label} training set has {len(frame)} rows, all "
                                    f"with {label}={frame[label].iloc[0] if len(frame) else 'none'}: a model "
                                    f"needs both outcomes in every part{more}")


def holdout_columns(candidate: Candidate) -> list[str]:
    return ["customer_id", "as_of", candidate.model.label, *candidate.data.features]


def report_inputs(candidate: Candidate, champion: ChampionOnHoldout | None, title: str) -> ReportInputs:
    """The report of a candidate, with the champion beside it when there is one."""
    split, label = candidate.split, candidate.model.label
    y_test = split.test[label].to_numpy(int)
    curves = {"this run": (y_test, candidate.scorer.probability(split.test))}
    metrics = {f"{part} (this run)": values for part, values in candidate.metrics.items() if part != "cv"}
    if "cv" in candidate.metrics:
        metrics["5-fold CV (mean)"] = candidate.metrics["cv"]
    if champion is not None:
        curves[f"champion v{champion.version}"] = (y_test, champion.probability)
        metrics[f"test (champion v{champion.version})"] = champion.metrics
    sample = split.test.sample(min(SHAP_SAMPLE_ROWS, len(split.test)), random_state=0)
    contributions, features = explain_sample(candidate.scorer, sample)
    facts = {"model": candidate.registered_name, "portfolio": candidate.portfolio,
             "bands": candidate.scorer.spec.band_set.describe(), "split": split.summary(),
             "data snapshot": candidate.data.data_snapshot,
             "source": candidate.data.source.get("source", ""), "feature service": candidate.data.feature_service,
             "trees": candidate.scorer.booster.best_iteration or candidate.scorer.booster.num_trees(),
             "calibration": candidate.scorer.spec.calibration.method, "tuning": _tuning_fact(candidate)}
    return ReportInputs(title=title, facts=facts, metrics=metrics, curves=curves,
                        score_samples=_score_samples(candidate), score_label=_score_label(candidate),
                        contributions=contributions, features=features)


def _tuning_fact(candidate: Candidate) -> str:
    t = candidate.tuning
    if t is None:
        return "none (default settings)"
    best = ", ".join(f"{k} {v:.3g}" for k, v in t.params.items())
    return (f"{t.trials} Optuna TPE trials on the training and validation parts, inner {t.inner_folds}-fold "
            f"ROC AUC {t.inner_roc_auc:.4f}; best: {best}")


def _score_label(candidate: Candidate) -> str:
    return "scorecard points" if candidate.model.kind == "delinquency" else "churn probability"


def _score_samples(candidate: Candidate) -> dict[str, np.ndarray]:
    parts = {"train": candidate.split.train, "test": candidate.split.test}
    scores = {name: candidate.scorer.probability(part) for name, part in parts.items()}
    if candidate.model.kind == "delinquency":
        return {name: Scorecard().points(p) for name, p in scores.items()}
    return scores


def write_run_artifacts(candidate: Candidate, champion: ChampionOnHoldout | None, out_dir: Path) -> Path:
    """Write the report, its figures, the split, what was tuned, the drift reference (measured on the
    development sample: `models.reference`) and the test holdout into `out_dir`."""
    write_report(report_inputs(candidate, champion, f"{candidate.registered_name}: training run"),
                 out_dir / "report")
    (out_dir / "split.json").write_text(json.dumps(candidate.split.description, indent=2), encoding="utf-8")
    if (tuning := candidate.tuning_record()) is not None:
        (out_dir / "tuning.json").write_text(json.dumps(tuning, indent=2), encoding="utf-8")
    development = pd.concat([candidate.split.train, candidate.split.valid], ignore_index=True)
    write_reference(build_reference(candidate.scorer, development), out_dir)
    holdout = out_dir / HOLDOUT_ARTIFACT
    holdout.parent.mkdir(parents=True, exist_ok=True)
    candidate.split.test[holdout_columns(candidate)].to_parquet(holdout, index=False)
    return out_dir


def log_risk_model(scorer: RiskScorer, example: pd.DataFrame, model_name: str, work_dir: Path) -> ModelInfo:
    """Log the scorer as an MLflow pyfunc with its signature, and register it as `model_name`."""
    return mlflow.pyfunc.log_model(
        name="model", python_model=MODEL_CODE, artifacts=save_artifacts(scorer.booster, scorer.spec, work_dir),
        signature=risk_signature(scorer.spec), input_example=caller_frame(example, scorer.spec),
        registered_model_name=model_name,
        pip_requirements=[f"lightgbm=={lgb.__version__}", f"mlflow=={mlflow.__version__}",
                          f"pandas=={pd.__version__}", f"numpy=={np.__version__}",
                          f"scikit-learn=={sklearn.__version__}"])


def run_params(candidate: Candidate, data_dir: Path) -> dict[str, object]:
    return candidate.trees.to_params() | {
        "kind": candidate.model.kind, "engine": candidate.engine, "data_dir": str(data_dir.resolve()),
        "portfolio": candidate.portfolio, "currency": candidate.scorer.spec.currency,
        "bands": candidate.scorer.spec.band_set.version,
        "training_customers": int(candidate.data.frame["customer_id"].nunique()),
        "sampled_customers": candidate.data.sampled_customers,
        "split": candidate.split.method,
        "calibration": candidate.scorer.spec.calibration.method, "feature_service": candidate.data.feature_service,
        "best_iteration": candidate.scorer.booster.best_iteration, "features": len(candidate.data.features),
        "monotone_features": ",".join(f for f in candidate.data.features if f in candidate.model.monotone),
        "tune_trials": candidate.budget.trials, "tune_seconds": candidate.budget.seconds,
        "tuned_params": ",".join(candidate.tuning.params) if candidate.tuning else "none"}


def tuning_metrics(candidate: Candidate) -> dict[str, float]:
    """The run's inner (training-data) score of its tuned settings, the trials it ran and their time."""
    if candidate.tuning is None:
        return {}
    t = candidate.tuning
    return {"tune_inner_roc_auc": t.inner_roc_auc, "tune_trials_run": float(t.trials), "tune_elapsed_seconds": t.seconds}


def run_datasets(candidate: Candidate, data_dir: Path) -> list[registry.RunDataset]:
    """The train, validation and test (holdout) parts, as the run's logged inputs."""
    label, kind = candidate.model.label, candidate.model.kind
    return [registry.RunDataset(part[holdout_columns(candidate)], f"{kind}-{context}", context, data_dir, label)
            for part, context in ((candidate.split.train, "training"), (candidate.split.valid, "validation"),
                                  (candidate.split.test, "test"))]


def log_candidate(settings: Settings, candidate: Candidate, data_dir: Path, force: bool) -> dict[str, object]:
    """Log, register and (if better, or forced) promote a candidate; return what `nbo train` prints."""
    stage("log")
    client = registry.connect(settings.mlflow)
    history = AliasHistory(settings.audit_url)
    name = candidate.registered_name
    experiment = registry.ensure_experiment(client, name, settings.mlflow.artifact_location)
    champion = measure_champion(client, candidate.model, candidate.split.test, name, candidate.portfolio)
    extra = {f"{part}_{k}": v for part in ("train", "valid", "cv") for k, v in candidate.metrics.get(part, {}).items()}
    with tempfile.TemporaryDirectory(prefix="nbo-run-") as tmp:
        run = registry.TrainingRun(
            name=registry.run_name(candidate.model.kind, data_dir, candidate.started_ms),
            started_ms=candidate.started_ms, datasets=run_datasets(candidate, data_dir),
            params=run_params(candidate, data_dir), metrics=candidate.metrics["test"],
            features=candidate.data.features, data_snapshot=candidate.data.data_snapshot,
            holdout_id=candidate.split.holdout_id(candidate.model.label),
            artifact_dir=write_run_artifacts(candidate, champion, Path(tmp) / "artifacts"),
            extra_metrics=extra | tuning_metrics(candidate), portfolio=candidate.portfolio,
            tags={"nbo.source": str(candidate.data.source.get("source", "")), "nbo.engine": candidate.engine})
        example = candidate.split.test.head(3)
        registered = registry.log_and_register(
            name, experiment, run, lambda: log_risk_model(candidate.scorer, example, name, Path(tmp) / "model"),
            history)
    promotion = registry.promote_if_better(
        client, name, registered, candidate.model.primary_metric, True, force,
        champion_metric=lambda _uri: champion.metrics[candidate.model.primary_metric],  # type: ignore[union-attr]
        history=history)
    return {"model": name, "portfolio": candidate.portfolio, "engine": candidate.engine,
            "run_id": registered.run_id, "model_version": registered.version,
            "bands": candidate.scorer.spec.band_set.to_dict(),
            "training_customers": int(candidate.data.frame["customer_id"].nunique()),
            "sampled_customers": candidate.data.sampled_customers,
            "promoted": promotion.promoted, "forced": promotion.forced, "promotion": promotion.to_dict(),
            "metrics": candidate.metrics["test"], "valid_metrics": candidate.metrics["valid"],
            "cv_metrics": candidate.metrics.get("cv"), "tuning": candidate.tuning_record(),
            "champion_metrics": None if champion is None else champion.metrics,
            "split": candidate.split.description | {"method": candidate.split.method},
            "data_snapshot": candidate.data.data_snapshot, "source": candidate.data.source.get("source"),
            "tracking_uri": settings.mlflow.tracking_uri}


def _materialize(settings: Settings) -> None:
    """Load the rebuilt features into the online store (Feast's progress goes to stderr, not stdout)."""
    last_as_of = datetime.fromisoformat(read_manifest(offline_dir(settings)).last_as_of)
    with contextlib.redirect_stdout(sys.stderr):
        materialize_store(open_store(settings), settings, last_as_of)


def retrain(settings: Settings, data_dir: Path, kinds: list[str], trees: TreeSettings,
            budget: TuningBudget = NO_TUNING) -> dict[str, object]:
    """Rebuild features, train (tuned within `budget`) each model, compare with its champion and
    promote only if better."""
    own = feature_settings(settings, data_dir)
    stage("features")
    ensure_features(own, data_dir, rebuild=True)
    if own is settings:
        stage("materialize")
        _materialize(settings)
    runs = [log_candidate(settings, fit_candidate(settings, kind, data_dir, trees, budget=budget), data_dir,
                          force=False) for kind in kinds]
    return {"runs": runs, "comparison": [comparison_row(run) for run in runs]}


def comparison_row(run: dict) -> dict[str, object]:
    """One line of `nbo retrain`: the champion's and the new version's primary metric, promoted or not."""
    promotion = run["promotion"]
    return {"model": run["model"], "metric": promotion["primary_metric"],
            "champion_version": promotion["previous_champion"], "champion_value": promotion["champion_value"],
            "new_version": run["model_version"], "new_value": promotion["candidate_value"],
            "promoted": run["promoted"]}

