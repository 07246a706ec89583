"""What a risk model knows of its inputs besides their names, stored in its spec at training.

- `origins`: per feature, the canonical columns it is computed from and the bank's source columns
  behind them (from the data directory's `source.json` lineage), so a reason names what the bank
  sent, never a canonical meaning the source column does not have;
- `groups`: features that read one source value (computed from the same source column, or equal on
  every development row), of which only the strongest becomes a reason;
- `bounds`: each number feature's range on the development sample; a value outside it is flagged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray


@dataclass(frozen=True)
class FeatureOrigin:
    """Where a feature comes from: canonical columns (`table.column`, `extra.<name>`), the source
    columns mapped onto them (empty: the bank's own canonical data), and whether the feature's value
    is its column's value as of the month (`direct`)."""

    columns: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    direct: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"columns": list(self.columns), "sources": list(self.sources), "direct": self.direct}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureOrigin:
        return cls(tuple(data["columns"]), tuple(data["sources"]), bool(data["direct"]))


@dataclass(frozen=True)
class InputProfile:
    """Origins, one-value groups and development ranges of a model's features (empty for models
    trained before they were recorded: templates as they stand, no groups, no range flags)."""

    origins: dict[str, FeatureOrigin] = field(default_factory=dict)
    groups: tuple[tuple[str, ...], ...] = ()
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)

    def origin(self, feature: str) -> FeatureOrigin:
        return self.origins.get(feature, FeatureOrigin())

    def to_dict(self) -> dict[str, object]:
        return {"origins": {f: o.to_dict() for f, o in self.origins.items()},
                "groups": [list(g) for g in self.groups],
                "bounds": {f: list(b) for f, b in self.bounds.items()}}

    @classmethod
    def from_dict(cls, data: dict) -> InputProfile:
        return cls({f: FeatureOrigin.from_dict(o) for f, o in data["origins"].items()},
                   tuple(tuple(g) for g in data["groups"]),
                   {f: (float(lo), float(hi)) for f, (lo, hi) in data["bounds"].items()})

    def group_indices(self, features: list[str]) -> list[NDArray[np.int64]]:
        """Each group as column indices into `features` (members the model lacks left out)."""
        where = {f: j for j, f in enumerate(features)}
        found = ([where[f] for f in group if f in where] for group in self.groups)
        return [np.array(members) for members in found if len(members) > 1]

    def representatives(self, features: list[str]) -> list[int]:
        """Per feature, the feature whose value a reason cites: itself, or for a feature computed
        from source columns, the direct feature of its group that reads the same source columns."""
        out = list(range(len(features)))
        for members in self.group_indices(features):
            for j in members:
                origin = self.origin(features[j])
                if origin.direct or not origin.sources:
                    continue
                same = [m for m in members if self.origin(features[m]).direct
                        and self.origin(features[m]).sources == origin.sources]
                out[j] = int(same[0]) if same else j
        return out


FlagReason = Literal["unseen_category", "below_range", "above_range"]


def as_sent(value: object) -> str:
    """A value as a bank's column holds it: whole numbers without decimals, others to 4 places."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, int | float | np.number):
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.4f}".rstrip("0")
    return str(value)


@dataclass(frozen=True)
class Flag:
    """A value the model did not see in development: a category it never saw (read as missing and
    never a reason) or a number beyond the development range (`bound`: the end it passes)."""

    feature: str
    value: object
    why: FlagReason
    bound: float | None = None

    def text(self) -> str:
        """One line for a scores file: `occupation: unseen category 'astronaut'`."""
        if self.why == "unseen_category":
            return f"{self.feature}: unseen category {self.value!r} (read as missing, not a reason)"
        side = "below the development minimum" if self.why == "below_range" else "above the development maximum"
        return f"{self.feature}: {as_sent(self.value)} {side} {as_sent(self.bound)}"

    def to_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "value": self.value, "why": self.why, "bound": self.bound}


@dataclass(frozen=True)
class InputChecks:
    """Per row and feature (n × features): unseen categories, values below and above the range."""

    unseen: NDArray[np.bool_]
    below: NDArray[np.bool_]
    above: NDArray[np.bool_]

    @property
    def beyond(self) -> NDArray[np.bool_]:
        return self.below | self.above

    def flags(self, features: list[str], values: Callable[[int], NDArray],
              bounds: dict[str, tuple[float, float]]) -> dict[int, tuple[Flag, ...]]:
        """The flags of each row that has any (row index → flags in feature order; `values(j)`:
        feature j's values as sent)."""
        found: dict[int, list[Flag]] = {}
        for why, mask in (("unseen_category", self.unseen), ("below_range", self.below), ("above_range", self.above)):
            for j in np.flatnonzero(mask.any(axis=0)):
                feature, rows = features[j], np.flatnonzero(mask[:, j])
                bound = None if why == "unseen_category" else bounds[feature][0 if why == "below_range" else 1]
                sent = values(int(j))[rows]
                for row, value in zip(rows.tolist(), sent.tolist(), strict=True):
                    found.setdefault(row, []).append(Flag(feature, value, why, bound))  # type: ignore[arg-type]
        order = {f: j for j, f in enumerate(features)}
        return {row: tuple(sorted(flags, key=lambda f: order[f.feature])) for row, flags in found.items()}


def check_inputs(features: list[str], matrix: NDArray[np.float64], sent: dict[str, NDArray[np.object_]],
                 bounds: dict[str, tuple[float, float]]) -> InputChecks:
    """Flag the cells of an encoded matrix: a categorical sent as text the encoder read as missing
    (`sent`: categorical values as sent, "", None or NaN when missing), a number outside `bounds`."""
    unseen = np.zeros(matrix.shape, dtype=bool)
    for j, name in enumerate(features):
        if name in sent:
            given = sent[name]
            unseen[:, j] = (given != "") & ~pd.isna(given) & np.isnan(matrix[:, j])
    low = np.array([bounds.get(f, (-np.inf, np.inf))[0] for f in features])
    high = np.array([bounds.get(f, (-np.inf, np.inf))[1] for f in features])
    with np.errstate(invalid="ignore"):
        return InputChecks(unseen, matrix < low, matrix > high)
