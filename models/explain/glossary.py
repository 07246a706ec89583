"""Codes and amounts in words: `glossary.json` turns a category value (occupation, channel, city tier,
segment, ...) into zh or en, and `money` writes an amount in its portfolio's currency as a bank does
(CNY: zh 元, 万元, 亿元, en ¥; other currencies: zh 12.5万欧元, en €125,000 or KES 125,000).

Every text nbo shows an RM or a customer translates values here, so one word is changed in one place.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources

from models.explain.lang import Lang

WAN, YI = 1e4, 1e8


@cache
def _glossary() -> dict:
    return json.loads(resources.files("models.explain").joinpath("glossary.json").read_text(encoding="utf-8"))


def groups() -> dict[str, dict[str, dict[str, str]]]:
    """Group → code → {zh, en}."""
    return _glossary()["terms"]


def term(group: str, code: object, lang: Lang) -> str:
    """The words for `code` in `group` (the code itself when the glossary does not name it).

    Numeric codes read as their integer (city tier 3.0 → "3")."""
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    entry = groups().get(group, {}).get(str(code))
    return str(code) if entry is None else entry[lang]


def missing(lang: Lang) -> str:
    """What a value nobody recorded reads as."""
    return _glossary()["missing"][lang]


def flag(value: object, lang: Lang) -> str:
    """Yes or no."""
    return _glossary()["flag"][lang][bool(value)]


def _trim(number: float, digits: int) -> str:
    return f"{number:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{number:,.0f}"


def currency(code: str, lang: Lang) -> tuple[str, str]:
    """How an amount in ISO 4217 `code` is written in `lang`: (prefix, suffix) around the number.

    zh puts the currency's name after the number (元, 欧元; an unnamed code after a space); en puts
    its symbol before the number ($, €; an unnamed code and a space)."""
    names = _glossary()["currencies"].get(code)
    if lang == "zh":
        return "", names["zh"] if names else f" {code}"
    return (names["en"], "") if names else (f"{code} ", "")


def money(value: float, lang: Lang, currency_code: str = "CNY") -> str:
    """An amount: zh 8,500元 / 12.5万元 / 1.25亿元 (12.5万欧元); en ¥12,500 (€12,500, KES 12,500)."""
    if math.isnan(value):
        return missing(lang)
    prefix, suffix = currency(currency_code, lang)
    if lang == "en":
        return f"-{prefix}{-value:,.0f}" if value < 0 else f"{prefix}{value:,.0f}"
    size = abs(value)
    if size >= YI:
        return f"{_trim(value / YI, 2)}亿{suffix}"
    if size >= WAN:
        return f"{_trim(value / WAN, 1 if size < 100 * WAN else 0)}万{suffix}"
    return f"{value:,.0f}{suffix}"


def axis_money(value: float, lang: Lang) -> str:
    """A chart's axis label for an amount: zh 5000 / 10万 / 1.2亿; en 260k / 1.2M."""
    size = abs(value)
    steps = ((YI, "亿"), (WAN, "万")) if lang == "zh" else ((1e6, "M"), (1e3, "k"))
    for limit, suffix in steps:
        if size >= limit:
            return f"{_trim(value / limit, 0 if size >= 10 * limit else 1)}{suffix}"
    return f"{value:.3g}"
