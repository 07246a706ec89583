"""Who a synthetic customer is outside the bank's canonical table: pinyin of the name, a resident ID
number, a home address, and the noise source systems add when they copy them (typos, homophones,
address variants). Every draw takes the generator it is given, so the same seed gives the same people.
"""

from __future__ import annotations

import numpy as np
from pypinyin import Style, pinyin

# (city, tier, district, area code of the district, postcode)
CITIES = (
    ("北京", 1, "朝阳区", "110105", "100020"), ("上海", 1, "徐汇区", "310104", "200030"),
    ("广州", 1, "天河区", "440106", "510630"), ("深圳", 1, "南山区", "440305", "518052"),
    ("杭州", 2, "西湖区", "330106", "310012"), ("南京", 2, "鼓楼区", "320106", "210008"),
    ("成都", 2, "武侯区", "510107", "610041"), ("武汉", 2, "武昌区", "420106", "430061"),
    ("西安", 2, "雁塔区", "610113", "710061"), ("佛山", 3, "禅城区", "440604", "528000"),
    ("温州", 3, "鹿城区", "330302", "325000"), ("洛阳", 3, "涧西区", "410305", "471003"),
    ("绵阳", 3, "涪城区", "510703", "621000"), ("赣州", 4, "章贡区", "360702", "341000"),
    ("曲靖", 4, "麒麟区", "530302", "655000"), ("宜宾", 4, "翠屏区", "511502", "644000"),
)
_STREETS = ("人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "胜利路", "长江路", "学府路",
            "青年路", "光明街", "朝阳街", "幸福路", "滨江路")
_SURNAME_READING = {"曾": "zeng"}  # as a surname, 曾 reads zēng, not céng
_SURNAME_TONED = {"曾": "zēng"}
# Common characters a pinyin input method offers beside the intended one (homophone typos).
_HOMOPHONE_POOL = (
    "王汪李里理礼张章彰刘留流陈晨辰沉杨阳洋扬黄皇煌赵照召吴武伍午周州洲舟徐许旭孙逊马玛码朱珠猪胡湖虎"
    "郭国过何河合和高搞告林琳临罗洛落郑正政梁良粮谢写泻宋送颂唐堂糖韩寒汉冯风峰锋邓登灯曹草槽彭朋鹏"
    "曾增赠肖小晓田甜天董东懂袁元园员潘盼攀于余鱼雨蒋江将姜蔡菜才余鱼予杜度渡叶业夜程成城承苏素速魏"
    "卫维伟吕旅铝丁定顶任人仁沈深申伟为维芳方放娜纳那敏民明静晶京丽立利强墙抢磊雷蕾军君均洋阳羊勇永"
    "泳艳燕雁杰洁捷娟绢卷涛桃陶明名鸣超潮朝秀修绣霞夏侠平苹评刚钢岗桂贵跪英鹰迎华花化玉宇语萍平屏红"
    "宏虹娥鹅额玲铃灵芬分纷燕艳宴彬斌滨鹏朋辉慧晖宇雨语浩好号然燃冉子紫自轩宣萱梓子紫涵含寒一衣依诺"
    "挪懦欣新心怡宜义"
)


def _reading(char: str, toned: bool) -> str:
    """One character's most common reading (toneless readings write ü as v, as keyboards do)."""
    reading = pinyin(char, style=Style.TONE if toned else Style.NORMAL, heteronym=False)[0][0]
    return reading if toned else reading.replace("ü", "v")


class Pinyin:
    """Pinyin of the characters synthetic names use (surname readings where they differ)."""

    def __init__(self) -> None:
        self._plain: dict[str, str] = {}
        self._toned: dict[str, str] = {}
        self._homophones: dict[str, tuple[str, ...]] = {}
        for char in dict.fromkeys(_HOMOPHONE_POOL):
            self._plain[char] = _reading(char, toned=False)
            self._toned[char] = _reading(char, toned=True)
        by_sound: dict[str, list[str]] = {}
        for char, sound in self._plain.items():
            by_sound.setdefault(sound, []).append(char)
        self._homophones = {c: tuple(o for o in by_sound[s] if o != c) for c, s in self._plain.items()}

    def syllable(self, char: str, toned: bool = False, surname: bool = False) -> str:
        """One character's reading, e.g. 王 → wang (toned: wáng)."""
        if surname and char in _SURNAME_READING:
            return (_SURNAME_TONED if toned else _SURNAME_READING)[char]
        table = self._toned if toned else self._plain
        if char not in table:
            table[char] = _reading(char, toned)
        return table[char]

    def parts(self, name: str, toned: bool = False) -> tuple[str, str]:
        """(family, given) in pinyin, e.g. 王伟芳 → (wang, weifang)."""
        return (self.syllable(name[0], toned, surname=True),
                "".join(self.syllable(c, toned) for c in name[1:]))

    def homophone(self, rng: np.random.Generator, char: str) -> str:
        """Another character with the same toneless reading, or the character itself if none."""
        others = self._homophones.get(char, ())
        return others[int(rng.integers(len(others)))] if others else char


