"""Risk-model training time at growing bank sizes, and batch scoring throughput with reason codes.

For each size a fresh process generates the synthetic bank, builds its features, pulls the
Feast training sets and trains both models with the default settings (as `nbo train` does),
timing each phase. Scoring takes 100,000 portfolio rows (customers at their latest as-of dates)
through the delinquency model: PD only, PD + SHAP contributions, and the full output with reason
texts, as `nbo score` produces it. Runs go to a temporary MLflow file store.
"""

from __future__ import annotations

import argparse
import tempfile

from harness import run_child, write_result

TRAIN_CHILD = """
import os, tempfile, time
from pathlib import Path
from nbo.settings import MlflowSettings, Settings
from sources.synthetic.bank import generate_bank
from training.datasets import ensure_features
from training.risk.pipeline import fit_candidate, log_candidate
from training.risk.fit import TreeSettings

def main(customers, months, seed, work):
    data = Path(work) / f'bank-{customers}'
    settings = Settings(data_dir=data, state_dir=Path(work) / f'state-{customers}',
                        mlflow=MlflowSettings(tracking_uri=f'file:{work}/mlruns-{customers}'))
    started = time.perf_counter()
    generate_bank(data, int(customers), int(months), int(seed))
    out = {'generate_seconds': round(time.perf_counter() - started, 2)}
    started = time.perf_counter()
    ensure_features(settings, data, rebuild=True)
    out['features_seconds'] = round(time.perf_counter() - started, 2)
    for kind in ('churn', 'delinquency'):
        started = time.perf_counter()
        candidate = fit_candidate(settings, kind, data, TreeSettings())
        fitted = time.perf_counter()
        result = log_candidate(settings, candidate, data, force=False)
        out[kind] = {'train_seconds': round(fitted - started, 2),
                     'log_seconds': round(time.perf_counter() - fitted, 2),
                     'training_rows': len(candidate.split.train), 'trees': candidate.scorer.booster.num_trees(),
                     'test_roc_auc': round(result['metrics']['roc_auc'], 4)}
    return out
"""

SCORE_CHILD = """
import time
import pandas as pd
from nbo.settings import MlflowSettings
from models.registry import load_risk
from training import registry
from training.datasets import load_training_set
from training.risk.portfolio import score_portfolio
from nbo.settings import Settings
from pathlib import Path

def _timed(func, rows):
    started = time.perf_counter()
    func()
    seconds = time.perf_counter() - started
    return {'seconds': round(seconds, 3), 'rows_per_second': round(rows / seconds)}

def main(customers, rows, work):
    data = Path(work) / f'bank-{customers}'
    settings = Settings(data_dir=data, state_dir=Path(work) / f'state-{customers}',
                        mlflow=MlflowSettings(tracking_uri=f'file:{work}/mlruns-{customers}'))
    registry.connect(settings.mlflow)
    scorer = load_risk('models:/nbo-delinquency@champion')
    frame = load_training_set(settings, 'delinquency', data).frame
    latest = frame.sort_values('as_of').groupby('customer_id').tail(1)
    portfolio = pd.concat([latest] * (int(rows) // len(latest) + 1), ignore_index=True).head(int(rows))
    portfolio = portfolio[['customer_id', *scorer.spec.features]]
    portfolio['customer_id'] = [f'C{i:08d}' for i in range(len(portfolio))]  # one row per id, as nbo score wants
    matrix = scorer.encode_frame(portfolio).matrix
    n = len(portfolio)
    return {
        'rows': n, 'trees': scorer.booster.num_trees(), 'features': len(scorer.spec.features),
        'pd_only': _timed(lambda: scorer.probability(portfolio), n),
        'pd_and_shap_contributions': _timed(lambda: scorer.contributions(matrix), n),
        'full_output_with_reason_texts': _timed(lambda: scorer.score(portfolio, lang='en'), n),
        'nbo_score_path_with_row_checks': _timed(lambda: score_portfolio(scorer, portfolio, 'en'), n),
    }
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--score-rows", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="nbo-bench-train-") as work:
        for customers in args.customers:
            measured = run_child(TRAIN_CHILD, str(customers), str(args.months), str(args.seed), work)
            for kind in ("churn", "delinquency"):
                rows.append({"measure": "train", "model": kind, "customers": customers,
                             **measured[kind], "peak_rss_mb": measured["peak_rss_mb"],
                             "generate_seconds": measured["generate_seconds"],
                             "features_seconds": measured["features_seconds"]})
        scored = run_child(SCORE_CHILD, str(args.customers[-1]), str(args.score_rows), work)
        for stage in ("pd_only", "pd_and_shap_contributions", "full_output_with_reason_texts",
                      "nbo_score_path_with_row_checks"):
            rows.append({"measure": "batch_score", "model": "delinquency", "stage": stage, "rows": scored["rows"],
                         "trees": scored["trees"], "features": scored["features"], **scored[stage],
                         "goal_rows_per_second": 50_000})
    write_result("training", {"customers": args.customers, "months": args.months, "seed": args.seed,
                              "score_rows": args.score_rows, "tree_settings": "TreeSettings() defaults",
                              "num_threads": "LightGBM default (all cores)"}, rows)


if __name__ == "__main__":
    main()
