"""The recommender on a holdings snapshot (Zimnat, Santander's sample): the hide-one protocol.

The same candidate features and ranker as on a bank's history, with the hidden product as the
label. A training customer gives one query per held product, hidden in turn (on Zimnat this took
the hybrid's MRR from 0.925 to 0.927: more lists, the same customers); a test customer the
protocol's one. Collaborative scores for the ranker's training queries are out-of-fold: each fold of
training customers is scored by co-occurrence and ALS fitted on the other folds' full holdings;
test customers by the same models fitted on every training customer's full holdings. A snapshot
has no history, so Feast (monthly feature tables) is not involved: profile features are computed
here at the snapshot date, with the Feast profile's names and definitions, plus what only a
snapshot run can use (never served, so free of the service's feature list): the join date in days
and years (`SNAPSHOT_PROFILE`), and the bank's own attributes (`customer_extras`, features `x_<name>`)
when the data directory has them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from evaluation.hide_one import (
    SEED,
    TEST_SHARE,
    HideOne,
    cooccurrence,
    cooccurrence_scores,
    hide_one,
)
from evaluation.ranking import compare_models
from models.candidates import CATEGORICAL, ROW, candidate_features
from models.recommender import ALS_SCORE
from sources.extensions import feature_name, read_extensions
from sources.extensions import read_extras as read_extras_table
from sources.io import read_table
from training.recommender.als import AlsSettings, fit_als
from training.recommender.baselines import LABEL, Popularity, Recommender, ScoreColumn
from training.recommender.fit import HYBRID, feature_sets
from training.recommender.ranker import LightGbmRanker, RankerSettings

COOCCURRENCE = "cooccurrence_score"
KS = (1, 3)
FOLDS = 3
# Finer than tenure_months: the day and the year a customer joined (products were sold in waves).
SNAPSHOT_PROFILE = ("days_since_join", "join_year")
# Tuned for ALS alone on Zimnat (64 factors did no better): strong regularisation, confidence 1 + r.
HIDE_ONE_ALS = AlsSettings(factors=16, regularization=10.0, alpha=1.0, iterations=15)


@dataclass(frozen=True)
class Snapshot:
    """Customers' profile rows, full holdings and the catalogue of a single-snapshot dataset."""

    profile: pd.DataFrame
    held: NDArray[np.bool_]
    catalogue: pd.DataFrame
    snapshot_date: pd.Timestamp
    own_columns: tuple[str, ...] = SNAPSHOT_PROFILE  # profile columns candidate_features does not carry
    own_categorical: tuple[str, ...] = ()


def read_snapshot(data_dir: Path) -> Snapshot:
    """Read customers, products and the one holdings snapshot of a canonical data directory."""
    customers, products = read_table(data_dir, "customers"), read_table(data_dir, "products")
    holdings = read_table(data_dir, "holdings")
    at = holdings["snapshot_date"].max()
    holdings = holdings[holdings["snapshot_date"] == at]
    row_of = pd.Series(np.arange(len(customers)), index=customers["customer_id"])
    col_of = pd.Series(np.arange(len(products)), index=products["product_id"])
    held = np.zeros((len(customers), len(products)), dtype=bool)
    held[row_of[holdings["customer_id"]].to_numpy(), col_of[holdings["product_id"]].to_numpy()] = True
    catalogue = pd.DataFrame({
        "category": products["category"].to_numpy(), "risk_level_num": products["risk_level"].str[1:].astype(float),
        "is_credit": products["is_credit"].to_numpy(), "min_amount_cny": products["min_amount"].to_numpy(),
        "expected_yield_rate": products["expected_yield"].to_numpy(), "min_age_years": products["min_age"].to_numpy(),
        "max_age_years": products["max_age"].to_numpy()}, index=products["product_id"].to_numpy())
    profile = profile_at(customers, at)
    extras = read_extras(data_dir, customers["customer_id"])
    categorical = tuple(c for c in extras.columns if not pd.api.types.is_numeric_dtype(extras[c]))
    return Snapshot(pd.concat([profile, extras], axis=1), held, catalogue, at,
                    (*SNAPSHOT_PROFILE, *extras.columns), categorical)


