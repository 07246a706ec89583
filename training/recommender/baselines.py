"""The recommender contract and the baselines the hybrid ranker must beat.

Every recommender scores candidate rows (one per customer and product not held); higher means
more likely to be adopted. A row's score depends on that row alone, so a service can score one
customer's candidates with the model fitted on everyone. All pass tests/unit/test_recommenders.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from numpy.typing import NDArray

LABEL = "label"


class Recommender(ABC):
    """Fit on labelled candidate rows; score candidate rows."""

    name: str

    @abstractmethod
    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> Recommender:
        """Learn from `train` (with a `label` column); `valid` may steer early stopping."""

    @abstractmethod
    def score(self, candidates: pd.DataFrame) -> NDArray[np.float64]:
        """One score per candidate row."""


class Popularity(Recommender):
    """Rank products by their share of adoptions in training (unseen products last)."""

    def __init__(self, name: str = "popularity"):
        self.name = name
        self.share: pd.Series | None = None

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> Popularity:  # noqa: ARG002
        adopted = train.loc[train[LABEL] > 0, "product_id"].astype(str)
        self.share = adopted.value_counts(normalize=True)
        return self

    def score(self, candidates: pd.DataFrame) -> NDArray[np.float64]:
        assert self.share is not None, "fit first"
        return candidates["product_id"].astype(str).map(self.share).fillna(0.0).to_numpy(float)


class ScoreColumn(Recommender):
    """Rank by a precomputed collaborative score (ALS alone, co-occurrence alone); nothing to fit."""

    def __init__(self, name: str, column: str):
        self.name, self.column = name, column

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> ScoreColumn:  # noqa: ARG002
        return self

    def score(self, candidates: pd.DataFrame) -> NDArray[np.float64]:
        return candidates[self.column].to_numpy(float)
