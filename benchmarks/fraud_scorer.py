"""The fraud scorer on one payment (make bench): `FraudScorer.score` of a feature dict, as the service calls it.

A fresh process generates a bank, replays its payments (`features.payments.replay.payment_frame`),
fits the fraud model as `nbo train fraud` does (default settings: 300 trees at most, 8 leaves), and
scores test-month payments one at a time from plain-float feature dicts: allowed payments cost one
LightGBM predict on a 1-row array and the rules; stopped ones (step up, hold) add a `pred_contrib`
for their reasons. p50/p99 of each kind, num_threads=1 as on the request path.
"""

from __future__ import annotations

import argparse

from harness import run_child, write_result

CHILD = """
import tempfile, time
from pathlib import Path
import numpy as np
from features.payments.replay import payment_frame
from sources.synthetic.bank import generate_bank
from training.fraud.data import split_by_month
from training.fraud.fit import fit_fraud
from training.fraud.run import FEATURES, NEVER
from training.risk.fit import TreeSettings

def _us(values):
    return {'p50': round(float(np.percentile(values, 50)), 1), 'p99': round(float(np.percentile(values, 99)), 1),
            'n': len(values)}

def main(customers, months, seed, scored):
    with tempfile.TemporaryDirectory(prefix='nbo-bench-fraud-') as work:
        bank = generate_bank(Path(work) / 'bank', int(customers), int(months), int(seed)).out
        started = time.perf_counter()
        frame = payment_frame(bank)
        replay_seconds = time.perf_counter() - started
    split = split_by_month(frame)
    started = time.perf_counter()
    candidate = fit_fraud(split, FEATURES, TreeSettings(max_trees=300), {'never': NEVER}, isolation=False)
    fit_seconds = time.perf_counter() - started
    scorer = candidate.scorer
    scorer.num_threads = 1
    test = split.test.sample(min(int(scored), len(split.test)), random_state=0)
    stopped_rows = split.test[split.test['label'] == 1]
    rows = [{k: float(v) for k, v in r.items()} for r in
            [*test[FEATURES].to_dict('records'), *stopped_rows[FEATURES].to_dict('records')]]
    for r in rows[:50]:
        scorer.score(r)  # warm-up, as the service does at start
    timings = {'allow': [], 'step_up': [], 'hold': []}
    for r in rows:
        t0 = time.perf_counter()
        result = scorer.score(r)
        timings[result.decision].append((time.perf_counter() - t0) * 1e6)
    return {'payments': len(frame), 'replay_seconds': round(replay_seconds, 1), 'fit_seconds': round(fit_seconds, 1),
            'trees': scorer.booster.num_trees(), 'features': len(FEATURES),
            'timings': {k: _us(v) for k, v in timings.items() if v}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scored", type=int, default=5_000, help="Test-month payments scored one at a time "
                                                                  "(every fraud case of the month besides).")
    args = parser.parse_args()
    m = run_child(CHILD, str(args.customers), str(args.months), str(args.seed), str(args.scored))
    rows = [{"measure": "replay_payments", "payments": m["payments"], "seconds": m["replay_seconds"]},
            {"measure": "fit_fraud_model", "seconds": m["fit_seconds"], "trees": m["trees"], "features": m["features"]},
            *({"measure": f"score_one_payment_{decision}", "payments": t["n"], "p50_us": t["p50"], "p99_us": t["p99"]}
              for decision, t in m["timings"].items())]
    settings = {"customers": args.customers, "months": args.months, "seed": args.seed, "scored": args.scored,
                "trees": "TreeSettings(max_trees=300)", "predict_num_threads": 1}
    write_result("fraud_scorer", settings, rows)


if __name__ == "__main__":
    main()
