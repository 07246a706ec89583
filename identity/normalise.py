"""Normalised identifiers: names as toneless pinyin (family and given parts apart), dates, phones,
resident ID numbers (GB 11643 checksum), addresses and postcodes. Pure functions of one value."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from pypinyin import lazy_pinyin

# Two-character surnames, so 欧阳娜娜 splits as 欧阳 + 娜娜 (single-character surnames are the rule).
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文",
                     "司徒", "夏侯", "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台", "万俟", "闻人")
# Common surnames, to split pinyin written without spaces ("zhangwei" -> zhang + wei).
_COMMON_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
                    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
# Surnames read otherwise than the character's common reading (曾 is zeng as a surname, not ceng).
SURNAME_READINGS = {"曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "查": "zha", "区": "ou",
                    "乐": "yue", "覃": "qin", "缪": "miao", "盖": "ge", "翟": "zhai", "柏": "bai", "秘": "bi",
                    "召": "shao", "薄": "bo", "曲": "qu", "沈": "shen", "石": "shi", "华": "hua", "任": "ren",
                    "长孙": "zhangsun", "尉迟": "yuchi", "万俟": "moqi", "能": "nai", "员": "yun", "种": "chong"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_HAN = re.compile(r"[\u4e00-\u9fff]")
_UMLAUT = str.maketrans({c: "v" for c in "üǖǘǚǜÜǕǗǙǛ"})


class Name(NamedTuple):
    """A name as toneless lower-case pinyin; family/given are None when the parts cannot be told apart."""

    family: str | None
    given: str | None
    full: str | None  # family + given, or the whole name when it could not be split


class IdNumber(NamedTuple):
    """An 18-character resident ID number, whether its check character is right, and the birth date in it."""

    value: str
    valid: bool
    birth_date: str | None


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def pinyin(text: str) -> str:
    """Toneless lower-case pinyin without spaces: 张伟, "Zhāng Wěi", "zhang3 wei3" and "ZHANGWEI" all give zhangwei."""
    if _HAN.search(text):
        text = "".join(lazy_pinyin(text))
    text = unicodedata.normalize("NFKD", text.translate(_UMLAUT))
    return "".join(c for c in text.lower() if "a" <= c <= "z")


def surname_pinyin(text: str) -> str:
    """pinyin() of a family name, with the surname readings of characters that have several."""
    return SURNAME_READINGS.get(text.strip()) or pinyin(text)


@lru_cache(maxsize=1)
def _surname_pinyins() -> tuple[str, ...]:
    names = {surname_pinyin(s) for s in COMPOUND_SURNAMES} | {surname_pinyin(s) for s in _COMMON_SURNAMES}
    return tuple(sorted(names, key=len, reverse=True))


@lru_cache(maxsize=200_000)
def name(full_name: str | None, family_name: str | None = None, given_name: str | None = None) -> Name:
    """Split and transliterate a name. Separate family/given columns win over the full name."""
    if not _blank(family_name) or not _blank(given_name):
        family = None if _blank(family_name) else surname_pinyin(str(family_name)) or None
        given = None if _blank(given_name) else pinyin(str(given_name)) or None
        return Name(family, given, (family or "") + (given or "") or None)
    if _blank(full_name):
        return Name(None, None, None)
    text = unicodedata.normalize("NFKC", str(full_name)).strip()
    if _HAN.search(text):
        chars = "".join(_HAN.findall(text))
        cut = 2 if chars[:2] in COMPOUND_SURNAMES else 1
        return _parts(surname_pinyin(chars[:cut]), pinyin(chars[cut:]))
    tokens = [t for t in re.split(r"[\s,.·\-_]+", text) if t]
    if len(tokens) == 1 and re.fullmatch(r"(?:[A-Z][a-z\u00c0-\u024f\d]+){2,}", tokens[0]):
        tokens = re.findall(r"[A-Z][a-z\u00c0-\u024f\d]+", tokens[0])  # "ZhangWei"
    if len(tokens) > 1:
        return _parts(pinyin(tokens[0]), pinyin("".join(tokens[1:])))
    whole = pinyin(tokens[0]) if tokens else ""
    for surname in _surname_pinyins():
        if whole.startswith(surname) and len(whole) > len(surname) + 1:
            return _parts(surname, whole[len(surname):])
    return Name(None, None, whole or None)


def _parts(family: str, given: str) -> Name:
    if not family or not given:
        return Name(None, None, (family + given) or None)
    return Name(family, given, family + given)


def birth_date(value: object) -> str | None:
    """YYYY-MM-DD from YYYY-MM-DD, YYYYMMDD or a date; None when blank; ValueError when not a date."""
    if _blank(value):
        return None
    if isinstance(value, dt.date):
        return value.isoformat()[:10]
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})-?(\d{2})-?(\d{2})", text)
    if not match:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)")
    try:
        return dt.date(*map(int, match.groups())).isoformat()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or YYYYMMDD)") from None


def phone(value: object) -> str | None:
    """Digits only, the +86 / 0086 country code removed; None when no digits are left."""
    if _blank(value):
        return None
    digits = re.sub(r"\D", "", str(value))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            digits = digits[len(prefix):]
    return digits or None


def id_number(value: object) -> IdNumber | None:
    """An ID number upper-cased without spaces, its GB 11643 checksum validity and embedded birth date."""
    if _blank(value):
        return None
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", str(value))).upper()
    if not re.fullmatch(r"\d{17}[\dX]", text):
        return IdNumber(text, False, None)
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS, strict=True)) % 11]
    try:
        born: str | None = birth_date(text[6:14])
    except ValueError:
        born = None
    return IdNumber(text, check == text[17] and born is not None, born)


def address(value: object) -> str | None:
    """Full-width folded to half-width, lower case, spaces and punctuation removed."""
    if _blank(value):
        return None
    text = unicodedata.normalize("NFKC", str(value)).lower()
    return "".join(c for c in text if c.isalnum()) or None


def postcode(value: object) -> str | None:
    """The six digits of a Chinese postcode; None otherwise."""
    if _blank(value):
        return None
    digits = re.sub(r"\D", "", str(value))
    return digits if len(digits) == 6 else None


def gender(value: object) -> str | None:
    """M or F from M/F, male/female, 男/女; None otherwise."""
    if _blank(value):
        return None
    text = str(value).strip().lower()
    return {"m": "M", "male": "M", "男": "M", "f": "F", "female": "F", "女": "F"}.get(text)


def email(value: object) -> str | None:
    """Lower case without surrounding spaces; None when it has no @."""
    if _blank(value):
        return None
    text = str(value).strip().lower()
    return text if "@" in text else None
