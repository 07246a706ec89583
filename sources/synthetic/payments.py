"""The synthetic bank pays and logs in: outbound transfers and account events, with planted fraud.

Over the last `PAYMENT_MONTHS` months of the history (the first `WARMUP_MONTHS` only warm the
counters; fraud is planted after them), most customers transfer a few times a month to a handful of
regular payees, by day, from their own device and home city; older customers and those who prefer the
branch or the phone use those channels more (no device there). Some pay a one-off new payee, travel,
change phone (a new device bound, sometimes with a password change) or reset a password. Logins
precede app and web payments; salaries and other inbound credits arrive. The fraud schemes
(`sources.synthetic.fraud`) are planted at `FRAUD_SHARE` of the transfers; `payment_tables` writes
the tables and the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sources.contract import PAYMENT_CHANNELS
from sources.synthetic.identities import CITIES

PAYMENT_MONTHS = 6
WARMUP_MONTHS = 1
FRAUD_SHARE = 0.001
LOCAL_OFFSET_NS = 8 * 3_600 * 10**9  # the bank's clock: China Standard Time, UTC+8
DAY_NS = 86_400 * 10**9
MINUTE_NS = 60 * 10**9
# Share of a day's payments in each local hour: little at night, most in office hours and the evening.
_HOURS = np.array([0.3, 0.2, 0.15, 0.15, 0.2, 0.4, 1, 3, 6, 8, 8.5, 8, 7, 7, 7.5, 7.5, 7, 6.5, 6.5, 6, 5, 4,
                   2.5, 1.2])
HOUR_P = _HOURS / _HOURS.sum()
# Channel mix (app, web, branch, phone) by preferred channel; customers 65+ lean half-way to ELDER_MIX.
_MIX = {"app": (0.86, 0.1, 0.03, 0.01), "web": (0.35, 0.58, 0.05, 0.02), "branch": (0.4, 0.05, 0.45, 0.1),
        "rm": (0.45, 0.05, 0.42, 0.08), "phone": (0.35, 0.05, 0.2, 0.4)}
ELDER_MIX = np.array([0.25, 0.03, 0.5, 0.22])
ELDER_AGE = 65
CITY_NAMES = np.array([c[0] for c in CITIES])
_CITY_TIERS = np.array([c[1] for c in CITIES])


@dataclass(frozen=True)
class Window:
    """The payments' span (UTC, ns since the epoch): [start, end), fraud only from `scored_from` on."""

    start: int
    scored_from: int
    end: int

    @classmethod
    def of(cls, span: pd.DatetimeIndex) -> Window:
        months = min(PAYMENT_MONTHS, len(span))
        first = span[-months].tz_localize("UTC")
        end = (span[-1] + pd.offsets.MonthBegin(1)).tz_localize("UTC")
        scored = first + pd.DateOffset(months=min(WARMUP_MONTHS, months - 1))
        return cls(first.value, scored.value, end.value)


