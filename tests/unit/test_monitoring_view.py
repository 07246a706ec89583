"""The monitoring page's chart builders and role filter on small reports of the documented shapes
(`/work/briefs` interfaces: drift, outcomes, alias history, control lift)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from evaluation.drift import ACT, INVESTIGATE
from serving.workbench.charts import Bars, Lines, decode, encode, render
from serving.workbench.i18n import labels
from serving.workbench.monitoring import (
    auc_chart,
    history_chart,
    history_rows,
    lift_chart,
    monitoring_view,
    psi_chart,
    worst_features,
)
from serving.workbench.monitoring_reports import ReportCache


def _feature(name: str, csi: float) -> dict:
    return {"feature": name, "csi": csi, "p_value": 0.01, "verdict": "stable", "missing_share": 0.0,
            "out_of_range_share": 0.02}


def _drift_entry(model: str, version: str, month: str, psi: float, features: list[dict]) -> dict:
    return {"model": model, "portfolio": "demo", "version": version, "month": month, "n": 120,
            "score": {"psi": psi, "p_value": 0.2, "verdict": "stable"}, "features": features, "verdict": "stable"}


DRIFT = {"rule": "psi rule", "models": [
    _drift_entry("nbo-churn", "3", "2026-10", 0.02, [_feature("a", 0.01), _feature("b", 0.30)]),
    _drift_entry("nbo-delinquency", "2", "2026-10", 0.05, [_feature("income", 0.2)]),
    _drift_entry("nbo-churn", "3", "2026-11", 0.12, [_feature("a", 0.45), *(_feature(f"f{i}", 0.1 * i) for i in range(6))]),
    _drift_entry("nbo-churn.acme", "1", "2026-11", 0.30, []),
]}
OUTCOMES = {"models": [
    {"model": "nbo-churn", "portfolio": "demo", "outcome": "churn_90d", "development": {"roc_auc": 0.81, "ks": 0.4},
     "months": [{"month": "2026-08", "n": 50, "positives": 5, "matured": True, "roc_auc": 0.78, "ks": 0.35, "bands": []},
                {"month": "2026-09", "n": 60, "positives": 6, "matured": True, "roc_auc": 0.75, "ks": 0.3, "bands": []},
                {"month": "2026-11", "n": 70, "positives": 0, "matured": False, "roc_auc": None, "ks": None, "bands": []}]},
    {"model": "nbo-delinquency", "portfolio": "demo", "outcome": "dpd30_12m", "development": {"roc_auc": None, "ks": None},
     "months": [{"month": "2026-11", "n": 70, "positives": 0, "matured": False, "roc_auc": None, "ks": None, "bands": []}]},
]}


def _event(model: str, version: str, at: datetime, alias: str = "champion", action: str = "promote") -> dict:
    return {"event_id": f"{model}-{version}-{alias}", "model": model, "portfolio": "demo", "alias": alias,
            "version": version, "previous_version": None, "action": action, "by": "ds:alice", "at": at,
            "reason": "better AUC", "forced": False, "evidence": {}}


HISTORY = [  # newest first
    _event("nbo-delinquency", "2", datetime(2026, 12, 3, 9, tzinfo=UTC), action="reload"),
    _event("nbo-churn", "4", datetime(2026, 12, 2, 9, tzinfo=UTC), alias="challenger"),
    _event("nbo-churn", "3", datetime(2026, 12, 1, 9, tzinfo=UTC)),
    _event("nbo-delinquency", "1", datetime(2026, 11, 30, 9, tzinfo=UTC), action="train"),
]
LIFT = {"acceptance": {"personalised": 0.12, "control": 0.08, "lift": 0.04, "lift_ci95": [0.01, 0.07],
                       "p_value": 0.01, "significant": True},
        "value": {"personalised_per_offer_cny": 30.0, "control_per_offer_cny": 20.0, "lift_cny": 10.0,
                  "lift_ci95": [-2.0, 22.0], "significant": False}, "test": "z"}
REPORTS = {"drift": DRIFT, "outcomes": OUTCOMES, "history": HISTORY, "control_lift": LIFT}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_psi_chart_has_a_line_per_model_version_and_the_two_thresholds(lang: str) -> None:
    words = labels(lang)
    chart = psi_chart(DRIFT, words)
    assert isinstance(chart, Lines) and chart.x_labels == ["2026-10", "2026-11"]
    by_name = {s.name: s.values for s in chart.series}
    churn = words["monitoring"]["model_churn"]
    assert by_name[f"{churn} v3"] == [0.02, 0.12]
    assert by_name[f"{words['monitoring']['model_delinquency']} v2"] == [0.05, None]
    assert by_name[words["monitoring"]["threshold_investigate"]] == [INVESTIGATE] * 2
    assert by_name[words["monitoring"]["threshold_act"]] == [ACT] * 2
    assert any(words["monitoring"]["portfolio"] in name and "acme" in name for name in by_name)
    assert decode(encode(chart)) == chart and render(chart).startswith(b"<?xml")


def test_no_served_score_means_no_psi_chart() -> None:
    assert psi_chart({"rule": "", "models": []}, labels("en")) is None


def test_the_worst_features_are_the_latest_months_highest_csi_and_the_rm_does_not_see_the_credit_models() -> None:
    risk = {(g["model"], g["version"]): g for g in worst_features(DRIFT, "risk", n=3)}
    churn = risk[("nbo-churn", "3")]
    assert churn["month"] == "2026-11" and [f["feature"] for f in churn["features"]] == ["f5", "a", "f4"]
    assert [f["feature"] for f in risk[("nbo-delinquency", "2")]["features"]] == ["income"]
    rm = {(g["model"], g["version"]): g for g in worst_features(DRIFT, "rm", n=3)}
    assert rm[("nbo-delinquency", "2")]["features"] == [] and rm[("nbo-delinquency", "2")]["withheld"]
    assert rm[("nbo-churn", "3")] == churn


def test_the_auc_chart_shows_matured_months_beside_the_development_auc() -> None:
    words = labels("en")
    chart = auc_chart(OUTCOMES, words)
    assert isinstance(chart, Lines) and chart.x_labels == ["2026-08", "2026-09"]
    churn = words["monitoring"]["model_churn"]
    assert {s.name: s.values for s in chart.series} == {
        churn: [0.78, 0.75], words["monitoring"]["development_series"].format(model=churn): [0.81, 0.81]}


def test_no_matured_outcome_means_no_auc_chart() -> None:
    pending = {"models": [OUTCOMES["models"][1]]}
    assert auc_chart(pending, labels("zh")) is None


def test_the_history_chart_follows_the_champion_of_each_model_oldest_first() -> None:
    words = labels("en")
    chart = history_chart(HISTORY, words)
    assert isinstance(chart, Lines)
    assert chart.x_labels == ["2026-11-30 09:00", "2026-12-01 09:00", "2026-12-03 09:00"]
    assert {s.name: s.values for s in chart.series} == {
        words["monitoring"]["model_churn"]: [None, 3.0, 3.0],
        words["monitoring"]["model_delinquency"]: [1.0, 1.0, 2.0]}
    assert history_chart([HISTORY[1]], words) is None  # a challenger change only: no champion line
    kept = _event("nbo-churn", "5", datetime(2026, 12, 4, 9, tzinfo=UTC)) | {"evidence": {"promoted": False}}
    assert history_chart([kept, *HISTORY], words) == chart  # evaluated, not promoted: the champion did not move
    assert history_rows([kept], "risk")[0]["action_key"] == "kept"


def test_the_rm_sees_the_credit_models_changes_without_who_why_and_forced() -> None:
    rm = history_rows(HISTORY, "rm")
    assert [r["withheld"] for r in rm] == [True, False, False, True]
    assert not any(r["withheld"] for r in history_rows(HISTORY, "risk"))
    assert len(history_rows(HISTORY, "risk", limit=2)) == 2


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_lift_chart_compares_personalised_and_control_acceptance(lang: str) -> None:
    words = labels(lang)
    chart = lift_chart(LIFT, words)
    assert isinstance(chart, Bars) and chart.values == [0.12, 0.08]
    assert chart.labels == [words["monitoring"]["personalised"], words["monitoring"]["control"]]
    assert lift_chart(None, words) is None


def test_the_view_carries_every_section_for_both_roles() -> None:
    for role in ("rm", "risk"):
        view = monitoring_view(REPORTS, role, labels("en"))
        assert set(view) == {"drift", "outcomes", "history", "lift"}
        assert all(section["chart"] is not None for section in view.values())
    empty = monitoring_view({"drift": {"rule": "", "models": []}, "outcomes": {"models": []}, "history": [],
                             "control_lift": None}, "risk", labels("zh"))
    assert all(section["chart"] is None for section in empty.values())


def test_the_report_cache_computes_once_within_its_ttl() -> None:
    calls: list[int] = []
    cache = ReportCache(ttl_s=60)
    first, at = cache.get(lambda: calls.append(1) or len(calls))
    again, at_again = cache.get(lambda: calls.append(1) or len(calls))
    assert (first, again, at_again) == (1, 1, at) and len(calls) == 1
    expired = ReportCache(ttl_s=0)
    assert [expired.get(lambda: calls.append(1) or len(calls))[0] for _ in range(2)] == [2, 3]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("role", ["risk", "rm"])
def test_the_page_renders_every_section_in_words_of_its_language(role: str, lang: str) -> None:
    from serving.routers.workbench import _templates
    from serving.workbench.monitoring import model_label

    words = labels(lang)
    view = monitoring_view(REPORTS, role, words)
    names = {e["model"] for e in DRIFT["models"]} | {o["model"] for o in OUTCOMES["models"]}
    html = _templates().env.get_template("monitoring.html").render(
        t=words, lang=lang, html_lang=lang, switch_url="/", role=role, m=view,
        charts={k: encode(s["chart"]) for k, s in view.items()}, computed_at=datetime(2026, 12, 7, tzinfo=UTC),
        labels_of={n: model_label(n, words) for n in names | {e["model"] for e in HISTORY}})
    w = words["monitoring"]
    for key in ("drift", "outcomes", "history", "lift", "verdict_stable", "action_promote", "significant",
                "not_significant"):
        assert w[key] in html, key
    assert html.count('class="chart"') == 4
    assert html.count(w["features_withheld"]) == (1 if role == "rm" else 0)  # the credit model's inputs
    assert html.count(f'colspan="3">{w["withheld"]}') == (2 if role == "rm" else 0)  # its two changes
    text = re.sub(r"<[^>]+>", " ", html)
    assert not [k for k in w if "_" in k and k in text]  # no raw key
    if lang == "zh":
        english = labels("en")["monitoring"]
        assert not [v for k, v in english.items() if v != w[k] and v in text and len(v) > 3]


def test_a_busy_psi_chart_still_fits_the_chart_url() -> None:
    months = [f"{2024 + i // 12}-{i % 12 + 1:02d}" for i in range(36)]
    entries = [_drift_entry(m, str(v), month, 0.123456789, []) for m in ("nbo-churn", "nbo-delinquency")
               for v in range(8) for month in months]
    chart = psi_chart({"rule": "", "models": entries}, labels("zh"))
    assert chart is not None and len(chart.x_labels) == 24 and len(chart.series) == 12
    assert len(encode(chart)) <= 8000  # the chart route's limit on `spec`
