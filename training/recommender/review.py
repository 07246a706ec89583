"""Look back at registered recommenders: evaluate a version on its holdout beside the champion; promote.

Every comparison is made on one holdout: the test customer rows and adoptions logged by the run
of the version under review. `nbo evaluate` and `nbo promote` call these for `nbo-recommender`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import mlflow

from evaluation.ranking_report import RankingReportInputs, write_ranking_report
from models.alias_history import AliasHistory
from models.registry import RECOMMENDER, load_recommender, split_name
from nbo.errors import NotFound
from nbo.settings import Settings
from training import registry
from training.recommender.fit import BASELINES
from training.recommender.registry import (
    METRIC_NAMES,
    PRIMARY_METRIC,
    champion_on,
    measure,
    read_holdout,
)


def _run_models(run_id: str) -> dict[str, dict[str, float]]:
    """Every model's test metrics as the training run logged them (the baselines' figures)."""
    with tempfile.TemporaryDirectory(prefix="nbo-metrics-") as tmp:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="metrics.json", dst_path=tmp)
        return json.loads(Path(path).read_text(encoding="utf-8"))["models"]


def evaluate_recommender(settings: Settings, ref: str, out_dir: Path | None = None) -> dict[str, object]:
    """Re-measure a recommender version (or a run's version) on its holdout beside the champion; write a report.

    The report goes to `out_dir`, by default `<state_dir>/reports/nbo-recommender-v<version>/`.
    """
    client = registry.connect(settings.mlflow)
    version = registry.resolve_version(client, ref)
    name = version.name  # nbo-recommender, or nbo-recommender.<portfolio>
    if split_name(name)[0] != RECOMMENDER or version.run_id is None:
        raise NotFound(f"{ref!r} is not a version of the recommender ({RECOMMENDER}) logged by a run")
    rows, adopted = read_holdout(version.run_id)
    label = f"v{version.version}"
    metrics = {label: measure(load_recommender(f"models:/{name}/{version.version}"), rows, adopted)}
    champion = champion_on(client, rows, adopted, name)
    is_other = champion is not None and champion[0] != version.version
    if is_other:
        metrics[f"champion v{champion[0]}"] = champion[1]  # type: ignore[index]
    logged = _run_models(version.run_id)
    metrics |= {name: logged[name] for name in BASELINES}
    out_dir = out_dir or settings.state_dir / "reports" / f"{name}-v{version.version}"
    facts: dict[str, object] = {"model": name, "version": version.version, "run_id": version.run_id,
             "aliases": ", ".join(version.aliases) or "none", "holdout customer rows": len(rows),
             "holdout adoptions": len(adopted)}
    roles = {label: "this version", **{n: "baseline (as logged by the run)" for n in BASELINES}}
    if is_other:
        roles[f"champion v{champion[0]}"] = "current champion"  # type: ignore[index]
    report = write_ranking_report(RankingReportInputs(f"{name} {label}: evaluation on its holdout", facts,
                                                      metrics, roles, METRIC_NAMES), out_dir)
    return {"model": name, "model_version": version.version, "run_id": version.run_id,
            "aliases": list(version.aliases), "metrics": metrics[label],
            "champion_version": None if champion is None else champion[0],
            "champion_metrics": champion[1] if is_other else None,  # type: ignore[index]
            "baselines": {n: logged[n] for n in BASELINES}, "report": report.resolve()}


def promote_recommender(settings: Settings, version: str, force: bool, note: str | None = None,
                        name: str = RECOMMENDER) -> dict[str, object]:
    """Make `version` of `name` (a portfolio's recommender) champion if it beats the champion on MAP@5
    on its own holdout, or when forced (`note`: why)."""
    client = registry.connect(settings.mlflow)
    found = client.get_model_version(name, version)
    if found.run_id is None:
        raise NotFound(f"{name} version {version} was not logged by a run")
    run_id: str = found.run_id
    run = registry.RegisteredRun(run_id, name, str(found.version),
                                 dict(client.get_run(run_id).data.metrics))

    def champion_metric(uri: str) -> float:
        rows, adopted = read_holdout(run_id)
        return measure(load_recommender(uri), rows, adopted)[PRIMARY_METRIC]

    promotion = registry.promote_if_better(client, name, run, PRIMARY_METRIC, True, force, champion_metric, note,
                                           history=AliasHistory(settings.audit_url))
    return {"model": name, "model_version": run.version, "run_id": run.run_id} | promotion.to_dict()
