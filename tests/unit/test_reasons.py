"""Reason codes: only features that push the risk up, templates for every model feature, both languages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.repo.services import NOT_MODEL_FEATURES, SERVICE_VIEWS
from features.tables import ALL_TABLES
from models.explain.lang import LANGS
from models.explain.offers import offer_reasons
from models.explain.risk import (
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
    features = ["utilization", "missed_payments_12m", "age_years"]
    values = np.array([[0.92, 2.0, 40.0]])
    contributions = np.array([[0.8, 0.5, -0.2]])
    zh_codes, zh = reason_columns(features, lambda j: values[:, j], contributions, k=4, lang="zh")
    en_codes, en = reason_columns(features, lambda j: values[:, j], contributions, k=4, lang="en")
    book = reason_book()
    assert zh_codes.shape == en.shape == (1, 3)
    assert zh_codes[0, 0] == en_codes[0, 0] == book.template("utilization").code
    assert en[0, 0] == "credit utilisation 92%"
    assert zh[0, 0] == "额度使用率：92%"
    assert en[0, 1] == "2 missed payments in 12 months"
    assert en_codes[0, 2] == "" and en[0, 2] == ""


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
    action_ids, texts = retention_actions([reason_book().template("logins_30d").code, "R999"], "en")
    assert action_ids.tolist() == [by_group["engagement"].action_id, default.action_id]
    assert texts.tolist() == [by_group["engagement"].text["en"], default.text["en"]]
    assert all(a.text[lang] for a in [*by_group.values(), default] for lang in LANGS)


def test_values_are_formatted_and_missing_values_are_none():
    assert format_values([0.925, float("nan")], "percent", "en") == ["92%", None]
    assert format_values([None, 12345.6, 8500.0, 1_250_000.0], "amount_cny", "zh") == [
        None, "1.2万元", "8,500元", "125万元"]
    assert format_values([12345.6, -800.0], "amount_cny", "en") == ["¥12,346", "-¥800"]
    assert format_values([1.0, 0.0], "flag", "zh") == ["是", "否"]
    assert format_values(pd.Series(["M", None], dtype="category"), "raw", "en") == ["M", None]


def test_category_values_read_in_words_and_missing_values_name_the_feature():
    book = reason_book()
    assert book.template("occupation").render("occupation", np.array(["employee"], dtype=object), "zh") == [
        "职业：企业职员"]
    assert book.template("preferred_channel").render("preferred_channel", np.array(["phone"], dtype=object),
                                                     "zh") == ["偏好渠道：电话"]
    assert book.template("city_tier").render("city_tier", [3.0], "zh") == ["所在城市：三线城市"]
    assert book.template("city_tier").render("city_tier", [3.0], "en") == ["lives in a tier-3 city"]
    assert book.template("credit_limit_cny").render("credit_limit_cny", [np.nan], "zh") == ["授信额度：暂无记录"]
    assert book.template("credit_limit_cny").render("credit_limit_cny", [np.nan], "en") == ["credit limit: no record"]


@pytest.mark.parametrize("lang", LANGS)
def test_every_template_reads_a_missing_value_without_a_slot_or_a_code(lang):
    for feature, template in reason_book().templates.items():
        text = template.render(feature, [np.nan], lang)[0]
        assert "{" not in text and "_" not in text


@pytest.mark.parametrize("feature", ["utilization", "missed_payments_12m", "income_monthly_cny"])
def test_rendering_repeated_values_matches_formatting_each_value(feature):
    template = reason_book().template(feature)
    values = np.r_[np.random.default_rng(0).random(500) * 3, [np.nan] * 3, [0.5] * 4, [2.0] * 3]
    for lang in LANGS:
        prefix, suffix = template.text[lang].replace("{feature}", feature).split("{value}")
        unknown = template.render(feature, [np.nan], lang)[0]
        expected = [unknown if shown is None else prefix + shown + suffix
                    for shown in format_values(values, template.value_format, lang)]
        assert template.render(feature, values, lang) == expected


def test_offer_reasons_say_only_what_is_true_in_words():
    features = ["holds_FUND_BOND", "gender", "holds_DEP_SAVINGS", "occupation", "city_tier", "als_score"]
    values = {"holds_FUND_BOND": 0.0, "gender": "F", "holds_DEP_SAVINGS": 1.0, "occupation": "employee",
              "city_tier": 3.0, "als_score": 0.4}
    shap = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    names = {"FUND_BOND": "债券基金", "DEP_SAVINGS": "活期储蓄"}
    reasons = offer_reasons(features, shap, values, "fund", "zh", names, lambda: ["活期储蓄"], k=4)
    # not held (holds_FUND_BOND = 0) and gender are never reasons; codes and values read in words
    assert reasons == [{"code": "HOLDS", "text": "已持有活期储蓄，常与该产品搭配"},
                       {"code": "PROFILE", "text": "职业：企业职员"},
                       {"code": "PEERS", "text": "持有活期储蓄的客户也常持有该产品"}]
    en = offer_reasons(features, shap, values, "fund", "en", {"DEP_SAVINGS": "Savings account"}, lambda: [], k=4)
    assert [r["text"] for r in en] == ["holds the Savings account, often held together with it",
                                       "occupation: company employee",
                                       "customers with similar holdings often hold it too"]
    assert offer_reasons(["aum_cny"], np.array([1.0]), {"aum_cny": 356_000.0}, "fund", "zh", {}) == [
        {"code": "WEALTH", "text": "资产总额35.6万元"}]
    assert offer_reasons(["aum_cny"], np.array([1.0]), {"aum_cny": None}, "fund", "en", {}) == [
        {"code": "PROFILE", "text": "matches the customer's assets and needs"}]


def test_a_zero_count_or_amount_is_never_a_reason_to_offer():
    """"Viewed the bank's pages 0 times" may raise a score, but an RM cannot say it as a reason."""
    features = ["page_views_30d", "category_balance_cny", "logins_30d", "tenure_months"]
    values = {"page_views_30d": 0.0, "category_balance_cny": 0.0, "logins_30d": 3.0, "tenure_months": 26.0}
    shap = np.array([0.9, 0.8, 0.7, 0.6])
    assert offer_reasons(features, shap, values, "fund", "zh", {}) == [
        {"code": "ENGAGED", "text": "近30天登录3次"}, {"code": "TENURE", "text": "在本行开户26个月"}]
