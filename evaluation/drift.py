"""Population stability of served scores and inputs against their development sample: pure statistics.

A development distribution is stored as a `BinnedReference`: for a number, the interior cut points of
`bins` quantile bins of the development sample (ties merge bins) and each bin's share, plus a
separate **missing** bin; for a category, one bin per development category, an **other** bin (values
never seen in development) and the missing bin. An actual sample is counted into the same bins.

- **PSI / CSI** = Σ (a − e) · ln(a / e) over the bins, shares floored at `EPSILON` (Siddiqi, *Credit
  Risk Scorecards*, 2006): PSI of the score, CSI (characteristic stability) of an input.
- **The test**: a Monte Carlo exact test whose null is "the month's n rows are drawn from the
  development distribution": `draws_for(alpha)` (≥ 1,999) multinomial samples of size n from the
  development shares give the index's distribution at that size; the p-value is
  (1 + #{simulated ≥ observed}) / (1 + draws).
  A small month has a large index by chance (about (bins − 1) / n); the test knows it, a fixed
  threshold does not.
- **The verdict** (`verdict`): `act` when the index ≥ 0.25 and the test rejects at level `alpha`,
  `investigate` when the index ≥ 0.10 and the test rejects, else `stable`. A report that judges m
  indices of one model and month together tests each at alpha / m (Bonferroni), so that the month's
  chance of any false alarm stays ≤ alpha.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

EPSILON = 1e-4  # floor of a bin's share in the index (an empty bin would make it infinite)
INVESTIGATE, ACT = 0.10, 0.25  # the usual PSI conventions
ALPHA = 0.05  # a model-month's family-wise false-alarm level (split over its indices)
DRAWS = 1_999  # Monte Carlo samples of the test at least (`draws_for`): p-values resolve to 5e-4
DEFAULT_BINS = 10
VERDICTS = ("stable", "investigate", "act")
Verdict = Literal["stable", "investigate", "act"]
RULE = (
    f"act when PSI/CSI >= {ACT} and a Monte Carlo test of the month's counts against the development "
    f"shares rejects; investigate when >= {INVESTIGATE} and it rejects; else stable. The test's level is "
    f"{ALPHA} per model and month, split evenly (Bonferroni) over the score and the features; "
    f"the model's verdict is the worst of them"
)


@dataclass(frozen=True)
class BinnedReference:
    """One variable's development distribution: bins, their shares (missing bin last) and range."""

    kind: Literal["numeric", "categorical"]
    shares: list[
        float
    ]  # numeric: len(edges) + 1 bins, then missing; categorical: categories, other, missing
    rows: int
    edges: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None

    @property
    def missing_share(self) -> float:
        return self.shares[-1]

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "shares": self.shares,
            "rows": self.rows,
            "edges": self.edges,
            "categories": self.categories,
            "min": self.minimum,
            "max": self.maximum,
            "missing_share": self.missing_share,
        }

    @classmethod
    def from_dict(cls, data: dict) -> BinnedReference:
        return cls(
            data["kind"],
            [float(s) for s in data["shares"]],
            int(data["rows"]),
            [float(e) for e in data.get("edges", [])],
            [str(c) for c in data.get("categories", [])],
            data.get("min"),
            data.get("max"),
        )


def _floats(values: ArrayLike) -> NDArray[np.float64]:
    return np.asarray(values, dtype=float).ravel()


def _is_missing(values: Sequence[object] | NDArray) -> NDArray[np.bool_]:
    return np.array(
        [v is None or v == "" or (isinstance(v, float) and np.isnan(v)) for v in values], dtype=bool
    )


def numeric_reference(values: ArrayLike, bins: int = DEFAULT_BINS) -> BinnedReference:
    """`bins` quantile bins of the non-missing values (NaN is missing), their shares and range."""
    x = _floats(values)
    present = x[~np.isnan(x)]
    if len(x) == 0:
        raise ValueError("a reference needs at least one development value")
    edges = (
        np.unique(np.quantile(present, np.linspace(0, 1, bins + 1))[1:-1])
        if len(present)
        else np.array([])
    )
    reference = BinnedReference(
        "numeric",
        [],
        len(x),
        edges.tolist(),
        minimum=float(present.min()) if len(present) else None,
        maximum=float(present.max()) if len(present) else None,
    )
    counts = bin_counts(reference, x)
    return BinnedReference(
        "numeric",
        (counts / len(x)).tolist(),
        len(x),
        reference.edges,
        minimum=reference.minimum,
        maximum=reference.maximum,
    )


def categorical_reference(values: Sequence[object] | NDArray) -> BinnedReference:
    """One bin per development category (as text, sorted), an empty `other` bin, and the missing bin."""
    if len(values) == 0:
        raise ValueError("a reference needs at least one development value")
    missing = _is_missing(values)
    categories = sorted({str(v) for v, m in zip(values, missing, strict=True) if not m})
    reference = BinnedReference("categorical", [], len(values), categories=categories)
    counts = bin_counts(reference, values)
    return BinnedReference(
        "categorical", (counts / len(values)).tolist(), len(values), categories=categories
    )


