"""The HTML evaluation report of one run: facts, a metrics table and the plots, in one file.

Figures are written as PNG files beside `report.html` and embedded in it, so the report reads the
same from disk and as an MLflow artifact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from numpy.typing import ArrayLike, NDArray

from evaluation import plots


@dataclass(frozen=True)
class ReportInputs:
    """What one report shows. `curves` are (labels, scores) on the test holdout by legend label."""

    title: str
    facts: dict[str, object]
    metrics: dict[str, dict[str, float]]
    curves: plots.Curves
    score_samples: dict[str, ArrayLike]
    score_label: str
    contributions: NDArray[np.float64] | None = None
    features: pd.DataFrame | None = None
    metric_order: list[str] = field(default_factory=list)



def _figures(inputs: ReportInputs, out_dir: Path) -> list[plots.Rendered]:
    rendered = [
        plots.save_figure(plots.roc_figure(inputs.curves), out_dir, "roc.png", "ROC curve"),
        plots.save_figure(plots.pr_figure(inputs.curves), out_dir, "pr.png", "Precision–recall curve"),
        plots.save_figure(plots.reliability_figure(inputs.curves), out_dir, "reliability.png", "Reliability (calibration)"),
        plots.save_figure(plots.lift_figure(inputs.curves), out_dir, "lift.png", "Lift by decile"),
        plots.save_figure(plots.distribution_figure(inputs.score_samples, inputs.score_label), out_dir,
              "score_distribution.png", "Score distribution"),
    ]
    if inputs.contributions is not None and inputs.features is not None:
        fig = plots.shap_summary_figure(inputs.contributions, inputs.features)
        rendered.append(plots.save_figure(fig, out_dir, "shap_summary.png", "SHAP summary"))
    return rendered


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4f}"
    return str(value)


def write_report(inputs: ReportInputs, out_dir: Path) -> Path:
    """Write `report.html` and its PNG figures into `out_dir`; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = Environment(loader=PackageLoader("evaluation", "templates"), autoescape=select_autoescape())
    env.filters["fmt"] = _fmt
    names = inputs.metric_order or sorted({n for m in inputs.metrics.values() for n in m})
    html = env.get_template("report.html").render(
        title=inputs.title, facts=inputs.facts, metrics=inputs.metrics, metric_columns=list(inputs.metrics),
        metric_names=names, figures=_figures(inputs, out_dir))
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
