"""Reason codes from LightGBM `pred_contrib`, in zh and en, and retention actions.

The templates and the retention-action table are versioned JSON files beside this module, so a
business reader can review them; a test checks that every model feature has a template.

A template describes a feature computed from the bank's own canonical data. A feature computed from
a column the bank sent under its own name (mapped onto a canonical column, an extra attribute, or a
feature without a template) reads in the `source` words instead: the column's name and value. Of
features that read one source value (`InputProfile.groups`) only the strongest becomes a reason; a
value the model never saw in training (an unseen category) never becomes one, and a value outside
the development range says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from models.explain import glossary
from models.explain.inputs import InputProfile, as_sent
from models.explain.lang import LANGS, Lang

_VALUE_FORMATS = {
    "percent": "{:.0%}".format, "percent_points": "{:+.0f}%".format, "count": "{:,.0f}".format, "days": "{:,.0f}".format, "ratio": "{:.2f}".format,
}
TERM = "term:"  # a category value, in the words of the glossary group named after the colon


def _shown(value_format: str, lang: Lang, currency: str) -> Callable[[object], str]:
    if value_format in _VALUE_FORMATS:
        return _VALUE_FORMATS[value_format]
    if value_format == "amount_cny":
        return lambda v: glossary.money(float(v), lang, currency)  # type: ignore[arg-type]
    if value_format == "source":
        return as_sent
    if value_format == "flag":
        return lambda v: glossary.flag(v, lang)
    if value_format.startswith(TERM):
        return lambda v: glossary.term(value_format.removeprefix(TERM), v, lang)
    return str


def format_values(values: ArrayLike, value_format: str, lang: Lang, currency: str = "CNY") -> list[str | None]:
    """Human form of feature values (percent, percent_points, amount_cny (in `currency`), count, days, ratio,
    flag, term:GROUP, source (as the bank's column holds it) or raw text); None where the value is missing."""
    array = np.asarray(values, dtype=object)
    missing = pd.isna(array)
    shown = _shown(value_format, lang, currency)
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

    def render(self, feature: str, values: ArrayLike, lang: Lang, currency: str = "CNY") -> list[str]:
        """The reason text for each value (the template has one `{value}` slot); amounts in `currency`."""
        prefix, suffix = self.text[lang].replace("{feature}", feature).split("{value}")
        colon = "：" if lang == "zh" else ": "
        unknown = self.label[lang].replace("{feature}", feature) + colon + glossary.missing(lang)

        def texts(distinct: NDArray) -> list[str]:
            shown = format_values(distinct, self.value_format, lang, currency)
            return [unknown if s is None else prefix + s + suffix for s in shown]

        return each_distinct(values, texts)


def each_distinct(values: ArrayLike, texts: Callable[[NDArray], list[str]]) -> list[str]:
    """`texts(values)`, numbers written once per distinct value (a portfolio repeats them)."""
    array = np.asarray(values)
    if array.dtype.kind not in "fiu":
        return texts(array)
    codes, uniques = pd.factorize(array, use_na_sentinel=False)
    return np.array(texts(uniques), dtype=object)[codes].tolist()


@dataclass(frozen=True)
class SourceWords:
    """How a feature computed from a bank's source column reads: that column's value, a feature
    computed from it, or no value; several columns joined; the code prefix before the column's name."""

    code_prefix: str
    value: dict[str, str]
    computed: dict[str, str]
    missing: dict[str, str]
    joiner: dict[str, str]

    def render(self, sources: Sequence[str], feature: str | None, shown: list[str | None], lang: Lang) -> list[str]:
        """Texts for the shown values of `sources` (`feature`: the feature computed from them, None when
        its value is theirs)."""
        source = self.joiner[lang].join(sources)
        said = self.value[lang] if feature is None else self.computed[lang].replace("{feature}", feature)
        absent = self.missing[lang].replace("{source}", source)
        said = said.replace("{source}", source)
        return [absent if s is None else said.replace("{value}", s) for s in shown]


@dataclass(frozen=True)
class ReasonBook:
    """All reason templates of one version, with a fallback for features without one, the words of
    a source column's reasons and the note on a value beyond the development range."""

    version: str
    templates: dict[str, ReasonTemplate]
    fallback: ReasonTemplate
    source: SourceWords
    beyond_range: dict[str, str]

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
    words = data["source"]
    source = SourceWords(words["code_prefix"], words["value"], words["computed"], words["missing"], words["joiner"])
    return ReasonBook(data["version"], templates, _template(data["fallback"]), source, data["beyond_range"])


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


def strongest_of_groups(contributions: NDArray[np.float64], groups: Sequence[NDArray[np.int64]],
                        excluded: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
    """The contributions a reason may be chosen from: per row, only the strongest feature of each
    group (features reading one source value) keeps its contribution, and no excluded cell (a value
    the model never saw) does; the others become -inf."""
    out = np.where(excluded, -np.inf, contributions) if excluded is not None else contributions.copy()
    rows = np.arange(len(out))
    for members in groups:
        part = out[:, members]
        best = np.argmax(part, axis=1)
        out[:, members] = -np.inf
        out[rows, members[best]] = part[rows, best]
    return out


Texts = NDArray[np.object_]


@dataclass(frozen=True)
class ReasonContext:
    """What a model's reasons read besides its contributions: its inputs' origins and groups, the
    portfolio's currency, the cells never to cite (unseen values) and those beyond the range."""

    inputs: InputProfile = field(default_factory=InputProfile)
    currency: str = "CNY"
    excluded: NDArray[np.bool_] | None = None
    beyond: NDArray[np.bool_] | None = None


def _texts(book: ReasonBook, features: Sequence[str], context: ReasonContext, column: int, cited: int,
           values: NDArray, lang: Lang) -> tuple[str, list[str]]:
    """Code and texts of feature `column` as a reason, citing the values of feature `cited`."""
    feature = features[column]
    origin = context.inputs.origin(feature)
    if feature in book.templates and not origin.sources:
        template = book.templates[feature]
        return template.code, template.render(feature, values, lang, context.currency)
    sources = origin.sources or (feature,)
    value_format = "amount_cny" if book.template(features[cited]).value_format == "amount_cny" else "source"
    computed = None if (cited != column or origin.direct or not origin.sources) else feature

    def texts(distinct: NDArray) -> list[str]:
        shown = format_values(distinct, value_format, lang, context.currency)
        return book.source.render(sources, computed, shown, lang)

    return book.source.code_prefix + "+".join(sources), each_distinct(values, texts)


def reason_columns(features: Sequence[str], shown: Callable[[int], NDArray], contributions: NDArray[np.float64],
                   k: int, lang: Lang, context: ReasonContext | None = None) -> tuple[Texts, Texts]:
    """Reason codes and texts (in `lang`), each n × k; empty where no reason.

    `shown(j)` gives the values of feature `j` as a reason prints them (one per row); `context`
    (default: templates only, CNY) the origins, groups, currency and flagged cells."""
    book = reason_book()
    context = context or ReasonContext()
    names = list(features)
    eligible = strongest_of_groups(contributions, context.inputs.group_indices(names), context.excluded)
    indices, is_reason = top_contributors(eligible, k)
    n = len(contributions)
    codes, texts = np.full((n, indices.shape[1]), "", dtype=object), np.full((n, indices.shape[1]), "", dtype=object)
    chosen = np.where(is_reason, indices, -1)
    cited = context.inputs.representatives(names)
    for column in np.unique(chosen[chosen >= 0]):
        rows, ranks = np.nonzero(chosen == column)
        code, said = _texts(book, names, context, int(column), cited[column], shown(cited[column])[rows], lang)
        beyond = None if context.beyond is None else context.beyond[rows, column] | context.beyond[rows, cited[column]]
        if beyond is not None and beyond.any():
            note = book.beyond_range[lang]
            said = [t + note if out else t for t, out in zip(said, beyond, strict=True)]
        codes[rows, ranks] = code
        texts[rows, ranks] = said
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
