"""The synthetic bank's customers as people: ID number, home, devices, families and movers.

The real attributes (name, phone, birth date, gender, city tier) come from the canonical customers
table; everything else is derived from the seed. Planted on purpose: families (same surname, same
home, a shared household phone and sometimes a shared device, different birth dates) and movers
(changed phone and home; the bank's core system still holds the old ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sources.synthetic.identities import CITIES, home_address, id_number, random_phone, token

FAMILY_SHARE = 0.04  # customers who live with another customer of the same surname
MOVER_SHARE = 0.03  # customers who changed phone and moved; core banking still has the old ones
_HEX = "0123456789abcdef"


@dataclass(frozen=True)
class People:
    """One row per canonical customer (same order): who they are beyond the canonical table.

    Columns: customer_id, name, phone, birth_date (YYYY-MM-DD), gender, city (index into CITIES),
    id_number, address, device_id, head (index of the family member whose home and phone they
    share, −1 if none), household_phone, mover, old_phone, old_address.
    """

    frame: pd.DataFrame


def draw_people(rng: np.random.Generator, customers: pd.DataFrame, taken: set[str]) -> People:
    """Derive every customer's identity from `customers` (canonical) and the generator; `taken` holds
    the ID numbers already given (to people drawn before) and receives these."""
    n = len(customers)
    tier = customers["city_tier"].fillna(2).astype(int).to_numpy()
    city = np.array([_city_of_tier(rng, t) for t in tier], dtype=int)
    birth = pd.to_datetime(customers["birth_date"]).dt.strftime("%Y-%m-%d").to_numpy()
    male = (customers["gender"] == "M").to_numpy()
    ids = _unique_id_numbers(rng, city, birth, male, taken)
    people = pd.DataFrame({
        "customer_id": customers["customer_id"].to_numpy(),
        "name": customers["name"].to_numpy(),
        "phone": customers["phone"].to_numpy(),
        "birth_date": birth,
        "gender": customers["gender"].to_numpy(),
        "city": city,
        "id_number": ids,
        "address": [home_address(rng, c) for c in city],
        "device_id": [token(rng, _HEX, 16) for _ in range(n)],
    })
    people["head"] = _families(rng, people["name"].str[0].to_numpy())
    joined = people["head"].to_numpy() >= 0
    heads = people["head"].to_numpy()[joined]
    for column in ("city", "address"):
        people.loc[joined, column] = people[column].to_numpy()[heads]
    people["household_phone"] = people["phone"]
    people.loc[joined, "household_phone"] = people["phone"].to_numpy()[heads]
    mover = (rng.random(n) < MOVER_SHARE) & ~joined
    people["mover"] = mover
    people["old_phone"] = [random_phone(rng) if m else None for m in mover]
    people["old_address"] = [home_address(rng, c) if m else None for m, c in zip(mover, people["city"], strict=True)]
    return People(people)


def _city_of_tier(rng: np.random.Generator, tier: int) -> int:
    options = [i for i, c in enumerate(CITIES) if c[1] == tier]
    return options[int(rng.integers(len(options)))]


def _unique_id_numbers(rng: np.random.Generator, city: np.ndarray, birth: np.ndarray, male: np.ndarray,
                       taken: set[str]) -> list[str]:
    """One ID number per person; the 3-digit sequence is redrawn where two people would share one."""
    out = []
    for c, b, m in zip(city, birth, male, strict=True):
        while True:
            number = id_number(CITIES[c][3], b.replace("-", ""), int(rng.integers(500)), bool(m))
            if number not in taken:
                break
        taken.add(number)
        out.append(number)
    return out


def _families(rng: np.random.Generator, surname: np.ndarray) -> np.ndarray:
    """For each person, the index of the head of household they live with (same surname), or −1."""
    n = len(surname)
    joins = rng.random(n) < FAMILY_SHARE
    head = np.full(n, -1)
    by_surname: dict[str, list[int]] = {}
    for i in np.flatnonzero(~joins):
        by_surname.setdefault(surname[i], []).append(int(i))
    for i in np.flatnonzero(joins):
        candidates = by_surname.get(surname[i], [])
        if candidates:
            head[i] = candidates[int(rng.integers(len(candidates)))]
    return head