def profile_at(customers: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """Age, tenure and the categorical profile at `at`, as Feast's customer_profile defines them,
    and the join date's day count and year."""
    age_days = (at - customers["birth_date"]).dt.days
    tenure = (at.year - customers["join_date"].dt.year) * 12 + (at.month - customers["join_date"].dt.month)
    return pd.DataFrame({"customer_id": customers["customer_id"], "age_years": np.floor(age_days / 365.25),
                         "tenure_months": tenure, "gender": customers["gender"], "segment": customers["segment"],
                         "occupation": customers["occupation"], "city_tier": customers["city_tier"].astype(float),
                         "income_monthly_cny": customers["income_monthly"],
                         "days_since_join": (at - customers["join_date"]).dt.days.astype(float),
                         "join_year": customers["join_date"].dt.year.astype(float)}).reset_index(drop=True)


def read_extras(data_dir: Path, customer_ids: pd.Series) -> pd.DataFrame:
    """The bank's own attributes declared in `extensions.json` (`x_<name>`, checked against the
    declaration), one row per customer in `customer_ids`' order; none if the data declares none."""
    extensions = read_extensions(data_dir)
    if not extensions.customer_attributes:
        return pd.DataFrame(index=range(len(customer_ids)))
    extras = read_extras_table(data_dir, extensions).set_index("customer_id").reindex(customer_ids.to_numpy())
    return extras.rename(columns=feature_name).reset_index(drop=True)


def _query_frame(snapshot: Snapshot, who: NDArray[np.int64], hidden: NDArray[np.int64],
                 collaborative: dict[str, NDArray[np.floating]]) -> pd.DataFrame:
    """Candidate rows of queries (customer `who[q]` with product `hidden[q]` hidden); label = the hidden product."""
    products = snapshot.catalogue.index.to_numpy()
    masked = _masked(snapshot.held, who, hidden)
    rows = snapshot.profile.iloc[who].reset_index(drop=True)
    rows["held_product_ids"] = [products[m].tolist() for m in masked]
    rows["products_held_count"] = masked.sum(axis=1)
    frame = candidate_features(rows, snapshot.catalogue, collaborative)
    frame = frame.assign(**{c: rows[c].to_numpy()[frame[ROW]] for c in snapshot.own_columns})
    frame[LABEL] = (frame["product_id"].to_numpy() == products[hidden][frame[ROW]]).astype(int)
    frame["customer_id"] = rows["customer_id"].to_numpy()[frame[ROW]]
    return frame


def _masked(held: NDArray[np.bool_], who: NDArray[np.int64], hidden: NDArray[np.int64]) -> NDArray[np.bool_]:
    """The holdings rows of queries: customer `who[q]`'s with product `hidden[q]` removed."""
    rows = held[who]
    rows[np.arange(len(who)), hidden] = False
    return rows


def every_held(held: NDArray[np.bool_], customers: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """One training query per held product of each customer holding two or more: (customer, hidden product)."""
    rows = held[customers]
    who, hidden = np.nonzero(rows & (rows.sum(axis=1) >= 2)[:, None])
    return customers[who], hidden


def _collaborative(snapshot: Snapshot, fit_on: NDArray[np.int64], masked: NDArray[np.bool_],
                   als: AlsSettings) -> dict[str, NDArray[np.floating]]:
    """Co-occurrence and ALS scores of `masked` rows, from models fitted on `fit_on`'s full holdings."""
    full = snapshot.held[fit_on]
    factors = fit_als(sp.csr_matrix(full.astype(np.float32)), snapshot.catalogue.index.tolist(), als)
    return {COOCCURRENCE: cooccurrence_scores(cooccurrence(full), masked),
            ALS_SCORE: factors.score(sp.csr_matrix(masked.astype(np.float32)))}


def hide_one_frames(snapshot: Snapshot, protocol: HideOne, als: AlsSettings) -> dict[str, pd.DataFrame]:
    """Training queries (every held product of each training customer hidden in turn, out-of-fold CF
    scores: a customer's queries share a fold) and test queries (the protocol's one hidden product,
    CF fitted on all training customers)."""
    train = protocol.train_customers
    fold_of = np.full(len(snapshot.held), -1)
    fold_of[train] = np.random.default_rng(protocol.hidden.size).integers(0, FOLDS, len(train))
    queries, hidden = every_held(snapshot.held, train)
    parts = []
    for k in range(FOLDS):
        mine = fold_of[queries] == k
        fit_on = train[fold_of[train] != k]
        collaborative = _collaborative(snapshot, fit_on, _masked(snapshot.held, queries[mine], hidden[mine]), als)
        frame = _query_frame(snapshot, queries[mine], hidden[mine], collaborative)
        parts.append(frame.assign(**{ROW: frame[ROW] + k * len(queries)}))
    test = protocol.test_customers
    masked_fit = cooccurrence(protocol.masked)
    test_frame = _query_frame(snapshot, test, protocol.hidden[test],
                              _collaborative(snapshot, train, protocol.masked[test], als))
    masked_scores = cooccurrence_scores(masked_fit, protocol.masked[test])
    test_frame["cooccurrence_masked_score"] = masked_scores[test_frame[ROW], _columns(snapshot, test_frame)]
    return {"train": pd.concat(parts, ignore_index=True).sort_values(ROW, kind="stable"), "test": test_frame}


def _columns(snapshot: Snapshot, frame: pd.DataFrame) -> NDArray[np.int64]:
    return snapshot.catalogue.index.get_indexer(frame["product_id"])


def hide_one_models(snapshot: Snapshot, train: pd.DataFrame, ranker: RankerSettings) -> list[Recommender]:
    """The hybrid (content + CF scores + holdings + the snapshot's own profile), its no-CF ablation
    and the baselines."""
    sets = feature_sets(train)
    own = [c for c in snapshot.own_columns if train[c].nunique(dropna=True) > 1]
    with_cooccurrence = [*sets[HYBRID], COOCCURRENCE, f"{COOCCURRENCE}_rank", *own]
    categorical = {*CATEGORICAL, *snapshot.own_categorical}

    def lgbm(name: str, features: list[str]) -> LightGbmRanker:
        return LightGbmRanker(name, features, [f for f in features if f in categorical], ranker)

    return [lgbm(HYBRID, with_cooccurrence), Popularity(), ScoreColumn("cooccurrence_masked", "cooccurrence_masked_score"),
            ScoreColumn("cooccurrence", COOCCURRENCE), ScoreColumn("als", ALS_SCORE),
            lgbm("hybrid_no_cf", [*sets["hybrid_no_cf"], *own])]


@dataclass(frozen=True)
class HideOneResult:
    """Every model's figures on the test customers, and how the protocol was run."""

    metrics: dict[str, dict[str, float]]
    protocol: dict[str, object]
    hybrid: LightGbmRanker
    test: pd.DataFrame


def run_hide_one(data_dir: Path, ranker: RankerSettings, als: AlsSettings = HIDE_ONE_ALS) -> HideOneResult:
    """Hide one product per eligible customer, fit on training customers, rank the test customers' rest."""
    snapshot = read_snapshot(data_dir)
    protocol = hide_one(snapshot.held)
    frames = hide_one_frames(snapshot, protocol, als)
    train, valid = _split_queries(frames["train"])
    models = [m.fit(train, valid) for m in hide_one_models(snapshot, train, ranker)]
    test = frames["test"].assign(**{m.name: m.score(frames["test"]) for m in models})
    metrics, _ = compare_models(test, [m.name for m in models], len(snapshot.catalogue), ks=KS)
    description = {"method": "hide_one", "snapshot_date": f"{snapshot.snapshot_date:%Y-%m-%d}",
                   "customers": len(snapshot.held), "eligible_customers": int((protocol.hidden >= 0).sum()),
                   "test_customers": int(protocol.is_test.sum()), "training_queries": int(train[ROW].nunique()),
                   "test_share": TEST_SHARE, "seed": SEED, "folds": FOLDS,
                   "snapshot_features": ",".join(snapshot.own_columns)}
    hybrid = models[0]
    assert isinstance(hybrid, LightGbmRanker)
    return HideOneResult(metrics, description, hybrid, test)


def _split_queries(frame: pd.DataFrame, valid_share: float = 0.1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out the queries of a seeded share of the training customers for early stopping."""
    customers = frame["customer_id"].unique()
    valid = np.random.default_rng(SEED).choice(customers, int(valid_share * len(customers)), replace=False)
    is_valid = frame["customer_id"].isin(valid)
    return frame[~is_valid], frame[is_valid]
