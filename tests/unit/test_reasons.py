"""Reason codes: only features that push the risk up, templates for every model feature, both languages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.repo.services import NOT_MODEL_FEATURES, SERVICE_VIEWS
from features.tables import ALL_TABLES
from models.explain.risk import (
    LANGS,
    format_values,
    reason_book,
    reason_columns,
    retention_actions,
    retention_table,
    top_contributors,
)


def test_top_contributors_keep_only_positive_ones_largest_first():
    contributions = np.array([[0.1, -0.5, 0.7, 0.0, 0.3],
                              [-0.1, -0.2, -0.3, -0.4, -0.5]])
    indices, is_reason = top_contributors(contributions, k=4)
    assert indices[0].tolist()[:3] == [2, 4, 0]
    assert is_reason[0].tolist() == [True, True, True, False]
    assert not is_reason[1].any()


def test_reason_columns_render_codes_and_text_in_each_language():
    features = pd.DataFrame({"utilization": [0.92], "missed_payments_12m": [2.0], "age_years": [40.0]})
    contributions = np.array([[0.8, 0.5, -0.2]])
    zh = reason_columns(features, contributions, k=4, lang="zh-CN")
    en = reason_columns(features, contributions, k=4, lang="en")
    book = reason_book()
    assert zh.loc[0, "reason_code_1"] == en.loc[0, "reason_code_1"] == book.template("utilization").code
    assert en.loc[0, "reason_1"] == "credit utilisation 92%"
    assert zh.loc[0, "reason_1"] == "额度使用率 92%"
    assert en.loc[0, "reason_2"] == "2 missed payments in 12 months"
    assert en.loc[0, "reason_code_3"] == "" and en.loc[0, "reason_3"] == ""


def _model_features() -> set[str]:
    tables = {t.name: t for t in ALL_TABLES}
    names = set()
    for service in ("churn_v1", "delinquency_v1"):
        for view in SERVICE_VIEWS[service]:
            skipped = set(NOT_MODEL_FEATURES.get(view, ()))
            names |= {c for c, kind in tables[view].columns.items() if kind != "str_list" and c not in skipped}
    return names


def test_every_risk_model_feature_has_its_own_template():
    book = reason_book()
    assert sorted(_model_features() - set(book.templates)) == []
    codes = [t.code for t in book.templates.values()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("lang", LANGS)
def test_every_template_renders(lang):
    for feature, template in reason_book().templates.items():
        assert template.text[lang].count("{value}") == 1
        text = template.render(feature, [3.0], lang)[0]
        assert text and "{" not in text


def test_every_driver_group_has_a_retention_action_in_both_languages():
    version, by_group, default = retention_table()
    assert version.startswith("retention-v")
    groups = {t.group for t in reason_book().templates.values()}
    assert groups - set(by_group) <= {"other"}
    actions = retention_actions(pd.Series([reason_book().template("logins_30d").code, "R999"]), "en")
    assert actions["action_id"].tolist() == [by_group["engagement"].action_id, default.action_id]
    assert all(a.text[lang] for a in [*by_group.values(), default] for lang in LANGS)


def test_values_are_formatted_and_missing_values_read_as_missing():
    assert format_values([0.925, float("nan")], "percent", "en") == ["92%", "missing"]
    assert format_values([None, 12345.6], "amount_cny", "zh-CN") == ["缺失", "¥12,346"]
    assert format_values([1.0, 0.0], "flag", "zh-CN") == ["是", "否"]
    assert format_values(pd.Series(["M", None], dtype="category"), "raw", "en") == ["M", "missing"]


@pytest.mark.parametrize("feature", ["utilization", "missed_payments_12m", "income_monthly_cny"])
def test_rendering_repeated_values_matches_formatting_each_value(feature):
    template = reason_book().template(feature)
    values = np.r_[np.random.default_rng(0).random(500) * 3, [np.nan] * 3, [0.5] * 4, [2.0] * 3]
    for lang in LANGS:
        prefix, suffix = template.text[lang].replace("{feature}", feature).split("{value}")
        expected = [prefix + shown + suffix for shown in format_values(values, template.value_format, lang)]
        assert template.render(feature, values, lang) == expected
