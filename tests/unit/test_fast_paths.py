"""The request path gives what training's frames and LightGBM's pandas reading give, on real LightGBM and implicit.

Small boosters are trained here on random customers (pandas categoricals, as `nbo train` trains them);
the customers include the awkward values: None, absent features, unseen and empty categories,
nothing held, and an intent topic that matches a product. The recommender has one request path
(`RecommenderScorer.rank` then `explain`); batch ranking (`rank_rows`, the pyfunc) must equal it.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.calibration import Calibration
from models.candidates import CATEGORICAL, ROW, candidate_features
from models.collaborative import (
    AlsFactors,
    InteractionWeights,
    build_interaction_row,
    build_interactions,
    held_flags,
    held_peers,
)
from models.encoding import NotPlainValue
from models.explain.offers import _descending_positive, offer_reasons
from models.recommender import (
    ALS_SCORE,
    Catalogue,
    RankerSpec,
    RecommenderPyfunc,
    RecommenderScorer,
    caller_frame,
)
from models.risk import TABLE_MIN_ROWS, RiskScorer, RiskSpec
from training.risk.fit import prepare_features

PRODUCTS = ["DEP_SAVINGS", "WM_STABLE", "FUND_BOND", "CC_CLASSIC", "LOAN_PERSONAL", "GOLD_ACCUM", "NEW_PRODUCT"]
TOPICS = ["deposit", "wealth", "fund", "credit_card", "loan", None, "gold"]
CATEGORIES = ["deposit", "wealth", "fund", "credit_card", "personal_loan", "gold", "gold"]


def _catalogue() -> pd.DataFrame:
    return pd.DataFrame({
        "category": CATEGORIES, "risk_level": ["R1", "R2", "R3", "R1", "R1", "R4", "R2"],
        "risk_level_num": [1, 2, 3, 1, 1, 4, 2], "is_credit": [False, False, False, True, True, False, False],
        "min_amount_cny": [0, 10000, 1000, 0, 0, 100, 5000], "expected_yield_rate": [0.002, 0.03, 0.04, 0, 0, 0.05, 0.01],
        "margin_rate": [0.004, 0.012, 0.015, 0.03, 0.04, 0.01, 0.01], "min_age_years": [0, 18, 18, 18, 22, 18, 30],
        "max_age_years": [120, 120, 75, 70, 60, 80, 65], "topic": TOPICS,
    }, index=pd.Index(PRODUCTS, name="product_id"))


def _customer(rng: np.random.Generator, i: int) -> dict[str, object]:
    """A feature dict as the online store gives it, with gaps and odd values among the customers."""
    values: dict[str, object] = {
        "age_years": int(rng.integers(18, 80)), "gender": str(rng.choice(["F", "M"])),
        "segment": str(rng.choice(["mass", "affluent", "private"])), "occupation": str(rng.choice(["employee", "retired"])),
        "tenure_months": int(rng.integers(1, 200)), "risk_tolerance_level": int(rng.integers(1, 6)),
        "risk_tolerance": str(rng.choice(["C1", "C3", "C5"])), "income_monthly_cny": float(rng.gamma(2, 8000)),
        "city_tier": int(rng.integers(1, 4)), "aum_cny": float(rng.gamma(1.5, 50000)),
        "products_held_count": int(rng.integers(0, 5)), "logins_30d": int(rng.integers(0, 30)),
        "page_views_30d": int(rng.integers(0, 50)), "searches_30d": int(rng.integers(0, 9)),
        "clicks_30d": int(rng.integers(0, 9)), "days_since_last_login": int(rng.integers(0, 90)),
        "txn_count_90d": int(rng.integers(0, 90)), "inflow_cny_90d": float(rng.gamma(2, 9000)),
        "utilization": None if i % 3 else float(rng.uniform()), "has_marketing_consent": bool(i % 2),
        "held_product_ids": [str(p) for p in rng.choice(PRODUCTS[:6], size=int(rng.integers(0, 4)), replace=False)],
        "last_intent_topic": str(rng.choice([t for t in TOPICS if t] + ["promotions"])),
    }
    for topic in {t for t in TOPICS if t}:
        values[f"page_views_{topic}_30d"] = int(rng.poisson(2))
        values[f"searches_{topic}_30d"] = None if i % 5 == 0 else int(rng.poisson(1))
    for category in set(CATEGORIES):
        values[f"{category}_balance_cny"] = float(rng.gamma(1, 20000)) if rng.uniform() < 0.6 else 0.0
    odd = i % 7
    if odd == 1:
        values["gender"] = None  # missing categorical
    elif odd == 2:
        values["segment"] = "unseen"  # a level training never saw
    elif odd == 3:
        del values["occupation"], values["age_years"]  # absent features
    elif odd == 4:
        values["held_product_ids"] = None
    elif odd == 5:
        values["risk_tolerance"] = ""  # empty category: missing for the risk models
    return values


def _frame(customers: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([c | {"customer_id": f"C{i:08d}"} for i, c in enumerate(customers)])


@pytest.fixture(scope="module")
def customers() -> list[dict[str, object]]:
    rng = np.random.default_rng(11)
    return [_customer(rng, i) for i in range(70)]


@pytest.fixture(scope="module")
def scorer(customers: list[dict[str, object]]) -> RecommenderScorer:
    """A lambdarank booster on pandas categoricals and ALS factors, as `nbo train recommender` makes them."""
    rng = np.random.default_rng(5)
    catalogue = Catalogue(_catalogue())
    als = AlsFactors(catalogue.products, rng.normal(0, 0.3, (len(catalogue.products), 8)).astype(np.float32), 0.1, 20.0)
    weights = InteractionWeights(holding=1.0, page_view=0.3, search=0.7, click=0.2)
    rows = _frame(customers)
    scores = als.score(build_interactions(rows, catalogue.products, catalogue.topics, weights))
    train = candidate_features(rows, catalogue.frame, {ALS_SCORE: scores})
    train = train[train["product_id"] != "NEW_PRODUCT"].reset_index(drop=True)  # a level the booster never sees
    features = [c for c in train.columns if c not in (ROW, "customer_id")]
    spec = RankerSpec.fitted(features, list(CATEGORICAL), train)
    label = (rng.uniform(size=len(train)) < 0.3).astype(float)
    data = lgb.Dataset(spec.prepare(train), label, group=train.groupby(ROW).size().to_numpy())
    booster = lgb.train({"objective": "lambdarank", "num_leaves": 7, "min_data_in_leaf": 5, "verbosity": -1,
                         "num_threads": 1, "seed": 0}, data, 25)
    return RecommenderScorer(booster, spec, catalogue, als, weights)


def test_interaction_row_equals_build_interactions(scorer: RecommenderScorer,
                                                   customers: list[dict[str, object]]) -> None:
    products, topics, weights = scorer.catalogue.products, scorer.catalogue.topics, scorer.weights
    expected = build_interactions(_frame(customers), products, topics, weights).toarray()
    for i, values in enumerate(customers):
        held = held_flags(values.get("held_product_ids"), products)
        row = build_interaction_row(values, held, products, topics, weights).toarray()
        np.testing.assert_array_equal(row[0], expected[i])


def _training_frame(scorer: RecommenderScorer, rows: pd.DataFrame) -> pd.DataFrame:
    """Training's candidate frame of customer rows (`candidate_features` with the batch ALS scores)."""
    products, topics = scorer.catalogue.products, scorer.catalogue.topics
    scores = scorer.als.score(build_interactions(rows, products, topics, scorer.weights))
    return candidate_features(rows, scorer.catalogue.frame, {ALS_SCORE: scores})


