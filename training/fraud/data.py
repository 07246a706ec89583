"""The fraud model's rows: the bank's payments replayed through the counters, split by month.

Rows come from `features.payments.replay.payment_frame` (one per payment, in time order, label from
the bank's truth). The split is by calendar month (UTC) of `payment_time`: the last month is the test
period (a period after training: measured once, never tuned on), the month before it the validation
period (early stopping, decision thresholds), every earlier month training. Labelled served payments
(`nbo payments labels`, `--labels FILE`) join the training part only, whatever their time, so the
validation and test periods stay the bank's own; a payment in both keeps the file's label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from nbo.errors import ContractViolation, InputFileError

LABEL_KEYS = ("payment_id", "customer_id", "payment_time", "label")
PERIOD = "period"


@dataclass(frozen=True)
class FraudSplit:
    """Training, validation and test payments, and how they were made."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    labelled_rows: int  # rows of --labels in the training part

    def description(self) -> dict[str, object]:
        def part(frame: pd.DataFrame) -> dict[str, object]:
            months = sorted(frame[PERIOD].dropna().unique()) if len(frame) else []
            return {"months": [str(m) for m in months], "payments": len(frame),
                    "fraud": int(frame["label"].sum()), "customers": int(frame["customer_id"].nunique())}

        return {"method": "time (calendar months)", "train": part(self.train), "valid": part(self.valid),
                "test": part(self.test), "labelled_rows": self.labelled_rows}


def read_labels(path: Path, features: list[str]) -> pd.DataFrame:
    """Labelled served payments (`nbo payments labels --out FILE.parquet`), checked.

    Raises:
        InputFileError: no such file, not parquet, a missing column, or a bad cell (named by row and column).
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError) as err:
        raise InputFileError(f"{path}: not a readable parquet file: {err}") from None
    missing = [c for c in (*LABEL_KEYS, *features) if c not in frame.columns]
    if missing:
        raise InputFileError(f"{path}: lacks columns {', '.join(missing)} (write it with `nbo payments labels`)")
    out = frame[[*LABEL_KEYS, *features]].reset_index(drop=True)
    label = pd.to_numeric(out["label"], errors="coerce")
    _reject(path, out, ~label.isin([0, 1]), "label", "not 0 or 1")
    out["label"] = label.astype(int)
    times = pd.to_datetime(out["payment_time"], utc=True, errors="coerce")
    _reject(path, out, times.isna(), "payment_time", "not a time")
    out["payment_time"] = times
    for name in features:
        values = pd.to_numeric(out[name], errors="coerce")
        _reject(path, out, (values.isna() & out[name].notna()) | np.isinf(values), name, "not a finite number")
        out[name] = values.astype(float)
    return out


def _reject(path: Path, frame: pd.DataFrame, bad: pd.Series, column: str, message: str) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputFileError(f"{path}: row {row + 1}, column {column}: {str(frame.at[row, column])!r} is {message}"
                             f" ({int(bad.sum())} such rows)")


def split_by_month(frame: pd.DataFrame, labels: pd.DataFrame | None = None) -> FraudSplit:
    """Train on the earlier months (+ `labels`), validate on the month before the last, test on the last.

    Raises:
        ContractViolation: fewer than 3 months of payments, or a part without fraud.
    """
    months = frame["payment_time"].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period("M")
    frame = frame.assign(**{PERIOD: months.astype(str)})
    periods = sorted(frame[PERIOD].unique())
    if len(periods) < 3:
        raise ContractViolation(f"the payments cover {len(periods)} month(s) ({', '.join(periods) or 'none'}): "
                                "fraud training needs at least 3 (training, validation, test)")
    train = frame[frame[PERIOD] < periods[-2]]
    extra = 0
    if labels is not None and len(labels):
        train = pd.concat([train[~train["payment_id"].isin(labels["payment_id"])], labels.assign(**{PERIOD: None})],
                          ignore_index=True)
        extra = len(labels)
    split = FraudSplit(train.reset_index(drop=True), frame[frame[PERIOD] == periods[-2]].reset_index(drop=True),
                       frame[frame[PERIOD] == periods[-1]].reset_index(drop=True), extra)
    for name, part in (("training", split.train), ("validation", split.valid), ("test", split.test)):
        if not part["label"].sum():
            raise ContractViolation(f"the {name} period has {len(part)} payments and no fraud: a fraud model "
                                    "needs fraud in every period (a larger bank, or more months)")
    return split


def positive_weight(labels: pd.Series, cap: float = 50.0) -> float:
    """LightGBM's scale_pos_weight: the fraud cases weigh sqrt(legitimate / fraud), at most `cap`: more
    than one legitimate payment each, far less than the full ratio (~1,000 at 0.1 % fraud), which
    would let a handful of cases shape every tree."""
    positives = float(labels.sum())
    return min(cap, math.sqrt((len(labels) - positives) / positives)) if positives else 1.0
