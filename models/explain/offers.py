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
from models.explain.risk import format_values

VERSION = "offer-reasons-v3"
_TEMPLATES: dict[str, tuple[str, str, str, str]] = {
    # feature: (code, value format as in models.explain.risk.format_values, zh, en);
    # {v} the customer's value, {tz}/{te} the product's topic
    "page_views_on_topic_30d": ("INTENT_VIEWS", "count", "近30天浏览{tz}页面{v}次",
                                "viewed {te} pages {v} times in the last 30 days"),
    "searches_on_topic_30d": ("INTENT_SEARCH", "count", "近30天搜索{tz}{v}次",
                              "searched for {te} {v} times in the last 30 days"),
    "is_last_intent_topic": ("INTENT_NOW", "raw", "最近在看{tz}相关内容", "has just been looking at {te}"),
    "age_years": ("AGE_FIT", "count", "{v}岁，正处于该产品的适用人生阶段", "at {v}, in the life stage this product suits"),
    "is_age_fit": ("AGE_FIT", "raw", "年龄符合产品要求", "age fits the product"),
    "years_to_max_age": ("AGE_FIT", "count", "距产品年龄上限还有{v}年", "{v} years within the product's age limit"),
    "risk_level_gap": ("RISK_FIT", "raw", "产品风险等级与客户风险承受能力匹配",
                       "the product's risk level suits the customer's risk tolerance"),
    "risk_tolerance_level": ("RISK_FIT", "count", "风险承受能力C{v}", "risk tolerance C{v}"),
    "aum_cny": ("WEALTH", "amount_cny", "资产总额{v}", "total assets {v}"),
    "aum_over_min_amount_log": ("WEALTH", "raw", "资产充足，满足起购金额", "assets comfortably above the minimum amount"),
    "inflow_cny_90d": ("WEALTH", "amount_cny", "近90天资金流入{v}", "{v} paid in over the last 90 days"),
    "income_monthly_cny": ("INCOME", "amount_cny", "月收入{v}", "monthly income {v}"),
    "category_balance_cny": ("BALANCE", "amount_cny", "同类产品余额{v}", "{v} already in this product category"),
    "utilization": ("BALANCE", "percent", "额度使用率{v}", "credit utilisation {v}"),
    "segment": ("SEGMENT", "term:segment", "客户分层：{v}", "customer segment: {v}"),
    "occupation": ("PROFILE", "term:occupation", "职业：{v}", "occupation: {v}"),
    "city_tier": ("PROFILE", "term:city_tier", "所在城市：{v}", "lives in a {v}"),
    "tenure_months": ("TENURE", "count", "在本行开户{v}个月", "{v} months with the bank"),
    "logins_30d": ("ENGAGED", "count", "近30天登录{v}次", "logged in {v} times in the last 30 days"),
    "page_views_30d": ("ENGAGED", "count", "近30天浏览本行页面{v}次", "viewed the bank's pages {v} times in the last 30 days"),
    "searches_30d": ("ENGAGED", "count", "近30天在本行搜索{v}次", "searched the bank's site {v} times in the last 30 days"),
    "clicks_30d": ("ENGAGED", "count", "近30天点击本行内容{v}次", "clicked the bank's content {v} times in the last 30 days"),
    "days_since_last_login": ("ENGAGED", "days", "{v}天前登录过", "last logged in {v} days ago"),
    "txn_count_90d": ("ENGAGED", "count", "近90天交易{v}笔", "{v} transactions in the last 90 days"),
    "products_held_count": ("HOLDINGS", "count", "已持有{v}个产品", "holds {v} products"),
    "als_score": ("PEERS", "raw", "持仓相近的客户也常持有该产品", "customers with similar holdings often hold it too"),
    "als_score_rank": ("PEERS", "raw", "持仓相近的客户也常持有该产品", "customers with similar holdings often hold it too"),
}
# Product attributes say what the product is, not why it suits this customer, and a bank does not offer
# a product because of a customer's gender: never a reason.
_NOT_REASONS = frozenset({"product_id", "category", "risk_level_num", "is_credit", "min_amount_cny",
                          "expected_yield_rate", "min_age_years", "max_age_years", "gender"})
_FALLBACK = ("PROFILE", "raw", "与客户的资产和需求相匹配", "matches the customer's assets and needs")
_DEFAULT_REASON = ("GENERAL", "本行热门产品", "a popular product at our bank")
HOLDS = "holds_"
# Value formats whose zero means "none": a count, an amount, a share, a number of days.
_QUANTITIES = frozenset({"count", "amount_cny", "percent", "days"})


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
    code, value_format, zh, en = _TEMPLATES.get(feature, _FALLBACK)
    template = zh if lang == "zh" else en
    if "{v}" not in template:
        shown = ""
    elif _missing(value) or (value_format in _QUANTITIES and not value):
        return None  # nothing recorded, or nothing at all ("viewed the pages 0 times") is no reason to offer
    else:
        shown = str(format_values([value], value_format, lang)[0])
    return code, template.format(v=shown, tz=glossary.term("topic", topic, "zh"), te=glossary.term("topic", topic, "en"))


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
    return reasons or [{"code": _FALLBACK[0], "text": _FALLBACK[2] if lang == "zh" else _FALLBACK[3]}]


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
