"""The synthetic bank's attribute history (customer_history, SCD type 2), drawn after the simulation.

The customers table holds today's values; the history is drawn backwards from them over the
simulated months, so today's version is the customers table's by construction:
- risk tolerance reassessed every 12-36 months (the last assessment is the customers table's),
  a third of reassessments moving one level; the first assessment is at joining at the earliest;
- segment reviewed each quarter on the month-end AUM the simulation produced (a change holds from
  the first day of the quarter: known then, not before);
- income: a raise of 3-12 % for 40 % of earners a year, a job change (income x0.75-1.35, and for
  a salaried customer sometimes another occupation) for 6 %;
- marketing consent withdrawn or given by 3 % a year, preferred channel drifting for 6 %, a move
  to a city of another tier for 2 %.
Changes happen only while the customer has a relationship, on a day of the month drawn once per
customer and month. Draws are vectorised over customers and come after the simulation's, so the
other tables keep their bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from sources.contract import CHANNELS, HISTORY_COLUMNS, RISK_TOLERANCES

REASSESS_MONTHS = (12, 36)  # months between two risk assessments (inclusive)
TOLERANCE_MOVE = 1 / 3  # share of reassessments that move the tolerance one level
RAISE_PER_YEAR, RAISE_RANGE = 0.40, (0.03, 0.12)
JOB_CHANGE_PER_YEAR, JOB_INCOME_RANGE = 0.06, (0.75, 1.35)
CONSENT_PER_YEAR, CHANNEL_PER_YEAR, MOVE_PER_YEAR = 0.03, 0.06, 0.02
SEGMENTS_BY_WEALTH = ("mass", "affluent", "private")  # today's wealth thresholds in this order
SEGMENT_BAND = 0.2  # a review moves a segment only 20 % beyond a threshold
_SALARIED = ("employee", "professional", "civil_servant", "self_employed")
_DAY_NS = 86_400 * 10**9
Prior = Callable[[np.ndarray, int, np.ndarray], np.ndarray]  # (values after, month, rows) -> values before


def draw_history(rng: np.random.Generator, customers: pd.DataFrame, wealth: np.ndarray, aum: np.ndarray,
                 months: pd.DatetimeIndex) -> pd.DataFrame:
    """Every customer's versions: the first from joining (or the first assessment), one per change day.

    `aum`: month-end assets under management per customer and month; `wealth`: the hidden wealth
    that set today's segment.
    """
    n, m = len(customers), len(months)
    start = months.to_numpy().astype("datetime64[ns]").astype(np.int64)
    join = _ns(customers["join_date"], np.iinfo(np.int64).min)
    close = _ns(customers["close_date"], np.iinfo(np.int64).max)
    when = start[None, :] + rng.integers(0, 28, (n, m)) * _DAY_NS  # the change day of each customer and month
    open_ = (when > join[:, None]) & (when < close[:, None])
    first: dict[str, np.ndarray] = {}
    changes: list[pd.DataFrame] = []

    def add(columns: dict[str, np.ndarray], change: np.ndarray, at: np.ndarray) -> None:
        rows, cols = np.nonzero(change)
        first.update({c: v[:, 0] for c, v in columns.items()})
        changes.append(pd.DataFrame({"_row": rows, "valid_from": at[rows, cols],
                                     **{c: v[:, 1:][rows, cols] for c, v in columns.items()}}))

    def monthly(rate: float, column: str) -> np.ndarray:
        return open_ & (rng.random((n, m)) < rate / 12) & customers[column].notna().to_numpy()[:, None]

    tolerance, assessed, assess, assessed_on = _assessments(rng, customers, start, join)
    add({"risk_tolerance": tolerance, "risk_assessed_at": assessed}, assess, assessed_on)
    open_on_first = (start[None, :] > join[:, None]) & (start[None, :] < close[:, None])
    segment, review = _segments(customers, wealth, aum, months, open_on_first)
    add({"segment": segment}, review, np.broadcast_to(start[None, :], (n, m)))

    job = monthly(JOB_CHANGE_PER_YEAR, "income_monthly")
    raised = monthly(RAISE_PER_YEAR, "income_monthly") & ~job
    factor = np.where(job, rng.uniform(*JOB_INCOME_RANGE, (n, m)), 1 + rng.uniform(*RAISE_RANGE, (n, m)))
    income = _backwards(customers["income_monthly"].to_numpy(float), job | raised,
                        lambda v, j, rows: np.round(v / factor[rows, j], 0))
    add({"income_monthly": income}, job | raised, when)
    new_job = job & customers["occupation"].isin(_SALARIED).to_numpy()[:, None] & (rng.random((n, m)) < 0.5)
    occupation = _backwards(customers["occupation"].to_numpy(object), new_job, _other(rng, _SALARIED))
    add({"occupation": occupation}, new_job, when)
    for column, rate, prior in (
        ("marketing_consent", CONSENT_PER_YEAR, lambda v, _month, _rows: ~v.astype(bool)),
        ("preferred_channel", CHANNEL_PER_YEAR, _other(rng, CHANNELS)),
        ("city_tier", MOVE_PER_YEAR, _other(rng, (1, 2, 3, 4))),
    ):
        change = monthly(rate, column)
        add({column: _backwards(customers[column].to_numpy(object), change, prior)}, change, when)

    valid_from = np.maximum(join, _ns(pd.Series(first["risk_assessed_at"]), np.iinfo(np.int64).min))
    initial = pd.DataFrame({"_row": np.arange(n), "valid_from": valid_from, **first})
    return _versions(customers, initial, changes)


def _ns(dates: pd.Series, missing: int) -> np.ndarray:
    """Dates as int64 nanoseconds, `missing` where there is none."""
    values = dates.to_numpy().astype("datetime64[ns]")
    return np.where(np.isnat(values), missing, values.astype(np.int64))


def _assessments(rng: np.random.Generator, customers: pd.DataFrame, start: np.ndarray,
                 join: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tolerance and last assessment date before/after each month, where and when assessed.

    Walks back from today's assessment in steps of 12-36 months while inside the history and after
    joining; the assessment before the first one inside holds from before the history (or joining).
    """
    n, m = len(customers), len(start)
    known = customers["risk_assessed_at"].notna().to_numpy()
    last = _ns(customers["risk_assessed_at"], 0)
    month = np.searchsorted(start, last, side="right") - 1  # -1: before the history
    assess = np.zeros((n, m), dtype=bool)
    on = np.zeros((n, m), dtype=np.int64)
    going = known & (month >= 0) & (last > join)
    earliest = last.copy()  # the assessment in force before the first one inside the history
    date = last
    while going.any():
        rows = np.flatnonzero(going)
        assess[rows, month[rows]] = True
        on[rows, month[rows]] = date[rows]
        month = month - rng.integers(REASSESS_MONTHS[0], REASSESS_MONTHS[1] + 1, n)
        base = np.where(month >= 0, start[np.clip(month, 0, m - 1)], start[0] + month * 30 * _DAY_NS)
        date = base + rng.integers(0, 28, n) * _DAY_NS
        inside = going & (month >= 0) & (date > join)
        stops = going & ~inside
        earliest[stops] = np.maximum(join[stops], date[stops])
        going = inside
    moves = np.where(rng.random((n, m)) < TOLERANCE_MOVE, np.where(rng.random((n, m)) < 0.5, -1, 1), 0)
    levels = _backwards(customers["risk_tolerance"].str[1:].astype(float).to_numpy(), assess,
                        lambda v, j, rows: np.clip(v + moves[rows, j], 1, 5))
    names = np.array([None, *RISK_TOLERANCES], dtype=object)  # level 0: none
    tolerance = names[np.nan_to_num(levels).astype(int)]
    stamp = np.concatenate([earliest[:, None], on], axis=1)
    latest = np.maximum.accumulate(np.where(np.concatenate([np.ones((n, 1), bool), assess], axis=1),
                                            np.arange(m + 1)[None, :], 0), axis=1)
    assessed = np.take_along_axis(stamp, latest, axis=1).astype("datetime64[ns]")
    assessed[~known] = np.datetime64("NaT")
    return tolerance, assessed, assess, on


