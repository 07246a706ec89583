"""One recommender training run on a bank's history: Feast rows → ALS → ranker and baselines → metrics.

Time split by as-of date: train on the earlier months, stop early on the next two, test on the
last three. ALS is fitted on the interaction rows of the train and validation months only. Every
model is measured on the same test lists: the hybrid ranker, its baselines (popularity, ALS
alone, a content-only ranker) and an ablation without collaborative scores.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from evaluation.ranking import compare_models
from models.candidates import BEHAVIOUR, CATEGORICAL, CONTENT, ROW, candidate_features
from models.collaborative import AlsFactors, InteractionWeights, build_interactions
from models.recommender import ALS_SCORE, Catalogue, RecommenderScorer
from nbo.console import stage
from nbo.settings import Settings
from training.recommender.als import AlsSettings, fit_als
from training.recommender.baselines import LABEL, Popularity, Recommender, ScoreColumn
from training.recommender.data import RecommenderData, load_recommender_data, split_as_of
from training.recommender.ranker import LightGbmRanker, RankerSettings, lists_with_adoption
from training.splits import AS_OF

log = logging.getLogger(__name__)

HYBRID = "hybrid"
BASELINES = ("popularity", "als", "content")
ABLATIONS = ("hybrid_no_cf",)
SEGMENT = "segment"
CHUNK_ROWS = 10_000  # customer rows scored at a time on the test months


@dataclass(frozen=True)
class FittedRecommender:
    """The hybrid's scorer and every model's test figures, before anything is logged."""

    scorer: RecommenderScorer
    metrics: dict[str, dict[str, float]]
    segments: dict[str, dict[str, dict[str, float]]]
    test_rows: pd.DataFrame
    data: RecommenderData
    split: dict[str, object]
    ranker: RankerSettings
    als: AlsSettings
    timings: dict[str, float]


def feature_sets(frame: pd.DataFrame) -> dict[str, list[str]]:
    """Each learned model's features, less those with no information in `frame` (all missing, constant)."""
    holdings = [c for c in frame.columns if c.startswith("holds_")]
    collaborative = [ALS_SCORE, f"{ALS_SCORE}_rank"]
    wanted = {"content": list(CONTENT), HYBRID: [*CONTENT, *BEHAVIOUR, *collaborative, *holdings],
              "hybrid_no_cf": [*CONTENT, *BEHAVIOUR, *holdings]}
    informative = {c for c in frame.columns if frame[c].nunique(dropna=True) > 1}
    return {name: [f for f in features if f in informative] for name, features in wanted.items()}


def candidates_with_als(rows: pd.DataFrame, catalogue: Catalogue, als: AlsFactors,
                        weights: InteractionWeights) -> pd.DataFrame:
    """Candidate rows of customer feature rows, with the ALS score solved from each row's interactions."""
    rows = rows.reset_index(drop=True)
    scores = als.score(build_interactions(rows, catalogue.products, catalogue.topics, weights))
    return candidate_features(rows, catalogue.frame, {ALS_SCORE: scores})


def labelled_candidates(rows: pd.DataFrame, adopted: pd.DataFrame, catalogue: Catalogue, als: AlsFactors,
                        weights: InteractionWeights) -> pd.DataFrame:
    """Candidate rows of customer rows (reset to 0..n-1) with `label` = adopted next month."""
    rows = rows.reset_index(drop=True)
    frame = candidates_with_als(rows, catalogue, als, weights)
    keys = pd.MultiIndex.from_arrays([rows["customer_id"].to_numpy()[frame[ROW]], rows[AS_OF].to_numpy()[frame[ROW]],
                                      frame["product_id"].to_numpy()])
    frame[LABEL] = keys.isin(pd.MultiIndex.from_frame(adopted[["customer_id", AS_OF, "product_id"]])).astype(int)
    return frame


def make_models(sets: dict[str, list[str]], ranker: RankerSettings) -> list[Recommender]:
    """The hybrid, its baselines and the no-CF ablation."""
    def lgbm(name: str) -> LightGbmRanker:
        return LightGbmRanker(name, sets[name], [c for c in sets[name] if c in CATEGORICAL], ranker)

    return [lgbm(HYBRID), Popularity(), ScoreColumn("als", ALS_SCORE), lgbm("content"), lgbm("hybrid_no_cf")]


