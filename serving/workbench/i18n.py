"""The workbench's labels in zh-CN and en: the page's own words from `serving/workbench/web/i18n/<lang>.json`
(the same keys in each), data values (a segment, a channel, ...) from the glossary every text shares."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from models.explain import glossary
from models.explain.lang import Lang
from models.explain.risk import reason_book

I18N_DIR = Path(__file__).parent / "web" / "i18n"
LANGS: tuple[Lang, ...] = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-CN"}


class Labels(dict[str, dict[str, str]]):
    """Group → key → label (`ui` holds the page's own words), and `of` for data values, in `lang`;
    amounts in `currency` (the served portfolio's)."""

    def __init__(self, lang: Lang, groups: dict[str, dict[str, str]], currency: str = "CNY"):
        super().__init__(groups)
        self.lang, self.currency = lang, currency

    def of(self, group: str, value: object) -> str:
        """The words for a data value (`group` is a glossary group), or the value itself when unnamed."""
        if value is None:
            return self["ui"]["none"]
        return glossary.term(group, value, self.lang)

    def money(self, value: object) -> str:
        """An amount in the portfolio's currency for this language (zh 12.5万元, en ¥125,000)."""
        if value is None:
            return self["ui"]["none"]
        return glossary.money(float(value), self.lang, self.currency)  # type: ignore[arg-type]

    def feature(self, name: str) -> str:
        """A feature's name in words (the label its reason template reads a missing value with)."""
        return reason_book().template(name).label[self.lang].replace("{feature}", name)


@cache
def labels(lang: str, currency: str = "CNY") -> Labels:
    """Every label in `lang` (en or zh), amounts in `currency`."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}")
    return Labels(lang, json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8")), currency)
