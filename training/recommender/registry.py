"""The recommender in MLflow: log a run, register `nbo-recommender`, promote on MAP@5, evaluate a version.

A run logs the hybrid as a pyfunc (input: customer feature rows; output: ranked candidates), the
figures of every baseline on the same test lists, an HTML report and the test holdout (customer
rows and adoptions), so any later version and the champion can be measured on the same lists.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import implicit
import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from mlflow.models.model import ModelInfo

from evaluation.ranking import DEFAULT_KS, rank_lists, ranking_metrics
from evaluation.ranking_report import RankingReportInputs, write_ranking_report
from models.alias_history import AliasHistory
from models.candidates import ROW
from models.recommender import (
    MODEL_CODE,
    RecommenderScorer,
    caller_frame,
    input_signature,
    save_artifacts,
)
from models.registry import RECOMMENDER, load_recommender, registered_name
from nbo.settings import Settings
from sources.portfolio import portfolio_of
from training import registry
from training.recommender.fit import ABLATIONS, BASELINES, HYBRID, FittedRecommender
from training.splits import AS_OF

PRIMARY_METRIC = "map_at_5"
HOLDOUT_ROWS, HOLDOUT_ADOPTED = "holdout/rows.parquet", "holdout/adopted.parquet"
METRIC_NAMES = [f"{m}_at_{k}" for m in ("map", "ndcg", "recall") for k in DEFAULT_KS] + [
    "mrr", "coverage", "lists_evaluated"]
ROLES = {HYBRID: "hybrid (this model)", "popularity": "baseline", "als": "baseline (ALS alone)",
         "content": "baseline (content-only ranker)", "hybrid_no_cf": "ablation (no ALS score)"}
SHAP_SAMPLE_LISTS = 300


def measure(scorer: RecommenderScorer, rows: pd.DataFrame, adopted: pd.DataFrame) -> dict[str, float]:
    """Ranking metrics of a scorer on holdout customer rows and their adoptions."""
    ranked = scorer.rank_rows(rows).assign(**{AS_OF: lambda f: rows[AS_OF].to_numpy()[f.pop(ROW)]})
    keys = pd.MultiIndex.from_frame(ranked[["customer_id", AS_OF, "product_id"]])
    ranked["label"] = keys.isin(pd.MultiIndex.from_frame(adopted[["customer_id", AS_OF, "product_id"]])).astype(int)
    return ranking_metrics(rank_lists(ranked), len(scorer.catalogue.products))


def flat_metrics(fitted: FittedRecommender) -> dict[str, float]:
    """The hybrid's metrics by name, and every other model's prefixed by its name (MLflow keys)."""
    out = {k: v for k, v in fitted.metrics[HYBRID].items() if not k.startswith("lists_")}
    for name in (*BASELINES, *ABLATIONS):
        out |= {f"{name}_{k}": v for k, v in fitted.metrics[name].items() if not k.startswith("lists_")}
    return out


def report_inputs(fitted: FittedRecommender, title: str, champion: tuple[str, dict[str, float]] | None
                  ) -> RankingReportInputs:
    """The run's report: hybrid, baselines, ablation (and the champion) on the same test lists."""
    metrics = dict(fitted.metrics)
    roles = dict(ROLES)
    if champion is not None:
        metrics[f"champion v{champion[0]}"] = champion[1]
        roles[f"champion v{champion[0]}"] = "current champion"
    sample = fitted.test_rows.sample(min(SHAP_SAMPLE_LISTS, len(fitted.test_rows)), random_state=0)
    contributions, features = fitted.scorer.contributions_rows(sample)
    facts = {"model": RECOMMENDER, "protocol": "time split by as-of date",
             "test as-of dates": ", ".join(fitted.split["test"]["as_of"]),  # type: ignore[index]
             "train as-of dates": f"{fitted.split['train']['as_of'][0]} .. {fitted.split['train']['as_of'][-1]}",  # type: ignore[index]
             "data snapshot": fitted.data.data_snapshot, "feature service": fitted.data.feature_service,
             "ranker trees": fitted.scorer.booster.num_trees(), "features": len(fitted.scorer.spec.features)}
    notes = ["Lists are one customer at one as-of date; accuracy averages over lists with an adoption, "
             "coverage (top 5) over every list. Candidates: every catalogue product not held."]
    return RankingReportInputs(title, facts, metrics, roles, METRIC_NAMES, fitted.segments, PRIMARY_METRIC, notes,
                               contributions, features)


def write_run_artifacts(fitted: FittedRecommender, champion: tuple[str, dict[str, float]] | None,
                        out_dir: Path) -> Path:
    """Report, split, every model's metrics (also by segment) and the test holdout."""
    write_ranking_report(report_inputs(fitted, f"{RECOMMENDER}: training run", champion), out_dir / "report")
    (out_dir / "split.json").write_text(json.dumps(fitted.split, indent=2), encoding="utf-8")
    (out_dir / "metrics.json").write_text(json.dumps({"models": fitted.metrics, "segments": fitted.segments},
                                                     indent=2), encoding="utf-8")
    (out_dir / "holdout").mkdir(parents=True, exist_ok=True)
    fitted.test_rows.to_parquet(out_dir / HOLDOUT_ROWS, index=False)
    test_dates = fitted.test_rows[AS_OF].unique()
    adopted = fitted.data.adopted
    adopted[adopted[AS_OF].isin(test_dates)].to_parquet(out_dir / HOLDOUT_ADOPTED, index=False)
    return out_dir