def romanise(py: Pinyin, rng: np.random.Generator, name: str, toned_share: float,
             swapped_share: float) -> str:
    """A name in pinyin as people type it: 'Wang Weifang', 'weifang wang', 'WANG WEIFANG', 'wangweifang',
    'wáng wěifāng' (tones) — family and given name swapped with `swapped_share`."""
    family, given = py.parts(name, toned=rng.random() < toned_share)
    first, second = (given, family) if rng.random() < swapped_share else (family, given)
    style = int(rng.integers(4))
    if style == 0:
        return f"{first.capitalize()} {second.capitalize()}"
    if style == 1:
        return f"{first} {second}"
    if style == 2:
        return f"{first} {second}".upper()
    return f"{first}{second}"


def char_typo(py: Pinyin, rng: np.random.Generator, text: str) -> str:
    """A typed name with one slip: a homophone from the input method, or two characters transposed."""
    if len(text) < 2:
        return text
    i = int(rng.integers(len(text)))
    if rng.random() < 0.6:
        return text[:i] + py.homophone(rng, text[i]) + text[i + 1:]
    i = min(i, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def latin_typo(rng: np.random.Generator, text: str) -> str:
    """One letter dropped, doubled or swapped with its neighbour."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 3:
        return text
    i = letters[int(rng.integers(1, len(letters) - 1))]
    kind = int(rng.integers(3))
    if kind == 0:
        return text[:i] + text[i + 1:]
    if kind == 1:
        return text[:i] + text[i] + text[i:]
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]


def id_checksum(body: str) -> str:
    """The GB 11643-1999 check character of a 17-digit body (ISO 7064 MOD 11-2)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def is_valid_id(number: str) -> bool:
    """Whether an 18-character resident ID number's check character matches its body."""
    return len(number) == 18 and number[:17].isdigit() and id_checksum(number[:17]) == number[17]


def id_number(area: str, birth: str, sequence: int, male: bool) -> str:
    """An 18-digit resident ID number: area code, YYYYMMDD, 3-digit sequence (odd for men), check."""
    seq = sequence * 2 + (1 if male else 0)
    body = f"{area}{birth}{seq % 1000:03d}"
    return body + id_checksum(body)


def id_typo(rng: np.random.Generator, number: str) -> str:
    """One digit of the body mistyped (the check character then almost never matches)."""
    i = int(rng.integers(6, 17))
    digit = str((int(number[i]) + int(rng.integers(1, 10))) % 10)
    return number[:i] + digit + number[i + 1:]


def home_address(rng: np.random.Generator, city: int) -> str:
    """A full address in the given city: 上海市徐汇区中山路128号3栋502室."""
    name, _, district, _, _ = CITIES[city]
    street = _STREETS[int(rng.integers(len(_STREETS)))]
    return (f"{name}市{district}{street}{int(rng.integers(1, 400))}号"
            f"{int(rng.integers(1, 30))}栋{int(rng.integers(1, 33))}{int(rng.integers(1, 5)):02d}室")


def address_variant(rng: np.random.Generator, address: str, city: int) -> str:
    """The same address written another way: 號 for 号, no 市, no district, 3-502 for 3栋502室, 幢 for 栋."""
    _, _, district, _, _ = CITIES[city]
    kind = int(rng.integers(5))
    if kind == 0:
        return address.replace("号", "號")
    if kind == 1:
        return address.replace("市", "", 1)
    if kind == 2:
        return address.replace(district, "", 1)
    if kind == 3:
        head, _, rest = address.rpartition("号")
        building, _, room = rest.partition("栋")
        return f"{head}号{building}-{room.removesuffix('室')}"
    return address.replace("栋", "幢")


def random_phone(rng: np.random.Generator) -> str:
    """A mobile number of the kind the canonical table holds (another, e.g. an old one)."""
    prefix = ("138", "139", "186", "135", "177", "150", "189")[int(rng.integers(7))]
    return f"{prefix}{int(rng.integers(0, 10**8)):08d}"


def token(rng: np.random.Generator, alphabet: str, length: int) -> str:
    """A random string of `length` characters from `alphabet` (device ids, openids)."""
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=length))