def test_rank_equals_lightgbm_on_the_training_frame(scorer: RecommenderScorer,
                                                    customers: list[dict[str, object]]) -> None:
    """Candidates, encoded rows, scores and SHAP of one request equal what LightGBM reads from training's
    pandas frame (categories as pandas categoricals) for the same customer, to 1e-12."""
    everything = set(scorer.catalogue.products)
    for i, values in enumerate(customers):
        ranked = scorer.rank(f"C{i:08d}", values, everything)
        row = _frame([values])
        candidates = _training_frame(scorer, row)
        assert ranked.product_ids == candidates["product_id"].tolist()
        frame = scorer.spec.prepare(candidates)
        np.testing.assert_allclose(ranked.scores, scorer.booster.predict(frame), rtol=0, atol=1e-12)
        np.testing.assert_allclose(scorer.booster.predict(ranked.matrix, pred_contrib=True),
                                   scorer.booster.predict(frame, pred_contrib=True), rtol=0, atol=1e-12)
        shap = scorer.booster.predict(frame, pred_contrib=True)[:, :-1]
        interactions = build_interactions(row, scorer.catalogue.products, scorer.catalogue.topics, scorer.weights)
        explained = scorer.explain(ranked, ranked.product_ids, "en")
        names, held = scorer.catalogue.names("en"), values.get("held_product_ids") or ()
        for c, product in enumerate(ranked.product_ids):
            expected = offer_reasons(scorer.spec.features, shap[c], candidates.iloc[c],
                                     str(scorer.catalogue.records[product]["topic"]), "en", names,
                                     lambda p=product, x=interactions, n=names, h=held: [
                                         n.get(q, q) for q in held_peers(scorer.als.explain(x, p), h, p)])
            assert explained[product] == expected


