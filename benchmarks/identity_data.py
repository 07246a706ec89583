"""Noisy source-system extracts at any size, fast, for the identity benchmark (a million records
takes seconds; `nbo data generate` makes the demo bank's own extracts with its whole history).

Each person is drawn once (Chinese name, birth date, gender, phone, resident ID number with its
check character, address); each system holds some people with its own record ids and noise:
pinyin spellings (tones, no spaces, swapped parts), typos, transposed day and month, an outdated
phone, a moved address, an ID number typo, a family's shared phone, duplicates inside a system."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from pypinyin import Style, lazy_pinyin

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩然子轩梓涵一诺欣怡")
CITIES = [("北京市", "100"), ("上海市", "200"), ("广州市", "510"), ("深圳市", "518"), ("杭州市", "310"),
          ("成都市", "610"), ("武汉市", "430"), ("南京市", "210")]
ROADS = list("东西南北中新长和平建")
ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
# system: (share of people it holds, the columns it keeps)
SYSTEMS = {
    "core_banking": (0.9, ["full_name", "birth_date", "gender", "id_number", "phone", "address", "postcode", "city"]),
    "mobile_app": (0.6, ["full_name", "phone", "email", "device_id"]),
    "online_banking": (0.45, ["full_name", "id_number", "phone", "email", "birth_date"]),
    "branch_crm": (0.35, ["family_name", "given_name", "phone", "birth_date", "address"]),
    "call_centre": (0.3, ["full_name", "phone", "birth_date"]),
    "wechat": (0.4, ["nickname", "openid", "phone", "gender", "city", "full_name"]),
}


def people(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """The true people: C######## ids and their true identifiers."""
    family = np.array(SURNAMES)[rng.integers(len(SURNAMES), size=n)]
    given = np.char.add(np.array(GIVEN)[rng.integers(len(GIVEN), size=n)],
                        np.where(rng.random(n) < 0.7, np.array(GIVEN)[rng.integers(len(GIVEN), size=n)], ""))
    born = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, size=n), unit="D")
    phone = np.char.add(np.array(["138", "139", "186", "135", "177"])[rng.integers(5, size=n)],
                        np.char.zfill(rng.integers(0, 10**8, size=n).astype(str), 8))
    household = rng.random(n) < 0.08  # shares the phone of the person before them (a spouse or a parent)
    phone[1:][household[1:]] = phone[:-1][household[1:]]
    city = rng.integers(len(CITIES), size=n)
    area = np.char.zfill(rng.integers(110000, 659999, size=n).astype(str), 6)
    body = np.char.add(np.char.add(area, born.strftime("%Y%m%d").to_numpy().astype(str)),
                       np.char.zfill(rng.integers(0, 1000, size=n).astype(str), 3))
    digits = np.array([list(map(int, b)) for b in body])
    check = np.array(list("10X98765432"))[(digits @ ID_WEIGHTS) % 11]
    return pd.DataFrame({
        "customer_id": [f"C{i:08d}" for i in range(1, n + 1)],
        "family": family, "given": given, "birth_date": born.strftime("%Y-%m-%d"),
        "gender": np.where(rng.random(n) < 0.5, "M", "F"), "phone": phone,
        "id_number": np.char.add(body, check),
        "city": np.array([c for c, _ in CITIES])[city],
        "postcode": np.char.add(np.array([p for _, p in CITIES])[city],
                                np.char.zfill(rng.integers(0, 1000, size=n).astype(str), 3)),
        "address": [f"{ROADS[r]}{s}路{h}号" for r, s, h in zip(rng.integers(len(ROADS), size=n),
                                                             rng.choice(["一", "二", "三", "华", "兴"], size=n),
                                                             rng.integers(1, 300, size=n), strict=True)],
    })


def _pinyin(family: str, given: str, style: int) -> str:
    tones = Style.TONE if style % 2 else Style.NORMAL
    f, g = "".join(lazy_pinyin(family, style=tones)), "".join(lazy_pinyin(given, style=tones))
    return [f"{f.title()} {g.title()}", f"{f}{g}", f"{g.title()} {f.title()}", f"{f.upper()} {g}"][style % 4]