def score_lists(models: list[Recommender], rows: pd.DataFrame, adopted: pd.DataFrame, catalogue: Catalogue,
                als: AlsFactors, weights: InteractionWeights) -> pd.DataFrame:
    """Every model's score on every candidate of `rows`, a chunk of rows at a time (scores are row-local)."""
    parts = []
    for start in range(0, len(rows), CHUNK_ROWS):
        frame = labelled_candidates(rows.iloc[start:start + CHUNK_ROWS], adopted, catalogue, als, weights)
        scored = frame[[ROW, "product_id", LABEL, SEGMENT]].assign(**{ROW: frame[ROW] + start})
        parts.append(scored.assign(**{m.name: m.score(frame) for m in models}))
    return pd.concat(parts, ignore_index=True)


def _split_description(parts: dict[str, list[pd.Timestamp]], rows: dict[str, pd.DataFrame],
                       adopted: pd.DataFrame) -> dict[str, object]:
    def part(name: str) -> dict[str, object]:
        dates = parts[name]
        return {"as_of": [f"{d:%Y-%m-%d}" for d in dates], "customer_rows": len(rows[name]),
                "adoptions": int(adopted[AS_OF].isin(dates).sum())}

    return {"method": "time"} | {name: part(name) for name in parts}


def _fit_als(rows: dict[str, pd.DataFrame], catalogue: Catalogue, weights: InteractionWeights,
             settings: AlsSettings, timings: dict[str, float]) -> AlsFactors:
    """ALS on the interaction rows of the train and validation months (never the test months)."""
    fit_rows = pd.concat([rows["train"], rows["valid"]], ignore_index=True)
    interactions = build_interactions(fit_rows, catalogue.products, catalogue.topics, weights)
    started = time.perf_counter()
    als = fit_als(interactions, catalogue.products, settings)
    timings |= {"fit_seconds_als_factors": time.perf_counter() - started, "als_interaction_rows": interactions.shape[0]}
    return als


def _fit_models(frames: dict[str, pd.DataFrame], ranker: RankerSettings, timings: dict[str, float]
                ) -> list[Recommender]:
    models = make_models(feature_sets(frames["train"]), ranker)
    for model in models:
        started = time.perf_counter()
        model.fit(frames["train"], frames["valid"])
        timings[f"fit_seconds_{model.name}"] = time.perf_counter() - started
    timings["ranker_train_rows"] = len(frames["train"])
    return models


def fit_recommender(settings: Settings, data_dir: Path, ranker: RankerSettings, als_settings: AlsSettings,
                    rebuild: bool = False) -> FittedRecommender:
    """Pull rows from Feast, fit ALS, the hybrid, baselines and ablation; measure all on the test months."""
    stage("training set")
    data = load_recommender_data(settings, data_dir, rebuild)
    parts = split_as_of(sorted(data.rows[AS_OF].unique()))
    rows = {name: data.rows[data.rows[AS_OF].isin(dates)] for name, dates in parts.items()}
    weights, catalogue = InteractionWeights(), data.catalogue
    timings: dict[str, float] = {}
    stage("fit")
    als = _fit_als(rows, catalogue, weights, als_settings, timings)
    frames = {name: lists_with_adoption(labelled_candidates(adopting_rows(rows[name], data.adopted), data.adopted,
                                                            catalogue, als, weights)) for name in ("train", "valid")}
    models = _fit_models(frames, ranker, timings)
    stage("evaluate")
    scored = score_lists(models, rows["test"], data.adopted, catalogue, als, weights)
    metrics, segments = compare_models(scored, [m.name for m in models], len(catalogue.products), segment=SEGMENT)
    hybrid = models[0]
    assert isinstance(hybrid, LightGbmRanker) and hybrid.booster is not None
    scorer = RecommenderScorer(hybrid.booster, hybrid.spec, catalogue, als, weights)
    log.info("recommender_fitted", extra={"map_at_5": metrics[HYBRID]["map_at_5"]})
    return FittedRecommender(scorer, metrics, segments, rows["test"], data,
                             _split_description(parts, rows, data.adopted), ranker, als_settings, timings)


def adopting_rows(rows: pd.DataFrame, adopted: pd.DataFrame) -> pd.DataFrame:
    """The customer rows with an adoption next month (the only lists lambdarank learns from)."""
    keys = pd.MultiIndex.from_frame(rows[["customer_id", AS_OF]])
    return rows[keys.isin(pd.MultiIndex.from_frame(adopted[["customer_id", AS_OF]]))]
