"""Bar charts with labels too long for the chart still render, in bounded time (pygal's layout
never ended when the labels left the plot no width, and a chart's spec comes from its URL)."""

from __future__ import annotations

import threading

import pytest

from serving.workbench.charts import Bars, render

LONG = {"en": "transfers to other banks ¥0 in the last 90 days (outside the range the model was trained on) " * 2,
        "zh": "近90天转出他行金额0元（超出模型训练时的取值范围）" * 4}


@pytest.mark.parametrize("lang", sorted(LONG))
def test_a_label_wider_than_the_chart_is_shortened_and_the_chart_renders(lang: str) -> None:
    chart = Bars(title="What raises the risk", axis="Weight", lang=lang,  # type: ignore[arg-type]
                 labels=[LONG[lang][:200], "short"], values=[0.3, 0.1])
    drawn: list[bytes] = []
    worker = threading.Thread(target=lambda: drawn.append(render(chart)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert drawn, "the chart did not render within 20 s"
    svg = drawn[0].decode()
    assert "…" in svg and "short" in svg