def _typo(text: str, rng: np.random.Generator) -> str:
    if len(text) < 2:
        return text
    i = int(rng.integers(len(text) - 1))
    return text[:i] + text[i + 1] + text[i] + text[i + 2:] if rng.random() < 0.5 else text[:i] + text[i + 1:]


def extract(system: str, who: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One system's records of the people `who` (some twice), with noise; `customer_id` kept for truth."""
    share, columns = SYSTEMS[system]
    held = who[rng.random(len(who)) < share]
    held = pd.concat([held, held.sample(frac=0.02, random_state=int(rng.integers(1 << 31)))], ignore_index=True)
    n = len(held)
    noise = rng.random((n, 8))
    chinese = (noise[:, 0] < 0.6) | (system == "core_banking")
    names = [f + g if zh else _pinyin(f, g, int(s * 8))
             for f, g, zh, s in zip(held["family"], held["given"], chinese, noise[:, 1], strict=True)]
    names = [_typo(x, rng) if t < 0.04 else x for x, t in zip(names, noise[:, 2], strict=True)]
    born = held["birth_date"].to_numpy().astype(object)
    swap = (noise[:, 3] < 0.02) & (held["birth_date"].str[8:10].astype(int) <= 12).to_numpy()
    born[swap] = [b[:5] + b[8:10] + "-" + b[5:7] for b in born[swap]]
    if system in ("online_banking", "call_centre"):
        born = np.array([b.replace("-", "") for b in born], dtype=object)
    phone = held["phone"].to_numpy().astype(object)
    changed = noise[:, 4] < 0.08  # an outdated or different number
    phone[changed] = [f"13{int(x):09d}" for x in rng.integers(0, 10**9, size=int(changed.sum()))]
    phone[noise[:, 4] > 0.9] = None
    ids = held["id_number"].to_numpy().astype(object)
    typo = noise[:, 5] < 0.02
    ids[typo] = [i[:9] + str((int(i[9]) + 1) % 10) + i[10:] for i in ids[typo]]
    address = held["address"].to_numpy().astype(object)
    moved = noise[:, 6] < 0.1
    address[moved] = [f"新{int(x)}号" for x in rng.integers(1, 500, size=int(moved.sum()))]
    frame = pd.DataFrame({
        "record_id": [f"{system[:2].upper()}{i:09d}" for i in rng.permutation(n)],
        "full_name": names, "family_name": held["family"].to_numpy(), "given_name": held["given"].to_numpy(),
        "birth_date": born, "gender": held["gender"].to_numpy(), "phone": phone, "id_number": ids,
        "address": address, "postcode": held["postcode"].to_numpy(), "city": held["city"].to_numpy(),
        "email": [f"{c.lower()}@example.cn" if e < 0.5 else None
                  for c, e in zip(held["customer_id"], noise[:, 7], strict=True)],
        "device_id": rng.integers(0, 10**12, size=n).astype(str),
        "openid": rng.integers(0, 10**12, size=n).astype(str), "nickname": "用户",
    })
    return frame[["record_id", *columns]].assign(customer_id=held["customer_id"].to_numpy())


def write_extracts(customers: int, out: Path, seed: int = 7, with_id_number: bool = True) -> dict[str, Path]:
    """Write DIR/sources/<system>.csv and DIR/truth/source_records.parquet; the files by system."""
    rng = np.random.default_rng(seed)
    who = people(customers, rng)
    (out / "sources").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    files, truth = {}, []
    for system in SYSTEMS:
        frame = extract(system, who, rng)
        if not with_id_number:
            frame = frame.drop(columns=["id_number"], errors="ignore")
        truth.append(frame[["record_id", "customer_id"]].assign(system=system))
        files[system] = out / "sources" / f"{system}.parquet"
        frame.drop(columns="customer_id").to_parquet(files[system], index=False)
    pd.concat(truth)[["system", "record_id", "customer_id"]].to_parquet(out / "truth" / "source_records.parquet")
    return files


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-id-number", action="store_true")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for name, path in write_extracts(args.customers, args.out, args.seed, not args.no_id_number).items():
        print(name, path)
