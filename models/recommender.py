"""The recommender as it travels through MLflow: ranker booster + ALS product factors + spec.

A logged `nbo-recommender` is an MLflow pyfunc whose input is customer feature rows as Feast
serves them (one row per customer) and whose output is every candidate product with its score
and rank. `models.registry.load_recommender(uri)` gives back a `RecommenderScorer`, which the service uses per
request: candidates → scores (num_threads=1) → SHAP contributions for the offers it returns.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import DataType
from mlflow.types.schema import Array, ColSpec, Schema, TensorSpec
from numpy.typing import NDArray

from models.candidates import (
    BEHAVIOUR_PASSTHROUGH,
    PROFILE_COLUMNS,
    ROW,
    ProductArrays,
    candidate_features,
    customer_candidate_columns,
)
from models.collaborative import (
    HELD_COLUMN,
    AlsFactors,
    InteractionWeights,
    NotPlainValue,
    build_interaction_row,
    build_interactions,
    held_flags,
)

MODEL_CODE = Path(__file__).with_name("recommender_mlflow.py")
ALS_SCORE = "als_score"


@dataclass(frozen=True)
class RankerSpec:
    """The ranker's features in order and the levels of each categorical one."""

    features: list[str]
    categories: dict[str, list[str]] = field(default_factory=dict)

    def prepare(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """Feature columns in order: categoricals with the training levels, the rest as floats."""
        out = pd.DataFrame(index=candidates.index)
        for name in self.features:
            if name in self.categories:
                out[name] = pd.Categorical(candidates[name].astype("string"), categories=self.categories[name])
            else:
                out[name] = pd.to_numeric(candidates[name], errors="coerce").astype(float)
        return out

    @classmethod
    def fitted(cls, features: list[str], categorical: list[str], train: pd.DataFrame) -> RankerSpec:
        """A spec whose categorical levels are those seen in `train`."""
        levels = {c: sorted(train[c].dropna().astype(str).unique().tolist()) for c in features if c in categorical}
        return cls(features, levels)


@dataclass(frozen=True)
class Catalogue:
    """Product attributes (and web topics) in catalogue order, kept in memory by the scorer."""

    frame: pd.DataFrame  # indexed by product_id

    @property
    def products(self) -> list[str]:
        return self.frame.index.tolist()

    @cached_property
    def topics(self) -> dict[str, str]:
        topics = self.frame["topic"] if "topic" in self.frame else pd.Series(dtype=object)
        return {p: t for p, t in topics.items() if isinstance(t, str)}

    @cached_property
    def records(self) -> dict[str, dict[str, object]]:
        """product_id → its attributes as Python values (for per-request lookups without pandas)."""
        return {str(p): row for p, row in self.frame.to_dict("index").items()}

    @cached_property
    def arrays(self) -> ProductArrays:
        return ProductArrays.of(self.frame)


@dataclass(frozen=True)
class CustomerCandidates:
    """One customer's candidates as the ranker reads them (`RecommenderScorer.customer_candidates`)."""

    product_ids: list[str]
    matrix: NDArray[np.float64]  # candidates × ranker features: LightGBM's numbers, category codes included
    columns: dict[str, NDArray]  # per feature, the candidates' values
    customer_values: Mapping[str, object]  # the feature dict they were built from
    interactions: sp.csr_matrix  # the customer's ALS interaction row

    def values(self, i: int) -> dict[str, object]:
        """Candidate i's feature values as offer reasons print them: the customer's own as given, the rest as
        floats (product attributes and holdings flags, never printed, as the ranker's numbers)."""
        own = {n: self.customer_values.get(n, np.nan) for n in (*PROFILE_COLUMNS, *BEHAVIOUR_PASSTHROUGH)}
        return {n: v[i] for n, v in self.columns.items()} | own


def candidates_with_als(rows: pd.DataFrame, catalogue: Catalogue, als: AlsFactors,
                        weights: InteractionWeights) -> pd.DataFrame:
    """Candidate rows of customer feature rows, with the ALS score solved from each row's interactions."""
    rows = rows.reset_index(drop=True)
    scores = als.score(build_interactions(rows, catalogue.products, catalogue.topics, weights))
    return candidate_features(rows, catalogue.frame, {ALS_SCORE: scores})


class RecommenderScorer:
    """Rank every product a customer does not hold, from their feature row alone."""

    def __init__(self, booster: lgb.Booster, spec: RankerSpec, catalogue: Catalogue, als: AlsFactors,
                 weights: InteractionWeights, num_threads: int = 1):
        self.booster, self.spec, self.catalogue = booster, spec, catalogue
        self.als, self.weights, self.num_threads = als, weights, num_threads

    def candidates(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Candidate rows with their features (`row` points into `rows`)."""
        return candidates_with_als(rows, self.catalogue, self.als, self.weights)

    def score(self, candidates: pd.DataFrame) -> NDArray[np.float64]:
        """Ranker score of each candidate row (higher: more likely to be adopted next month)."""
        return np.asarray(self.booster.predict(self.spec.prepare(candidates), num_threads=self.num_threads), dtype=float)

    def contributions(self, candidates: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions (LightGBM `pred_contrib`) per feature; call it for returned offers only."""
        values = self.booster.predict(self.spec.prepare(candidates), pred_contrib=True, num_threads=self.num_threads)
        return pd.DataFrame(np.asarray(values)[:, :-1], columns=self.spec.features, index=candidates.index)

    def customer_candidates(self, customer_id: str, values: Mapping[str, object]) -> CustomerCandidates | None:
        """`candidates` and `spec.prepare` of one customer's feature dict, as arrays; None when a value
        needs the pandas path (then call `candidates` on a one-row frame)."""
        products = self.catalogue.arrays
        try:
            held = held_flags(values.get(HELD_COLUMN), products.products)
            interactions = build_interaction_row(values, held, products.products, self.catalogue.topics, self.weights)
            scores = self.als.score(interactions)[0]
            j, columns = customer_candidate_columns(values | {"customer_id": customer_id}, products, held,
                                                    {ALS_SCORE: scores})
            matrix = self._encode(columns, len(j))
        except (NotPlainValue, KeyError):
            return None
        return CustomerCandidates([products.products[p] for p in j], matrix, columns, values, interactions)

    def score_matrix(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """`score` of rows of a `CustomerCandidates.matrix`."""
        return np.asarray(self.booster.predict(matrix, num_threads=self.num_threads), dtype=float)

    def contributions_matrix(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """`contributions` of rows of a `CustomerCandidates.matrix` (rows × features, no bias column)."""
        values = self.booster.predict(matrix, pred_contrib=True, num_threads=self.num_threads)
        return np.asarray(values)[:, :-1]

    @cached_property
    def _category_codes(self) -> dict[str, dict[object, int]]:
        """Categorical feature → level → LightGBM's code: the booster's stored pandas categories, for the
        levels `spec.prepare` keeps (others become NaN, as in `pd.Categorical`)."""
        categorical = [f for f in self.spec.features if f in self.spec.categories]
        stored = self.booster.pandas_categorical or []
        if len(stored) != len(categorical):
            raise ValueError(f"booster has {len(stored)} categorical features, the spec {len(categorical)}")
        return {name: {c: i for i, c in enumerate(levels) if c in self.spec.categories[name]}
                for name, levels in zip(categorical, stored, strict=True)}

    def _encode(self, columns: dict[str, NDArray], n: int) -> NDArray[np.float64]:
        matrix = np.empty((n, len(self.spec.features)))
        for k, name in enumerate(self.spec.features):
            column = columns[name]
            if name in self._category_codes:
                matrix[:, k] = [_code(self._category_codes[name], v) for v in column]
            elif column.dtype == object:
                raise NotPlainValue(name)
            else:
                matrix[:, k] = column
        return matrix

    def explain_interactions(self, interactions: sp.csr_matrix, product_id: str, n: int = 3) -> list[tuple[str, float]]:
        """`explain_collaborative` from a customer's interaction row (`CustomerCandidates.interactions`)."""
        return self.als.explain(interactions, product_id, n)

    def rank(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Input row, customer_id, product_id, score and rank (1 = best) of every candidate of every row."""
        candidates = self.candidates(rows)
        row = candidates[ROW].to_numpy()
        out = pd.DataFrame({ROW: row, "customer_id": rows["customer_id"].to_numpy()[row],
                            "product_id": candidates["product_id"].to_numpy(), "score": self.score(candidates)})
        out["rank"] = out.groupby(ROW)["score"].rank(ascending=False, method="first")
        return out.astype({"rank": int})

    def explain_collaborative(self, row: pd.DataFrame, product_id: str, n: int = 3) -> list[tuple[str, float]]:
        """Held or browsed products that raise `product_id`'s ALS score most ("holds X, so Y")."""
        interactions = build_interactions(row.head(1), self.catalogue.products, self.catalogue.topics, self.weights)
        return self.als.explain(interactions, product_id, n)


def _code(codes: dict[object, int], value: object) -> float:
    """A categorical value's LightGBM code (NaN: missing or a level training never saw)."""
    if isinstance(value, str):
        return codes.get(value, np.nan)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return np.nan
    raise NotPlainValue(type(value).__name__)


class RecommenderPyfunc(PythonModel):
    """MLflow wrapper: `predict` ranks the candidates of each customer feature row."""

    scorer: RecommenderScorer

    def load_context(self, context: PythonModelContext) -> None:
        self.scorer = load_artifacts(context.artifacts)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,  # noqa: ARG002
                params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        return self.scorer.rank(model_input)


def save_artifacts(scorer: RecommenderScorer, directory: Path) -> dict[str, str]:
    """Write booster, spec, catalogue and ALS factors; return MLflow's artifacts map."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"booster": directory / "booster.txt", "spec": directory / "spec.json",
             "catalogue": directory / "catalogue.json"}
    scorer.booster.save_model(str(paths["booster"]))
    spec = asdict(scorer.spec) | {"interaction_weights": asdict(scorer.weights)}
    paths["spec"].write_text(json.dumps(spec, indent=2), encoding="utf-8")
    scorer.catalogue.frame.reset_index().to_json(paths["catalogue"], orient="records", indent=1)
    return {k: str(v) for k, v in paths.items()} | scorer.als.save(directory)


def load_artifacts(artifacts: dict[str, str]) -> RecommenderScorer:
    """The scorer written by `save_artifacts`."""
    spec = json.loads(Path(artifacts["spec"]).read_text(encoding="utf-8"))
    weights = InteractionWeights(**spec.pop("interaction_weights"))
    catalogue = pd.read_json(artifacts["catalogue"], orient="records").set_index("product_id")
    return RecommenderScorer(lgb.Booster(model_file=artifacts["booster"]), RankerSpec(**spec),
                             Catalogue(catalogue), AlsFactors.load(artifacts), weights)


def caller_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """Customer rows as a pyfunc caller sends them: held products as lists, strings, the rest floats."""
    out = pd.DataFrame(index=rows.index)
    for name in rows.columns:
        values = rows[name]
        if name == HELD_COLUMN:
            out[name] = [[] if v is None else [str(p) for p in v] for v in values]
        elif values.dtype == object and not values.dropna().map(lambda v: isinstance(v, bool)).all():
            out[name] = values.astype(object).where(values.notna(), None)
        else:
            out[name] = pd.to_numeric(values.astype("boolean") if values.dtype == object else values).astype(float)
    return out


def input_signature(example: pd.DataFrame) -> ModelSignature:
    """Inputs: a `caller_frame` of customer rows (every column optional); outputs: ranked candidates."""
    inputs: list[ColSpec | TensorSpec] = [
        ColSpec(Array(DataType.string), c, required=False) if c == HELD_COLUMN else
        ColSpec(DataType.string if example[c].dtype == object else DataType.double, c, required=False)
        for c in example.columns]
    outputs: list[ColSpec | TensorSpec] = [
        ColSpec(DataType.long, ROW), ColSpec(DataType.string, "customer_id"),
        ColSpec(DataType.string, "product_id"), ColSpec(DataType.double, "score"), ColSpec(DataType.long, "rank")]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))

