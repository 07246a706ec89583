"""One customer's payment counters: windows at their edges, novelty, security timing, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from features.payments.counters import (
    COUNTER_FEATURES,
    MAX_IDS,
    MAX_PAYEES,
    NEVER_HOURS,
    AccountEvent,
    CustomerCounters,
    Payment,
)

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in the bank's local time


def pay(n: int, at: datetime, amount: float = 100.0, payee: str = "P1", device: str | None = "D1",
        city: str = "Shanghai", channel: str = "app") -> Payment:
    return Payment(f"X{n}", "C1", amount, "CNY", payee, channel, device, city, at)


def fed(*items: Payment | AccountEvent) -> CustomerCounters:
    state = CustomerCounters()
    for item in items:
        (state.add_payment if isinstance(item, Payment) else state.add_event)(item)
    return state


def test_features_are_the_declared_names_in_order():
    assert list(CustomerCounters().features(pay(1, T0))) == list(COUNTER_FEATURES)


def test_hour_and_day_windows_at_their_edges():
    state = fed(pay(1, T0 - timedelta(days=1)), pay(2, T0 - timedelta(days=1) + timedelta(seconds=1)),
                pay(3, T0 - timedelta(hours=1)), pay(4, T0 - timedelta(minutes=59), amount=50.0))
    f = state.features(pay(5, T0))
    # exactly a day / an hour before is outside the window; a second inside is in
    assert (f["payments_1d"], f["payments_1h"]) == (3.0, 1.0)
    assert f["amount_1d"] == 250.0
    assert f["days_since_prev_payment"] == pytest.approx(59 / 1440)


def test_new_payee_counts_and_first_payment_flag():
    state = fed(pay(1, T0 - timedelta(days=3), payee="P1"), pay(2, T0 - timedelta(minutes=30), payee="P2"),
                pay(3, T0 - timedelta(minutes=20), payee="P1"))
    assert state.features(pay(4, T0, payee="P1"))["new_payee"] == 0.0
    f = state.features(pay(4, T0, payee="P9"))
    assert f["new_payee"] == 1.0
    assert (f["new_payees_1h"], f["new_payees_1d"]) == (1.0, 1.0)  # P2 was new; P1 again was not


def test_new_and_changed_device_and_city():
    state = fed(pay(1, T0 - timedelta(days=30), device="D1", city="Shanghai"),
                AccountEvent("C1", "login", T0 - timedelta(hours=2), device_id="D2", city="Harbin"))
    # a takeover: the new phone logged in from another city two hours before paying from it
    f = state.features(pay(2, T0, device="D2", city="Harbin"))
    assert (f["new_device"], f["device_changed"], f["new_city"], f["city_changed"]) == (1.0, 1.0, 1.0, 1.0)
    assert f["device_age_days"] == pytest.approx(2 / 24)
    assert f["new_city_logins_1d"] == 1.0
    f = state.features(pay(2, T0, device="D1", city="Shanghai"))
    assert (f["new_device"], f["device_changed"], f["new_city"], f["city_changed"]) == (0.0, 0.0, 0.0, 0.0)
    assert f["device_age_days"] == pytest.approx(30.0)
    # a week after first being seen, a device or city is no longer new
    assert state.features(pay(2, T0 + timedelta(days=7), device="D2", city="Harbin"))["new_device"] == 0.0
    assert state.features(pay(2, T0 + timedelta(days=7), device="D2", city="Harbin"))["new_city"] == 0.0
    f = state.features(pay(2, T0, device="D3", city="Lhasa"))
    assert (f["new_device"], f["new_city"], f["device_age_days"]) == (1.0, 1.0, 365.0)
    branch = state.features(pay(2, T0, device=None, channel="branch"))
    assert (branch["new_device"], branch["device_changed"], branch["channel_code"]) == (0.0, 0.0, 2.0)


def test_password_change_and_device_binding_timing():
    assert CustomerCounters().features(pay(1, T0))["hours_since_password_change"] == NEVER_HOURS
    state = fed(AccountEvent("C1", "password_change", T0 - timedelta(days=10)),
                AccountEvent("C1", "password_change", T0 - timedelta(minutes=90)),
                AccountEvent("C1", "device_bound", T0 - timedelta(minutes=30), device_id="D9"))
    f = state.features(pay(1, T0))
    assert f["hours_since_password_change"] == pytest.approx(1.5)
    assert f["hours_since_device_bound"] == pytest.approx(0.5)
    assert f["password_changes_7d"] == 1.0
    # a payment scored before the change does not see it (out-of-order arrival)
    early = state.features(pay(1, T0 - timedelta(hours=2)))
    assert early["hours_since_password_change"] == pytest.approx(238.0)
    assert early["hours_since_device_bound"] == NEVER_HOURS


def test_inbound_credits_and_night():
    state = fed(*(AccountEvent("C1", "credit_received", T0 - timedelta(hours=h), amount=500.0) for h in (30, 5, 1)))
    f = state.features(pay(1, T0 - timedelta(hours=8)))  # 02:00 UTC - 8 h = 02:00 local
    assert (f["credits_1d"], f["credit_amount_1d"], f["minutes_since_credit"]) == (0.0, 0.0, 1320.0)
    assert (f["is_night"], f["hour_of_day"]) == (1.0, 2.0)
    f = state.features(pay(1, T0))
    assert (f["credits_1d"], f["credit_amount_1d"], f["minutes_since_credit"]) == (2.0, 1000.0, 60.0)
    assert (f["is_night"], f["hour_of_day"]) == (0.0, 10.0)


def test_typical_amount_excludes_the_scored_payment():
    state = fed(*(pay(n, T0 - timedelta(days=n), amount=200.0) for n in range(1, 6)))
    f = state.features(pay(9, T0, amount=2000.0))
    assert f["amount_to_typical"] == pytest.approx(10.0)
    assert f["payments_seen"] == 5.0


def test_add_payment_is_idempotent():
    once = fed(pay(1, T0 - timedelta(minutes=5)))
    twice = fed(pay(1, T0 - timedelta(minutes=5)), pay(1, T0 - timedelta(minutes=5)))
    assert twice.features(pay(2, T0)) == once.features(pay(2, T0))
    assert twice.to_json() == once.to_json()


def test_json_round_trip_preserves_features():
    state = fed(pay(1, T0 - timedelta(days=40), device="D1"), pay(2, T0 - timedelta(hours=3), payee="P2"),
                AccountEvent("C1", "password_change", T0 - timedelta(hours=2)),
                AccountEvent("C1", "credit_received", T0 - timedelta(hours=1), amount=9.5),
                AccountEvent("C1", "login", T0 - timedelta(minutes=10), device_id="D2", city="Harbin"))
    restored = CustomerCounters.from_json(state.to_json())
    probe = pay(3, T0, payee="P7", device="D2", city="Harbin", amount=5000.0)
    assert restored.features(probe) == state.features(probe)
    restored.add_payment(probe)
    state.add_payment(probe)
    assert restored.to_json() == state.to_json()


def test_state_stays_bounded():
    state = CustomerCounters()
    for n in range(3000):
        at = T0 + timedelta(minutes=7 * n)
        state.add_payment(pay(n, at, payee=f"P{n}", device=f"D{n % 50}", city=f"City{n % 40}"))
        state.add_event(AccountEvent("C1", "password_change", at))
        state.add_event(AccountEvent("C1", "credit_received", at, amount=1.0))
    assert len(state.payees.items) == MAX_PAYEES and len(state.ids) == MAX_IDS
    assert len(state.payments) <= 256 and len(state.credits) <= 256
    assert len(state.to_json()) < 60_000
    f = state.features(pay(5000, T0 + timedelta(minutes=7 * 3000)))
    assert f["payments_seen"] == 3000.0 and f["payments_1d"] == 205.0  # 1440 min / 7 min = 205.7


def test_channels_and_event_types_are_the_contracts():
    from features.payments.counters import CHANNELS, EVENT_TYPES
    from sources.contract import ACCOUNT_EVENT_TYPES, PAYMENT_CHANNELS

    assert CHANNELS == PAYMENT_CHANNELS and EVENT_TYPES == ACCOUNT_EVENT_TYPES
    with pytest.raises(ValueError, match="unknown account event type"):
        CustomerCounters().add_event(AccountEvent("C1", "sim_swap", T0))
    with pytest.raises(ValueError, match="no time zone"):
        CustomerCounters().features(pay(1, T0.replace(tzinfo=None)))
