"""What a risk scorer returns for a batch: one column per answer field, typed rows on demand."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.explain.inputs import Flag

Texts = NDArray[np.object_]


@dataclass(frozen=True)
class Reason:
    """A reason (or a retention action): its code and its text in the requested language."""

    code: str
    text: str


@dataclass(frozen=True)
class RiskRow:
    """One customer's risk answer: points only for delinquency, an action only for churn; flags on
    values the model did not see in development."""

    probability: float
    points: int | None
    band: str
    reasons: list[Reason]
    action: Reason | None
    flags: tuple[Flag, ...]


@dataclass(frozen=True)
class RiskScores:
    """Scores of n customers: probability, points (delinquency), band; reason codes and texts (n × k),
    actions (churn) and each row's flags when asked for."""

    kind: Literal["churn", "delinquency"]
    probability: NDArray[np.float64]
    points: NDArray[np.int64] | None
    band: Texts
    reason_codes: Texts | None = None
    reason_texts: Texts | None = None
    actions: tuple[Texts, Texts] | None = None
    flags: dict[int, tuple[Flag, ...]] | None = None  # row → its flags, rows with none left out

    def __len__(self) -> int:
        return len(self.probability)

    def with_reasons(self, codes: Texts, texts: Texts, actions: tuple[Texts, Texts] | None,
                     flags: dict[int, tuple[Flag, ...]]) -> RiskScores:
        return replace(self, reason_codes=codes, reason_texts=texts, actions=actions, flags=flags)

    def rows(self) -> list[RiskRow]:
        """The typed answer of each customer (reasons: those with a code, most important first)."""
        n = len(self)
        probability, band = self.probability.tolist(), self.band.tolist()
        points = [None] * n if self.points is None else self.points.tolist()
        reasons: list[list[Reason]] = [[] for _ in range(n)]
        if self.reason_codes is not None and self.reason_texts is not None:
            for i, (codes, texts) in enumerate(zip(self.reason_codes.tolist(), self.reason_texts.tolist(), strict=True)):
                reasons[i] = [Reason(str(c), str(t)) for c, t in zip(codes, texts, strict=True) if c]
        actions: list[Reason | None] = [None] * n
        if self.actions is not None:
            actions = [Reason(str(a), str(t)) for a, t in zip(*(x.tolist() for x in self.actions), strict=True)]
        flags = [self.flags.get(i, ()) for i in range(n)] if self.flags else [()] * n
        return [RiskRow(*fields) for fields in zip(probability, points, band, reasons, actions, flags, strict=True)]

    def frame(self, index: pd.Index) -> pd.DataFrame:
        """Columns pd, score (delinquency) or probability (churn), band, reason_code_i and reason_i,
        action_id and action (churn), flags (one line per row, "; " between flags, "" when none)."""
        if self.points is not None:
            out = pd.DataFrame({"pd": self.probability, "score": self.points}, index=index)
        else:
            out = pd.DataFrame({"probability": self.probability}, index=index)
        out["band"] = self.band
        if self.reason_codes is not None and self.reason_texts is not None:
            for j in range(self.reason_codes.shape[1]):
                out[f"reason_code_{j + 1}"] = self.reason_codes[:, j]
                out[f"reason_{j + 1}"] = self.reason_texts[:, j]
        if self.actions is not None:
            out["action_id"], out["action"] = self.actions
        if self.flags is not None:
            flags = np.full(len(self), "", dtype=object)
            for row, found in self.flags.items():
                flags[row] = "; ".join(f.text() for f in found)
            out["flags"] = flags
        return out
