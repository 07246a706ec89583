"""`nbo train recommender`: what the `train` command runs for MODEL=recommender.

Heavy imports (MLflow, LightGBM, implicit, Feast) happen when the command runs, as for the other
training commands.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbo.console import captured_output, emit, steps
from nbo.settings import load_settings
from training import TRAINING_STEPS

if TYPE_CHECKING:
    from training.recommender.ranker import RankerSettings

log = logging.getLogger(__name__)

SHOWN = ("map_at_3", "map_at_5", "ndcg_at_3", "ndcg_at_5", "recall_at_3", "recall_at_5", "coverage")
SHOWN_HIDE_ONE = ("hit_at_1", "hit_at_3", "mrr", "coverage")


def run_train_recommender(data_dir: Path | None, force: bool, rebuild_features: bool, fast: bool,
                          trees: int | None, leaves: int | None, as_json: bool) -> None:
    """Train the recommender on DATA (a bank's history, or a holdings snapshot for hide-one) and print figures."""
    settings = load_settings()
    data = data_dir or settings.data_dir
    log.info("training", extra={"model": "recommender", "data": str(data)})
    with steps("training recommender", TRAINING_STEPS), captured_output():
        from training.recommender.runs import is_snapshot, train_recommender

        ranker = ranker_settings(fast, trees, leaves, snapshot=is_snapshot(data))
        result = train_recommender(settings, data, ranker, force, rebuild_features)
    emit(result, as_json, recommender_text)


def ranker_settings(fast: bool, trees: int | None, leaves: int | None, snapshot: bool = False) -> RankerSettings:
    """The ranker settings `--fast`, `--trees` and `--leaves` ask for (for `nbo train` and `nbo retrain`);
    the default of a holdings `snapshot` is the hide-one evaluation's."""
    from training.recommender.ranker import RankerSettings

    base = RankerSettings.fast() if fast else RankerSettings.hide_one() if snapshot else RankerSettings()
    overrides = {name: value for name, value in (("max_trees", trees), ("num_leaves", leaves)) if value is not None}
    return replace(base, **overrides)


def _row(name: str, metrics: dict[str, float], shown: tuple[str, ...]) -> str:
    return f"  {name:<20}" + "".join(f"{metrics[k]:>12.4f}" for k in shown)


def recommender_text(r: dict[str, Any]) -> str:
    """The hybrid beside every baseline, one line per model, then the promotion decision."""
    shown = SHOWN if r["protocol"] == "time" else SHOWN_HIDE_ONE
    lines = [f"  {'model':<20}" + "".join(f"{k:>12}" for k in shown), _row("hybrid", r["metrics"], shown)]
    lines += [_row(name, m, shown) for name, m in (r["baselines"] | r["ablations"]).items()]
    if r["protocol"] == "time":
        state = "promoted to champion" + (" (forced)" if r["forced"] else "") if r["promoted"] else "not promoted"
        head = f"{r['model']} version {r['model_version']} (run {r['run_id']}): {state}"
        return "\n".join([head, *lines, f"  {r['promotion']['reason']}"])
    head = f"{r['model']} hide-one evaluation (run {r['run_id']}, not registered: {r['why_not_registered']})"
    return "\n".join([head, *lines])
