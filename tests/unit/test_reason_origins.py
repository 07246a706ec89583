"""Honest reasons: a mapped or extra column is cited by its source name and value, one source value
once, an unseen category never, a value beyond the development range with a note; amounts in the
portfolio's currency. Contributions are hand-worked; the end-to-end case fits a real (tiny) booster."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from models.explain.glossary import money
from models.explain.inputs import FeatureOrigin, InputProfile, check_inputs
from models.explain.risk import ReasonContext, reason_book, reason_columns, strongest_of_groups
from models.risk import RiskScorer, RiskSpec
from training.risk.fit import prepare_features
from training.risk.origins import (
    development_bounds,
    feature_origins,
    input_profile,
    one_value_groups,
)
from training.risk.portfolio import check_portfolio, score_portfolio

# A one-month snapshot where the bank's PAY_0 was mapped onto credit.missed_payments: both
# missed-payment features read PAY_0, so they are one group.
PAY_0 = InputProfile(
    {"missed_payments": FeatureOrigin(("credit.missed_payments",), ("PAY_0",), direct=True),
     "missed_payments_12m": FeatureOrigin(("credit.missed_payments",), ("PAY_0",)),
     "utilization": FeatureOrigin(("credit.utilization",), (), direct=True)},
    groups=(("missed_payments", "missed_payments_12m"),))
FEATURES = ["missed_payments", "missed_payments_12m", "utilization"]


def _reasons(contributions, values, lang, context, features=FEATURES, k=4):
    values = np.asarray(values, dtype=object)
    return reason_columns(features, lambda j: values[:, j], np.asarray(contributions, dtype=float), k, lang, context)


def test_only_the_strongest_feature_of_a_group_can_be_a_reason():
    contributions = np.array([[0.3, 0.9, 0.1, 0.5],
                              [0.7, 0.2, 0.4, -0.1]])
    eligible = strongest_of_groups(contributions, [np.array([0, 1]), np.array([2, 3])])
    assert eligible.tolist() == [[-np.inf, 0.9, -np.inf, 0.5], [0.7, -np.inf, 0.4, -np.inf]]
    excluded = np.array([[False, True, False, False], [False, False, False, False]])
    assert strongest_of_groups(contributions, [np.array([0, 1])], excluded)[0].tolist() == [0.3, -np.inf, 0.1, 0.5]


@pytest.mark.parametrize(("lang", "expected"), [
    ("en", ["PAY_0 is 1, raising the risk", "credit utilisation 92%", ""]),
    ("zh", ["PAY_0 为 1，风险较高", "额度使用率：92%", ""]),
])
def test_a_mapped_column_is_cited_once_by_its_source_name_and_value(lang, expected):
    # missed_payments_12m is the strongest; its group cites PAY_0's value through missed_payments
    codes, texts = _reasons([[0.3, 0.9, 0.1]], [[1.0, 1.0, 0.92]], lang, ReasonContext(PAY_0))
    assert texts[0].tolist()[:3] == expected
    assert codes[0, 0] == "SRC:PAY_0" and codes[0, 1] == reason_book().template("utilization").code


def test_the_same_features_from_the_bank_s_own_data_keep_their_templates():
    codes, texts = _reasons([[0.3, 0.9, 0.1]], [[1.0, 2.0, 0.92]], "en", ReasonContext())
    assert texts[0].tolist()[:3] == ["2 missed payments in 12 months", "1 missed payments last month",
                                     "credit utilisation 92%"]


def test_a_feature_computed_from_a_source_column_says_so_when_no_feature_reads_it_as_sent():
    inputs = InputProfile({"missed_payments_12m": FeatureOrigin(("credit.missed_payments",), ("PAY_0",))})
    _, en = _reasons([[0.9]], [[3.0]], "en", ReasonContext(inputs), features=["missed_payments_12m"])
    _, zh = _reasons([[0.9]], [[3.0]], "zh", ReasonContext(inputs), features=["missed_payments_12m"])
    assert en[0, 0] == "missed_payments_12m computed from PAY_0 is 3, raising the risk"
    assert zh[0, 0] == "由 PAY_0 计算的 missed_payments_12m 为 3，风险较高"


def test_extra_columns_and_features_without_a_template_read_in_their_own_names():
    inputs = InputProfile({"x_housing": FeatureOrigin(("extra.housing",), ("Housing",), direct=True),
                           "x_years_employed": FeatureOrigin(("extra.years_employed",), (), direct=True)})
    features = ["x_housing", "x_years_employed", "complaints_90d"]
    codes, en = _reasons([[0.5, 0.4, 0.3]], [["rent", 2.5, np.nan]], "en", ReasonContext(inputs), features)
    assert en[0].tolist()[:3] == ["Housing is rent, raising the risk", "x_years_employed is 2.5, raising the risk",
                                  "complaints_90d has no record, raising the risk"]
    assert codes[0].tolist()[:3] == ["SRC:Housing", "SRC:x_years_employed", "SRC:complaints_90d"]
    _, zh = _reasons([[0.5, 0.4, 0.3]], [["rent", 12500.0, np.nan]], "zh", ReasonContext(inputs), features)
    assert zh[0].tolist()[:3] == ["Housing 为 rent，风险较高", "x_years_employed 为 12,500，风险较高",
                                  "complaints_90d 暂无记录，风险较高"]


def test_an_unseen_value_is_never_a_reason_and_a_value_beyond_the_range_says_so():
    excluded = np.array([[False, False, True]])
    beyond = np.array([[False, True, False]])
    context = ReasonContext(excluded=excluded, beyond=beyond)
    _, en = _reasons([[0.2, 0.5, 0.9]], [[1.0, 0.0, 1.7]], "en", context, features=FEATURES)
    assert en[0].tolist() == ["0 missed payments in 12 months (outside the range the model was trained on)",
                              "1 missed payments last month", ""]


@pytest.mark.parametrize(("currency", "lang", "expected"), [
    ("EUR", "en", "monthly income €12,500"), ("EUR", "zh", "月收入：1.2万欧元"),
    ("CNY", "en", "monthly income ¥12,500"), ("CNY", "zh", "月收入：1.2万元"),
    ("KES", "en", "monthly income KES 12,500"), ("TWD", "zh", "月收入：1.2万新台币"),
])
def test_amounts_in_reasons_carry_the_portfolio_s_currency(currency, lang, expected):
    _, texts = _reasons([[0.4]], [[12_500.0]], lang, ReasonContext(currency=currency), features=["income_monthly_cny"])
    assert texts[0, 0] == expected


def test_money_writes_each_currency_as_its_language_does():
    assert [money(1_234.0, "en", c) for c in ("CNY", "USD", "EUR", "GBP")] == ["¥1,234", "$1,234", "€1,234", "£1,234"]
    assert [money(1_234.0, "zh", c) for c in ("CNY", "USD", "EUR")] == ["1,234元", "1,234美元", "1,234欧元"]
    assert money(-800.0, "en", "EUR") == "-€800" and money(2.5e8, "zh", "EUR") == "2.5亿欧元"


def test_origins_join_the_feature_lineage_with_the_source_lineage():
    meta = {"columns": [
        {"source": "ID", "role": "id", "target": None, "kind": None},
        {"source": "PAY_0", "role": "mapped", "target": "credit.missed_payments", "kind": "numeric"},
        {"source": "Housing", "role": "extra", "target": "extra.housing", "kind": "categorical"},
        {"source": "Notes", "role": "ignored", "target": None, "kind": None}]}
    origins = feature_origins(["missed_payments", "missed_payments_12m", "utilization", "x_housing"], meta)
    assert origins["missed_payments"] == FeatureOrigin(("credit.missed_payments",), ("PAY_0",), True)
    assert origins["missed_payments_12m"] == FeatureOrigin(("credit.missed_payments",), ("PAY_0",), False)
    assert origins["utilization"] == FeatureOrigin(("credit.utilization",), (), True)
    assert origins["x_housing"] == FeatureOrigin(("extra.housing",), ("Housing",), True)
    assert feature_origins(["missed_payments"], {})["missed_payments"].sources == ()


def test_groups_are_a_common_source_column_or_equal_values_of_a_common_column():
    frame = pd.DataFrame({"missed_payments": [0, 1, 2], "missed_payments_12m": [0, 1, 2],
                          "days_past_due": [0, 30, 60], "worst_dpd_12m": [0, 30, 90],
                          "utilization": [0.1, 0.5, 0.9], "credit_limit_cny": [0.1, 0.5, 0.9]})
    origins = feature_origins(list(frame), {})
    # equal values of one canonical column: one group; equal values of two columns, or unequal: none
    assert one_value_groups(origins, frame) == (("missed_payments", "missed_payments_12m"),)
    mapped = {"columns": [{"source": "PAY_0", "role": "mapped", "target": "credit.days_past_due"},
                          {"source": "PAY_0", "role": "mapped", "target": "credit.missed_payments"}]}
    assert one_value_groups(feature_origins(list(frame), mapped), frame) == (
        ("missed_payments", "missed_payments_12m", "days_past_due", "worst_dpd_12m"),)


def test_bounds_are_the_development_minimum_and_maximum_of_number_features():
    frame = pd.DataFrame({"utilization": [0.2, np.nan, 1.4], "occupation": ["a", "b", None],
                          "gone": [np.nan] * 3})
    assert development_bounds(list(frame), ["occupation"], frame) == {"utilization": (0.2, 1.4)}
    checks = check_inputs(["utilization", "occupation"], np.array([[1.5, np.nan], [np.nan, 0.0], [0.1, np.nan],
                                                                   [0.3, np.nan], [0.3, np.nan]]),
                          {"occupation": np.array(["astronaut", "b", "", None, np.nan], dtype=object)},
                          {"utilization": (0.2, 1.4)})
    assert checks.unseen[:, 1].tolist() == [True, False, False, False, False]  # missing is not unseen
    assert checks.above[:, 0].tolist() == [True, False, False, False, False]
    assert checks.below[:, 0].tolist() == [False, False, True, False, False]


def test_duplicated_ids_reject_every_row_of_the_id():
    frame = pd.DataFrame({"customer_id": ["C00000001", "C00000002", "C00000001", " C00000002", "C00000003"],
                          "utilization": [0.1, 0.2, 0.3, 0.4, 0.5]})
    clean, errors = check_portfolio(frame, ["utilization"])
    assert errors[["row", "column", "message"]].values.tolist() == [
        [1, "customer_id", "duplicated id: also on row 3"], [2, "customer_id", "duplicated id: also on row 4"],
        [3, "customer_id", "duplicated id: also on row 1"], [4, "customer_id", "duplicated id: also on row 2"]]


@pytest.fixture(scope="module")
def snapshot_scorer() -> RiskScorer:
    """A real booster on a one-month snapshot: PAY_0 mapped onto missed payments, an extra category,
    amounts in euros."""
    rng = np.random.default_rng(0)
    n = 600
    pay = rng.integers(0, 4, n).astype(float)
    frame = pd.DataFrame({"missed_payments": pay, "missed_payments_12m": pay,
                          "income_monthly_cny": rng.uniform(1_000, 9_000, n),
                          "x_housing": rng.choice(["own", "rent", "free"], n)})
    y = (rng.random(n) < 0.1 + 0.25 * pay + 0.2 * (frame["x_housing"] == "rent")).astype(int)
    meta = {"currency": "EUR", "columns": [
        {"source": "PAY_0", "role": "mapped", "target": "credit.missed_payments", "kind": "numeric"},
        {"source": "INCOME", "role": "mapped", "target": "customers.income_monthly", "kind": "numeric"},
        {"source": "Housing", "role": "extra", "target": "extra.housing", "kind": "categorical"}]}
    features = list(frame)
    spec = RiskSpec("delinquency", features, ["x_housing"], inputs=input_profile(features, ["x_housing"], frame, meta),
                    currency="EUR")
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 0, "num_threads": 1},
                        lgb.Dataset(prepare_features(frame, spec), y), num_boost_round=30)
    return RiskScorer(booster, spec, num_threads=1)


def test_a_scored_snapshot_cites_source_columns_once_and_flags_what_it_never_saw(snapshot_scorer):
    portfolio = pd.DataFrame({"customer_id": ["C00000001", "C00000002", "C00000003"],
                              "missed_payments": [3.0, 3.0, 9.0], "missed_payments_12m": [3.0, 3.0, 9.0],
                              "income_monthly_cny": [2_000.0, 2_000.0, 2_000.0],
                              "x_housing": ["rent", "astronaut", "rent"]})
    result = score_portfolio(snapshot_scorer, portfolio, "en")
    scores = result.scores.reset_index(drop=True)
    reasons = scores.filter(like="reason_").filter(regex=r"^reason_\d").to_numpy()
    for row in reasons:
        cited = [t for t in row if isinstance(t, str) and t]
        assert sum("PAY_0" in t for t in cited) == 1, cited  # one source value, once
        assert not any("missed payments" in t for t in cited)  # never the canonical meaning
    assert "PAY_0 is 3, raising the risk" in reasons[0]
    assert not any("astronaut" in str(t) for t in reasons[1])  # read as missing: not a reason
    assert scores["flags"].tolist() == [
        "", "x_housing: unseen category 'astronaut' (read as missing, not a reason)",
        "missed_payments: 9 above the development maximum 3; missed_payments_12m: 9 above the development maximum 3"]
    assert any(str(t).startswith("PAY_0 is 9, raising the risk (outside the range") for t in reasons[2])
    assert result.flagged["row"].tolist() == [2, 3]
    assert "INCOME is €2,000, raising the risk" in reasons[0]  # a mapped amount, in the portfolio's currency


def test_the_spec_keeps_its_inputs_and_currency_and_old_specs_read_as_before(snapshot_scorer):
    spec = snapshot_scorer.spec
    assert RiskSpec.from_dict(spec.to_dict()) == spec
    old = {k: v for k, v in spec.to_dict().items() if k not in ("inputs", "currency")}
    assert RiskSpec.from_dict(old).inputs == InputProfile() and RiskSpec.from_dict(old).currency == "CNY"