def test_rank_keeps_only_allowed_candidates_and_their_probabilities(scorer: RecommenderScorer,
                                                                    customers: list[dict[str, object]]) -> None:
    values = customers[0]
    full = scorer.rank("C00000000", values, set(scorer.catalogue.products))
    allowed = set(full.product_ids[::2])
    some = scorer.rank("C00000000", values, allowed)
    assert some.product_ids == full.product_ids[::2] and len(some.product_ids) >= 2
    np.testing.assert_array_equal(some.scores, full.scores[::2])
    np.testing.assert_allclose(some.p_adopt, 1 / (1 + np.exp(-full.scores[::2])), rtol=0, atol=1e-15)
    assert scorer.rank("C00000000", values, set()).product_ids == []
    assert scorer.explain(scorer.rank("C00000000", values, set()), [], "zh") == {}


def test_batch_ranking_equals_the_request_path(scorer: RecommenderScorer,
                                              customers: list[dict[str, object]]) -> None:
    """`rank_rows` and the logged pyfunc's `predict` rank every customer as `rank` does one request."""
    frame = _frame(customers)
    pyfunc = RecommenderPyfunc()
    pyfunc.scorer = scorer
    batch, logged = scorer.rank_rows(frame), pyfunc.predict(None, caller_frame(frame))
    everything = set(scorer.catalogue.products)
    for i, values in enumerate(customers):
        ranked = scorer.rank(f"C{i:08d}", values, everything)
        for out in (batch, logged):
            mine = out[out["row"] == i]
            assert mine["product_id"].tolist() == ranked.product_ids
            assert set(mine["customer_id"]) == {f"C{i:08d}"}
            np.testing.assert_allclose(mine["score"], ranked.scores, rtol=0, atol=1e-12)
            order = np.argsort(-ranked.scores, kind="stable")
            assert mine["rank"].to_numpy()[order].tolist() == list(range(1, len(order) + 1))


def test_template_values_match_the_candidate_frame(scorer: RecommenderScorer,
                                                   customers: list[dict[str, object]]) -> None:
    """Reasons print the values the candidate frame holds (in each template's format; missing is None)."""
    from models.explain.offers import _TEMPLATES
    from models.explain.risk import format_values

    values = customers[3]  # occupation and age absent
    ranked = scorer.rank("C00000003", values, set(scorer.catalogue.products))
    candidates = _training_frame(scorer, _frame([values]))
    for name in scorer.spec.features:
        if name not in _TEMPLATES:
            continue  # never printed
        value_format = _TEMPLATES[name][1]
        assert format_values([ranked.values(c)[name] for c in range(len(candidates))], value_format, "en") == \
            format_values(candidates[name].tolist(), value_format, "en"), name


@pytest.mark.parametrize(("feature", "value"), [("aum_cny", "12000"), ("segment", 3),
                                                ("held_product_ids", "DEP_SAVINGS")])
def test_values_the_online_store_never_serves_are_a_clear_error(scorer: RecommenderScorer,
                                                                customers: list[dict[str, object]],
                                                                feature: str, value: object) -> None:
    with pytest.raises(NotPlainValue, match=feature) as raised:
        scorer.rank("C00000000", customers[0] | {feature: value}, set(scorer.catalogue.products))
    assert "customer C00000000" in "".join(raised.value.__notes__)
    assert raised.value.status == 503  # the service answers "cannot score now", never a 500