@dataclass
class Customers:
    """One chunk of customers as the behaviour needs them (arrays in customer order)."""

    ids: np.ndarray
    age: np.ndarray
    lo: np.ndarray          # first instant the customer can pay (ns)
    hi: np.ndarray          # end of the customer's span (ns)
    mix: np.ndarray         # n × 4 channel probabilities
    home: np.ndarray        # home city name
    device: np.ndarray      # the phone's device id
    browser: np.ndarray     # the web browser's device id
    switch_at: np.ndarray   # when the customer changed phone (ns; int64 max if never)
    new_device: np.ndarray
    base_amount: np.ndarray
    income: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def device_at(self, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The phone each customer used at each time."""
        return np.where(t >= self.switch_at[cust], self.new_device[cust], self.device[cust])


def hex_ids(rng: np.random.Generator, prefix: str, n: int, digits: int = 12) -> np.ndarray:
    """`n` random ids: prefix + `digits` hex digits."""
    values = rng.integers(0, 16**digits, size=n, dtype=np.int64)
    return np.array([f"{prefix}{v:0{digits}x}" for v in values], dtype=object)


def account_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random payee account numbers (A + 12 digits)."""
    return np.char.add("A", rng.integers(10**11, 10**12, size=n).astype(str)).astype(object)


def local_time(rng: np.random.Generator, day_of: np.ndarray, hours: np.ndarray | None = None) -> np.ndarray:
    """A UTC time (ns) on the local day of each `day_of` instant, at a drawn local hour (or `hours`)."""
    n = len(day_of)
    day = (day_of + LOCAL_OFFSET_NS) // DAY_NS
    hour = rng.choice(24, size=n, p=HOUR_P) if hours is None else hours
    seconds = rng.integers(0, 3600, size=n)
    return day * DAY_NS + hour * 3_600 * 10**9 + seconds * 10**9 - LOCAL_OFFSET_NS


def prepare(rng: np.random.Generator, frame: pd.DataFrame, window: Window) -> Customers:
    """Each customer's span, channel mix, city, devices and usual amount."""
    n = len(frame)
    end = pd.Timestamp(window.end, tz="UTC")
    birth = pd.to_datetime(frame["birth_date"])
    age = ((end.tz_localize(None) - birth).dt.days / 365.25).fillna(45.0).to_numpy()
    join = pd.to_datetime(frame["join_date"]).dt.tz_localize("UTC")
    close = pd.to_datetime(frame["close_date"]).dt.tz_localize("UTC")
    lo = np.maximum(join.fillna(pd.Timestamp(window.start, tz="UTC")).array.asi8, window.start)
    hi = np.minimum(close.fillna(end).array.asi8, window.end)
    mix = np.array([_MIX.get(c, _MIX["app"]) for c in frame["preferred_channel"].fillna("app")])
    lean = np.where(age >= ELDER_AGE, 0.5, np.where(age >= 55, 0.25, 0.0))[:, None]
    mix = (1 - lean) * mix + lean * ELDER_MIX
    tier = frame["city_tier"].fillna(2).astype(int).to_numpy()
    home = np.empty(n, dtype=object)
    for t in np.unique(tier):
        names = CITY_NAMES[_CITY_TIERS == t]
        rows = np.flatnonzero(tier == t)
        home[rows] = names[rng.integers(len(names), size=len(rows))]
    income = frame["income_monthly"].to_numpy(dtype=float)
    scale = np.nan_to_num(income, nan=8000.0).clip(2000, 200_000) / 8000
    base = np.exp(np.log(600) + 0.45 * np.log(scale) + rng.normal(0, 0.5, n))
    switches = rng.random(n) < 0.08
    switch_at = np.where(switches, lo + (rng.random(n) * np.maximum(hi - lo, 0)).astype(np.int64),
                         np.iinfo(np.int64).max)
    return Customers(frame["customer_id"].to_numpy(dtype=object), age, lo, hi, mix, home,
                     hex_ids(rng, "D", n), hex_ids(rng, "W", n), switch_at, hex_ids(rng, "D", n), base, income)


def draw_behaviour(rng: np.random.Generator, c: Customers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ordinary payments and account events: frames with `cust` (row in `c`) and `t` (ns, UTC)."""
    n = len(c)
    active = c.hi > c.lo
    days = np.where(active, (c.hi - c.lo) / DAY_NS, 0.0)
    payer = active & (rng.random(n) < 0.85)
    rate = np.exp(rng.normal(np.log(3.0), 0.6, n))  # transfers a month
    count = np.where(payer, rng.poisson(rate * days / 30.0), 0)
    cust = np.repeat(np.arange(n), count)
    span = (c.hi - c.lo)[cust]
    t = local_time(rng, c.lo[cust] + (rng.random(len(cust)) * span).astype(np.int64))
    t = np.clip(t, c.lo[cust], c.hi[cust] - 10**9)
    # regular payees, the first ones paid most; some one-off payees never paid before
    payees_of = 1 + rng.poisson(2.0, n)
    first_payee = np.concatenate([[0], np.cumsum(payees_of)[:-1]])
    regular = account_ids(rng, int(payees_of.sum()))
    factor = np.exp(rng.normal(0, 0.7, len(regular)))
    rank = (payees_of[cust] * rng.random(len(cust)) ** 2).astype(int)
    slot = first_payee[cust] + rank
    one_off = rng.random(len(cust)) < 0.07
    payee = np.where(one_off, account_ids(rng, len(cust)), regular[slot])
    amount = c.base_amount[cust] * np.where(one_off, np.exp(rng.normal(0.2, 0.9, len(cust))),
                                            factor[slot] * np.exp(rng.normal(0, 0.35, len(cust))))
    channel = (rng.random(len(cust))[:, None] > np.cumsum(c.mix, axis=1)[cust][:, :3]).sum(axis=1)
    travelling = rng.random(len(cust)) < 0.03
    city = np.where(travelling & (channel < 2), CITY_NAMES[rng.integers(len(CITY_NAMES), size=len(cust))],
                    c.home[cust])
    device = np.where(channel == 0, c.device_at(cust, t), np.where(channel == 1, c.browser[cust], None))
    payments = pd.DataFrame({"cust": cust, "t": t, "amount": np.round(np.maximum(amount, 1.0), 2),
                             "payee_id": payee, "known": ~one_off,
                             "channel": np.array(PAYMENT_CHANNELS, dtype=object)[channel],
                             "device_id": device, "city": city})
    online = np.flatnonzero(channel < 2)
    logins = events_frame("login", cust[online], t[online] - rng.integers(MINUTE_NS, 15 * MINUTE_NS, len(online)),
                     device[online], city[online])
    return payments, pd.concat([logins, *_account_life(rng, c, payer)], ignore_index=True)


def _account_life(rng: np.random.Generator, c: Customers, payer: np.ndarray) -> list[pd.DataFrame]:
    """Logins without payments, phone changes, password resets, salaries and other inbound credits."""
    n = len(c)
    months = np.maximum(c.hi - c.lo, 0) / (30 * DAY_NS)
    digital = c.mix[:, 0] + c.mix[:, 1]
    cust = np.repeat(np.arange(n), rng.poisson(3.0 * months * digital))
    t = local_time(rng, c.lo[cust] + (rng.random(len(cust)) * (c.hi - c.lo)[cust]).astype(np.int64))
    t = np.clip(t, c.lo[cust], c.hi[cust] - 10**9)
    home = rng.random(len(cust)) < 0.96
    idle = events_frame("login", cust, t, c.device_at(cust, t),
                   np.where(home, c.home[cust], CITY_NAMES[rng.integers(len(CITY_NAMES), size=len(cust))]))
    switched = np.flatnonzero((c.switch_at < c.hi) & (c.switch_at >= c.lo))
    bound = events_frame("device_bound", switched, c.switch_at[switched], c.new_device[switched], c.home[switched])
    with_reset = switched[rng.random(len(switched)) < 0.3]
    resets = np.concatenate([with_reset, np.flatnonzero((c.hi > c.lo) & (rng.random(n) < 0.12))])
    reset_t = np.concatenate([c.switch_at[with_reset] + rng.integers(MINUTE_NS, 30 * MINUTE_NS, len(with_reset)),
                              c.lo[resets[len(with_reset):]] + (rng.random(len(resets) - len(with_reset))
                                                                 * (c.hi - c.lo)[resets[len(with_reset):]]
                                                                 ).astype(np.int64)])
    reset_t = np.minimum(reset_t, c.hi[resets] - 10**9)
    reset_login = events_frame("login", resets, reset_t - MINUTE_NS, c.device_at(resets, reset_t), c.home[resets])
    reset = events_frame("password_change", resets, reset_t, c.device_at(resets, reset_t), c.home[resets])
    return [idle, bound, reset_login, reset, *_credits(rng, c, payer)]


def _credits(rng: np.random.Generator, c: Customers, payer: np.ndarray) -> list[pd.DataFrame]:
    """Monthly salaries (customers with an income) and other inbound credits."""
    n = len(c)
    months = pd.date_range(pd.Timestamp(int(c.lo.min()) if n else 0, tz="UTC").normalize(),
                           pd.Timestamp(int(c.hi.max()) if n else 0, tz="UTC"), freq="MS")
    paydays = months.asi8 + 9 * DAY_NS + 2 * 3_600 * 10**9 - LOCAL_OFFSET_NS  # the 10th, 10:00 local
    earner = np.flatnonzero(~np.isnan(c.income) & (c.income > 0) & payer)
    cust = np.repeat(earner, len(paydays))
    t = np.tile(paydays, len(earner)) + rng.integers(0, 3_600 * 10**9, len(cust))
    keep = (t >= c.lo[cust]) & (t < c.hi[cust])
    salary = events_frame("credit_received", cust[keep], t[keep], None, None,
                     np.round(c.income[cust[keep]] * np.exp(rng.normal(0, 0.05, int(keep.sum()))), 2))
    active_months = np.maximum(c.hi - c.lo, 0) / (30 * DAY_NS)
    other = np.repeat(np.arange(n), rng.poisson(1.0 * active_months))
    t = local_time(rng, c.lo[other] + (rng.random(len(other)) * (c.hi - c.lo)[other]).astype(np.int64))
    t = np.clip(t, c.lo[other], c.hi[other] - 10**9)
    inbound = events_frame("credit_received", other, t, None, None,
                      np.round(np.exp(rng.normal(np.log(500), 1.0, len(other))) + 1, 2))
    return [salary, inbound]


def events_frame(kind: str, cust: np.ndarray, t: np.ndarray, device, city, amount=None) -> pd.DataFrame:
    """Account events of one type as a frame (`device`, `city`, `amount`: arrays or None)."""
    return pd.DataFrame({"cust": np.asarray(cust, dtype=np.int64), "t": np.asarray(t, dtype=np.int64),
                         "event_type": kind, "device_id": device, "city": city,
                         "amount": np.nan if amount is None else amount})
