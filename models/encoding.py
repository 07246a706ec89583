"""Feature values → the float rows a LightGBM booster reads, one encoder for every model.

LightGBM reads a pandas frame by turning each categorical column into the codes of the categories
stored with the booster (`pandas_categorical`), other values into floats. `RowEncoder` produces the
same numbers from plain Python values or numpy columns, without pandas on the request path:
missing values and categories the booster never saw become NaN.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from nbo.errors import ModelUnavailable


class NotPlainValue(ModelUnavailable, ValueError):
    """A feature value the encoder does not read (not None, a number or, for a categorical, a string).

    The online store serves only such values, so the service answers 503 naming the feature: the model
    cannot score this customer until the data behind the store is fixed."""

    def __init__(self, feature: str, value: object):
        super().__init__(f"feature {feature!r}: cannot read {type(value).__name__} value {value!r}")
        self.feature, self.value = feature, value


def plain_float(feature: str, value: object) -> float:
    """A number feature's value as a float (None and NaN: NaN); NotPlainValue for anything else."""
    if value is None:
        return math.nan
    if isinstance(value, bool | int | float | np.number) and not isinstance(value, np.datetime64):
        return float(value)
    raise NotPlainValue(feature, value)


@dataclass(frozen=True)
class RowEncoder:
    """The booster's features in order, and per categorical feature its level → code map."""

    features: tuple[str, ...]
    codes: Mapping[str, Mapping[str, int]]

    @classmethod
    def for_booster(cls, booster: lgb.Booster, features: Sequence[str],
                    levels: Mapping[str, Collection[str] | None]) -> RowEncoder:
        """`levels` names the categorical features (in `features` order as the booster stores them),
        each with the levels to keep (None: every level the booster stores; others read as NaN)."""
        categorical = [f for f in features if f in levels]
        stored = booster.pandas_categorical or []
        if len(stored) != len(categorical):
            raise ValueError(f"booster has {len(stored)} categorical features, the spec {len(categorical)}")
        codes = {}
        for name, known in zip(categorical, stored, strict=True):
            keep = levels[name]
            codes[name] = {str(c): i for i, c in enumerate(known) if keep is None or str(c) in keep}
        return cls(tuple(features), codes)

    def value(self, name: str, value: object) -> float:
        """One feature value as LightGBM reads it."""
        codes = self.codes.get(name)
        if codes is None:
            return plain_float(name, value)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return math.nan
        if isinstance(value, str):
            return float(codes.get(value, math.nan)) if value else math.nan
        raise NotPlainValue(name, value)

    def row(self, values: Mapping[str, object]) -> NDArray[np.float64]:
        """One customer's feature dict as a 1 × features matrix (absent features are missing)."""
        return np.array([[self.value(n, values.get(n)) for n in self.features]], dtype=float)

    def columns(self, columns: Mapping[str, Sequence[object] | NDArray], n: int) -> NDArray[np.float64]:
        """n rows given as one column per feature (numpy or lists) as an n × features matrix."""
        matrix = np.empty((n, len(self.features)))
        for k, name in enumerate(self.features):
            column = columns[name]
            if name not in self.codes and isinstance(column, np.ndarray) and column.dtype.kind in "biuf":
                matrix[:, k] = column
            else:
                matrix[:, k] = [self.value(name, v) for v in column]
        return matrix
