"""The HTML report of a recommender run: the hybrid beside every baseline, overall and by segment.

Figures are PNG files beside `report.html`, embedded in it too, so the report reads the same from
disk and as an MLflow artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure
from numpy.typing import NDArray

from evaluation import plots

COUNTS = ("lists_evaluated", "lists_total")


@dataclass(frozen=True)
class RankingReportInputs:
    """What one report shows: metrics by model (the lead model first) and, optionally, by segment."""

    title: str
    facts: dict[str, object]
    metrics: dict[str, dict[str, float]]
    roles: dict[str, str]
    metric_names: list[str]
    segments: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    segment_metric: str = "map_at_5"
    notes: list[str] = field(default_factory=list)
    contributions: NDArray[np.float64] | None = None
    features: pd.DataFrame | None = None



def comparison_figure(metrics: dict[str, dict[str, float]], names: list[str], title: str) -> Figure:
    """Grouped bars: one group per metric, one bar per model."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names) + 2), 4.2))
    width = 0.8 / max(len(metrics), 1)
    x = np.arange(len(names))
    for i, (model, values) in enumerate(metrics.items()):
        ax.bar(x + i * width, [values.get(n, np.nan) for n in names], width, label=model)
    ax.set_xticks(x + width * (len(metrics) - 1) / 2, names, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=2)
    return fig


def _figures(inputs: RankingReportInputs, out_dir: Path) -> list[plots.Rendered]:
    shown = [n for n in inputs.metric_names if n not in (*COUNTS, "coverage")]
    rendered = [plots.save_figure(comparison_figure(inputs.metrics, shown, "Test lists: every model"), out_dir,
                      "comparison.png", "Ranking metrics by model")]
    if inputs.segments:
        by_segment = {model: {s: m.get(model, {}).get(inputs.segment_metric, np.nan) for s, m in inputs.segments.items()}
                      for model in inputs.metrics}
        fig = comparison_figure(by_segment, list(inputs.segments), f"{inputs.segment_metric} by segment")
        rendered.append(plots.save_figure(fig, out_dir, "segments.png", f"{inputs.segment_metric} by customer segment"))
    if inputs.contributions is not None and inputs.features is not None:
        fig = plots.shap_summary_figure(inputs.contributions, inputs.features)
        rendered.append(plots.save_figure(fig, out_dir, "shap_summary.png", "SHAP summary of the hybrid ranker"))
    return rendered


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:.4f}"
    return str(value)


def write_ranking_report(inputs: RankingReportInputs, out_dir: Path) -> Path:
    """Write `report.html` and its PNG figures into `out_dir`; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=PackageLoader("evaluation", "templates"), autoescape=select_autoescape())
    env.filters["fmt"] = _fmt
    html = env.get_template("ranking_report.html").render(
        title=inputs.title, facts=inputs.facts, metrics=inputs.metrics, roles=inputs.roles,
        metric_names=inputs.metric_names, lead=next(iter(inputs.metrics)), notes=inputs.notes,
        segments=inputs.segments, segment_metric=inputs.segment_metric, figures=_figures(inputs, out_dir))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
