"""Probability calibration, fitted on a validation period and stored as plain JSON.

- isotonic: a monotone piecewise-linear map from raw score to probability
  (Zadrozny & Elkan, 2002), applied by interpolation and clipped at the ends;
- platt: a logistic map of the raw log-odds, p = 1 / (1 + exp(−(a · margin + b))) (Platt, 1999).

Both are non-decreasing in the raw score, so monotone constraints on the model survive calibration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

CalibrationMethod = Literal["isotonic", "platt", "none"]
_EPS = 1e-9


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1 - _EPS)
    return np.log(q / (1 - q))


@dataclass(frozen=True)
class Calibration:
    """A fitted map from raw model probability to calibrated probability."""

    method: CalibrationMethod
    params: dict[str, list[float]] = field(default_factory=dict)

    def apply(self, raw_probability: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities for raw model probabilities."""
        raw = np.asarray(raw_probability, dtype=float)
        if self.method == "isotonic":
            return np.interp(raw, self.params["x"], self.params["y"])
        if self.method == "platt":
            a, b = self.params["coef"]
            return 1 / (1 + np.exp(-(a * _logit(raw) + b)))
        return raw

    def to_dict(self) -> dict[str, object]:
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Calibration:
        return cls(method=data["method"], params=dict(data["params"]))  # type: ignore[arg-type]


def fit_calibration(method: CalibrationMethod, raw_probability: ArrayLike, y: ArrayLike) -> Calibration:
    """Fit a calibration map on held-out (validation) predictions and labels."""
    raw = np.asarray(raw_probability, dtype=float)
    labels = np.asarray(y, dtype=float)
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, labels)
        return Calibration("isotonic", {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()})
    if method == "platt":
        lr = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), labels)
        return Calibration("platt", {"coef": [float(lr.coef_[0, 0]), float(lr.intercept_[0])]})
    return Calibration("none")
