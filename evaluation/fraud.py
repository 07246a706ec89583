"""How a fraud team measures a payment screen: what it catches within a budget of holds.

Pure functions of arrays (numpy). A screen decides per payment: 0 allow, 1 step up (ask the customer
to confirm), 2 hold. Measured on a period:
- the share of fraud value and of fraud cases held, and held or stepped up;
- the precision of holds (the share of held payments that are fraud);
- the hold and step-up rates;
- the false-hold rate (legitimate payments held) of customers aged 65+ and of the others.
Rates of counts carry Wilson 95 % intervals; the share of fraud value a bootstrap 95 % interval
over the fraud cases (a few large cases move it: the interval says how much).

Thresholds for a budget: `budget_threshold(scores, 0.005)` is the score a payment must exceed to be
held when at most 0.5 % of payments may be (ties at the threshold are not held, so the budget holds).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

ALLOW, STEP_UP, HOLD = 0, 1, 2
DECISION_CODES: dict[str, int] = {"allow": ALLOW, "step_up": STEP_UP, "hold": HOLD}
Z95 = 1.959963984540054
ELDER_AGE = 65
BOOTSTRAP_ROUNDS = 1000


def budget_threshold(scores: ArrayLike, budget: float) -> float:
    """The score a payment must exceed (strictly) so that at most `budget` (a share) of `scores` do.

    Of n scores at most floor(budget × n) exceed it (-inf when all may)."""
    values = np.sort(np.asarray(scores, dtype=float))[::-1]
    allowed = math.floor(budget * len(values) + 1e-9)
    return float(values[allowed]) if allowed < len(values) else -math.inf


def decide(scores: ArrayLike, hold_above: float, step_up_above: float) -> NDArray[np.int64]:
    """Decision codes of a model alone: hold above `hold_above`, step up above `step_up_above`."""
    s = np.asarray(scores, dtype=float)
    return np.where(s > hold_above, HOLD, np.where(s > step_up_above, STEP_UP, ALLOW)).astype(np.int64)


def as_codes(decisions: ArrayLike) -> NDArray[np.int64]:
    """Decisions given as codes (0, 1, 2) or words (allow, step_up, hold), as codes."""
    array = np.asarray(decisions)
    if array.dtype.kind in "iub":
        return array.astype(np.int64)
    return np.array([DECISION_CODES[str(d)] for d in array], dtype=np.int64)


def wilson(successes: int, trials: int) -> tuple[float, float, float]:
    """The rate and its Wilson 95 % interval (NaN, NaN, NaN when there are no trials)."""
    if trials == 0:
        return math.nan, math.nan, math.nan
    p = successes / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def value_share(caught: NDArray[np.bool_], values: NDArray[np.float64], seed: int = 0
                ) -> tuple[float, float, float]:
    """Share of `values` where `caught`, with a percentile bootstrap 95 % interval over the items."""
    total = float(values.sum())
    if len(values) == 0 or total <= 0:
        return math.nan, math.nan, math.nan
    share = float(values[caught].sum()) / total
    draws = np.random.default_rng(seed).integers(0, len(values), size=(BOOTSTRAP_ROUNDS, len(values)))
    sampled = values[draws]
    shares = (sampled * caught[draws]).sum(axis=1) / sampled.sum(axis=1)
    low, high = np.percentile(shares, [2.5, 97.5])
    return share, float(low), float(high)


def _rate(prefix: str, successes: int, trials: int) -> dict[str, float]:
    rate, low, high = wilson(successes, trials)
    return {prefix: rate, f"{prefix}_low": low, f"{prefix}_high": high}


def fraud_metrics(decisions: ArrayLike, labels: ArrayLike, amounts: ArrayLike, ages: ArrayLike,
                  elder_age: int = ELDER_AGE) -> dict[str, float]:
    """A screen's figures on one period (see the module's docstring); every value a float.

    Keys: payments, fraud_cases, fraud_value, hold_rate, step_up_rate; fraud_value_held,
    fraud_cases_held, hold_precision, fraud_value_stopped, fraud_cases_stopped (stopped: held or
    stepped up); false_hold_rate_65plus, false_hold_rate_under65; each rate with `_low`/`_high`.
    A customer of unknown age counts in neither age group."""
    codes = as_codes(decisions)
    fraud = np.asarray(labels, dtype=int) == 1
    amount = np.asarray(amounts, dtype=float)
    age = np.asarray(ages, dtype=float)
    held, stopped = codes == HOLD, codes >= STEP_UP
    n = len(codes)
    out = {"payments": float(n), "fraud_cases": float(fraud.sum()), "fraud_value": float(amount[fraud].sum()),
           "hold_rate": float(held.mean()) if n else math.nan,
           "step_up_rate": float((codes == STEP_UP).mean()) if n else math.nan}
    for name, caught in (("held", held), ("stopped", stopped)):
        share, low, high = value_share(caught[fraud], amount[fraud])
        out |= {f"fraud_value_{name}": share, f"fraud_value_{name}_low": low, f"fraud_value_{name}_high": high}
        out |= _rate(f"fraud_cases_{name}", int((caught & fraud).sum()), int(fraud.sum()))
    out |= _rate("hold_precision", int((held & fraud).sum()), int(held.sum()))
    legitimate = ~fraud
    for name, group in (("65plus", age >= elder_age), ("under65", age < elder_age)):
        members = legitimate & group
        out |= _rate(f"false_hold_rate_{name}", int((held & members).sum()), int(members.sum()))
    return out
