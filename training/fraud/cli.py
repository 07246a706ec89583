"""`nbo train fraud`: what the `train` command runs for MODEL=fraud."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nbo.console import captured_output, emit, steps
from nbo.settings import load_settings
from training import TRAINING_STEPS

log = logging.getLogger(__name__)

# Trees at most (--fast: FAST_TREES) unless --trees says otherwise: a stopped payment's explanation
# costs a `pred_contrib` over every tree, on the request path. The learning rate stays the risk
# models' 0.05: at --fast's 0.1 the session bank's (2,000 customers) model held none of its few cases.
MAX_TREES, FAST_TREES = 300, 150

SHOWN = (("fraud_value_held", "value held"), ("fraud_cases_held", "cases held"),
         ("fraud_value_stopped", "value stopped"), ("hold_precision", "hold precision"),
         ("hold_rate", "hold rate"), ("step_up_rate", "step-up rate"))


def run_train_fraud(data_dir: Path | None, force: bool, fast: bool, trees: int | None, leaves: int | None,
                    labels: Path | None, truth: Path | None, as_json: bool) -> None:
    """Train the fraud model on DATA's payments (+ labelled served payments) and print the test-month
    figures; `fast`: 150 trees at most and no isolation forest study."""
    from training.risk.fit import TreeSettings

    settings = load_settings()
    data = data_dir or settings.data_dir
    log.info("training", extra={"model": "fraud", "data": str(data)})
    with steps("training fraud", TRAINING_STEPS), captured_output():
        from training.fraud.run import train_fraud

        chosen = TreeSettings().with_overrides(max_trees=trees or (FAST_TREES if fast else MAX_TREES), num_leaves=leaves)
        result = train_fraud(settings, data, chosen, force, labels, truth, isolation=not fast)
    emit(result, as_json, fraud_text)


def fraud_text(r: dict[str, Any]) -> str:
    """The three screens side by side on the test month, the isolation forest, the promotion."""
    m = r["metrics"]
    state = "promoted to champion" + (" (forced)" if r["forced"] else "") if r["promoted"] else "not promoted"
    t = r["thresholds"]
    lines = [f"{r['model']} version {r['model_version']} (run {r['run_id']}): {state}",
             f"  thresholds: hold above {t['hold_above']:.4f} ({t['hold_budget']:.1%} budget), "
             f"step up above {t['step_up_above']:.4f} ({t['step_up_budget']:.0%})",
             f"  test month {', '.join(r['split']['test']['months'])}: {m['served_payments']:.0f} payments, "
             f"{m['served_fraud_cases']:.0f} fraud",
             f"  {'screen':<14}" + "".join(f"{label:>16}" for _, label in SHOWN)]
    for screen in ("model", "rules", "served"):
        name = "model + rules" if screen == "served" else screen
        lines.append(f"  {name:<14}" + "".join(f"{m[f'{screen}_{key}']:>16.2%}" for key, _ in SHOWN))
    if "iforest_fraud_value_held" in m:
        lines.append(f"  isolation forest alone: value held {m['iforest_fraud_value_held']:.2%}; as a model feature: "
                     f"{m['with_iforest_fraud_value_held']:.2%} (model alone {m['model_fraud_value_held']:.2%})")
    return "\n".join([*lines, f"  {r['promotion']['reason']}"])
