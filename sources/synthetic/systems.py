"""What each source system holds about a person, with the noise that system adds.

A builder takes the people and returns the system's records as dicts, each with `_row` (the person's
row in the people frame) and `_copy` (0 for the person's first record in the system, 1 for a planted
duplicate). The rates below are the README's ("The synthetic bank", source-system extracts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from sources.synthetic.identities import (
    CITIES,
    Pinyin,
    address_variant,
    char_typo,
    id_typo,
    latin_typo,
    random_phone,
    romanise,
    token,
)

Record = dict[str, Any]

# Per system: share of customers present (or rule), share with a duplicate record inside the system.
RATES: dict[str, dict[str, float]] = {
    "core_banking": {"present": 1.0, "duplicate": 0.02, "name_typo": 0.01, "id_typo": 0.005,
                     "phone_missing": 0.02},
    "mobile_app": {"duplicate": 0.03, "pinyin_name": 0.35, "character_name": 0.25, "shared_device": 0.3},
    "online_banking": {"present_web": 0.95, "present_app": 0.6, "present_other": 0.35, "duplicate": 0.01,
                       "email": 0.85, "id_number": 0.4, "id_typo": 0.005, "character_name": 0.7, "split_name": 0.5,
                       "phone_missing": 0.05, "old_phone_of_mover": 0.5},
    "branch_crm": {"present_rm": 0.9, "present_other": 0.3, "duplicate": 0.03, "pinyin_name": 0.25,
                   "name_typo": 0.04, "pinyin_typo": 0.05, "swapped": 0.25, "phone_missing": 0.08,
                   "household_phone": 0.5, "birth_date": 0.5, "day_month_swapped": 0.03},
    "call_centre": {"present_phone": 0.9, "present_other": 0.3, "duplicate": 0.08, "pinyin_name": 0.55,
                    "homophone_per_char": 0.35, "household_phone": 0.4, "old_phone_of_mover": 0.5,
                    "other_number": 0.05, "city": 0.6},
    "wechat": {"present_app": 0.6, "present_web": 0.45, "present_other": 0.2, "duplicate": 0.02,
               "phone": 0.95, "city": 0.8, "gender": 0.7},
}
RMS_PER_CITY = 3  # relationship managers per city's branch; every customer has one (`rm_id`)
_NICK_WORDS = ("阳光", "快乐每一天", "静待花开", "平安是福", "小确幸", "岁月静好", "Sunny", "Tony", "Lucky", "Coco")
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_MAIL = ("qq.com", "163.com", "126.com", "sina.com", "gmail.com")


@dataclass(frozen=True)
class Context:
    """What builders draw from: one dict per person (the people frame's columns and the canonical
    customer's, `joined`: the join date's ordinal), pinyin, the history's last day (ordinal) and
    which people have activity in the app."""

    people: list[dict[str, Any]]
    pinyin: Pinyin
    last_day: int
    app_users: np.ndarray

    @classmethod
    def build(cls, people: pd.DataFrame, customers: pd.DataFrame, pinyin: Pinyin, last_day: pd.Timestamp,
              app_users: np.ndarray) -> Context:
        extra = customers.drop(columns=[c for c in people.columns if c in customers.columns])
        joined = [t.toordinal() for t in pd.to_datetime(customers["join_date"])]
        rows = pd.concat([people, extra], axis=1).assign(joined=joined).to_dict("records")
        return cls(rows, pinyin, last_day.toordinal(), app_users)


def _updated(rng: np.random.Generator, person: dict[str, Any], last_day: int) -> str:
    """A day between the customer's join date and the end of the history, as YYYY-MM-DD."""
    start = person["joined"]
    return date.fromordinal(start + int(rng.integers(max(last_day - start, 1)))).isoformat()


def _copies(rng: np.random.Generator, people: list[dict[str, Any]], rows: np.ndarray,
            share: float) -> list[tuple[int, int, dict[str, Any]]]:
    """(row, copy, person) for each present person, plus copy 1 for the planted duplicates."""
    out = []
    for r in rows:
        out.append((int(r), 0, people[r]))
        if rng.random() < share:
            out.append((int(r), 1, people[r]))
    return out


def _present(rng: np.random.Generator, ctx: Context, by_channel: dict[str, float], other: float) -> np.ndarray:
    p = np.array([by_channel.get(q["preferred_channel"], other) for q in ctx.people])
    return np.flatnonzero(rng.random(len(p)) < p)


def _nickname(rng: np.random.Generator, ctx: Context, name: str) -> str:
    kind = int(rng.integers(4))
    if kind == 0:
        return ctx.pinyin.parts(name)[1] + str(int(rng.integers(1, 100)))
    if kind == 1:
        return name[-1] * 2 if rng.random() < 0.5 else "小" + name[-1]
    return _NICK_WORDS[int(rng.integers(len(_NICK_WORDS)))]


