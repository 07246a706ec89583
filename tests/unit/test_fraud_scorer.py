"""models.fraud: one payment's score, decision and reasons, on a small booster trained here."""

import math

import lightgbm as lgb
import numpy as np
import pytest

from features.payments.counters import CHANNELS, COUNTER_FEATURES, NEVER_HOURS, PROFILE_FEATURES
from models.fraud import (
    FraudScorer,
    FraudSpec,
    feature_reason,
    load_artifacts,
    save_artifacts,
    score_rules,
)

FEATURES = [*COUNTER_FEATURES, *PROFILE_FEATURES]


@pytest.fixture(scope="module")
def scorer() -> FraudScorer:
    """Fraud is a new device paying a new payee: the booster learns it from 6,000 rows."""
    rng = np.random.default_rng(0)
    x = rng.random((6000, len(FEATURES)))
    j = {name: FEATURES.index(name) for name in FEATURES}
    for flag in ("new_payee", "new_device", "is_night", "device_changed", "new_city", "city_changed"):
        x[:, j[flag]] = rng.random(6000) < 0.1
    y = (x[:, j["new_payee"]] * x[:, j["new_device"]] > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 8, "verbose": -1, "seed": 0},
                        lgb.Dataset(x, y, feature_name=FEATURES), 40)
    spec = FraudSpec(FEATURES, hold_above=0.5, step_up_above=0.2, hold_budget=0.005, step_up_budget=0.03,
                     never={"hours_since_password_change": NEVER_HOURS, "hours_since_device_bound": NEVER_HOURS},
                     channels=list(CHANNELS))
    return FraudScorer(booster, spec)


def payment(**changes: float) -> dict[str, float]:
    base = dict.fromkeys(FEATURES, 0.5) | {"new_payee": 0.0, "new_device": 0.0, "is_night": 0.0, "amount": 800.0,
                                          "hours_since_password_change": NEVER_HOURS,
                                          "hours_since_device_bound": NEVER_HOURS, "device_changed": 0.0,
                                          "new_city": 0.0, "city_changed": 0.0}
    return base | changes


def test_takeover_is_held_with_reasons_naming_the_new_device_and_the_new_payee(scorer):
    score, decision, reasons = scorer.score(payment(new_payee=1.0, new_device=1.0))
    assert decision == "hold" and score > 0.5
    codes = [r.code for r in reasons]
    assert {"NEW_DEVICE", "NEW_PAYEE"} <= set(codes[:2])
    texts = " ".join(r.zh + r.en for r in reasons)
    assert "新设备" in texts and "首次向该收款人转账" in texts and "first payment to this payee" in texts


def test_an_ordinary_payment_is_allowed_without_reasons(scorer):
    score, decision, reasons = scorer.score(payment())
    assert decision == "allow" and score < 0.2 and reasons == []


def test_rules_force_a_hold_and_come_first(scorer):
    result = scorer.score(payment(amount=scorer.spec.limits.hold_amount * 2))
    assert result.decision == "hold" and result.reasons[0].code == "R1_AMOUNT_LIMIT"
    assert result.reasons[0].source == "rule"


def test_rules_alone_have_no_score():
    result = score_rules(payment(amount=1e9))
    assert result.score is None and result.decision == "hold"


def test_missing_features_read_as_missing(scorer):
    assert 0.0 <= scorer.score({}).score <= 1.0


def test_feature_reason_wording(scorer):
    spec = scorer.spec
    assert feature_reason("new_device", 0.0, spec) is None
    assert feature_reason("hours_since_password_change", NEVER_HOURS, spec) is None
    pw = feature_reason("hours_since_password_change", 2.5, spec)
    assert pw.zh == "2.5小时前刚修改登录密码" and pw.en == "password changed 2.5 hours ago"
    assert feature_reason("amount", 125_000.0, spec).zh == "转账金额12.5万元"
    assert feature_reason("channel_code", float(CHANNELS.index("web")), spec).en == "through online banking"
    assert feature_reason("x_unknown", 3.0, spec).en == "x_unknown: 3"
    assert feature_reason("amount", math.nan, spec) is None


def test_artifacts_round_trip(scorer, tmp_path):
    loaded = load_artifacts(save_artifacts(scorer.booster, scorer.spec, tmp_path))
    assert loaded.spec == scorer.spec
    assert loaded.score(payment(new_payee=1.0, new_device=1.0)) == scorer.score(payment(new_payee=1.0, new_device=1.0))
