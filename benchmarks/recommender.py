"""Recommender timings on a synthetic bank (make bench): ALS fit, ranker fit, one customer's scoring.

One customer's scoring is measured on the one path the service runs per request: `rank` (candidates,
ALS, ranker) then `explain` for the top k.

A fresh process generates the bank and trains as `nbo train recommender` does (time split,
features from Feast), timing the ALS and ranker fits. It then scores test customers one at a time
as the service will: candidates from the customer's feature row (the ALS vector solved from it),
ranker predict with num_threads=1 over the full candidate set, and SHAP contributions (LightGBM
pred_contrib) for the top 5 only; p50/p99 over the customers scored.
"""

from __future__ import annotations

import argparse

from harness import run_child, write_result

CHILD = """
import tempfile, time
from pathlib import Path
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from nbo.settings import Settings
from sources.synthetic.bank import generate_bank
from training.recommender.als import AlsSettings
from training.recommender.ranker import RankerSettings
from training.recommender.fit import fit_recommender

def _ms(values):
    return {'p50': round(float(np.percentile(values, 50)), 3), 'p99': round(float(np.percentile(values, 99)), 3)}

def _plain(row):
    out = {}
    for name, value in row.items():
        if isinstance(value, np.ndarray):
            out[name] = [str(v) for v in value]
        elif value is None or (np.isscalar(value) and pd.isna(value)):
            out[name] = None
        else:
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out

def main(customers, months, seed, scored, top_k):
    threadpool_limits(1, 'blas')
    with tempfile.TemporaryDirectory(prefix='nbo-bench-rec-') as work:
        bank = generate_bank(Path(work) / 'bank', int(customers), int(months), int(seed)).out
        started = time.perf_counter()
        fitted = fit_recommender(Settings(state_dir=Path(work) / 'var'), bank, RankerSettings(), AlsSettings())
        train_seconds = time.perf_counter() - started
    scorer = fitted.scorer
    rows = fitted.test_rows.sample(min(int(scored), len(fitted.test_rows)), random_state=0)
    everything = set(scorer.catalogue.products)
    scorer.rank_rows(rows.head(5))  # warm-up, as the service does at start
    ranking, explain, sizes, service_path = [], [], [], []
    for i in range(len(rows)):
        values = _plain(rows.iloc[i])  # as the online reader returns them: plain Python values
        started = time.perf_counter()
        ranked = scorer.rank(str(values['customer_id']), values, everything)
        done = time.perf_counter()
        scorer.explain(ranked, [ranked.product_ids[j] for j in np.argsort(-ranked.scores)[:int(top_k)]], 'en')
        explained = time.perf_counter()
        ranking.append((done - started) * 1000)
        explain.append((explained - done) * 1000)
        service_path.append((explained - started) * 1000)
        sizes.append(len(ranked.product_ids))
    return {'timings': fitted.timings, 'train_recommender_seconds': round(train_seconds, 1),
            'ranker_trees': scorer.booster.num_trees(), 'ranker_features': len(scorer.spec.features),
            'hybrid_map_at_5': round(fitted.metrics['hybrid']['map_at_5'], 4), 'customers_scored': len(rows),
            'candidates_per_customer_mean': round(float(np.mean(sizes)), 1),
            'rank_ms': _ms(ranking), 'explain_top_k_ms': _ms(explain),
            'num_threads': scorer.num_threads, 'service_path_ms': _ms(service_path)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scored", type=int, default=1_000, help="Customers scored one at a time.")
    parser.add_argument("--top-k", type=int, default=5, help="Offers explained per customer.")
    args = parser.parse_args()
    m = run_child(CHILD, str(args.customers), str(args.months), str(args.seed), str(args.scored), str(args.top_k))
    t = m["timings"]
    rows = [
        {"measure": "als_fit", "seconds": round(t["fit_seconds_als_factors"], 3), "interaction_rows": t["als_interaction_rows"]},
        {"measure": "ranker_fit", "model": "hybrid", "seconds": round(t["fit_seconds_hybrid"], 2),
         "training_rows": t["ranker_train_rows"], "trees": m["ranker_trees"], "features": m["ranker_features"]},
        {"measure": "train_recommender_total", "seconds": m["train_recommender_seconds"],
         "hybrid_map_at_5": m["hybrid_map_at_5"], "peak_rss_mb": m["peak_rss_mb"], "wall_seconds": m["wall_seconds"]},
        *({"measure": f"score_one_customer_{stage}", "customers": m["customers_scored"],
           "candidates_per_customer_mean": m["candidates_per_customer_mean"], "num_threads": m["num_threads"],
           "p50_ms": m[key]["p50"], "p99_ms": m[key]["p99"]}
          for stage, key in (("rank_full_candidate_set", "rank_ms"), (f"explain_top_{args.top_k}", "explain_top_k_ms"))),
        {"measure": f"score_one_customer_service_path_with_reasons_top_{args.top_k}",
         "path": "RecommenderScorer.rank + explain (what the service runs)",
         "customers": m["customers_scored"], "num_threads": m["num_threads"], "p50_ms": m["service_path_ms"]["p50"], "p99_ms": m["service_path_ms"]["p99"]},
    ]
    settings = {"customers": args.customers, "months": args.months, "seed": args.seed, "scored": args.scored,
                "top_k_explained": args.top_k, "als": "AlsSettings() defaults", "ranker": "RankerSettings() defaults",
                "blas_threads": 1, "predict_num_threads": m["num_threads"]}
    write_result("recommender", settings, rows)


if __name__ == "__main__":
    main()
