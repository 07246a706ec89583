"""The hide-one protocol for holdings snapshots (Zimnat; any single-month dataset), and its baselines.

Protocol: customers holding at least two products are eligible; for each, one held product is
hidden (numpy `default_rng(seed)`: one uniform draw per eligible customer, in file order, picks
among its held products); then a share of them (default 20 %) is drawn as test customers. A
recommender sees a test customer's masked row and ranks every product not held in it; the hidden
product is the one relevant answer.
Item-side models are fitted on the *training* customers' full holdings.

Co-occurrence baseline (the dataset README's): score(j) = Σ_{i held} P(j | i), P(j | i) = C_ij / C_ii
with C = XᵀX the co-holding counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TEST_SHARE = 0.2
SEED = 0


@dataclass(frozen=True)
class HideOne:
    """Full holdings, the hidden product of each eligible customer (−1: not eligible) and the test set."""

    held: NDArray[np.bool_]
    hidden: NDArray[np.int64]
    is_test: NDArray[np.bool_]

    @property
    def masked(self) -> NDArray[np.bool_]:
        """Holdings with each eligible customer's hidden product removed."""
        out = self.held.copy()
        eligible = np.flatnonzero(self.hidden >= 0)
        out[eligible, self.hidden[eligible]] = False
        return out

    @property
    def train_customers(self) -> NDArray[np.int64]:
        return np.flatnonzero(~self.is_test)

    @property
    def test_customers(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.is_test)


def hide_one(held: NDArray[np.bool_], test_share: float = TEST_SHARE, seed: int = SEED) -> HideOne:
    """Hide one held product of every customer holding two or more; draw the test customers among them."""
    rng = np.random.default_rng(seed)
    eligible = held.sum(axis=1) >= 2
    rows = held[eligible]
    pick = (rng.random(len(rows)) * rows.sum(axis=1)).astype(np.int64)  # which held product, 0-based
    hidden = np.full(len(held), -1, dtype=np.int64)
    hidden[eligible] = (rows.cumsum(axis=1) > pick[:, None]).argmax(axis=1)
    candidates = np.flatnonzero(eligible)
    is_test = np.zeros(len(held), dtype=bool)
    is_test[rng.permutation(candidates)[: int(round(test_share * len(candidates)))]] = True
    return HideOne(held, hidden, is_test)


def cooccurrence(fit_rows: NDArray[np.bool_]) -> NDArray[np.float64]:
    """P(j | i): the share of holders of product i who also hold j (rows i, columns j)."""
    counts = fit_rows.astype(float).T @ fit_rows.astype(float)
    holders = np.diag(counts).copy()
    return counts / np.where(holders > 0, holders, 1.0)[:, None]


def cooccurrence_scores(conditional: NDArray[np.float64], rows: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Σ over held products i of P(j | i), for every product j of every row."""
    return rows.astype(float) @ conditional