def _segments(customers: pd.DataFrame, wealth: np.ndarray, aum: np.ndarray, months: pd.DatetimeIndex,
              open_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segment before/after each month, and the quarter reviews that changed it.

    A review (the first day of a quarter) classes wealth scaled by the last month-end AUM over the
    AUM at the last review on today's thresholds; walking back from today's segment, an earlier
    review differs only where the scaled wealth lies SEGMENT_BAND beyond a threshold (no flicker)."""
    final = customers["segment"].to_numpy(object)
    n, m = aum.shape
    reviews = np.flatnonzero((months.month % 3 == 1) & (np.arange(m) > 0))
    change = np.zeros((n, m), dtype=bool)
    out = np.repeat(final[:, None], m + 1, axis=1)
    if not len(reviews):
        return out, change
    names = np.array(SEGMENTS_BY_WEALTH, dtype=object)
    level = np.select([final == name for name in names], np.arange(len(names)))
    bounds = np.array([wealth[level >= k].min(initial=np.inf) for k in range(1, len(names))])
    seen = aum[:, reviews - 1]
    reference = seen[:, -1:]
    scaled = wealth[:, None] * np.divide(seen, reference, out=np.ones_like(seen), where=reference > 0)
    usable = (seen > 0) & (reference > 0) & open_[:, reviews]
    levels = np.repeat(level[:, None], len(reviews), axis=1)
    for r in range(len(reviews) - 2, -1, -1):
        now, cur = scaled[:, r], levels[:, r + 1]
        highest = np.searchsorted(bounds, now * (1 + SEGMENT_BAND), side="right")
        lowest = np.searchsorted(bounds, now / (1 + SEGMENT_BAND), side="right")
        moved = usable[:, r] & ((cur > highest) | (cur < lowest))
        levels[:, r] = np.where(moved, np.searchsorted(bounds, now, side="right"), cur)
    change[:, reviews[1:]] = levels[:, 1:] != levels[:, :-1]
    classed = names[levels]
    out[:, : reviews[0] + 1] = classed[:, :1]
    for r, j in enumerate(reviews):
        out[:, j + 1:] = classed[:, r:r + 1]
    return out, change


def _other(rng: np.random.Generator, options: tuple) -> Prior:
    """A prior value drawn among the options other than the value after the change."""
    choices = np.array(options, dtype=object)

    def prior(values: np.ndarray, _month: int, _rows: np.ndarray) -> np.ndarray:
        pick = choices[rng.integers(0, len(choices) - 1, len(values))]
        return np.where(pick == values, choices[-1], pick)  # the last option stands in for the value itself

    return prior


def _backwards(today: np.ndarray, change: np.ndarray, prior: Prior) -> np.ndarray:
    """Values drawn backwards from today's: column 0 before the first month, column j + 1 after
    month j's change (`prior` gives the values before a change from those after it)."""
    n, m = change.shape
    out = np.empty((n, m + 1), dtype=today.dtype)
    out[:, m] = today
    for j in range(m - 1, -1, -1):
        out[:, j] = out[:, j + 1]
        rows = np.flatnonzero(change[:, j])
        if len(rows):
            out[rows, j] = prior(out[rows, j + 1], j, rows)
    return out


def _versions(customers: pd.DataFrame, initial: pd.DataFrame, changes: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per customer and change day, each column carried forward from the version before."""
    frame = pd.concat([initial, *changes], ignore_index=True)
    frame["_order"] = np.arange(len(frame))
    frame = frame.sort_values(["_row", "valid_from", "_order"], kind="stable", ignore_index=True)
    values = frame.groupby("_row", sort=False)[list(HISTORY_COLUMNS)].ffill()
    frame = pd.concat([frame[["_row", "valid_from"]], values], axis=1)
    frame = frame.drop_duplicates(["_row", "valid_from"], keep="last")
    out = frame.assign(customer_id=customers["customer_id"].to_numpy()[frame["_row"].to_numpy()],
                       valid_from=pd.to_datetime(frame["valid_from"].to_numpy().astype("datetime64[ns]")))
    return out[["customer_id", "valid_from", *HISTORY_COLUMNS]].reset_index(drop=True)