@pytest.fixture(scope="module")
def risk_scorer(customers: list[dict[str, object]]) -> RiskScorer:
    rng = np.random.default_rng(3)
    features = ["age_years", "gender", "segment", "aum_cny", "utilization", "risk_tolerance", "logins_30d",
                "has_marketing_consent", "page_views_fund_30d"]
    spec = RiskSpec("delinquency", features, ["gender", "segment", "risk_tolerance"],
                    Calibration("platt", {"coef": [1.1, -0.3]}))
    frame = _frame(customers * 3)
    label = (rng.uniform(size=len(frame)) < 0.3).astype(float)
    booster = lgb.train({"objective": "binary", "num_leaves": 5, "min_data_in_leaf": 5, "verbosity": -1,
                         "num_threads": 1, "seed": 0}, lgb.Dataset(prepare_features(frame, spec), label), 20)
    return RiskScorer(booster, spec, num_threads=1)


def _pandas_reference(scorer: RiskScorer, rows: list[dict[str, object]], **predict: object) -> np.ndarray:
    """What LightGBM gives for the rows as a pandas frame of categoricals (how the booster was trained)."""
    frame = pd.DataFrame([{n: values.get(n) for n in scorer.spec.features} for values in rows])
    return np.asarray(scorer.booster.predict(prepare_features(frame, scorer.spec), num_threads=1, **predict))


def test_risk_probability_of_equals_probability(risk_scorer: RiskScorer, customers: list[dict[str, object]]) -> None:
    """The encoder's rows give LightGBM's pandas answers, one customer at a time."""
    for values in [*customers, {}, customers[0] | {"gender": "X", "utilization": float("nan")}]:
        expected = risk_scorer.spec.calibration.apply(_pandas_reference(risk_scorer, [values]))
        assert risk_scorer.probability_of(values) == pytest.approx(float(expected[0]), rel=0, abs=1e-12)
    # A numeric string is not a number the online store gives: a clear error naming the feature.
    with pytest.raises(NotPlainValue, match="aum_cny"):
        risk_scorer.probability_of(customers[0] | {"aum_cny": "12000"})


def test_risk_contributions_of_equal_contributions(risk_scorer: RiskScorer,
                                                  customers: list[dict[str, object]]) -> None:
    for values in [*customers, {}, customers[0] | {"gender": "X", "aum_cny": 12000}]:
        expected = _pandas_reference(risk_scorer, [values], pred_contrib=True)[:, :-1]
        np.testing.assert_allclose(risk_scorer.contributions_of(values), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("copies", [1, TABLE_MIN_ROWS // 70 + 1])
def test_risk_batches_equal_pandas(risk_scorer: RiskScorer, customers: list[dict[str, object]], copies: int) -> None:
    """A batch (small: pred_contrib; large: pattern tables) scores as one customer at a time does."""
    rows = customers * copies
    scores = risk_scorer.score_rows(rows, "en")
    expected = risk_scorer.spec.calibration.apply(_pandas_reference(risk_scorer, rows))
    np.testing.assert_allclose(scores.probability, expected, rtol=0, atol=1e-12)
    contributions = risk_scorer.contributions(risk_scorer.encode_rows(rows).matrix)
    np.testing.assert_allclose(contributions, _pandas_reference(risk_scorer, rows, pred_contrib=True)[:, :-1],
                               rtol=0, atol=1e-12)
    one = [risk_scorer.score_rows([values], "en").rows()[0] for values in customers]
    assert scores.rows()[:len(customers)] == one
    assert any(row.reasons for row in one) and all(row.points is not None for row in one)


@pytest.mark.parametrize("shap", [
    [0.3, -0.1, 0.3, 0.0, 0.2, 0.3],
    [0.1, 0.1, 0.1, 0.1],
    [-1.0, 0.0],
    list(np.random.default_rng(1).choice([0.5, 0.25, -0.1, 0.0], 40)),
])
def test_descending_positive_orders_ties_as_pandas(shap: list[float]) -> None:
    series = pd.Series(shap, index=[f"f{i}" for i in range(len(shap))])
    expected = series[series > 0].sort_values(ascending=False).index.tolist()
    assert [f"f{i}" for i in _descending_positive(np.array(shap))] == expected
