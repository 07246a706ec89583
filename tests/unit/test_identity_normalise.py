"""Normalised identifiers and the deterministic rules, on hand-made values."""

from __future__ import annotations

import pandas as pd
import pytest

from identity import normalise
from identity.io import RECORD_COLUMNS
from identity.rules import rule_pairs


@pytest.mark.parametrize("written", ["张伟", "Zhāng Wěi", "zhang3 wei3", "ZHANG WEI", "ZhangWei", "zhangwei", "张 伟"])
def test_one_name_however_it_is_written(written):
    assert normalise.name(written) == normalise.Name("zhang", "wei", "zhangwei")


def test_name_parts_compound_and_surname_readings():
    assert normalise.name("欧阳娜娜") == normalise.Name("ouyang", "nana", "ouyangnana")
    assert normalise.name("曾永玲").family == "zeng"  # not ceng
    assert normalise.name("Wei Zhang") == normalise.Name("wei", "zhang", "weizhang")  # swapped stays swapped
    assert normalise.name(None, "吕", "小明") == normalise.Name("lv", "xiaoming", "lvxiaoming")
    assert normalise.name("Lü Xiaoming").full == "lvxiaoming"


def test_id_number_checksum_and_birth_date():
    assert normalise.id_number("11010519491231002x") == normalise.IdNumber("11010519491231002X", True, "1949-12-31")
    assert normalise.id_number("110105194912310021").valid is False  # wrong check character
    assert normalise.id_number("1101051949123").valid is False


def test_dates_phones_addresses():
    assert normalise.birth_date("19900102") == normalise.birth_date("1990-01-02") == "1990-01-02"
    with pytest.raises(ValueError, match="not a date"):
        normalise.birth_date("1990-02-30")
    assert normalise.phone("+86 138-0013-8000") == normalise.phone("008613800138000") == "13800138000"
    assert normalise.address("北京市 朝阳区１号，") == "北京市朝阳区1号"
    assert normalise.postcode("100 020") == "100020" and normalise.postcode("1000") is None


def _records(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{c: None for c in RECORD_COLUMNS} | r for r in rows])
    frame["uid"] = frame["system"] + ":" + frame["record_id"]
    return frame


def test_a_family_phone_ties_nobody_and_a_personal_phone_ties_its_owner():
    records = _records([
        {"system": "core", "record_id": "1", "name_fg": "liwei", "family": "li", "given": "wei", "phone_hash": "P"},
        {"system": "core", "record_id": "2", "name_fg": "wangfang", "family": "wang", "given": "fang",
         "phone_hash": "P"},
        {"system": "app", "record_id": "3", "phone_hash": "P"},  # nothing but the family phone
        {"system": "core", "record_id": "4", "name_fg": "zhaolei", "family": "zhao", "given": "lei",
         "phone_hash": "Q"},
        {"system": "crm", "record_id": "5", "name_fg": "leizhao", "family": "lei", "given": "zhao",
         "phone_hash": "Q"},
        {"system": "app", "record_id": "6", "phone_hash": "Q"},
    ])
    pairs = rule_pairs(records)
    tied = {frozenset((f"{a}:{b}", f"{c}:{d}")) for a, b, c, d in
            pairs[["system_l", "record_id_l", "system_r", "record_id_r"]].itertuples(index=False)}
    assert tied == {frozenset(("core:4", "crm:5")), frozenset(("core:4", "app:6"))}
    assert (pairs["match_probability"] == 1.0).all()


def test_only_a_valid_id_number_ties_and_new_limits_the_pairs():
    records = _records([
        {"system": "core", "record_id": "1", "id_hash": "A", "id_valid": True},
        {"system": "web", "record_id": "2", "id_hash": "A", "id_valid": True},
        {"system": "core", "record_id": "3", "id_hash": "B", "id_valid": False},
        {"system": "web", "record_id": "4", "id_hash": "B", "id_valid": False},
    ])
    assert rule_pairs(records)[["record_id_l", "record_id_r", "evidence"]].values.tolist() == [
        ["1", "2", "rule:id_number"]]
    assert rule_pairs(records, pd.Series([True, True, False, False])).shape[0] == 1
    assert rule_pairs(records, pd.Series([False, False, True, True])).empty
