"""The subtle parts of the console, as units: customer ids, --lang, what counts as chatter, named
steps, and what third parties print turned into clean log records."""

from __future__ import annotations

import logging

import click
import pytest

from nbo.console import LangType, _LogStream, is_chatter, steps
from sources.ids import customer_id


@pytest.mark.parametrize(("typed", "read"), [
    ("42", "C00000042"), ("00000042", "C00000042"), ("C00000042", "C00000042"), ("c00000042", "C00000042"),
    (" 99999999 ", "C99999999"),
])
def test_customer_ids_read_as_the_contract_writes_them(typed: str, read: str) -> None:
    assert customer_id(typed) == read


@pytest.mark.parametrize("typed", ["0", "C42", "123456789", "Ｃ00000042", "４２", "C0000004２", "", "42a", "-42"])
def test_anything_else_is_not_a_customer_id(typed: str) -> None:
    with pytest.raises(ValueError, match="is not a customer id"):
        customer_id(typed)


@pytest.mark.parametrize(("typed", "lang"), [("zh", "zh"), ("zh-CN", "zh"), ("zh_cn", "zh"), ("ZH-cn", "zh"),
                                             ("en", "en"), ("EN", "en")])
def test_lang_accepts_zh_zh_cn_and_en(typed: str, lang: str) -> None:
    assert LangType().convert(typed, None, None) == lang


def test_lang_refuses_others_naming_what_it_takes() -> None:
    with pytest.raises(click.BadParameter, match="zh, zh-CN or en"):
        LangType().convert("zh-TW", None, None)


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_chatter_is_third_party_info_and_deprecations_only() -> None:
    assert is_chatter(_record("feast.infra.registry.registry", logging.INFO, "Registry cache expired, so refreshing"))
    assert is_chatter(_record("mlflow.pyfunc", logging.INFO, "Validating input example against model signature"))
    assert is_chatter(_record("py.warnings", logging.WARNING, "x.py:3: DeprecationWarning: old"))
    assert is_chatter(_record("py.warnings", logging.WARNING, "x.py:3: FutureWarning: soon"))
    assert not is_chatter(_record("py.warnings", logging.WARNING, "x.py:3: UserWarning: look"))
    assert not is_chatter(_record("feast.repo", logging.WARNING, "a real problem"))
    assert not is_chatter(_record("training.registry", logging.INFO, "model_registered"))


def test_named_steps_advance_to_the_step_named_even_with_a_prefix() -> None:
    with steps("retraining", ["features", "churn: fit", "churn: log", "delinquency: fit", "delinquency: log"]) as bar:
        assert (bar.done, bar.note) == (0, "features")
        bar.stage("fit")
        assert (bar.done, bar.note) == (1, "churn: fit")
        bar.stage("fit")  # the current step again: stays
        assert (bar.done, bar.note) == (1, "churn: fit")
        bar.stage("log")
        bar.stage("fit")  # the next one not yet reached
        assert (bar.done, bar.note) == (3, "delinquency: fit")
        bar.stage("something else")  # shown, not counted
        assert (bar.done, bar.note) == (3, "something else")
    assert bar.done == bar.total == 5


def test_printed_lines_become_debug_records_without_ansi(caplog: pytest.LogCaptureFixture) -> None:
    stream = _LogStream("third_party.stdout")
    with caplog.at_level(logging.DEBUG, logger="third_party.stdout"):
        stream.write("Materializing \x1b[1m\x1b[32m7\x1b[0m feature views\n\x1b[1mcustomer_profile\x1b[0m:\n 10%|█ \r")
        stream.write(" 100%|██████████|\n")
        stream.flush()
    assert [r.getMessage() for r in caplog.records] == [
        "Materializing 7 feature views", "customer_profile:", "10%|█", "100%|██████████|"]
    assert {r.levelno for r in caplog.records} == {logging.DEBUG}
