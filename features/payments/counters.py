"""One customer's real-time payment counters: the single state machine behind the fraud features.

The offline replay (training) and the service (serving) both feed a `CustomerCounters` with the
customer's payments and account events and ask it for `features(payment)`, so the two can never
disagree. Pure Python and the standard library: `features` costs tens of microseconds.

Point in time: `features(p)` reads only items at or before `p.time` (items may arrive slightly out
of order; every window is relative to the scored payment's time). State stays bounded: windows are
trimmed to their length plus `SLACK_S` behind the newest item, and known payees, devices and cities
are kept as LRU maps of at most `MAX_PAYEES` / `MAX_PLACES` entries. Payment ids already added are
remembered (the last `MAX_IDS`) so that adding a payment twice changes nothing.

Sentinels instead of missing values (the features travel as JSON): a time since something that never
happened is its cap (`NEVER_HOURS`, `NEVER_DAYS`, `NEVER_MINUTES`); `amount_to_typical` is 1 before
the first payment (`payments_seen` says there is no history).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

HOUR_S = 3600.0
DAY_S = 86400.0
WEEK_S = 7 * DAY_S
SLACK_S = 2 * HOUR_S          # how late an out-of-order item may arrive and still count
LOCAL_UTC_OFFSET_H = 8        # the bank's clock (China Standard Time): hour of day and night are local
NIGHT_HOURS = frozenset(range(0, 6))
NEW_DEVICE_DAYS = 7.0         # a device first seen less than this before the payment is new
NEVER_HOURS = 8760.0          # cap of hours since ...: "a year or more / never"
NEVER_DAYS = 365.0
NEVER_MINUTES = 10080.0       # cap of minutes since the last inbound credit: a week
TYPICAL_SPAN = 20             # the typical amount: an exponential mean of log amounts over ~this many payments
MAX_WINDOW_ITEMS = 256
MAX_IDS = 512
MAX_PAYEES = 100
MAX_PLACES = 20               # devices, and cities
MAX_SECURITY = 16             # password changes and device bindings remembered
CHANNELS = ("app", "web", "branch", "phone")
EVENT_TYPES = ("login", "password_change", "device_bound", "credit_received")
STATE_VERSION = 1

COUNTER_FEATURES: tuple[str, ...] = (
    "amount", "log_amount", "amount_to_typical", "new_payee",
    "payments_1h", "payments_1d", "new_payees_1h", "new_payees_1d", "amount_1d",
    "new_device", "device_changed", "device_age_days", "new_city", "city_changed",
    "hours_since_password_change", "hours_since_device_bound", "password_changes_7d",
    "new_city_logins_1d", "credits_1d", "credit_amount_1d", "minutes_since_credit",
    "hour_of_day", "is_night", "payments_seen", "days_since_prev_payment", "channel_code",
)
# What the model reads from the customer's online profile: the Feast view `PROFILE_VIEW` (built by
# `nbo features build` from the customers table at each month end), feature names as in that view.
PROFILE_VIEW = "customer_profile"
PROFILE_FEATURES: tuple[str, ...] = ("age_years", "tenure_months", "city_tier", "income_monthly_cny")


@dataclass(frozen=True)
class Payment:
    """An outbound transfer as the payment system sends it (time aware, UTC)."""

    payment_id: str
    customer_id: str
    amount: float
    currency: str
    payee_id: str
    channel: str
    device_id: str | None
    city: str
    time: datetime


@dataclass(frozen=True)
class AccountEvent:
    """A security event (login, password change, device bound) or an inbound credit (with amount)."""

    customer_id: str
    event_type: str
    time: datetime
    device_id: str | None = None
    city: str | None = None
    amount: float | None = None


def _ts(when: datetime) -> float:
    if when.tzinfo is None:
        raise ValueError(f"time {when.isoformat()} has no time zone: send UTC times with an offset")
    return when.timestamp()


class _Seen:
    """An LRU map key -> [first seen, last seen] (epoch seconds) of at most `limit` keys."""

    __slots__ = ("limit", "items")

    def __init__(self, limit: int, items: OrderedDict[str, list[float]] | None = None) -> None:
        self.limit = limit
        self.items: OrderedDict[str, list[float]] = items if items is not None else OrderedDict()

    def first_seen(self, key: str, at: float) -> float | None:
        """When the key was first seen, if at or before `at`."""
        span = self.items.get(key)
        return span[0] if span is not None and span[0] <= at else None

    def note(self, key: str, at: float) -> bool:
        """Record the key at `at`; True if it was unknown at that time."""
        span = self.items.get(key)
        if span is None:
            self.items[key] = [at, at]
            if len(self.items) > self.limit:
                self.items.popitem(last=False)
            return True
        new = span[0] > at
        span[0], span[1] = min(span[0], at), max(span[1], at)
        self.items.move_to_end(key)
        return new


class CustomerCounters:
    """One customer's real-time payment state: bounded, JSON round-trippable, one implementation."""

    def __init__(self) -> None:
        self.ids: OrderedDict[str, None] = OrderedDict()
        self.payments: list[list[float]] = []     # [time, amount, new payee 0/1], sorted by time
        self.payments_seen = 0
        self.last_trimmed_payment = -math.inf     # the newest payment time trimmed from the window
        self.log_typical = 0.0
        self.payees = _Seen(MAX_PAYEES)
        self.devices = _Seen(MAX_PLACES)
        self.cities = _Seen(MAX_PLACES)
        self.activity: list[list] = []            # [time, device, city] of the latest payments/logins
        self.password_changes: list[float] = []
        self.devices_bound: list[float] = []
        self.new_city_logins: list[float] = []
        self.credits: list[list[float]] = []      # [time, amount]
        self.last_trimmed_credit = -math.inf
        self.newest = -math.inf

    # -- reading ----------------------------------------------------------------------------------
    def features(self, p: Payment) -> dict[str, float]:
        """The payment's features from the state before it (only items at or before `p.time`)."""
        t = _ts(p.time)
        hour_ago, day_ago = t - HOUR_S, t - DAY_S
        pay_1h = pay_1d = new_1h = new_1d = 0
        amount_1d = 0.0
        prev = self.last_trimmed_payment
        for when, amount, new in self.payments:
            if when > t:
                break
            prev = when
            if when > day_ago:
                pay_1d += 1
                new_1d += new
                amount_1d += amount
                if when > hour_ago:
                    pay_1h += 1
                    new_1h += new
        last_device, last_city = None, None
        for when, device, city in reversed(self.activity):
            if when <= t:
                last_device, last_city = device, city
                break
        device_first = self.devices.first_seen(p.device_id, t) if p.device_id else None
        if p.device_id is None:
            new_device, device_changed, device_age = 0.0, 0.0, NEVER_DAYS
        else:
            device_age = NEVER_DAYS if device_first is None else min((t - device_first) / DAY_S, NEVER_DAYS)
            new_device = float(device_first is None or device_age < NEW_DEVICE_DAYS)
            device_changed = float(last_device is not None and last_device != p.device_id)
        new_city = float(self.cities.first_seen(p.city, t) is None)
        city_changed = float(last_city is not None and last_city != p.city)
        credits_1d, credit_amount, last_credit = 0, 0.0, self.last_trimmed_credit
        for when, amount in self.credits:
            if when > t:
                break
            last_credit = when
            if when > day_ago:
                credits_1d += 1
                credit_amount += amount
        pw_last, pw_7d = _latest_and_count(self.password_changes, t, t - WEEK_S)
        bound_last, _ = _latest_and_count(self.devices_bound, t, t)
        _, new_city_logins = _latest_and_count(self.new_city_logins, t, day_ago)
        local_hour = int(((t / HOUR_S) + LOCAL_UTC_OFFSET_H) % 24)
        amount = float(p.amount)
        typical = math.exp(self.log_typical) if self.payments_seen else amount
        return {
            "amount": amount,
            "log_amount": math.log1p(max(amount, 0.0)),
            "amount_to_typical": amount / typical if typical > 0 else 1.0,
            "new_payee": float(self.payees.first_seen(p.payee_id, t) is None),
            "payments_1h": float(pay_1h), "payments_1d": float(pay_1d),
            "new_payees_1h": float(new_1h), "new_payees_1d": float(new_1d), "amount_1d": amount_1d,
            "new_device": new_device, "device_changed": device_changed, "device_age_days": device_age,
            "new_city": new_city, "city_changed": city_changed,
            "hours_since_password_change": _since(t, pw_last, HOUR_S, NEVER_HOURS),
            "hours_since_device_bound": _since(t, bound_last, HOUR_S, NEVER_HOURS),
            "password_changes_7d": float(pw_7d), "new_city_logins_1d": float(new_city_logins),
            "credits_1d": float(credits_1d), "credit_amount_1d": credit_amount,
            "minutes_since_credit": _since(t, last_credit, 60.0, NEVER_MINUTES),
            "hour_of_day": float(local_hour), "is_night": float(local_hour in NIGHT_HOURS),
            "payments_seen": float(self.payments_seen),
            "days_since_prev_payment": _since(t, prev, DAY_S, NEVER_DAYS),
            "channel_code": float(CHANNELS.index(p.channel) if p.channel in CHANNELS else len(CHANNELS)),
        }

    # -- writing ----------------------------------------------------------------------------------
    def add_payment(self, p: Payment) -> None:
        """Count the payment in (a payment id already added is ignored)."""
        if p.payment_id in self.ids:
            return
        self.ids[p.payment_id] = None
        if len(self.ids) > MAX_IDS:
            self.ids.popitem(last=False)
        t = _ts(p.time)
        new_payee = self.payees.note(p.payee_id, t)
        _insort(self.payments, [t, float(p.amount), 1.0 if new_payee else 0.0])
        weight = max(1.0 / (self.payments_seen + 1), 1.0 / TYPICAL_SPAN)
        self.log_typical += weight * (math.log(max(float(p.amount), 0.01)) - self.log_typical)
        self.payments_seen += 1
        self._place(t, p.device_id, p.city)
        self._trim(t)

    def add_event(self, e: AccountEvent) -> None:
        """Count a security event or an inbound credit in (unknown event types are an error)."""
        t = _ts(e.time)
        if e.event_type == "login":
            if e.city is not None and self.cities.first_seen(e.city, t) is None and self.cities.items:
                _insort(self.new_city_logins, t)
            self._place(t, e.device_id, e.city)
        elif e.event_type == "password_change":
            _insort(self.password_changes, t)
        elif e.event_type == "device_bound":
            _insort(self.devices_bound, t)
        elif e.event_type == "credit_received":
            _insort(self.credits, [t, float(e.amount or 0.0)])
        else:
            raise ValueError(f"unknown account event type {e.event_type!r}; expected one of {EVENT_TYPES}")
        self._trim(t)

    def _place(self, t: float, device: str | None, city: str | None) -> None:
        if device is not None:
            self.devices.note(device, t)
        if city is not None:
            self.cities.note(city, t)
        if device is not None or city is not None:
            _insort(self.activity, [t, device, city])
            del self.activity[:-MAX_SECURITY]

    def _trim(self, t: float) -> None:
        """Drop what no window of a payment near the newest item can see any more."""
        self.newest = max(self.newest, t)
        day_edge, week_edge = self.newest - DAY_S - SLACK_S, self.newest - WEEK_S - SLACK_S
        cut = _first_at_or_after(self.payments, day_edge, MAX_WINDOW_ITEMS)
        if cut:
            self.last_trimmed_payment = max(self.last_trimmed_payment, self.payments[cut - 1][0])
            del self.payments[:cut]
        cut = _first_at_or_after(self.credits, day_edge, MAX_WINDOW_ITEMS)
        if cut:
            self.last_trimmed_credit = max(self.last_trimmed_credit, self.credits[cut - 1][0])
            del self.credits[:cut]
        self.new_city_logins = [w for w in self.new_city_logins if w >= day_edge][-MAX_WINDOW_ITEMS:]
        # the week's password changes / bindings, and the latest before the week (hours since ...)
        for times in (self.password_changes, self.devices_bound):
            cut = sum(1 for w in times if w < week_edge)
            times[:] = times[max(cut - 1, 0):][-MAX_SECURITY:]

    # -- persistence ------------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """The state as compact JSON bytes."""
        def finite(x: float) -> float | None:
            return None if math.isinf(x) else x
        return json.dumps({
            "v": STATE_VERSION, "ids": list(self.ids), "payments": self.payments,
            "seen": self.payments_seen, "trimmed_payment": finite(self.last_trimmed_payment),
            "log_typical": self.log_typical, "payees": list(self.payees.items.items()),
            "devices": list(self.devices.items.items()), "cities": list(self.cities.items.items()),
            "activity": self.activity, "password_changes": self.password_changes,
            "devices_bound": self.devices_bound, "new_city_logins": self.new_city_logins,
            "credits": self.credits, "trimmed_credit": finite(self.last_trimmed_credit),
            "newest": finite(self.newest),
        }, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CustomerCounters:
        """The state `to_json` wrote."""
        data = json.loads(raw)
        if data.get("v") != STATE_VERSION:
            raise ValueError(f"customer counters state version {data.get('v')!r}; expected {STATE_VERSION}")

        def ts(x: float | None) -> float:
            return -math.inf if x is None else float(x)
        state = cls()
        state.ids = OrderedDict.fromkeys(data["ids"])
        state.payments = data["payments"]
        state.payments_seen = int(data["seen"])
        state.last_trimmed_payment = ts(data["trimmed_payment"])
        state.log_typical = float(data["log_typical"])
        state.payees = _Seen(MAX_PAYEES, OrderedDict(data["payees"]))
        state.devices = _Seen(MAX_PLACES, OrderedDict(data["devices"]))
        state.cities = _Seen(MAX_PLACES, OrderedDict(data["cities"]))
        state.activity = data["activity"]
        state.password_changes = data["password_changes"]
        state.devices_bound = data["devices_bound"]
        state.new_city_logins = data["new_city_logins"]
        state.credits = data["credits"]
        state.last_trimmed_credit = ts(data["trimmed_credit"])
        state.newest = ts(data["newest"])
        return state


def _since(t: float, then: float, unit_s: float, cap: float) -> float:
    return cap if then == -math.inf else min(max(t - then, 0.0) / unit_s, cap)


def _latest_and_count(times: list[float], t: float, since: float) -> tuple[float, int]:
    """The latest time at or before `t` (-inf if none) and how many lie in (since, t]."""
    latest, count = -math.inf, 0
    for when in times:
        if when > t:
            break
        latest = when
        if when > since:
            count += 1
    return latest, count


def _insort(items: list, item) -> None:
    """Insert keeping time order (items arrive almost always in order: append is the common case)."""
    key = item[0] if isinstance(item, list) else item
    i = len(items)
    while i and (items[i - 1][0] if isinstance(item, list) else items[i - 1]) > key:
        i -= 1
    items.insert(i, item)


def _first_at_or_after(items: list[list[float]], edge: float, keep_at_most: int) -> int:
    """How many leading items to drop: those before `edge`, and any beyond the newest `keep_at_most`."""
    cut = 0
    while cut < len(items) and items[cut][0] < edge:
        cut += 1
    return max(cut, len(items) - keep_at_most)
