"""Scorecard arithmetic: 600 points at 50:1 odds, 20 points to double the odds; bands."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import Calibration, fit_calibration
from models.scorecard import CHURN_BANDS, RISK_BANDS, Scorecard


def _odds_good_to_bad(pd_: float) -> float:
    return (1 - pd_) / pd_


def test_600_points_is_odds_of_50_to_1():
    card = Scorecard()
    assert card.pd_at(600)[()] == pytest.approx(1 / 51)
    assert _odds_good_to_bad(card.pd_at(600)[()]) == pytest.approx(50.0)
    assert card.points(1 / 51)[()] == pytest.approx(600.0)


def test_twenty_more_points_halves_the_odds_of_default():
    card = Scorecard()
    for base in (540.0, 600.0, 655.0):
        low, high = card.pd_at([base, base + 20])
        assert _odds_good_to_bad(high) == pytest.approx(2 * _odds_good_to_bad(low))
        assert (high / (1 - high)) == pytest.approx((low / (1 - low)) / 2)


def test_points_and_pd_are_inverse():
    pd_ = np.array([0.001, 0.02, 0.3, 0.9])
    assert Scorecard().pd_at(Scorecard().points(pd_)) == pytest.approx(pd_)


def test_risk_bands_by_points():
    assert list(RISK_BANDS.assign([700, 660, 659.5, 620, 600, 579, 540, 300])) == [
        "A", "A", "B", "B", "C", "D", "D", "E"]


def test_churn_bands_by_probability():
    assert list(CHURN_BANDS.assign([0.9, 0.3, 0.29, 0.1, 0.01])) == ["high", "high", "medium", "medium", "low"]


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_is_monotone_and_survives_json(method):
    rng = np.random.default_rng(0)
    raw = rng.uniform(0, 1, 2000)
    y = rng.uniform(0, 1, 2000) < raw**2
    fitted = fit_calibration(method, raw, y)
    again = Calibration.from_dict(fitted.to_dict())
    grid = np.linspace(0, 1, 101)
    assert np.all(np.diff(again.apply(grid)) >= 0)
    assert again.apply(grid) == pytest.approx(fitted.apply(grid))
    assert abs(fitted.apply([0.5])[0] - 0.25) < 0.08
