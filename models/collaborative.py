"""Collaborative scores at scoring time: interaction rows and fitted ALS product factors.

This is the scoring half of nbo's implicit ALS adapter (`training.recommender.als` fits it): a
customer's interaction row is built from their feature row (products held, page views and
searches on each product's web topic), their vector is solved afresh from that row by implicit
(Hu, Koren & Volinsky, ICDM 2008, eq. 4), and explanations follow §5 of the same paper.
The words `user` and `item` appear only here and in `training.recommender.als`, where they are implicit's.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from models.customer_columns import CustomerColumns, CustomerFrame, OneCustomer
from models.encoding import NotPlainValue

HELD_COLUMN = "held_product_ids"
# Feature-column stem of a 30-day intent count → the InteractionWeights field that weighs it.
INTENT_STEMS = {"page_views": "page_view", "searches": "search", "clicks": "click"}
PEERS_NAMED = 2  # held products a "customers who hold X also hold this" reason names at most


@dataclass(frozen=True)
class InteractionWeights:
    """Raw interaction strength per signal, before ALS's confidence scaling `alpha` (tuned with it)."""

    holding: float = 1.0
    page_view: float = 1.0
    search: float = 1.0
    click: float = 1.0


def intent_column(stem: str, topic: str) -> str:
    """The feature column counting `stem` (page_views, searches, clicks) on `topic` over 30 days."""
    return f"{stem}_{topic}_30d"


def interaction_matrix(customers: CustomerColumns, held: NDArray[np.bool_], products: Sequence[str],
                       topics: Mapping[str, str], weights: InteractionWeights) -> sp.csr_matrix:
    """One interaction row per customer: products held plus weighted intent on each product's topic.

    Intent counts are the customers' `intent_column`s (absent or missing counts contribute nothing: a
    dataset without events has holdings only); `held` is customers × products. Each signal is added
    in turn to float32 totals."""
    dense = np.zeros(held.shape, dtype=np.float32)
    for stem, signal in INTENT_STEMS.items():
        counts = customers.matrix([intent_column(stem, topics[p]) if p in topics else "" for p in products])
        dense = (dense + getattr(weights, signal) * np.nan_to_num(counts)).astype(np.float32)
    dense = (dense + weights.holding * held).astype(np.float32)
    return sp.csr_matrix(dense)


def build_interactions(rows: pd.DataFrame, products: Sequence[str], topics: Mapping[str, str],
                       weights: InteractionWeights) -> sp.csr_matrix:
    """`interaction_matrix` of feature rows carrying `held_product_ids` (a list per row) and intent counts."""
    return interaction_matrix(CustomerFrame(rows), held_matrix(rows, products), products, topics, weights)


def build_interaction_row(values: Mapping[str, object], held: NDArray[np.bool_], products: Sequence[str],
                          topics: Mapping[str, str], weights: InteractionWeights) -> sp.csr_matrix:
    """`interaction_matrix` of one customer's feature dict, given which products they hold (`held_flags`)."""
    return interaction_matrix(OneCustomer(values), held[np.newaxis, :], products, topics, weights)


def held_matrix(rows: pd.DataFrame, products: Sequence[str]) -> NDArray[np.bool_]:
    """rows × products: whether each row's customer holds each product (`held_product_ids`)."""
    held = pd.Series(rows[HELD_COLUMN].to_numpy(), index=np.arange(len(rows))).explode()
    column_of = held.map({p: j for j, p in enumerate(products)}).dropna()
    out = np.zeros((len(rows), len(products)), dtype=bool)
    out[column_of.index.to_numpy(), column_of.to_numpy(int)] = True
    return out


def held_flags(held_ids: object, products: Sequence[str]) -> NDArray[np.bool_]:
    """`held_matrix` of one customer's `held_product_ids` (a list or None)."""
    if held_ids is None:
        return np.zeros(len(products), dtype=bool)
    if not isinstance(held_ids, list | tuple | np.ndarray):
        raise NotPlainValue(HELD_COLUMN, held_ids)
    held = set(held_ids)
    return np.array([p in held for p in products], dtype=bool)


def held_peers(shares: Sequence[tuple[str, float]], held: Collection[str], product_id: str,
               n: int = PEERS_NAMED) -> list[str]:
    """The products "customers who hold X also hold this" may name: the first `n` of ALS's explanation of
    `product_id` (`AlsFactors.explain`, largest share first) that the customer holds, never `product_id`."""
    return [p for p, _ in shares if p in held and p != product_id][:n]


@dataclass(frozen=True)
class AlsFactors:
    """Fitted ALS product factors and what solving a customer's vector needs besides them."""

    products: list[str]
    product_factors: NDArray[np.float32]
    regularization: float
    alpha: float

    @cached_property
    def _solver(self) -> AlternatingLeastSquares:
        """implicit's model around the factors, built once (its constructor inspects the BLAS setup)."""
        model = AlternatingLeastSquares(factors=self.product_factors.shape[1], regularization=self.regularization,
                                        alpha=self.alpha, num_threads=1)
        model.item_factors = self.product_factors
        return model

    @cached_property
    def _blas(self) -> ThreadpoolController:
        """The BLAS thread pools, found once (finding them costs milliseconds per call)."""
        return ThreadpoolController()

    def score(self, interactions: sp.csr_matrix) -> NDArray[np.float32]:
        """Predicted preference of each row's customer for every product (rows × products)."""
        user_items = interactions.astype(np.float32).tocsr()
        with self._blas.limit(limits=1, user_api="blas"):
            customer_factors = self._solver.recalculate_user(np.arange(user_items.shape[0]), user_items)
        return np.asarray(customer_factors.reshape(user_items.shape[0], -1) @ self.product_factors.T)

    def explain(self, interaction_row: sp.csr_matrix, product_id: str) -> list[tuple[str, float]]:
        """Every product in one customer's row that raises `product_id`'s score, largest share first.

        A product is in the row because the customer holds it or browsed its web topic (so, on a topic the
        customer browsed, `product_id` itself may be among them: `held_peers` keeps what a reason may name)."""
        with self._blas.limit(limits=1, user_api="blas"):
            _, top, _ = self._solver.explain(0, interaction_row.astype(np.float32).tocsr(),
                                              self.products.index(product_id), N=len(self.products))
        return [(self.products[item], float(share)) for item, share in top if share > 0]

    def save(self, directory: Path) -> dict[str, str]:
        """Write the factors and settings; return MLflow's artifacts map."""
        directory.mkdir(parents=True, exist_ok=True)
        factors, meta = directory / "als_product_factors.npy", directory / "als.json"
        np.save(factors, self.product_factors)
        meta.write_text(json.dumps({k: v for k, v in asdict(self).items() if k != "product_factors"}),
                        encoding="utf-8")
        return {"als_factors": str(factors), "als_meta": str(meta)}

    @classmethod
    def load(cls, artifacts: Mapping[str, str]) -> AlsFactors:
        meta = json.loads(Path(artifacts["als_meta"]).read_text(encoding="utf-8"))
        return cls(product_factors=np.load(artifacts["als_factors"]), **meta)
