"""The HTML evaluation report of one run: facts, a metrics table and the plots, in one file.

Figures are written as PNG files beside `report.html` and embedded in it, so the report reads the
same from disk and as an MLflow artifact.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure
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


@dataclass(frozen=True)
class _Rendered:
    file: str
    caption: str
    png_base64: str


def _save(fig: Figure, out_dir: Path, file: str, caption: str) -> _Rendered:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    (out_dir / file).write_bytes(buffer.getvalue())
    return _Rendered(file, caption, base64.b64encode(buffer.getvalue()).decode("ascii"))


def _figures(inputs: ReportInputs, out_dir: Path) -> list[_Rendered]:
    rendered = [
        _save(plots.roc_figure(inputs.curves), out_dir, "roc.png", "ROC curve"),
        _save(plots.pr_figure(inputs.curves), out_dir, "pr.png", "Precision–recall curve"),
        _save(plots.reliability_figure(inputs.curves), out_dir, "reliability.png", "Reliability (calibration)"),
        _save(plots.lift_figure(inputs.curves), out_dir, "lift.png", "Lift by decile"),
        _save(plots.distribution_figure(inputs.score_samples, inputs.score_label), out_dir,
              "score_distribution.png", "Score distribution"),
    ]
    if inputs.contributions is not None and inputs.features is not None:
        fig = plots.shap_summary_figure(inputs.contributions, inputs.features)
        rendered.append(_save(fig, out_dir, "shap_summary.png", "SHAP summary"))
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
