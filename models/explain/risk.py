"""Reason codes from LightGBM `pred_contrib`, in zh and en, and retention actions.

The templates and the retention-action table are versioned JSON files beside this module, so a
business reader can review them; a test checks that every model feature has a template.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from models.explain import glossary
from models.explain.lang import LANGS, Lang

_VALUE_FORMATS = {
    "percent": "{:.0%}".format, "percent_points": "{:+.0f}%".format, "count": "{:,.0f}".format, "days": "{:,.0f}".format, "ratio": "{:.2f}".format,
}
TERM = "term:"  # a category value, in the words of the glossary group named after the colon


def _shown(value_format: str, lang: Lang) -> Callable[[object], str]:
    if value_format in _VALUE_FORMATS:
        return _VALUE_FORMATS[value_format]
    if value_format == "amount_cny":
        return lambda v: glossary.money(float(v), lang)  # type: ignore[arg-type]
    if value_format == "flag":
        return lambda v: glossary.flag(v, lang)
    if value_format.startswith(TERM):
        return lambda v: glossary.term(value_format.removeprefix(TERM), v, lang)
    return str


def format_values(values: ArrayLike, value_format: str, lang: Lang) -> list[str | None]:
    """Human form of feature values (percent, percent_points, amount_cny, count, days, ratio, flag, term:GROUP or raw
    text); None where the value is missing."""
    array = np.asarray(values, dtype=object)
    missing = pd.isna(array)
    shown = _shown(value_format, lang)
    return [None if gone else shown(v) for v, gone in zip(array, missing, strict=True)]


@dataclass(frozen=True)
class ReasonTemplate:
    """How one feature reads as a reason: code, driver group, value format, text per language and the
    feature's name per language (a missing value reads "name: no record")."""

    code: str
    group: str
    value_format: str
    text: dict[str, str]
    label: dict[str, str]

    def render(self, feature: str, values: ArrayLike, lang: Lang) -> list[str]:
        """The reason text for each value (the template has one `{value}` slot)."""
        prefix, suffix = self.text[lang].replace("{feature}", feature).split("{value}")
        colon = "：" if lang == "zh" else ": "
        unknown = self.label[lang].replace("{feature}", feature) + colon + glossary.missing(lang)
        array = np.asarray(values)

        def texts(shown: list[str | None]) -> list[str]:
            return [unknown if s is None else prefix + s + suffix for s in shown]

        if array.dtype.kind not in "fiu":
            return texts(format_values(array, self.value_format, lang))
        codes, uniques = pd.factorize(array, use_na_sentinel=False)  # numbers: format each distinct value once
        return np.array(texts(format_values(uniques, self.value_format, lang)), dtype=object)[codes].tolist()


@dataclass(frozen=True)
class ReasonBook:
    """All reason templates of one version, with a fallback for features without one."""

    version: str
    templates: dict[str, ReasonTemplate]
    fallback: ReasonTemplate

    def template(self, feature: str) -> ReasonTemplate:
        return self.templates.get(feature, self.fallback)


def _template(entry: dict[str, str]) -> ReasonTemplate:
    return ReasonTemplate(entry["code"], entry["group"], entry.get("format", "raw"),
                          {lang: entry[lang] for lang in LANGS}, entry["label"])


@cache
def reason_book() -> ReasonBook:
    """Load `reasons.json` (the versioned reason templates)."""
    data = json.loads(resources.files("models.explain").joinpath("reasons.json").read_text(encoding="utf-8"))
    templates = {name: _template(entry) for name, entry in data["features"].items()}
    return ReasonBook(data["version"], templates, _template(data["fallback"]))


def top_contributors(contributions: NDArray[np.float64], k: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Per row, the column indices of the `k` largest positive contributions, largest first.

    Returns (indices, is_reason): `is_reason` is False where fewer than `k` features push the
    score up, so a reason is only ever a feature that raises the risk.
    """
    k = min(k, contributions.shape[1])
    part = np.argpartition(-contributions, k - 1, axis=1)[:, :k]
    part_values = np.take_along_axis(contributions, part, axis=1)
    order = np.argsort(-part_values, axis=1, kind="stable")
    indices = np.take_along_axis(part, order, axis=1)
    return indices, np.take_along_axis(contributions, indices, axis=1) > 0


Texts = NDArray[np.object_]


def reason_columns(features: Sequence[str], shown: Callable[[int], NDArray], contributions: NDArray[np.float64],
                   k: int, lang: Lang) -> tuple[Texts, Texts]:
    """Reason codes and texts (in `lang`), each n × k; empty where no reason.

    `shown(j)` gives the values of feature `j` as a reason prints them (one per row)."""
    book = reason_book()
    indices, is_reason = top_contributors(contributions, k)
    n = len(contributions)
    codes, texts = np.full((n, indices.shape[1]), "", dtype=object), np.full((n, indices.shape[1]), "", dtype=object)
    chosen = np.where(is_reason, indices, -1)
    for column in np.unique(chosen[chosen >= 0]):
        rows, ranks = np.nonzero(chosen == column)
        feature = features[column]
        template = book.template(feature)
        codes[rows, ranks] = template.code
        texts[rows, ranks] = template.render(feature, shown(int(column))[rows], lang)
    return codes, texts


@dataclass(frozen=True)
class RetentionAction:
    """A suggested retention action for a churn driver group."""

    action_id: str
    text: dict[str, str]


@cache
def retention_table() -> tuple[str, dict[str, RetentionAction], RetentionAction]:
    """Load `retention_actions.json`: (version, action by driver group, default action)."""
    data = json.loads(resources.files("models.explain").joinpath("retention_actions.json").read_text(encoding="utf-8"))
    action = lambda e: RetentionAction(e["action_id"], {lang: e[lang] for lang in LANGS})  # noqa: E731
    return data["version"], {g: action(e) for g, e in data["by_group"].items()}, action(data["default"])


def retention_actions(top_codes: Sequence[str], lang: Lang) -> tuple[Texts, Texts]:
    """Action ids and texts: the action for the group of each customer's top churn reason."""
    _, by_group, default = retention_table()
    group_of_code = {t.code: t.group for t in reason_book().templates.values()}
    chosen = [by_group.get(group_of_code.get(code, ""), default) for code in top_codes]
    return (np.array([a.action_id for a in chosen], dtype=object),
            np.array([a.text[lang] for a in chosen], dtype=object))
