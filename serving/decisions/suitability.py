"""Suitability and eligibility rules (DESIGN §7): plain, versioned, tested code.

Each rule looks at one customer and one product and returns allow, or block with a rule id and a
message in zh-CN and en. Boundaries: an assessment exactly 12 months old is still valid; a customer
aged exactly 65 is "65 and over"; a PD exactly at the limit is allowed (blocked only above it).

Contact fatigue lives here too: `fatigue` (shown N times in 7 days without acceptance) and
`declined` (the customer turned the product down within `decline_days`: an offer dismissed in the
app or on the workbench, or an RM's logged call with outcome "declined" naming the product;
the audit store's `declined_products` reads both). A declined call without a product is history only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

RULESET_VERSION = "2026.12.2"
INVESTMENT_CATEGORIES = frozenset({"wealth", "fund", "gold", "fx"})
_TOLERANCE_MAX_RISK = {"C1": 1, "C2": 2, "C3": 3, "C4": 4, "C5": 5}


@dataclass(frozen=True)
class Product:
    """The product attributes the rules read."""

    product_id: str
    category: str
    risk_level: str
    is_credit: bool
    min_age: int
    max_age: int

    @property
    def risk(self) -> int:
        return int(self.risk_level[1])


@dataclass(frozen=True)
class CustomerFacts:
    """What the rules know about one customer at decision time."""

    birth_date: date | None
    risk_tolerance: str | None
    risk_assessed_at: date | None
    marketing_consent: bool
    days_past_due: int
    pd: float | None
    held: frozenset[str]
    shown_7d: dict[str, int]
    accepted_7d: frozenset[str]
    closed: bool = False  # the customer has closed their relationship with the bank
    declined: frozenset[str] = frozenset()  # products turned down within Policy.decline_days


@dataclass(frozen=True)
class Policy:
    """The limits the rules apply; configurable per deployment."""

    pd_limit: float = 0.10
    fatigue_shows: int = 3
    assessment_valid_months: int = 12
    senior_age: int = 65
    decline_days: int = 30


@dataclass(frozen=True)
class Verdict:
    """Allow, or block with the rule that fired and why."""

    allowed: bool
    rule_id: str | None = None
    message_zh: str | None = None
    message_en: str | None = None

    def message(self, lang: str) -> str | None:
        return self.message_zh if lang == "zh" else self.message_en


ALLOW = Verdict(True)


def age_on(birth: date, day: date) -> int:
    """Age in completed years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def add_months(day: date, months: int) -> date:
    """The same day `months` later (clamped to the month's last day)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    days_in = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
               31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return date(year, month, min(day.day, days_in))


Rule = Callable[[CustomerFacts, Product, date, Policy], Verdict]


def account_closed(c: CustomerFacts, _p: Product, _today: date, _policy: Policy) -> Verdict:
    if c.closed:
        return Verdict(False, "account_closed", "客户已销户，不再推荐产品", "the customer has closed their account: no offers")
    return ALLOW


def already_held(c: CustomerFacts, p: Product, _today: date, _policy: Policy) -> Verdict:
    if p.product_id in c.held:
        return Verdict(False, "already_held", "客户已持有该产品", "the customer already holds this product")
    return ALLOW


def risk_match(c: CustomerFacts, p: Product, _today: date, _policy: Policy) -> Verdict:
    allowed = _TOLERANCE_MAX_RISK.get(c.risk_tolerance or "", 1)
    if p.risk > allowed:
        return Verdict(False, "risk_match",
                       f"产品风险等级{p.risk_level}高于客户风险承受能力{c.risk_tolerance or '（未测评）'}",
                       f"product risk {p.risk_level} is above the customer's risk tolerance "
                       f"{c.risk_tolerance or '(not assessed)'}")
    return ALLOW


def assessment_current(c: CustomerFacts, p: Product, today: date, policy: Policy) -> Verdict:
    if p.category not in INVESTMENT_CATEGORIES or p.risk <= 1:
        return ALLOW
    assessed = c.risk_assessed_at
    if assessed is None or today > add_months(assessed, policy.assessment_valid_months):
        return Verdict(False, "assessment_expired", "风险评估已超过12个月，需重新评估",
                       "the risk assessment is more than 12 months old and must be renewed")
    return ALLOW


def senior_high_risk(c: CustomerFacts, p: Product, today: date, policy: Policy) -> Verdict:
    unknown = c.birth_date is None
    if p.risk >= 4 and (unknown or age_on(c.birth_date, today) >= policy.senior_age):
        return Verdict(False, "senior_high_risk", "65岁及以上客户不推荐R4/R5产品",
                       "R4/R5 products are not offered to customers aged 65 and over")
    return ALLOW


def age_range(c: CustomerFacts, p: Product, today: date, _policy: Policy) -> Verdict:
    if c.birth_date is None:
        if (p.min_age, p.max_age) == (0, 120):
            return ALLOW
        return Verdict(False, "age_range", "客户年龄未知，无法确认产品年龄要求",
                       "the customer's age is unknown, so the product's age limits cannot be checked")
    age = age_on(c.birth_date, today)
    if not p.min_age <= age <= p.max_age:
        return Verdict(False, "age_range", f"客户年龄{age}岁不在产品适用范围{p.min_age}-{p.max_age}岁内",
                       f"age {age} is outside the product's range {p.min_age}-{p.max_age}")
    return ALLOW


def credit_arrears(c: CustomerFacts, p: Product, _today: date, _policy: Policy) -> Verdict:
    if p.is_credit and c.days_past_due > 0:
        return Verdict(False, "credit_arrears", f"客户当前逾期{c.days_past_due}天，不推荐信贷产品",
                       f"the customer is {c.days_past_due} days past due: no credit offers")
    return ALLOW


def credit_pd_limit(c: CustomerFacts, p: Product, _today: date, policy: Policy) -> Verdict:
    if p.is_credit and (c.pd is None or c.pd > policy.pd_limit):
        if c.pd is None:
            return Verdict(False, "credit_pd_limit", "违约概率未知，暂不推荐信贷产品",
                           "the probability of default is unknown: no credit offers")
        return Verdict(False, "credit_pd_limit", f"违约概率{c.pd:.1%}，高于信贷准入上限{policy.pd_limit:.0%}",
                       f"probability of default {c.pd:.1%} is above the credit limit {policy.pd_limit:.0%}")
    return ALLOW


def fatigue(c: CustomerFacts, p: Product, _today: date, policy: Policy) -> Verdict:
    shows = c.shown_7d.get(p.product_id, 0)
    if shows >= policy.fatigue_shows and p.product_id not in c.accepted_7d:
        return Verdict(False, "fatigue", f"近7天已展示{shows}次未被接受",
                       f"shown {shows} times in the last 7 days without acceptance")
    return ALLOW


def declined(c: CustomerFacts, p: Product, _today: date, policy: Policy) -> Verdict:
    if p.product_id in c.declined:
        return Verdict(False, "declined", f"客户近{policy.decline_days}天内已明确拒绝该产品，暂不再推荐",
                       f"the customer turned this product down within the last {policy.decline_days} days")
    return ALLOW


RULES: tuple[Rule, ...] = (account_closed, already_held, age_range, senior_high_risk, risk_match, assessment_current,
                           credit_arrears, credit_pd_limit, declined, fatigue)


def check(c: CustomerFacts, p: Product, today: date, policy: Policy) -> Verdict:
    """Return the first rule that blocks `p` for `c`, or allow."""
    for rule in RULES:
        verdict = rule(c, p, today, policy)
        if not verdict.allowed:
            return verdict
    return ALLOW


def is_personalised(c: CustomerFacts) -> bool:
    """Without marketing consent the customer gets the non-personalised default (PIPL art. 24)."""
    return c.marketing_consent
