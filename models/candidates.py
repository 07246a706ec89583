"""The ranker's candidate rows: every catalogue product a customer does not hold, with its features.

One function serves training (many customers and as-of dates at once) and the service (one
customer): the inputs are customer feature rows as Feast serves them, product attributes kept in
memory and collaborative score matrices, so a request needs one online-feature read.

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
from models.encoding import plain_float

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


def _customer_column(rows: pd.DataFrame, name: str) -> NDArray:
    return rows[name].to_numpy() if name in rows else np.full(len(rows), np.nan)


def _per_product(rows: pd.DataFrame, columns: list[str]) -> NDArray[np.float64]:
    """rows × products matrix whose column j is `rows[columns[j]]` (NaN where absent)."""
    return np.column_stack([pd.to_numeric(rows[c], errors="coerce").to_numpy(float) if c in rows
                            else np.full(len(rows), np.nan) for c in columns])


def candidate_features(rows: pd.DataFrame, catalogue: pd.DataFrame,
                       collaborative: Mapping[str, NDArray[np.floating]]) -> pd.DataFrame:
    """One row per (customer row, product not held) with every feature the inputs allow.

    `catalogue` is indexed by product_id (product attributes and, when known, `topic`);
    `collaborative` maps a score name to a rows × products matrix in catalogue order.
    """
    products = catalogue.index.tolist()
    held = held_matrix(rows, products)
    r, j = np.nonzero(~held)
    frame = pd.DataFrame({ROW: r})
    for name in PRODUCT_COLUMNS:
        frame[name] = _catalogue_values(catalogue, name)[j]
    for name in (*PROFILE_COLUMNS, *BEHAVIOUR_PASSTHROUGH):
        frame[name] = _customer_column(rows, name)[r]
    _add_fit(frame)
    _add_intent(frame, rows, catalogue, r, j)
    for name, scores in collaborative.items():
        frame[name] = np.asarray(scores, dtype=float)[r, j]
        frame[f"{name}_rank"] = frame.groupby(ROW)[name].rank(ascending=False, method="first")
    flags = pd.DataFrame(held[r].astype(np.int8), columns=[f"holds_{p}" for p in products])
    return pd.concat([frame, flags], axis=1)


def _catalogue_values(catalogue: pd.DataFrame, name: str) -> NDArray:
    """A catalogue column in catalogue order (the index for product_id; NaN when absent)."""
    if name == "product_id":
        return catalogue.index.to_numpy()
    return catalogue[name].to_numpy() if name in catalogue else np.full(len(catalogue), np.nan)


def _add_fit(frame: pd.DataFrame) -> None:
    age = pd.to_numeric(frame["age_years"], errors="coerce")
    frame["is_age_fit"] = ((age >= frame["min_age_years"]) & (age <= frame["max_age_years"])).astype(float)
    frame.loc[age.isna(), "is_age_fit"] = np.nan
    frame["years_to_max_age"] = frame["max_age_years"] - age
    frame["risk_level_gap"] = pd.to_numeric(frame["risk_tolerance_level"], errors="coerce") - frame["risk_level_num"]


def _add_intent(frame: pd.DataFrame, rows: pd.DataFrame, catalogue: pd.DataFrame,
                r: NDArray[np.int64], j: NDArray[np.int64]) -> None:
    topics = catalogue["topic"].fillna("").tolist() if "topic" in catalogue else [""] * len(catalogue)
    for stem in ("page_views", "searches"):
        frame[f"{stem}_on_topic_30d"] = _per_product(rows, [intent_column(stem, t) for t in topics])[r, j]
    last = _customer_column(rows, "last_intent_topic")
    frame["is_last_intent_topic"] = (last[r] == np.asarray(topics, dtype=object)[j]).astype(float)
    categories = _catalogue_values(catalogue, "category")
    balances = _per_product(rows, [f"{c}_balance_cny" for c in categories])
    frame["category_balance_cny"] = balances[r, j]
    aum = pd.to_numeric(frame["aum_cny"], errors="coerce").clip(lower=0)
    minimum = pd.to_numeric(frame["min_amount_cny"], errors="coerce").clip(lower=0)
    frame["aum_over_min_amount_log"] = np.log1p(aum) - np.log1p(minimum)


# --- One customer at request time: the same columns from a feature dict, without pandas ---

@dataclass(frozen=True)
class ProductArrays:
    """The catalogue as `candidate_features` reads it, in catalogue order, built once per model."""

    products: list[str]
    labels: dict[str, NDArray]  # categorical product columns, raw
    numbers: dict[str, NDArray[np.float64]]  # the other product columns, as `to_numeric` reads them
    topics: list[str]  # "" where a product has no web topic
    balance_columns: list[str]

    @classmethod
    def of(cls, catalogue: pd.DataFrame) -> ProductArrays:
        topics = catalogue["topic"].fillna("").tolist() if "topic" in catalogue else [""] * len(catalogue)
        values = {name: _catalogue_values(catalogue, name) for name in PRODUCT_COLUMNS}
        return cls(catalogue.index.tolist(), {n: v for n, v in values.items() if n in CATEGORICAL},
                   {n: pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(float)
                    for n, v in values.items() if n not in CATEGORICAL},
                   topics, [f"{c}_balance_cny" for c in _catalogue_values(catalogue, "category")])


def customer_candidate_columns(values: Mapping[str, object], products: ProductArrays, held: NDArray[np.bool_],
                               collaborative: Mapping[str, NDArray[np.floating]]
                               ) -> tuple[NDArray[np.int64], dict[str, NDArray]]:
    """`candidate_features` of one customer's feature dict: candidate product positions, and each column
    (categoricals raw, the rest as the floats `RankerSpec.prepare` makes of them). Raises NotPlainValue."""
    j = np.flatnonzero(~held)
    n = len(j)

    def customer(name: str) -> NDArray:
        if name in CATEGORICAL:
            return np.full(n, values.get(name, np.nan), dtype=object)
        return np.full(n, plain_float(name, values.get(name)))

    def per_product(columns: list[str]) -> NDArray[np.float64]:
        return np.array([plain_float(c, values[c]) if c in values else np.nan for c in columns])[j]

    out: dict[str, NDArray] = {name: v[j] for name, v in (products.labels | products.numbers).items()}
    out |= {name: customer(name) for name in (*PROFILE_COLUMNS, *BEHAVIOUR_PASSTHROUGH)}
    age = out["age_years"]
    out["is_age_fit"] = np.where(np.isnan(age), np.nan, ((age >= out["min_age_years"]) & (age <= out["max_age_years"]))
                                 .astype(float))
    out["years_to_max_age"] = out["max_age_years"] - age
    out["risk_level_gap"] = out["risk_tolerance_level"] - out["risk_level_num"]
    for stem in ("page_views", "searches"):
        out[f"{stem}_on_topic_30d"] = per_product([intent_column(stem, t) for t in products.topics])
    last = values.get("last_intent_topic", np.nan)
    out["is_last_intent_topic"] = np.array([float(last == products.topics[p]) for p in j])
    out["category_balance_cny"] = per_product(products.balance_columns)
    out["aum_over_min_amount_log"] = (np.log1p(np.clip(out["aum_cny"], 0, None))
                                      - np.log1p(np.clip(out["min_amount_cny"], 0, None)))
    for name, scores in collaborative.items():
        out[name] = np.asarray(scores, dtype=float)[j]
        out[f"{name}_rank"] = _rank_descending(out[name])
    out |= {f"holds_{p}": np.full(n, float(is_held)) for p, is_held in zip(products.products, held, strict=True)}
    return j, out


def _rank_descending(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    """1 for the highest score, ties in order of appearance (pandas `rank(ascending=False, method="first")`)."""
    if np.isnan(scores).any():
        raise ValueError("a collaborative score is NaN")
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return ranks
