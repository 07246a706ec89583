"""Train / validation / test splits of a labelled training set.

- time: the last as-of dates are the holdout period (validation and test), the earlier ones
  training, and every customer is in one part only; never a random split across time;
- stratified: for single-snapshot data (the public sets), a label-stratified random split with
  a fixed seed, stated as such in every run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from nbo.errors import ContractViolation

AS_OF = "as_of"


@dataclass(frozen=True)
class Split:
    """Three disjoint parts of a training set and how they were made."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    method: str
    description: dict[str, object]

    def summary(self) -> str:
        """One line per part: as-of dates (time split) or positive rate (stratified), rows."""
        lines = []
        for name in ("train", "valid", "test"):
            part = self.description[name]
            assert isinstance(part, dict)
            where = (f"as of {part['as_of'][0]}..{part['as_of'][-1]}, {part['customers']} customers"
                     if self.method == "time" else f"positive rate {part['positive_rate']}")
            lines.append(f"{name}: {part['rows']} rows, {where}")
        return f"{self.method} split (seed {self.description['seed']}); " + "; ".join(lines)

    def holdout_id(self, label: str) -> str:
        """Identity of the test holdout: hash of its (customer_id, as_of, label) rows."""
        rows = self.test[["customer_id", AS_OF, label]].sort_values(["customer_id", AS_OF])
        hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy()
        return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _dates(values: pd.Series) -> list[str]:
    return [f"{d:%Y-%m-%d}" for d in sorted(values.unique())]


def customer_groups(customer_ids: pd.Series, shares: tuple[float, float, float], seed: int) -> np.ndarray:
    """Assign each customer to part 0, 1 or 2 (train, valid, test) by a stable hash of its id."""
    key = f"nbo-split-{seed:06d}"[:16].ljust(16, "0")
    unit = pd.util.hash_array(customer_ids.to_numpy(dtype=object), hash_key=key) / np.float64(2**64)
    return np.searchsorted(np.cumsum(shares)[:-1], unit, side="right")


def time_split(frame: pd.DataFrame, holdout_dates: int, shares: tuple[float, float, float],
               seed: int) -> Split:
    """Out of time and out of customer: train on the early as-of dates, validate and test on the
    last `holdout_dates`, each part on its own customers (split by `shares` of a stable id hash).

    Disjoint customers keep a model from recognising, at a later date, a customer whose outcome
    it saw in an overlapping label window.
    """
    dates = sorted(frame[AS_OF].unique())
    if len(dates) < holdout_dates + 1:
        raise ContractViolation(f"a time split needs at least {holdout_dates + 1} as-of dates; "
                                f"the data has {len(dates)}")
    holdout_from = dates[-holdout_dates]
    group = customer_groups(frame["customer_id"], shares, seed)
    late = (frame[AS_OF] >= holdout_from).to_numpy()
    parts = (frame[~late & (group == 0)], frame[late & (group == 1)], frame[late & (group == 2)])
    description: dict[str, object] = {
        name: {"as_of": _dates(part[AS_OF]), "rows": len(part), "customers": int(part["customer_id"].nunique()),
               "customer_share": shares[i]}
        for i, (name, part) in enumerate(zip(("train", "valid", "test"), parts, strict=True))}
    description["seed"] = seed
    return Split(*(p.reset_index(drop=True) for p in parts), method="time", description=description)


def stratified_split(frame: pd.DataFrame, label: str, valid_fraction: float, test_fraction: float,
                     seed: int) -> Split:
    """Stratified random split (fixed seed) for data with a single as-of date."""
    rest, test = train_test_split(frame, test_size=test_fraction, stratify=frame[label], random_state=seed)
    valid_share = valid_fraction / (1 - test_fraction)
    train, valid = train_test_split(rest, test_size=valid_share, stratify=rest[label], random_state=seed)
    description: dict[str, object] = {
        name: {"rows": len(part), "positive_rate": round(float(np.mean(part[label])), 4)}
        for name, part in (("train", train), ("valid", valid), ("test", test))}
    description |= {"seed": seed, "as_of": _dates(frame[AS_OF]),
                    "fractions": {"train": round(1 - valid_fraction - test_fraction, 4),
                                  "valid": valid_fraction, "test": test_fraction}}
    return Split(train.reset_index(drop=True), valid.reset_index(drop=True), test.reset_index(drop=True),
                 method="stratified", description=description)


def split_training_set(frame: pd.DataFrame, label: str, seed: int) -> Split:
    """Time split when the data spans several as-of dates; a stated stratified split when it has one.

    Time split: the last ~25 % of as-of dates (at least one) are the holdout period; customers
    are split 60 / 20 / 20 into train, validation and test. Stratified: 60 / 20 / 20 of the rows.
    """
    n_dates = frame[AS_OF].nunique()
    if n_dates == 1:
        return stratified_split(frame, label, valid_fraction=0.2, test_fraction=0.2, seed=seed)
    return time_split(frame, holdout_dates=max(1, round(0.25 * n_dates)), shares=(0.6, 0.2, 0.2), seed=seed)
