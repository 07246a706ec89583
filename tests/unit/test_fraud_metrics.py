"""evaluation.fraud on small examples worked by hand."""

import math

import numpy as np
import pytest

from evaluation.fraud import (
    ALLOW,
    HOLD,
    STEP_UP,
    as_codes,
    budget_threshold,
    decide,
    fraud_metrics,
    value_share,
    wilson,
)


def test_budget_threshold_never_exceeds_the_budget_even_with_ties():
    scores = np.array([0.9, 0.8, 0.8, 0.5, 0.1] + [0.0] * 195)  # 200 payments, 1 % may be held: 2
    t = budget_threshold(scores, 0.01)
    assert t == 0.8  # 0.9 held; the tie at 0.8 would make 3 > 2, so neither 0.8 is held
    assert (scores > t).sum() == 1
    assert budget_threshold(scores, 0.02) == 0.1  # 4 allowed: 0.9, 0.8, 0.8, 0.5 held; the 5th highest is 0.1
    assert budget_threshold(scores, 0.0) == 0.9  # none held
    assert budget_threshold(scores, 1.0) == -math.inf


def test_decide_and_codes():
    assert decide([0.95, 0.5, 0.1], hold_above=0.9, step_up_above=0.4).tolist() == [HOLD, STEP_UP, ALLOW]
    assert as_codes(["hold", "allow", "step_up"]).tolist() == [HOLD, ALLOW, STEP_UP]


def test_wilson_known_values():
    rate, low, high = wilson(5, 10)
    assert rate == 0.5
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    rate, low, high = wilson(0, 20)
    assert rate == 0 and low == 0 and high == pytest.approx(0.1611, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(0, 0))


def test_value_share_and_its_interval():
    caught = np.array([True, False, False, False])
    values = np.array([700.0, 100.0, 100.0, 100.0])
    share, low, high = value_share(caught, values)
    assert share == pytest.approx(0.7)
    assert low < share < high <= 1.0


def test_fraud_metrics_by_hand():
    # 10 payments; fraud at 0 (900), 1 (50), 2 (50); hold 0 and 3, step up 1; ages: 3 and 4 are 70
    decisions = ["hold", "step_up", "allow", "hold", "allow", "allow", "allow", "allow", "allow", "allow"]
    labels = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    amounts = [900, 50, 50, 10, 10, 10, 10, 10, 10, 10]
    ages = [40, 40, 40, 70, 70, 30, 30, 30, 30, 30]
    m = fraud_metrics(decisions, labels, amounts, ages)
    assert m["payments"] == 10 and m["fraud_cases"] == 3 and m["fraud_value"] == 1000
    assert m["hold_rate"] == pytest.approx(0.2) and m["step_up_rate"] == pytest.approx(0.1)
    assert m["fraud_value_held"] == pytest.approx(0.9)
    assert m["fraud_value_stopped"] == pytest.approx(0.95)
    assert m["fraud_cases_held"] == pytest.approx(1 / 3) and m["fraud_cases_stopped"] == pytest.approx(2 / 3)
    assert m["hold_precision"] == pytest.approx(0.5)
    assert m["false_hold_rate_65plus"] == pytest.approx(0.5)  # 1 of 2 legitimate payments of the 70-year-old held
    assert m["false_hold_rate_under65"] == 0.0  # 5 legitimate payments under 65, none held
    assert m["hold_precision_low"] < 0.5 < m["hold_precision_high"]


def test_fraud_metrics_without_fraud_or_holds_say_nan():
    m = fraud_metrics([ALLOW, ALLOW], [0, 0], [1.0, 2.0], [30, 80])
    assert math.isnan(m["fraud_value_held"]) and math.isnan(m["hold_precision"])
    assert m["false_hold_rate_65plus"] == 0.0
