"""Planted payment fraud: account takeover, mule accounts and scams aimed at older customers.

Cases are planted after the warm-up month so that about `FRAUD_SHARE` of all transfers are fraud, split by `SCHEME_SHARES` of the fraudulent transfers:
- account_takeover: a login from a new device (often in another city), a password change and usually
  the new device bound, then 1-3 large transfers to new payees, mostly at night, minutes apart;
- mule: many small inbound credits over a day or two, then fast outbound transfers to new payees of
  about what came in (younger customers; their own device, sometimes another);
- elder_scam: a customer 65+ makes, by day from their own phone and city after a call the bank never
  sees, a first large transfer to a new payee; a third send a second one days later (the hard case).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.synthetic.payments import (
    CITY_NAMES,
    DAY_NS,
    ELDER_AGE,
    FRAUD_SHARE,
    LOCAL_OFFSET_NS,
    MINUTE_NS,
    Customers,
    Window,
    account_ids,
    events_frame,
    hex_ids,
)

SCHEME_SHARES = {"account_takeover": 0.4, "mule": 0.35, "elder_scam": 0.25}
_PAYMENTS_PER_CASE = {"account_takeover": 2.0, "mule": 5.5, "elder_scam": 1.35}  # the means drawn below
TRUTH_COLUMNS = ("payment_id", "customer_id", "scheme", "case_id", "scheme_start")
HOUR_NS = 60 * MINUTE_NS


def plant_fraud(rng: np.random.Generator, c: Customers, window: Window, payments: pd.DataFrame,
                events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Add every scheme's cases; payments gain `case` (-1: genuine), cases are (case, scheme, scheme_start)."""
    genuine = len(payments)
    # customers who can be hit: active for at least a week of the scored period
    start = np.maximum(c.lo, window.scored_from)
    eligible = (c.hi - start) > 7 * DAY_NS
    taken = np.zeros(len(c), dtype=bool)
    new_payments, new_events, cases = [payments.assign(case=-1)], [events], []
    for scheme, share in SCHEME_SHARES.items():
        wanted = max(1, round(FRAUD_SHARE * genuine * share / _PAYMENTS_PER_CASE[scheme])) if genuine else 0
        pool = eligible & ~taken & _who(scheme, c)
        victims = np.sort(rng.choice(np.flatnonzero(pool), size=min(wanted, int(pool.sum())), replace=False))
        taken[victims] = True
        if not len(victims):
            continue
        first_case = sum(len(x) for x in cases)
        t0 = start[victims] + (rng.random(len(victims)) * (c.hi[victims] - start[victims] - 5 * DAY_NS)).astype(np.int64)
        paid, logged = _SCHEMES[scheme](rng, c, victims, t0)
        paid["case"] = paid.pop("k") + first_case
        new_payments.append(paid)
        new_events.append(logged)
        cases.append(pd.DataFrame({"case": first_case + np.arange(len(victims)), "scheme": scheme,
                                   "scheme_start": pd.to_datetime(t0, utc=True)}))
    found = pd.concat(cases, ignore_index=True) if cases else pd.DataFrame(columns=["case", "scheme", "scheme_start"])
    return pd.concat(new_payments, ignore_index=True), pd.concat(new_events, ignore_index=True), found


def _who(scheme: str, c: Customers) -> np.ndarray:
    if scheme == "elder_scam":
        return c.age >= ELDER_AGE
    if scheme == "mule":
        return c.age < 36
    return c.mix[:, 0] + c.mix[:, 1] > 0.5  # takeover: customers who bank online


def _transfers(k: np.ndarray, t: np.ndarray, amount: np.ndarray, payee: np.ndarray, channel: str,
               device: np.ndarray, city: np.ndarray, cust: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"cust": cust, "t": t, "amount": np.round(amount, 2), "payee_id": payee, "known": False,
                         "channel": channel, "device_id": device, "city": city, "k": k})


