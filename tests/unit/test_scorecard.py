"""Scorecard arithmetic: 600 points at 50:1 odds, 20 points to double the odds; fixed and fitted bands."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.calibration import Calibration, fit_calibration
from models.scorecard import CHURN_BANDS, FITTED_SHARES, RISK_BANDS, Bands, Scorecard, fit_bands


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
    assert RISK_BANDS.describe() == "risk-bands-v1: A ≥ 660, B ≥ 620, C ≥ 580, D ≥ 540, E below"


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


def test_bands_fitted_on_a_portfolio_whose_pds_all_sit_above_5_percent_are_all_populated():
    """The fixed bands leave A to C empty on such a portfolio; fitted bands hold every band, at about
    the fitted shares, on the same points scale (600 points still odds of 50:1)."""
    pd_ = np.random.default_rng(3).beta(2, 5, 20_000) * 0.9 + 0.05
    assert pd_.min() > 0.05
    points = np.rint(Scorecard().points(pd_))
    fixed = RISK_BANDS.assign(points)
    assert not set("ABC") & set(fixed)
    bands = fit_bands(points, "risk-bands-fitted-test")
    shares = pd.Series(bands.assign(points)).value_counts(normalize=True).reindex(list("ABCDE"), fill_value=0)
    assert shares.to_numpy() == pytest.approx(FITTED_SHARES, abs=0.01)
    assert list(bands.lower_bounds[:-1]) == sorted(bands.lower_bounds[:-1], reverse=True)
    assert all(b == round(b) for b in bands.lower_bounds[:-1])
    assert Scorecard().points(1 / 51)[()] == pytest.approx(600.0)
    assert Bands.from_dict(json.loads(json.dumps(bands.to_dict()))) == bands


def test_fitted_bounds_fall_by_a_point_at_least_when_points_tie():
    bands = fit_bands(np.array([600.0] * 95 + [500.0] * 5), "ties")
    assert bands.lower_bounds[:-1] == (600.0, 599.0, 598.0, 597.0)
    assert list(bands.assign([600, 599, 500])) == ["A", "B", "E"]
