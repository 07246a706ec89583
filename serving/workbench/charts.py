"""The workbench's charts: pygal SVG, drawn from a spec the page puts in the chart's URL.

The page computes every number once and writes each chart as `<img src=".../chart.svg?spec=...">`,
the spec being base64url JSON. An SVG loaded as an image is its own document: its inline
styles are not the page's, so the page keeps its strict `default-src 'self'` CSP, and the
image cannot run script. The chart route keeps no state, so any worker can draw any chart, and
the chart shows exactly the numbers the page shows.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from typing import Annotated, Literal

import pygal
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pygal.style import Style

from models.explain.glossary import axis_money
from models.explain.lang import Lang
from nbo.errors import ContractViolation

Text = Annotated[str, Field(max_length=200)]
MAX_VALUE = 1e15  # beyond any amount of the page; pygal overflows near ±1e308 (its axis spans the range)
Value = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_VALUE, le=MAX_VALUE)]
FONTS = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Noto Sans', sans-serif"
STYLE = Style(font_family=FONTS, background="#ffffff", plot_background="#ffffff", foreground="#1f2933",
              foreground_strong="#1f2933", foreground_subtle="#9aa5b1", label_font_size=13,
              major_label_font_size=13, legend_font_size=13, title_font_size=15, value_font_size=12,
              colors=("#c2410c", "#1d4ed8", "#15803d", "#7c3aed", "#0e7490", "#a16207", "#be185d",
                      "#4d7c0f", "#475569", "#b91c1c"))


MARGIN = 20  # pygal's default margin around the plot, in px
LABEL_SHARE = 0.55  # at most this share of a bar chart's width goes to its labels
LATIN_EM = 0.6  # pygal's estimate of a character's width, in font sizes: right for Latin, half a CJK character


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: Text
    axis: Text = ""
    lang: Lang = "en"


class Bars(_Spec):
    """Horizontal bars, one per label, largest first: how much each reason weighs, drawn without numbers
    (its lengths compare the reasons; the numbers themselves are log-odds, which an RM does not read)."""

    kind: Literal["bars"] = "bars"
    labels: Annotated[list[Text], Field(min_length=1, max_length=8)]
    values: Annotated[list[Value], Field(min_length=1, max_length=8)]


class Series(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Text
    values: Annotated[list[Value | None], Field(max_length=240)]


class Lines(_Spec):
    """Lines over time, one per series; the value axis in the bank's units (万/亿 on zh, k/M on en)."""

    kind: Literal["lines"] = "lines"
    x_labels: Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=240)]
    series: Annotated[list[Series], Field(min_length=1, max_length=12)]


Chart = Annotated[Bars | Lines, Field(discriminator="kind")]


class _Envelope(BaseModel):
    chart: Chart


def encode(chart: Bars | Lines) -> str:
    """The spec as it goes in the chart's URL."""
    raw = json.dumps(chart.model_dump(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(spec: str) -> Bars | Lines:
    """The chart in a URL's spec (ContractViolation if it is not one: bad base64 or JSON, JSON nested
    too deep, a value that is not a finite number within ±MAX_VALUE)."""
    try:
        raw = base64.urlsafe_b64decode(spec + "=" * (-len(spec) % 4))
        return _Envelope.model_validate({"chart": json.loads(raw)}).chart
    except (ValueError, RecursionError, ValidationError) as err:
        raise ContractViolation(f"not a chart spec: {type(err).__name__}") from err


def _width(text: str, font_size: int) -> float:
    """A text's drawn width in px: wide (CJK) characters one font size, others pygal's estimate."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else LATIN_EM for ch in text) * font_size


def _fitted(label: str, budget: float, font_size: int) -> str:
    """The label, shortened with an ellipsis to at most `budget` px: pygal gives a bar chart's plot
    what its labels leave, and with none left its layout never ends (the page lists every reason in
    full; the chart's label is a pointer to it)."""
    if _width(label, font_size) <= budget:
        return label
    while label and _width(label + "…", font_size) > budget:
        label = label[:-1]
    return label.rstrip() + "…"


def _left_margin(labels: list[str], font_size: int) -> int:
    """The left margin that keeps right-aligned labels inside the chart: pygal leaves room for
    LATIN_EM per character, so CJK labels would start left of the image."""
    shortfall = max(_width(t, font_size) for t in labels) - max(len(t) for t in labels) * LATIN_EM * font_size
    return MARGIN + max(0, round(shortfall))


def _half_widest(labels: list[str], font_size: int) -> int:
    """Half the widest label: the last x label is centred on the plot's right edge."""
    return round(max((_width(t, font_size) for t in labels), default=0) / 2)


def render(chart: Bars | Lines, narrow: bool = False) -> bytes:
    """The chart as a standalone SVG document; `narrow` for a phone (bars labelled by their rank).

    pygal always embeds its config in a `<script>`; it never runs: an SVG shown as an image runs no
    script, and opened on its own it gets the service's CSP, which allows no inline script."""
    wide = 420 if narrow else (960 if isinstance(chart, Lines) else 640)
    common = {"style": STYLE, "js": [], "title": chart.title, "width": wide,
              "disable_xml_declaration": False}
    if isinstance(chart, Bars):
        budget = LABEL_SHARE * wide - 2 * MARGIN
        labels = ([str(i + 1) for i in range(len(chart.labels))] if narrow
                  else [_fitted(label, budget, STYLE.label_font_size) for label in chart.labels])
        graph = pygal.HorizontalBar(**common, height=90 + 50 * len(chart.labels), show_legend=False,
                                    x_title=chart.axis, truncate_label=-1, show_x_labels=False,
                                    margin_left=_left_margin(labels, STYLE.label_font_size))
        graph.x_labels = labels[::-1]  # pygal draws the first bar at the bottom: the top reason on top
        graph.add(chart.axis, chart.values[::-1])
    else:
        graph = pygal.Line(**common, height=300 if narrow else 320, legend_at_bottom=True,
                           legend_at_bottom_columns=2 if narrow else 5, truncate_label=-1, truncate_legend=-1,
                           show_minor_x_labels=False,
                           x_labels_major_every=max(1, len(chart.x_labels) // (3 if narrow else 8)),
                           value_formatter=lambda v: axis_money(v, chart.lang), dots_size=2,
                           margin_right=MARGIN + _half_widest(chart.x_labels, STYLE.label_font_size))
        graph.x_labels = chart.x_labels
        for series in chart.series:
            graph.add(series.name, series.values)
    return graph.render(is_unicode=False)