def core_banking(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """Legal name in characters, ID number, birth date, gender, address, postcode, phone and the
    customer's banking profile and relationship manager (`rm_id`). Movers' records still hold the old
    phone and home."""
    r, p, out = RATES["core_banking"], ctx.people, []
    extras = ("city_tier", "occupation", "segment", "join_date", "close_date", "risk_tolerance",
              "risk_assessed_at", "marketing_consent", "preferred_channel", "income_monthly")
    for row, copy, q in _copies(rng, p, np.arange(len(p)), r["duplicate"]):
        mover, city = bool(q["mover"]), int(q["city"])
        name = q["name"]
        address = q["old_address"] if mover else q["address"]
        phone = q["old_phone"] if mover else q["phone"]
        number = q["id_number"]
        if copy:  # a second customer file opened at another branch, typed again
            address = address_variant(rng, address, city)
        record = {
            "full_name": char_typo(ctx.pinyin, rng, name) if rng.random() < r["name_typo"] else name,
            "id_number": id_typo(rng, number) if rng.random() < r["id_typo"] else number,
            "birth_date": q["birth_date"], "gender": q["gender"],
            "address": address, "postcode": CITIES[city][4], "city": CITIES[city][0],
            "phone": None if rng.random() < r["phone_missing"] else phone,
            "updated_at": (date.fromordinal(q["joined"]).isoformat()
                           if mover and not copy else _updated(rng, q, ctx.last_day)),
        }
        out.append(record | {c: q[c] for c in extras} | {"rm_id": rm_of(q), "_row": row, "_copy": copy})
    return out


def rm_of(person: dict[str, Any]) -> str:
    """The customer's relationship manager: one of RMS_PER_CITY at the home city's branch (RM + city + n,
    `RM011`), by customer number; no random draw, so adding it moved no other value of the bank."""
    return f"RM{int(person['city']) + 1:02d}{int(str(person['customer_id'])[1:]) % RMS_PER_CITY + 1}"


def mobile_app(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """Everyone with activity in the app: phone, nickname, device, sometimes a name. A duplicate is a
    re-registration from a new device (with another number for half of them)."""
    r, p, out = RATES["mobile_app"], ctx.people, []
    for row, copy, q in _copies(rng, p, np.flatnonzero(ctx.app_users), r["duplicate"]):
        head = int(q["head"])
        device = p[head]["device_id"] if head >= 0 and rng.random() < r["shared_device"] else q["device_id"]
        phone = q["phone"]
        if copy:
            device = token(rng, "0123456789abcdef", 16)
            phone = random_phone(rng) if rng.random() < 0.5 else phone
        u = rng.random()
        name = (romanise(ctx.pinyin, rng, q["name"], 0.0, 0.15) if u < r["pinyin_name"]
                else q["name"] if u < r["pinyin_name"] + r["character_name"] else None)
        out.append({"full_name": name, "phone": phone, "nickname": _nickname(rng, ctx, q["name"]), "device_id": device,
                    "updated_at": _updated(rng, q, ctx.last_day), "_row": row, "_copy": copy})
    return out


def online_banking(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """Login name, email, phone, sometimes the ID number, usually the name in characters (half of those
    as family and given name in two fields)."""
    r, p, out = RATES["online_banking"], ctx.people, []
    present = _present(rng, ctx, {"web": r["present_web"], "app": r["present_app"]}, r["present_other"])
    for row, copy, q in _copies(rng, p, present, r["duplicate"]):
        family, given = ctx.pinyin.parts(q["name"])
        birth_year = q["birth_date"][:4]
        phone = q["phone"]
        if q["mover"] and rng.random() < r["old_phone_of_mover"]:
            phone = q["old_phone"]
        number = q["id_number"] if rng.random() < r["id_number"] else None
        if number is not None and rng.random() < r["id_typo"]:
            number = id_typo(rng, number)
        out.append({
            "login_name": f"{family}{given[:1]}{birth_year}" if rng.random() < 0.5 else f"{given}_{family}{copy or ''}",
            "email": (f"{given}.{family}{int(rng.integers(1, 1000))}@{_MAIL[int(rng.integers(len(_MAIL)))]}"
                      if rng.random() < r["email"] else None),
            "phone": None if rng.random() < r["phone_missing"] else phone,
            "id_number": number,
            **_name_fields(rng, q["name"] if rng.random() < r["character_name"] else None, r["split_name"]),
            "updated_at": _updated(rng, q, ctx.last_day), "_row": row, "_copy": copy,
        })
    return out


def _name_fields(rng: np.random.Generator, name: str | None, split_share: float) -> Record:
    """A name as one field, or (a web form's) family and given name in two."""
    if name is not None and rng.random() < split_share:
        return {"full_name": None, "family_name": name[0], "given_name": name[1:]}
    return {"full_name": name, "family_name": None, "given_name": None}


def _crm_birth(rng: np.random.Generator, birth: str, swap_share: float) -> str:
    year, month, day = birth.split("-")
    if int(day) <= 12 and day != month and rng.random() < swap_share:
        month, day = day, month
    return f"{year}{month}{day}"


def branch_crm(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """Name typed by the customer's RM (`rm_id`; typos, pinyin, swapped parts), phone (a family's shared one), city,
    sometimes the birth date as YYYYMMDD (day and month sometimes swapped)."""
    r, p, out = RATES["branch_crm"], ctx.people, []
    rm = {"rm": r["present_rm"]} | {"branch": 0.6}
    private = np.array([q["segment"] in ("affluent", "private") for q in p])
    present = np.union1d(_present(rng, ctx, rm, r["present_other"]),
                         np.flatnonzero(private & (rng.random(len(p)) < r["present_rm"])))
    for row, copy, q in _copies(rng, p, present, r["duplicate"]):
        name = q["name"]
        if rng.random() < r["pinyin_name"]:
            name = romanise(ctx.pinyin, rng, name, 0.1, r["swapped"])
            name = latin_typo(rng, name) if rng.random() < r["pinyin_typo"] else name
        elif rng.random() < r["name_typo"]:
            name = char_typo(ctx.pinyin, rng, name)
        shared = int(q["head"]) >= 0 and rng.random() < r["household_phone"]
        phone = q["household_phone"] if shared else q["phone"]
        out.append({
            "full_name": name,
            "phone": None if rng.random() < r["phone_missing"] else phone,
            "city": CITIES[int(q["city"])][0],
            "birth_date": (_crm_birth(rng, q["birth_date"], r["day_month_swapped"])
                           if rng.random() < r["birth_date"] else None),
            "gender": q["gender"], "rm_id": rm_of(q),
            "updated_at": _updated(rng, q, ctx.last_day), "_row": row, "_copy": copy,
        })
    return out


def _spoken(rng: np.random.Generator, ctx: Context, name: str, homophone: float) -> str:
    return "".join(ctx.pinyin.homophone(rng, c) if rng.random() < homophone else c for c in name)


def call_centre(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """Caller number (a family's, a mover's old one, or an unknown one) and the name as heard: pinyin
    or homophone characters. No birth date."""
    r, p, out = RATES["call_centre"], ctx.people, []
    present = _present(rng, ctx, {"phone": r["present_phone"]}, r["present_other"])
    for row, copy, q in _copies(rng, p, present, r["duplicate"]):
        name = q["name"]
        heard = (romanise(ctx.pinyin, rng, name, 0.0, 0.1).lower() if rng.random() < r["pinyin_name"]
                 else _spoken(rng, ctx, name, r["homophone_per_char"]))
        u = rng.random()
        phone = q["phone"]
        if int(q["head"]) >= 0 and u < r["household_phone"]:
            phone = q["household_phone"]
        elif q["mover"] and u < r["old_phone_of_mover"]:
            phone = q["old_phone"]
        elif u > 1 - r["other_number"]:
            phone = random_phone(rng)
        out.append({
            "phone": phone, "full_name": heard,
            "city": CITIES[int(q["city"])][0] if rng.random() < r["city"] else None,
            "updated_at": _updated(rng, q, ctx.last_day), "_row": row, "_copy": copy,
        })
    return out


def wechat(rng: np.random.Generator, ctx: Context) -> list[Record]:
    """openid, nickname, city, sometimes the bound phone and gender."""
    r, p, out = RATES["wechat"], ctx.people, []
    present = _present(rng, ctx, {"app": r["present_app"], "web": r["present_web"]}, r["present_other"])
    for row, copy, q in _copies(rng, p, present, r["duplicate"]):
        out.append({
            "openid": "o" + token(rng, _B64, 27), "nickname": _nickname(rng, ctx, q["name"]),
            "city": CITIES[int(q["city"])][0] if rng.random() < r["city"] else None,
            "phone": q["phone"] if rng.random() < r["phone"] else None,
            "gender": q["gender"] if rng.random() < r["gender"] else None,
            "updated_at": _updated(rng, q, ctx.last_day), "_row": row, "_copy": copy,
        })
    return out


# system → (builder, record-id prefix, digits)
SYSTEMS: dict[str, tuple[Callable[[np.random.Generator, Context], list[Record]], str, int]] = {
    "core_banking": (core_banking, "CIF", 9),
    "mobile_app": (mobile_app, "U", 10),
    "online_banking": (online_banking, "NB", 8),
    "branch_crm": (branch_crm, "CRM", 7),
    "call_centre": (call_centre, "CC", 9),
    "wechat": (wechat, "WX", 8),
}
