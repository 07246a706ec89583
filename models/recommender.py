"""The recommender as it travels through MLflow: ranker booster + ALS product factors + spec.

A logged `nbo-recommender` is an MLflow pyfunc whose input is customer feature rows as Feast
serves them (one row per customer) and whose output is every candidate product with its score
and rank. `models.registry.load_recommender(uri)` gives back a `RecommenderScorer`, which the service calls
twice per request: `rank` (candidates → ALS → ranker P(adopt), num_threads=1) and, after arbitration, `explain`
(SHAP contributions and reason texts for the offers it returns). Batch callers use `rank_rows`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
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
    candidate_columns,
)
from models.collaborative import (
    HELD_COLUMN,
    AlsFactors,
    InteractionWeights,
    build_interaction_row,
    held_flags,
    held_peers,
)
from models.customer_columns import OneCustomer
from models.encoding import NotPlainValue, RowEncoder
from models.explain.lang import LANGS, Lang
from models.explain.offers import offer_reasons

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
    def _names(self) -> dict[str, dict[str, str]]:
        named = {lang: self.frame[f"name_{lang}"] if f"name_{lang}" in self.frame
                 else pd.Series(None, index=self.frame.index, dtype=object) for lang in LANGS}
        return {lang: {str(p): str(n) if isinstance(n, str) and n else str(p) for p, n in names.items()}
                for lang, names in named.items()}

    def names(self, lang: Lang) -> dict[str, str]:
        """product_id → its name in `lang` (the catalogue's name_zh or name_en; the id where it has none),
        for every product: the one place product names are looked up (offers, reasons, the workbench)."""
        return self._names[lang]

    @cached_property
    def records(self) -> dict[str, dict[str, object]]:
        """product_id → its attributes as Python values (for per-request lookups without pandas)."""
        return {str(p): row for p, row in self.frame.to_dict("index").items()}

    @cached_property
    def arrays(self) -> ProductArrays:
        return ProductArrays.of(self.frame)


@dataclass(frozen=True)
class Ranked:
    """One customer's allowed candidates scored by the ranker (`RecommenderScorer.rank`), and what
    explaining them needs: their encoded rows, feature columns and the customer's ALS interactions."""

    product_ids: list[str]  # allowed candidates in catalogue order
    scores: NDArray[np.float64]  # the ranker's raw output
    p_adopt: NDArray[np.float64]  # P(adopt next month)
    matrix: NDArray[np.float64]  # allowed candidates × ranker features, as LightGBM reads them
    columns: dict[str, NDArray]  # per feature, the values of every candidate (allowed or not)
    positions: NDArray[np.intp]  # per allowed candidate, its position in `columns`
    customer_values: Mapping[str, object]  # the feature dict they were built from
    interactions: sp.csr_matrix  # the customer's ALS interaction row

    def values(self, i: int) -> dict[str, object]:
        """Allowed candidate i's feature values as offer reasons print them: the customer's own as given, the
        rest as floats (product attributes and holdings flags, never printed, as the ranker's numbers)."""
        own = {n: self.customer_values.get(n, np.nan) for n in (*PROFILE_COLUMNS, *BEHAVIOUR_PASSTHROUGH)}
        return {n: v[self.positions[i]] for n, v in self.columns.items()} | own


class RecommenderScorer:
    """Rank the products a customer does not hold, from their feature row alone; explain the chosen ones.

    Feature values are read as the online store serves them: None, numbers, strings for categoricals,
    a list of held product ids. Anything else (a numeric string, a timestamp) cannot come from the store
    and raises `NotPlainValue` naming the feature; there is no second, lenient path."""

    def __init__(self, booster: lgb.Booster, spec: RankerSpec, catalogue: Catalogue, als: AlsFactors,
                 weights: InteractionWeights, num_threads: int = 1):
        self.booster, self.spec, self.catalogue = booster, spec, catalogue
        self.als, self.weights, self.num_threads = als, weights, num_threads

    @cached_property
    def encoder(self) -> RowEncoder:
        """The ranker's row encoder: its features in order, categoricals coded as the booster stores them."""
        return RowEncoder.for_booster(self.booster, self.spec.features, self.spec.categories)

    def interactions(self, values: Mapping[str, object]) -> tuple[sp.csr_matrix, NDArray[np.bool_]]:
        """A customer's ALS interaction row and which catalogue products they hold."""
        products = self.catalogue.arrays.products
        held = held_flags(values.get(HELD_COLUMN), products)
        return build_interaction_row(values, held, products, self.catalogue.topics, self.weights), held

    def rank(self, customer_id: str, values: Mapping[str, object], allowed: Collection[str]) -> Ranked:
        """The customer's candidates (products not held) limited to `allowed`, with the ranker's P(adopt)."""
        try:
            interactions, held = self.interactions(values)
            return self.score_candidates(values, interactions, held, self.als.score(interactions)[0], allowed)
        except NotPlainValue as err:
            err.add_note(f"customer {customer_id}: its feature values do not come from the online store")
            raise

    def score_candidates(self, values: Mapping[str, object], interactions: sp.csr_matrix,
                         held: NDArray[np.bool_], als_scores: NDArray[np.floating],
                         allowed: Collection[str] | None) -> Ranked:
        """`rank` given the customer's ALS scores (None: every candidate is allowed)."""
        products = self.catalogue.arrays
        _, j, columns = candidate_columns(OneCustomer(values), products, held[np.newaxis, :],
                                          {ALS_SCORE: als_scores[np.newaxis, :]})
        ids = [products.products[p] for p in j]
        keep = np.array([i for i, p in enumerate(ids) if allowed is None or p in allowed], dtype=np.intp)
        matrix = self.encoder.columns(columns, len(ids))[keep]
        scores = self._predict(matrix)
        return Ranked([ids[i] for i in keep], scores, self._probability(scores), matrix, columns, keep, values,
                      interactions)

    def rank_each(self, rows: pd.DataFrame) -> list[Ranked]:
        """`rank` of every customer row, every candidate allowed. ALS vectors are solved for all rows at
        once (as training scored them); candidates, encoding and the ranker are `rank`'s, row by row."""
        records = rows.to_dict("records")
        if not records:
            return []
        built = [self.interactions(values) for values in records]
        als_scores = self.als.score(sp.vstack([interactions for interactions, _ in built], format="csr"))
        return [self.score_candidates(values, interactions, held, als_scores[i], None)
                for i, (values, (interactions, held)) in enumerate(zip(records, built, strict=True))]

    def rank_rows(self, rows: pd.DataFrame) -> pd.DataFrame:
        """`rank_each` as a frame: input row, customer_id, product_id, raw score and rank (1 = best)."""
        ranked = self.rank_each(rows)
        row = np.repeat(np.arange(len(rows)), [len(r.product_ids) for r in ranked]).astype(int)
        out = pd.DataFrame({ROW: row, "customer_id": rows["customer_id"].to_numpy()[row],
                            "product_id": [p for r in ranked for p in r.product_ids],
                            "score": np.concatenate([r.scores for r in ranked]) if ranked else []})
        out["rank"] = out.groupby(ROW)["score"].rank(ascending=False, method="first")
        return out.astype({"rank": int})

    def explain(self, ranked: Ranked, product_ids: Sequence[str], lang: Lang) -> dict[str, list[dict[str, str]]]:
        """Per chosen product its reasons (code, text), from its SHAP contributions (`pred_contrib`, for these
        rows only) and, when the ALS score is a reason, the held products behind it."""
        index = {p: i for i, p in enumerate(ranked.product_ids)}
        rows = [index[p] for p in product_ids]
        if not rows:
            return {}
        shap = self._contributions(ranked.matrix[rows])
        records, names = self.catalogue.records, self.catalogue.names(lang)
        return {p: offer_reasons(self.spec.features, shap[n], ranked.values(i), str(records[p]["topic"]), lang,
                                 names, self._peers(ranked, p, names))
                for n, (p, i) in enumerate(zip(product_ids, rows, strict=True))}

    def _peers(self, ranked: Ranked, product_id: str, names: Mapping[str, str]) -> Callable[[], list[str]]:
        """The names of the held products that raise `product_id`'s ALS score most ("holds X, so Y")."""
        held = ranked.customer_values.get(HELD_COLUMN)
        return lambda: [names.get(p, p) for p in held_peers(self.als.explain(ranked.interactions, product_id),
                                                            held if held is not None else (), product_id)]

    def contributions_rows(self, rows: pd.DataFrame) -> tuple[NDArray[np.float64], pd.DataFrame]:
        """SHAP contributions of every candidate of every row, and the encoded features they explain."""
        matrix = np.vstack([r.matrix for r in self.rank_each(rows)])
        return self._contributions(matrix), pd.DataFrame(matrix, columns=self.spec.features)

    def _contributions(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """LightGBM's `pred_contrib` of encoded rows, without the bias column."""
        return np.asarray(self.booster.predict(matrix, pred_contrib=True, num_threads=self.num_threads))[:, :-1]

    def _predict(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        if not len(matrix):
            return np.empty(0)
        return np.asarray(self.booster.predict(matrix, num_threads=self.num_threads), dtype=float)

    def _probability(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """The ranker's adoption probability: its output for a binary objective, else a logistic link."""
        objective = str(self.booster.params.get("objective", "")) if self.booster.params else ""
        if objective.startswith("binary"):
            return np.clip(scores, 0, 1)
        return 1 / (1 + np.exp(-np.asarray(scores, dtype=float)))


class RecommenderPyfunc(PythonModel):
    """MLflow wrapper: `predict` ranks the candidates of each customer feature row."""

    scorer: RecommenderScorer

    def load_context(self, context: PythonModelContext) -> None:
        self.scorer = load_artifacts(context.artifacts)

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,  # noqa: ARG002
                params: dict | None = None) -> pd.DataFrame:  # noqa: ARG002
        return self.scorer.rank_rows(model_input)


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

