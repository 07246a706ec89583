"""models.fraud_rules at the edges of each limit."""

import math

from models.fraud_rules import RuleLimits, evaluate_rules, rules_decision, strongest

LIMITS = RuleLimits()
QUIET = {"amount": 1_000.0, "new_payee": 0.0, "amount_to_typical": 1.0, "new_payees_1h": 0.0, "is_night": 0.0,
         "hours_since_password_change": 5_000.0, "hours_since_device_bound": 5_000.0}


def codes(**changes: float) -> list[str]:
    return [hit.code for hit in evaluate_rules(QUIET | changes, LIMITS)]


def test_a_quiet_payment_fires_nothing():
    assert codes() == []
    assert rules_decision(evaluate_rules(QUIET)) == "allow"


def test_amount_limit_is_strictly_above():
    assert codes(amount=LIMITS.hold_amount) == []
    hits = evaluate_rules(QUIET | {"amount": LIMITS.hold_amount + 1})
    assert [h.code for h in hits] == ["R1_AMOUNT_LIMIT"] and rules_decision(hits) == "hold"
    assert "500,001" in hits[0].text["en"] and "万元" in hits[0].text["zh"]


def test_takeover_needs_a_recent_change_a_new_payee_and_the_amount():
    takeover = {"new_payee": 1.0, "amount": LIMITS.takeover_amount, "hours_since_device_bound": LIMITS.takeover_hours}
    hits = evaluate_rules(QUIET | takeover)
    assert [h.code for h in hits] == ["R2_TAKEOVER"] and hits[0].decision == "hold"
    assert "新设备" in hits[0].text["zh"] and "new device" in hits[0].text["en"]
    assert codes(**takeover | {"hours_since_device_bound": LIMITS.takeover_hours + 0.1}) == []
    assert codes(**takeover | {"amount": LIMITS.takeover_amount - 1}) == []
    assert codes(**takeover | {"new_payee": 0.0}) == []
    password = evaluate_rules(QUIET | takeover | {"hours_since_device_bound": math.nan,
                                                  "hours_since_password_change": 2.0})
    assert "密码" in password[0].text["zh"] and "password" in password[0].text["en"]


def test_missing_history_never_fires():
    assert codes(new_payee=1.0, amount=50_000.0, hours_since_device_bound=math.nan,
                 hours_since_password_change=math.nan) == []
    assert evaluate_rules({}) == []


def test_night_new_payee_far_above_typical_steps_up():
    night = {"is_night": 1.0, "new_payee": 1.0, "amount": LIMITS.night_min_amount, "amount_to_typical": LIMITS.night_ratio}
    hits = evaluate_rules(QUIET | night)
    assert [h.code for h in hits] == ["R3_NIGHT_NEW_PAYEE"] and rules_decision(hits) == "step_up"
    assert codes(**night | {"amount_to_typical": LIMITS.night_ratio - 0.1}) == []
    assert codes(**night | {"is_night": 0.0}) == []
    assert codes(**night | {"amount": LIMITS.night_min_amount - 1}) == []


def test_new_payee_burst_counts_this_payment():
    below = LIMITS.new_payees_per_hour - 2
    assert codes(new_payee=1.0, new_payees_1h=below) == []
    assert codes(new_payee=1.0, new_payees_1h=below + 1) == ["R4_NEW_PAYEE_BURST"]
    assert codes(new_payee=0.0, new_payees_1h=below + 5) == []


def test_hold_beats_step_up():
    hits = evaluate_rules(QUIET | {"amount": 600_000.0, "new_payee": 1.0, "new_payees_1h": 5.0})
    assert rules_decision(hits) == "hold"
    assert strongest(["allow", "step_up"]) == "step_up" and strongest([]) == "allow"
