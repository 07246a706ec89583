"""The ranker's candidate rows: every catalogue product a customer does not hold, with its features.

One function, `candidate_columns`, builds them for training (many customers and as-of dates at
once, through `candidate_features`) and for the service (one customer's feature dict): the inputs
are customer feature columns (`models.customer_columns`), product attributes kept in memory and
collaborative score matrices, so a request needs one online-feature read.

Feature groups (all names in bank words):
- content: customer profile × product attributes, and how they fit (age range, risk level);
- behaviour: intent on the product's web topic, balances, engagement (Feast features);
- collaborative: a score per product (ALS, co-occurrence) and its rank among the candidates;
- holdings: one `holds_<product>` flag per catalogue product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.collaborative import held_matrix, intent_column
from models.customer_columns import CustomerColumns, CustomerFrame

ROW = "row"  # index of the candidate's customer row in the input frame
PRODUCT_COLUMNS = ("product_id", "category", "risk_level_num", "is_credit", "min_amount_cny",
                   "expected_yield_rate", "min_age_years", "max_age_years")
PROFILE_COLUMNS = ("age_years", "gender", "segment", "occupation", "tenure_months", "risk_tolerance_level",
                   "income_monthly_cny", "city_tier")
CONTENT = (*PRODUCT_COLUMNS, *PROFILE_COLUMNS, "is_age_fit", "years_to_max_age", "risk_level_gap")
BEHAVIOUR_PASSTHROUGH = ("aum_cny", "products_held_count", "logins_30d", "page_views_30d", "searches_30d",
                         "clicks_30d", "days_since_last_login", "txn_count_90d", "inflow_cny_90d", "utilization")
BEHAVIOUR = ("page_views_on_topic_30d", "searches_on_topic_30d", "is_last_intent_topic", "category_balance_cny",
             "aum_over_min_amount_log", *BEHAVIOUR_PASSTHROUGH)
CATEGORICAL = ("product_id", "category", "gender", "segment", "occupation")
LAST_INTENT = "last_intent_topic"
ON_TOPIC_STEMS = ("page_views", "searches")


@dataclass(frozen=True)
class ProductArrays:
    """The catalogue as `candidate_columns` reads it, in catalogue order, built once per model."""

    products: list[str]
    values: dict[str, NDArray]  # per product column: categoricals raw, the rest as `to_numeric` reads them
    topics: list[str]  # "" where a product has no web topic
    balance_columns: list[str]  # per product, the customer's balance column of its category

    @classmethod
    def of(cls, catalogue: pd.DataFrame) -> ProductArrays:
        """`catalogue` indexed by product_id (product attributes and, when known, `topic`)."""
        topics = catalogue["topic"].fillna("").tolist() if "topic" in catalogue else [""] * len(catalogue)
        raw = {name: _catalogue_values(catalogue, name) for name in PRODUCT_COLUMNS}
        values = {n: v if n in CATEGORICAL else pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(float)
                  for n, v in raw.items()}
        return cls(catalogue.index.tolist(), values, topics, [f"{c}_balance_cny" for c in raw["category"]])

    def intent_columns(self, stem: str) -> list[str]:
        """Per product, the customer column counting `stem` on its web topic."""
        return [intent_column(stem, t) for t in self.topics]


def _catalogue_values(catalogue: pd.DataFrame, name: str) -> NDArray:
    """A catalogue column in catalogue order (the index for product_id; NaN when absent)."""
    if name == "product_id":
        return catalogue.index.to_numpy()
    return catalogue[name].to_numpy() if name in catalogue else np.full(len(catalogue), np.nan)


def candidate_columns(customers: CustomerColumns, products: ProductArrays, held: NDArray[np.bool_],
                      collaborative: Mapping[str, NDArray[np.floating]]
                      ) -> tuple[NDArray[np.intp], NDArray[np.intp], dict[str, NDArray]]:
    """Every (customer row r, product j not held) pair, row by row in catalogue order, with each feature.

    `held` and each collaborative score matrix are rows × products in catalogue order. Categoricals
    stay raw, holdings flags are int8, the rest floats."""
    r, j = np.nonzero(~held)
    out: dict[str, NDArray] = {name: v[j] for name, v in products.values.items()}
    out |= {name: customers.column(name, name in CATEGORICAL)[r]
            for name in (*PROFILE_COLUMNS, *BEHAVIOUR_PASSTHROUGH)}
    age = out["age_years"]
    out["is_age_fit"] = np.where(np.isnan(age), np.nan,
                                 ((age >= out["min_age_years"]) & (age <= out["max_age_years"])).astype(float))
    out["years_to_max_age"] = out["max_age_years"] - age
    out["risk_level_gap"] = out["risk_tolerance_level"] - out["risk_level_num"]
    for stem in ON_TOPIC_STEMS:
        out[f"{stem}_on_topic_30d"] = customers.matrix(products.intent_columns(stem))[r, j]
    topics = np.asarray(products.topics, dtype=object)
    out["is_last_intent_topic"] = (customers.column(LAST_INTENT, is_label=True)[r] == topics[j]).astype(float)
    out["category_balance_cny"] = customers.matrix(products.balance_columns)[r, j]
    out["aum_over_min_amount_log"] = (np.log1p(np.clip(out["aum_cny"], 0, None))
                                      - np.log1p(np.clip(out["min_amount_cny"], 0, None)))
    for name, scores in collaborative.items():
        out[name] = np.asarray(scores, dtype=float)[r, j]
        out[f"{name}_rank"] = _rank_descending(r, out[name])
    out |= {f"holds_{p}": held[r, k].astype(np.int8) for k, p in enumerate(products.products)}
    return r, j, out


def _rank_descending(rows: NDArray[np.intp], scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rank of each score within its row, 1 for the highest, ties in order of appearance, NaN for NaN
    (pandas `groupby(rows).rank(ascending=False, method="first")`); `rows` ascending."""
    missing = np.isnan(scores)
    order = np.lexsort((np.arange(len(scores)), -np.where(missing, 0.0, scores), missing, rows))
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(len(scores)) - np.searchsorted(rows[order], rows[order]) + 1
    return np.where(missing, np.nan, ranks)


def candidate_features(rows: pd.DataFrame, catalogue: pd.DataFrame,
                       collaborative: Mapping[str, NDArray[np.floating]]) -> pd.DataFrame:
    """`candidate_columns` of customer feature rows as a frame, one row per (customer row, product not held).

    `catalogue` is indexed by product_id (product attributes and, when known, `topic`);
    `collaborative` maps a score name to a rows × products matrix in catalogue order.
    """
    products = ProductArrays.of(catalogue)
    held = held_matrix(rows, products.products)
    r, _, columns = candidate_columns(CustomerFrame(rows), products, held, collaborative)
    return pd.DataFrame({ROW: r, **columns})
