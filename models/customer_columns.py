"""Customer feature values as columns, read one way for one customer and for many.

The request path reads one customer's feature dict as the online store serves it (`OneCustomer`);
training reads frames of many customers and as-of dates (`CustomerFrame`). Candidate features and
ALS interaction rows are computed from either through the same two calls, `column` and `matrix`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.encoding import plain_float


class CustomerColumns(Protocol):
    """Feature columns of n customers (absent features are missing)."""

    def column(self, name: str, is_label: bool = False) -> NDArray:
        """One feature, one value per customer: a label as given, anything else as a float."""
        ...

    def matrix(self, names: Sequence[str]) -> NDArray[np.float64]:
        """customers × `names`: number features as floats."""
        ...


@dataclass(frozen=True)
class OneCustomer:
    """One customer's feature dict as the online store serves it. A number feature that is not None or
    a number (a numeric string, a timestamp) never comes from the store: `NotPlainValue`."""

    values: Mapping[str, object]

    def column(self, name: str, is_label: bool = False) -> NDArray:
        if is_label:
            return np.array([self.values.get(name, np.nan)], dtype=object)
        return np.array([plain_float(name, self.values.get(name))])

    def matrix(self, names: Sequence[str]) -> NDArray[np.float64]:
        return np.array([[plain_float(n, self.values[n]) if n in self.values else np.nan for n in names]])


@dataclass(frozen=True)
class CustomerFrame:
    """Customer feature rows (numbers as `pd.to_numeric` reads them)."""

    rows: pd.DataFrame

    def column(self, name: str, is_label: bool = False) -> NDArray:
        if name not in self.rows:
            return np.full(len(self.rows), np.nan, dtype=object if is_label else float)
        if is_label:
            return self.rows[name].to_numpy(dtype=object)
        return pd.to_numeric(self.rows[name], errors="coerce").to_numpy(dtype=float)

    def matrix(self, names: Sequence[str]) -> NDArray[np.float64]:
        return np.column_stack([self.column(n) for n in names])