def _takeover(rng: np.random.Generator, c: Customers, victims: np.ndarray,
              t0: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(victims)
    device = hex_ids(rng, "D", n)
    city = np.where(rng.random(n) < 0.7, CITY_NAMES[rng.integers(len(CITY_NAMES), size=n)], c.home[victims])
    at_night = rng.random(n) < 0.8
    day = (t0 + LOCAL_OFFSET_NS) // DAY_NS + 1
    hour = np.where(at_night, rng.integers(0, 5, n), rng.integers(9, 19, n))
    first_pay = day * DAY_NS + hour * HOUR_NS + rng.integers(0, 60, n) * MINUTE_NS - LOCAL_OFFSET_NS
    login = first_pay - rng.integers(15, 360, n) * MINUTE_NS
    reset = login + rng.integers(2, 10, n) * MINUTE_NS
    bind = np.flatnonzero(rng.random(n) < 0.85)
    logged = pd.concat([
        events_frame("login", victims, login, device, city),
        events_frame("password_change", victims, reset, device, city),
        events_frame("device_bound", victims[bind], reset[bind] + rng.integers(1, 5, len(bind)) * MINUTE_NS,
                device[bind], city[bind]),
    ], ignore_index=True)
    count = 1 + rng.binomial(2, 0.5, n)
    k = np.repeat(np.arange(n), count)
    step = np.concatenate([np.arange(m) for m in count])
    t = first_pay[k] + step * rng.integers(2, 20, len(k)) * MINUTE_NS
    amount = np.clip(np.exp(rng.normal(np.log(20_000), 0.6, len(k))), 2_000, 200_000)
    payee = account_ids(rng, len(k))
    again = (step > 0) & (rng.random(len(k)) < 0.3)  # a second transfer to the same mule account
    payee[again] = payee[np.flatnonzero(again) - 1]
    return _transfers(k, t, amount, payee, "app", device[k], city[k], victims[k]), logged


def _mule(rng: np.random.Generator, c: Customers, victims: np.ndarray,
          t0: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(victims)
    credits = rng.integers(8, 31, n)
    spread = rng.integers(12, 48, n) * HOUR_NS
    ck = np.repeat(np.arange(n), credits)
    credit_t = t0[ck] + (rng.random(len(ck)) * spread[ck]).astype(np.int64)
    credit_amount = np.round(np.clip(np.exp(rng.normal(np.log(900), 0.6, len(ck))), 100, 5_000), 2)
    received = np.bincount(ck, weights=credit_amount, minlength=n)
    count = rng.integers(3, 9, n)
    k = np.repeat(np.arange(n), count)
    step = np.concatenate([np.arange(m) for m in count])
    first_out = t0 + spread + rng.integers(10, 180, n) * MINUTE_NS
    t = first_out[k] + step * rng.integers(3, 40, len(k)) * MINUTE_NS
    amount = received[k] * 0.9 / count[k] * rng.uniform(0.8, 1.2, len(k))
    other = rng.random(n) < 0.3  # the mule herder's phone, not the account holder's
    device = np.where(other, hex_ids(rng, "D", n), c.device_at(victims, first_out))
    city = np.where(rng.random(n) < 0.7, c.home[victims], CITY_NAMES[rng.integers(len(CITY_NAMES), size=n)])
    logged = pd.concat([
        events_frame("credit_received", victims[ck], credit_t, None, None, credit_amount),
        events_frame("login", victims, first_out - rng.integers(1, 10, n) * MINUTE_NS, device, city),
    ], ignore_index=True)
    return _transfers(k, t, amount, account_ids(rng, len(k)), "app", device[k], city[k], victims[k]), logged


def _elder(rng: np.random.Generator, c: Customers, victims: np.ndarray,
           t0: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(victims)
    day = (t0 + LOCAL_OFFSET_NS) // DAY_NS
    first = day * DAY_NS + rng.integers(9, 17, n) * HOUR_NS + rng.integers(0, 60, n) * MINUTE_NS - LOCAL_OFFSET_NS
    count = 1 + (rng.random(n) < 0.35)
    k = np.repeat(np.arange(n), count)
    step = np.concatenate([np.arange(m) for m in count])
    t = first[k] + step * rng.integers(1, 4, len(k)) * DAY_NS
    amount = np.clip(np.exp(rng.normal(np.log(50_000), 0.7, len(k))), 5_000, 500_000)
    payee = account_ids(rng, n)[k]  # the second transfer goes to the same account
    device = c.device_at(victims[k], t)
    city = c.home[victims[k]]
    logged = events_frame("login", victims[k], t - rng.integers(1, 10, len(k)) * MINUTE_NS, device, city)
    return _transfers(k, t, amount, payee, "app", device, city, victims[k]), logged


_SCHEMES = {"account_takeover": _takeover, "mule": _mule, "elder_scam": _elder}
