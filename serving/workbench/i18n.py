"""The workbench's labels in zh-CN and en, from `serving/workbench/web/i18n/<lang>.json` (the same keys in each)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

I18N_DIR = Path(__file__).parent / "web" / "i18n"
LANGS = ("en", "zh")
HTML_LANG = {"en": "en", "zh": "zh-CN"}


class Labels(dict[str, dict[str, str]]):
    """Group → key → label; `ui` holds the page's own words, the other groups name data values."""

    def of(self, group: str, value: object) -> str:
        """The label of a data value (a segment, a channel, ...), or the value itself when unnamed."""
        if value is None:
            return self["ui"]["none"]
        return self.get(group, {}).get(str(value), str(value))


@cache
def labels(lang: str) -> Labels:
    """Every label in `lang` (en or zh)."""
    if lang not in LANGS:
        raise ValueError(f"lang must be one of {', '.join(LANGS)}")
    return Labels(json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8")))
