"""Why an offer was made, in zh-CN and en, from the ranker's SHAP contributions for that offer.

Templates are keyed by ranker feature and filled with the customer's own values and the
product's topic ("近30天浏览房贷页面6次 / viewed mortgage pages 6 times in the last 30 days").
Only features that pushed this offer's score up become reasons.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from models.explain import glossary
from models.explain.lang import Lang

VERSION = "offer-reasons-v2"
_TEMPLATES: dict[str, tuple[str, str, str]] = {
    # feature: (code, zh, en); {v} the customer's value, {tz}/{te} the product's topic
    "page_views_on_topic_30d": ("INTENT_VIEWS", "近30天浏览{tz}页面{v}次", "viewed {te} pages {v} times in the last 30 days"),
    "searches_on_topic_30d": ("INTENT_SEARCH", "近30天搜索{tz}{v}次", "searched for {te} {v} times in the last 30 days"),
    "is_last_intent_topic": ("INTENT_NOW", "最近在看{tz}相关内容", "has just been looking at {te}"),
    "age_years": ("AGE_FIT", "{v}岁，正处于该产品的适用人生阶段", "at {v}, in the life stage this product suits"),
    "is_age_fit": ("AGE_FIT", "年龄符合产品要求", "age fits the product"),
    "risk_level_gap": ("RISK_FIT", "产品风险等级与客户风险承受能力匹配", "the product's risk level suits the customer's risk tolerance"),
    "risk_tolerance_level": ("RISK_FIT", "风险承受能力C{v}", "risk tolerance C{v}"),
    "aum_cny": ("WEALTH", "资产总额{m}", "total assets {m}"),
    "aum_over_min_amount_log": ("WEALTH", "资产充足，满足起购金额", "assets comfortably above the minimum amount"),
    "income_monthly_cny": ("INCOME", "月收入{m}", "monthly income {m}"),
    "category_balance_cny": ("BALANCE", "同类产品余额{m}", "{m} already in this product category"),
    "segment": ("SEGMENT", "客户分层：{s}", "customer segment: {s}"),
    "tenure_months": ("TENURE", "在本行开户{v}个月", "{v} months with the bank"),
    "logins_30d": ("ENGAGED", "近30天登录{v}次", "logged in {v} times in the last 30 days"),
    "products_held_count": ("HOLDINGS", "已持有{v}个产品", "holds {v} products"),
    "als_score": ("PEERS", "持仓相近的客户也常持有该产品", "customers with similar holdings often hold it too"),
    "als_score_rank": ("PEERS", "持仓相近的客户也常持有该产品", "customers with similar holdings often hold it too"),
}
# Product attributes say what the product is, not why it suits this customer: never a reason.
_NOT_REASONS = frozenset({"product_id", "category", "risk_level_num", "is_credit", "min_amount_cny",
                          "expected_yield_rate", "min_age_years", "max_age_years"})
_FALLBACK = ("PROFILE", "与客户的资产和需求相匹配", "matches the customer's assets and needs")
_DEFAULT_REASON = ("GENERAL", "本行热门产品", "a popular product at our bank")
HOLDS = "holds_"


def _value(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}"
    return str(value)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _text(feature: str, value: object, topic: str, lang: Lang, names: Mapping[str, str]) -> tuple[str, str] | None:
    """The reason a feature gives, or None when it cannot be said truthfully (a product the customer
    does not hold, a value nobody recorded)."""
    if feature.startswith(HOLDS):
        product = feature.removeprefix(HOLDS)
        if _missing(value) or not value:
            return None
        name = names.get(product, product)
        return "HOLDS", (f"已持有{name}，常与该产品搭配" if lang == "zh" else f"holds the {name}, often held together with it")
    code, zh, en = _TEMPLATES.get(feature, _FALLBACK)
    template = zh if lang == "zh" else en
    if _missing(value) and any(slot in template for slot in ("{v}", "{m}", "{s}")):
        return None
    money = glossary.money(float(value), lang) if "{m}" in template else ""  # type: ignore[arg-type]
    segment = glossary.term("segment", value, lang) if "{s}" in template else ""
    return code, template.format(v=_value(value), m=money, s=segment, tz=glossary.term("topic", topic, "zh"),
                                 te=glossary.term("topic", topic, "en"))


def offer_reasons(features: Sequence[str], shap: NDArray[np.float64], values: Mapping[str, object], topic: str,
                  lang: Lang, names: Mapping[str, str], peers: Callable[[], list[str]] | None = None,
                  k: int = 2) -> list[dict[str, str]]:
    """Up to `k` reasons (code, text) from the features that raised this offer's score most.

    `shap` holds one offer's SHAP values in `features` order; `values` maps a feature to the value
    printed in its text; `names` maps a product id to its name in `lang`. `peers` (asked only when the
    collaborative score is a reason) gives the names of the products the customer holds that explain
    it: "customers who hold X also hold this"."""
    reasons: list[dict[str, str]] = []
    for position in _descending_positive(shap):
        feature = features[position]
        if feature in _NOT_REASONS:
            continue
        said = _text(feature, values.get(feature), topic, lang, names)
        if said is None:
            continue
        code, text = said
        explained = peers() if code == "PEERS" and peers is not None else []
        if explained:
            held = ("、" if lang == "zh" else ", ").join(explained)
            text = (f"持有{held}的客户也常持有该产品" if lang == "zh"
                    else f"customers who hold the {held} often hold this too")
        if all(r["code"] != code for r in reasons):
            reasons.append({"code": code, "text": text})
        if len(reasons) == k:
            break
    return reasons or [{"code": _FALLBACK[0], "text": _FALLBACK[1] if lang == "zh" else _FALLBACK[2]}]


def _descending_positive(shap: NDArray[np.float64]) -> NDArray[np.intp]:
    """Positions of the positive values, largest first, ties in the order pandas' `sort_values(ascending=False)`
    gives them (its `nargsort`: quicksort of the reversed values, read backwards)."""
    positive = np.flatnonzero(shap > 0)
    reversed_values, reversed_positions = shap[positive][::-1], positive[::-1]
    return reversed_positions[reversed_values.argsort(kind="quicksort")][::-1]


def default_reason(lang: Lang) -> list[dict[str, str]]:
    """The reason given with the non-personalised default."""
    code, zh, en = _DEFAULT_REASON
    return [{"code": code, "text": zh if lang == "zh" else en}]
