"""The recommender contract: every recommender passes the same suite, then its known answers."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from evaluation.ranking import rank_lists, ranking_metrics
from models.candidates import ROW
from training.recommender.baselines import LABEL, Popularity, Recommender, ScoreColumn
from training.recommender.ranker import LightGbmRanker, RankerSettings

PRODUCTS = ["A", "B", "C", "D", "E"]


def planted_lists(lists: int, seed: int) -> pd.DataFrame:
    """Five candidates per list; the product with the highest `signal` is adopted; B is adopted most."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({ROW: np.repeat(np.arange(lists), len(PRODUCTS)), "product_id": PRODUCTS * lists,
                          "signal": rng.random(lists * len(PRODUCTS)), "noise": rng.random(lists * len(PRODUCTS))})
    frame.loc[frame["product_id"] == "B", "signal"] += 0.3
    best = frame.groupby(ROW)["signal"].transform("max")
    return frame.assign(**{LABEL: (frame["signal"] == best).astype(int)})


def small_ranker() -> Recommender:
    settings = RankerSettings(max_trees=30, min_data_in_leaf=5, early_stopping_rounds=10)
    return LightGbmRanker("ranker", ["product_id", "signal", "noise"], ["product_id"], settings)


RECOMMENDERS: dict[str, Callable[[], Recommender]] = {
    "popularity": Popularity,
    "score_column": lambda: ScoreColumn("signal_only", "signal"),
    "lightgbm_ranker": small_ranker,
}


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return planted_lists(300, seed=1)


@pytest.fixture(scope="module")
def test() -> pd.DataFrame:
    return planted_lists(100, seed=2)


@pytest.fixture(params=sorted(RECOMMENDERS))
def fitted(request: pytest.FixtureRequest, train: pd.DataFrame) -> Recommender:
    return RECOMMENDERS[request.param]().fit(train, planted_lists(100, seed=3))


def test_one_finite_score_per_row(fitted: Recommender, test: pd.DataFrame) -> None:
    scores = fitted.score(test)
    assert scores.shape == (len(test),) and np.isfinite(scores).all()


def test_a_rows_score_depends_on_that_row_alone(fitted: Recommender, test: pd.DataFrame) -> None:
    one_customer = test[test[ROW] == 7]
    np.testing.assert_allclose(fitted.score(one_customer), fitted.score(test)[test[ROW].to_numpy() == 7])


def test_refitting_gives_the_same_scores(request: pytest.FixtureRequest, fitted: Recommender,
                                         train: pd.DataFrame, test: pd.DataFrame) -> None:
    again = RECOMMENDERS[request.node.callspec.params["fitted"]]().fit(train, planted_lists(100, seed=3))
    np.testing.assert_array_equal(again.score(test), fitted.score(test))


def test_popularity_ranks_products_by_their_share_of_adoptions(train: pd.DataFrame, test: pd.DataFrame) -> None:
    model = Popularity().fit(train, train)
    shares = train.loc[train[LABEL] == 1, "product_id"].value_counts(normalize=True)
    assert model.score(test[test["product_id"] == "B"]).max() == pytest.approx(shares.max())
    assert shares.idxmax() == "B"


def test_score_column_ranks_by_the_column(test: pd.DataFrame) -> None:
    scores = ScoreColumn("s", "signal").fit(test, test).score(test)
    np.testing.assert_array_equal(scores, test["signal"].to_numpy())


def test_the_ranker_finds_the_planted_signal(test: pd.DataFrame, train: pd.DataFrame) -> None:
    ranker = small_ranker().fit(train, planted_lists(100, seed=3))
    found = ranking_metrics(rank_lists(test.assign(score=ranker.score(test)), groups=(ROW,)), 5, ks=(1,))
    assert found["hit_at_1"] > 0.8
    popular = ranking_metrics(rank_lists(test.assign(score=Popularity().fit(train, train).score(test)),
                                         groups=(ROW,)), 5, ks=(1,))
    assert found["hit_at_1"] > popular["hit_at_1"] + 0.3