def log_model(scorer: RecommenderScorer, example: pd.DataFrame, work_dir: Path, name: str) -> ModelInfo:
    """Log the scorer as an MLflow pyfunc with its signature, and register it as `name` (nbo-recommender[.<portfolio>])."""
    return mlflow.pyfunc.log_model(
        name="model", python_model=MODEL_CODE, artifacts=save_artifacts(scorer, work_dir),
        signature=input_signature(example), input_example=example, registered_model_name=name,
        pip_requirements=[f"lightgbm=={lgb.__version__}", f"implicit=={implicit.__version__}",
                          f"mlflow=={mlflow.__version__}", f"pandas=={pd.__version__}",
                          f"numpy=={np.__version__}"])


def read_holdout(run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test customer rows and adoptions a training run logged."""
    with tempfile.TemporaryDirectory(prefix="nbo-holdout-") as tmp:
        paths = [mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=p, dst_path=tmp)
                 for p in (HOLDOUT_ROWS, HOLDOUT_ADOPTED)]
        return pd.read_parquet(paths[0]), pd.read_parquet(paths[1])


def champion_on(client: mlflow.MlflowClient, rows: pd.DataFrame, adopted: pd.DataFrame, name: str = RECOMMENDER
                ) -> tuple[str, dict[str, float]] | None:
    """The current champion of registered model `name` (its portfolio's recommender): its version
    and its metrics on these holdout lists (None: no champion)."""
    current = registry.champion_version(client, name)
    if current is None:
        return None
    return current.version, measure(load_recommender(f"models:/{name}/{current.version}"), rows, adopted)


def _params(fitted: FittedRecommender, data_dir: Path) -> dict[str, object]:
    return fitted.ranker.to_params() | {f"als_{k}": v for k, v in fitted.als.to_dict().items()} | {
        f"interaction_{k}": v for k, v in fitted.scorer.weights.__dict__.items()} | {
        "data_dir": str(data_dir.resolve()), "split": "time", "feature_service": fitted.data.feature_service,
        "features": len(fitted.scorer.spec.features), "best_iteration": fitted.scorer.booster.best_iteration,
        "primary_metric": PRIMARY_METRIC}


def run_datasets(fitted: FittedRecommender, data_dir: Path) -> list[registry.RunDataset]:
    """The customer rows the ranker learned from and the test lists (holdout), as the run's logged inputs."""
    is_test = fitted.data.rows[AS_OF].isin(fitted.test_rows[AS_OF].unique())
    return [registry.RunDataset(fitted.data.rows[~is_test], "recommender-training", "training", data_dir),
            registry.RunDataset(fitted.test_rows, "recommender-test", "test", data_dir)]


def log_recommender(settings: Settings, fitted: FittedRecommender, data_dir: Path, force: bool,
                    started_ms: int) -> dict[str, object]:
    """Log, register and (if better on the same holdout, or forced) promote; return what `nbo train` prints.

    `started_ms`: when the training began to load its data (the run's start)."""
    client = registry.connect(settings.mlflow)
    history = AliasHistory(settings.audit_url)
    portfolio = portfolio_of(data_dir)
    name = registered_name(RECOMMENDER, portfolio)
    experiment = registry.ensure_experiment(client, name, settings.mlflow.artifact_location)
    adopted = fitted.data.adopted[fitted.data.adopted[AS_OF].isin(fitted.test_rows[AS_OF].unique())]
    champion = champion_on(client, fitted.test_rows, adopted, name)
    holdout = pd.util.hash_pandas_object(adopted.sort_values(list(adopted.columns)), index=False).sum()
    with tempfile.TemporaryDirectory(prefix="nbo-run-") as tmp:
        run = registry.TrainingRun(
            name=registry.run_name("recommender", data_dir, started_ms), started_ms=started_ms,
            datasets=run_datasets(fitted, data_dir), params=_params(fitted, data_dir), metrics=flat_metrics(fitted),
            features=fitted.scorer.spec.features,
            data_snapshot=fitted.data.data_snapshot, holdout_id=f"{holdout & (2**64 - 1):016x}",
            artifact_dir=write_run_artifacts(fitted, champion, Path(tmp) / "artifacts"),
            extra_metrics=fitted.timings, portfolio=portfolio, tags={"nbo.source": str(fitted.data.source.get("source", "")), "nbo.protocol": "time"})
        example = caller_frame(fitted.test_rows.head(3).drop(columns=[AS_OF]))
        registered = registry.log_and_register(name, experiment, run,
                                               lambda: log_model(fitted.scorer, example, Path(tmp) / "model", name),
                                               history)
    promotion = registry.promote_if_better(client, name, registered, PRIMARY_METRIC, True, force,
                                           champion_metric=lambda _uri: champion[1][PRIMARY_METRIC],  # type: ignore[index]
                                           history=history)
    return {"model": name, "portfolio": portfolio, "protocol": "time", "run_id": registered.run_id,
            "model_version": registered.version, "promoted": promotion.promoted, "forced": promotion.forced,
            "promotion": promotion.to_dict(), "primary_metric": PRIMARY_METRIC, "metrics": fitted.metrics[HYBRID],
            "baselines": {n: fitted.metrics[n] for n in BASELINES}, "ablations": {n: fitted.metrics[n] for n in ABLATIONS},
            "segments": fitted.segments, "champion_metrics": None if champion is None else champion[1],
            "split": fitted.split, "data_snapshot": fitted.data.data_snapshot,
            "source": fitted.data.source.get("source"), "tracking_uri": settings.mlflow.tracking_uri}
