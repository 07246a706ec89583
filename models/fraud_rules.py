"""Plain hard-limit rules for payments: what a fraud team holds or steps up whatever the model says.

A rule reads the same feature dict the fraud model reads (`features.payments.counters.COUNTER_FEATURES`
+ `PROFILE_FEATURES`; the names it needs are the `*_FEATURE` constants below) and fires a decision,
`hold` or `step_up`, with a reason in zh and en. The limits are one dataclass, `RuleLimits`; each field
says what it means. A missing feature (absent or NaN) never fires a rule: a customer with no password
change on record has not changed it recently.

The rules (each a known fraud pattern of issue 24):
- `R1_AMOUNT_LIMIT` (hold): a single payment above `hold_amount`.
- `R2_TAKEOVER` (hold): a new device bound or the password changed within `takeover_hours`, to a new
  payee, for at least `takeover_amount` (account takeover).
- `R3_NIGHT_NEW_PAYEE` (step_up): at night, to a new payee, for at least `night_ratio` × the customer's
  typical amount and at least `night_min_amount`.
- `R4_NEW_PAYEE_BURST` (step_up): this payment makes at least `new_payees_per_hour` new payees in an
  hour (mule accounts paying out fast).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from models.explain.glossary import money
from models.explain.lang import LANGS, Lang

Decision = Literal["allow", "step_up", "hold"]
SEVERITY: dict[str, int] = {"allow": 0, "step_up": 1, "hold": 2}

AMOUNT_FEATURE = "amount"
NEW_PAYEE_FEATURE = "new_payee"
RELATIVE_AMOUNT_FEATURE = "amount_to_typical"
NEW_PAYEES_HOUR_FEATURE = "new_payees_1h"  # before this payment
NIGHT_FEATURE = "is_night"
PASSWORD_HOURS_FEATURE = "hours_since_password_change"
DEVICE_HOURS_FEATURE = "hours_since_device_bound"


@dataclass(frozen=True)
class RuleLimits:
    """The hard limits (amounts in the portfolio's currency, CNY in the demo)."""

    hold_amount: float = 500_000.0  # R1: a single payment above this is held
    takeover_hours: float = 24.0  # R2: a device bound or password changed this recently ...
    takeover_amount: float = 10_000.0  # ... then a new payee for at least this much: held
    night_ratio: float = 5.0  # R3: at night, a new payee, at least this many times the typical amount ...
    night_min_amount: float = 5_000.0  # ... and at least this much: stepped up
    new_payees_per_hour: int = 3  # R4: this payment makes this many new payees within an hour: stepped up


DEFAULT_LIMITS = RuleLimits()


@dataclass(frozen=True)
class RuleHit:
    """One rule that fired: its code, the decision it forces and why, in each language."""

    code: str
    decision: Decision
    text: dict[str, str]


def _value(features: Mapping[str, float], name: str) -> float:
    """A feature's value; NaN when absent or not recorded."""
    value = features.get(name)
    return math.nan if value is None else float(value)


def _flag(features: Mapping[str, float], name: str) -> bool:
    value = _value(features, name)
    return not math.isnan(value) and value >= 0.5


def _within(hours: float, limit: float) -> bool:
    return not math.isnan(hours) and 0 <= hours <= limit


def _texts(zh: str, en: str) -> dict[str, str]:
    return dict(zip(LANGS, (zh, en), strict=True))


def evaluate_rules(features: Mapping[str, float], limits: RuleLimits = DEFAULT_LIMITS,
                   currency: str = "CNY") -> list[RuleHit]:
    """The rules that fire on one payment's features, holds first."""
    amount = _value(features, AMOUNT_FEATURE)
    if math.isnan(amount):
        return []
    shown: dict[Lang, str] = {lang: money(amount, lang, currency) for lang in LANGS}
    new_payee = _flag(features, NEW_PAYEE_FEATURE)
    hits: list[RuleHit] = []
    if amount > limits.hold_amount:
        limit = {lang: money(limits.hold_amount, lang, currency) for lang in LANGS}
        hits.append(RuleHit("R1_AMOUNT_LIMIT", "hold", _texts(
            f"单笔转账{shown['zh']}，超过单笔限额{limit['zh']}",
            f"a single payment of {shown['en']}, above the limit of {limit['en']}")))
    password = _within(_value(features, PASSWORD_HOURS_FEATURE), limits.takeover_hours)
    device = _within(_value(features, DEVICE_HOURS_FEATURE), limits.takeover_hours)
    if (password or device) and new_payee and amount >= limits.takeover_amount:
        what = _texts("修改登录密码" if password and not device else "绑定新设备" if not password
                      else "绑定新设备并修改登录密码",
                      "the password was changed" if password and not device else "a new device was bound"
                      if not password else "a new device was bound and the password changed")
        hours = f"{limits.takeover_hours:g}"
        hits.append(RuleHit("R2_TAKEOVER", "hold", _texts(
            f"{hours}小时内{what['zh']}后，首次向新收款人转账{shown['zh']}",
            f"{what['en']} within {hours} hours, then {shown['en']} to a new payee")))
    ratio = _value(features, RELATIVE_AMOUNT_FEATURE)
    if (_flag(features, NIGHT_FEATURE) and new_payee and not math.isnan(ratio) and ratio >= limits.night_ratio
            and amount >= limits.night_min_amount):
        hits.append(RuleHit("R3_NIGHT_NEW_PAYEE", "step_up", _texts(
            f"夜间向新收款人转账{shown['zh']}，为该客户常见金额的{ratio:.0f}倍",
            f"{shown['en']} to a new payee at night, {ratio:.0f} times the customer's typical amount")))
    new_payees = _value(features, NEW_PAYEES_HOUR_FEATURE)
    if new_payee and not math.isnan(new_payees) and new_payees + 1 >= limits.new_payees_per_hour:
        count = int(new_payees) + 1
        hits.append(RuleHit("R4_NEW_PAYEE_BURST", "step_up", _texts(
            f"1小时内向{count}个新收款人转账",
            f"payments to {count} new payees within an hour")))
    return hits


def strongest(decisions: list[Decision]) -> Decision:
    """The strictest of some decisions (allow when none)."""
    return max(decisions, key=SEVERITY.__getitem__, default="allow")


def rules_decision(hits: list[RuleHit]) -> Decision:
    """What the rules alone decide: the strictest decision among the rules that fired."""
    return strongest([hit.decision for hit in hits])