def bin_counts(reference: BinnedReference, values: Sequence[object] | NDArray) -> NDArray[np.int64]:
    """How many of `values` fall in each of the reference's bins (the missing bin last)."""
    if reference.kind == "numeric":
        x = _floats(values)
        missing = np.isnan(x)
        index = np.searchsorted(np.asarray(reference.edges), x[~missing], side="right")
        present = np.bincount(index, minlength=len(reference.edges) + 1)
        return np.append(present, missing.sum()).astype(np.int64)
    missing = _is_missing(values)
    position = {c: i for i, c in enumerate(reference.categories)}
    other = len(reference.categories)
    index = [position.get(str(v), other) for v, m in zip(values, missing, strict=True) if not m]
    return np.append(
        np.bincount(np.asarray(index, dtype=int), minlength=other + 1), missing.sum()
    ).astype(np.int64)


def out_of_range_share(reference: BinnedReference, values: Sequence[object] | NDArray) -> float:
    """Share of `values` outside what development held: numbers beyond its min/max, unseen categories."""
    if len(values) == 0:
        return 0.0
    if reference.kind == "categorical":
        return float(bin_counts(reference, values)[-2] / len(values))
    x = _floats(values)
    if reference.minimum is None or reference.maximum is None:
        return 0.0
    return float(np.sum((x < reference.minimum) | (x > reference.maximum)) / len(x))


def stability_index(expected: ArrayLike, actual: ArrayLike) -> float:
    """PSI (or CSI) = Σ (a − e) · ln(a / e) of two share vectors over the same bins, floored at EPSILON."""
    e = np.maximum(_floats(expected), EPSILON)
    a = np.maximum(_floats(actual), EPSILON)
    if e.shape != a.shape:
        raise ValueError("expected and actual shares must cover the same bins")
    return float(np.sum((a - e) * np.log(a / e)))


def _indices(expected: NDArray[np.float64], actual: NDArray[np.float64]) -> NDArray[np.float64]:
    e, a = np.maximum(expected, EPSILON), np.maximum(actual, EPSILON)
    return np.sum((a - e) * np.log(a / e), axis=-1)


@functools.lru_cache(maxsize=512)
def _null_indices(shares: tuple[float, ...], n: int, draws: int) -> NDArray[np.float64]:
    """The index of `draws` multinomial samples of size n from `shares` (floored at EPSILON): its null
    distribution at that size. Seeded, so a report is reproducible; cached, since most numeric
    features share their decile shares."""
    e = np.asarray(shares)
    p = np.maximum(e, EPSILON)
    return _indices(e, np.random.default_rng(0).multinomial(n, p / p.sum(), size=draws) / n)


def stability_p_value(expected: ArrayLike, counts: ArrayLike, draws: int = DRAWS) -> float:
    """P(index ≥ observed) when the month's n rows come from the development shares (Monte Carlo,
    `draws` multinomial samples of size n; (1 + hits) / (1 + draws)). 1.0 for an empty month."""
    c = np.asarray(counts, dtype=np.int64)
    n = int(c.sum())
    if n == 0:
        return 1.0
    e = _floats(expected)
    observed = stability_index(e, c / n)
    simulated = _null_indices(tuple(e.round(12).tolist()), n, draws)
    return float((1 + np.sum(simulated >= observed - 1e-12)) / (1 + draws))


def draws_for(alpha: float) -> int:
    """Monte Carlo draws enough to reject at `alpha`: the smallest p-value, 1 / (1 + draws), is ≤ alpha / 2."""
    return max(DRAWS, math.ceil(2 / alpha))


def verdict(index: float, p_value: float, alpha: float = ALPHA) -> Verdict:
    """`act` / `investigate` / `stable` by the 0.25 / 0.10 conventions, only where the test rejects."""
    if p_value >= alpha:
        return "stable"
    if index >= ACT:
        return "act"
    return "investigate" if index >= INVESTIGATE else "stable"


def worst(verdicts: Sequence[str]) -> Verdict:
    """The most severe of `verdicts` (`stable` for none)."""
    return VERDICTS[max((VERDICTS.index(v) for v in verdicts), default=0)]  # type: ignore[return-value]


@dataclass(frozen=True)
class Stability:
    """One variable's stability in one month against its reference."""

    index: float
    p_value: float
    verdict: Verdict
    missing_share: float
    out_of_range_share: float


def assess(
    reference: BinnedReference, values: Sequence[object] | NDArray, alpha: float = ALPHA
) -> Stability:
    """Index, test, verdict, missing and out-of-range shares of an actual sample against `reference`."""
    counts = bin_counts(reference, values)
    n = int(counts.sum())
    if n == 0:
        return Stability(0.0, 1.0, "stable", 0.0, 0.0)
    index = stability_index(reference.shares, counts / n)
    p_value = stability_p_value(reference.shares, counts, draws_for(alpha))
    return Stability(
        index,
        p_value,
        verdict(index, p_value, alpha),
        float(counts[-1] / n),
        out_of_range_share(reference, values),
    )
