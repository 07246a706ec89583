"""`nbo train recommender` (and `nbo retrain`) for any canonical data directory.

A bank's monthly history gets the time-split run: registered as `nbo-recommender` and promoted
on MAP@5. A single holdings snapshot (Zimnat, Santander's sample) has no next month to predict,
so it gets the hide-one evaluation, logged to its own MLflow experiment and never registered.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import mlflow
import pyarrow.parquet as pq
from threadpoolctl import threadpool_limits

from evaluation.ranking_report import RankingReportInputs, write_ranking_report
from models.registry import RECOMMENDER
from nbo.console import stage
from nbo.errors import InputFileError
from nbo.settings import Settings
from sources.io import table_path
from training import registry
from training.datasets import read_source_meta
from training.recommender.als import AlsSettings
from training.recommender.fit import HYBRID, fit_recommender
from training.recommender.ranker import RankerSettings
from training.recommender.registry import log_recommender
from training.recommender.snapshot import HIDE_ONE_ALS, KS, HideOneResult, run_hide_one

log = logging.getLogger(__name__)

HIDE_ONE_EXPERIMENT = f"{RECOMMENDER}-hide-one"
HIDE_ONE_BASELINES = ("popularity", "cooccurrence_masked", "cooccurrence", "als")
HIDE_ONE_ROLES = {HYBRID: "hybrid (co-occurrence + ALS + profile + holdings)", "popularity": "baseline",
                  "cooccurrence_masked": "baseline (co-occurrence on the masked matrix, the README's)",
                  "cooccurrence": "baseline (co-occurrence on training customers' full holdings)",
                  "als": "baseline (ALS alone)", "hybrid_no_cf": "ablation (no CF scores)"}
HIDE_ONE_METRICS = [f"hit_at_{k}" for k in KS] + ["mrr", "map_at_3", "ndcg_at_3", "coverage", "lists_evaluated"]


def is_snapshot(data_dir: Path) -> bool:
    """Whether the holdings are one snapshot (no month-to-month adoption to learn)."""
    path = table_path(data_dir, "holdings")
    if not path.is_file():
        raise InputFileError(f"{data_dir}: no canonical holdings table ({path.name})")
    dates = pq.read_table(path, columns=["snapshot_date"]).column(0)
    return len(dates.unique()) <= 1


def train_recommender(settings: Settings, data_dir: Path, ranker: RankerSettings, force: bool = False,
                      rebuild: bool = False) -> dict[str, object]:
    """Train and log the recommender on `data_dir` with the protocol its data allows."""
    started_ms = registry.now_ms()  # the MLflow run starts here: its duration is the whole training
    with threadpool_limits(1, "blas"):  # BLAS threads only contend with LightGBM and implicit here
        if is_snapshot(data_dir):
            return log_hide_one(settings, run_hide_one(data_dir, ranker), data_dir, ranker, started_ms)
        fitted = fit_recommender(settings, data_dir, ranker, AlsSettings(), rebuild)
        stage("log")
        return log_recommender(settings, fitted, data_dir, force, started_ms)


def _hide_one_report(result: HideOneResult, source: dict[str, object], out_dir: Path) -> Path:
    facts = {"protocol": "hide-one: one held product hidden per test customer; rank every product not held",
             "source": source.get("dataset", source.get("source", "")), **result.protocol}
    notes = ["Item-side models (co-occurrence, ALS) are fitted on training customers' full holdings; the "
             "ranker's training queries get out-of-fold CF scores. The ablation drops the CF scores."]
    inputs = RankingReportInputs(f"{RECOMMENDER}: hide-one evaluation", facts, result.metrics, HIDE_ONE_ROLES,
                                 HIDE_ONE_METRICS, notes=notes)
    return write_ranking_report(inputs, out_dir)


def log_hide_one(settings: Settings, result: HideOneResult, data_dir: Path, ranker: RankerSettings,
                 started_ms: int) -> dict[str, object]:
    """Log the hide-one figures and report to MLflow (no model is registered); return what the CLI prints."""
    client = registry.connect(settings.mlflow)
    experiment = registry.ensure_experiment(client, HIDE_ONE_EXPERIMENT, settings.mlflow.artifact_location)
    created = client.create_run(experiment, start_time=started_ms,
                                run_name=registry.run_name("recommender hide-one", data_dir, started_ms))
    source = read_source_meta(data_dir)
    metrics = {k: v for k, v in result.metrics[HYBRID].items() if not k.startswith("lists_")}
    metrics |= {f"{n}_{k}": v for n in result.metrics if n != HYBRID for k, v in result.metrics[n].items()
                if not k.startswith("lists_")}
    params = ranker.to_params() | {f"als_{k}": v for k, v in HIDE_ONE_ALS.to_dict().items()} | {
        "data_dir": str(data_dir.resolve()), "protocol": "hide_one", **result.protocol}
    with tempfile.TemporaryDirectory(prefix="nbo-run-") as tmp, mlflow.start_run(run_id=created.info.run_id) as run:
        mlflow.log_params({k: str(v) for k, v in params.items()})
        mlflow.set_tags({"nbo.protocol": "hide_one", "nbo.source": str(source.get("source", ""))})
        mlflow.log_metrics(metrics)
        report = _hide_one_report(result, source, Path(tmp) / "report")
        mlflow.log_artifacts(str(report.parent), "report")
        mlflow.log_dict({"models": result.metrics, "protocol": result.protocol}, "metrics.json")
    log.info("hide_one_logged", extra={"run_id": run.info.run_id, "mrr": result.metrics[HYBRID]["mrr"]})
    return {"model": RECOMMENDER, "protocol": "hide_one", "run_id": run.info.run_id, "registered": False,
            "why_not_registered": "a holdings snapshot has no next-month adoption to serve; hide-one is an evaluation",
            "metrics": result.metrics[HYBRID], "baselines": {n: result.metrics[n] for n in HIDE_ONE_BASELINES},
            "ablations": {"hybrid_no_cf": result.metrics["hybrid_no_cf"]}, "split": result.protocol,
            "source": source.get("source"), "tracking_uri": settings.mlflow.tracking_uri}
