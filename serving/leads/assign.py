"""Who works a lead: the customer's own RM if they have capacity and the product skill, else the RM
with the most spare capacity who has the skill, else nobody (the lead stays unassigned, reported).

RM skills and weekly capacity come from the bank's optional `rm_roster` table in the data directory
(`rm_roster.parquet` or `rm_roster.csv`: rm_id, skills = product categories separated by `;` or a
list, weekly_capacity ≥ 0). Without it every RM of `rm_assignments.parquet` has every skill and the
default capacity of `leads.toml`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from nbo.errors import ContractViolation

ROSTER = "rm_roster"
RM_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
OWN = "own_rm"
SPARE = "most_spare_capacity"
NONE = "no_rm_with_capacity_and_skill"


@dataclass(frozen=True)
class Roster:
    """RM → product categories they sell (None: every one) and leads they take per week."""

    skills: dict[str, frozenset[str] | None]
    capacity: dict[str, int]
    source: str  # the roster file, or "default"

    def has_skill(self, rm: str, category: str) -> bool:
        skills = self.skills.get(rm, frozenset())
        return skills is None or category in skills


def default_roster(owners: pd.Series, capacity: int) -> Roster:
    rms = sorted({str(r) for r in owners.dropna()})
    return Roster({r: None for r in rms}, {r: capacity for r in rms}, "default")


def roster_path(data_dir: Path) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = Path(data_dir) / f"{ROSTER}{suffix}"
        if path.is_file():
            return path
    return None


def load_roster(data_dir: Path, owners: pd.Series, default_capacity: int, categories: Iterable[str]) -> Roster:
    """The data directory's rm_roster, checked (ContractViolation naming file, row and column), or the
    default roster of the RMs that own customers."""
    path = roster_path(data_dir)
    if path is None:
        return default_roster(owners, default_capacity)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("rm_id", "skills", "weekly_capacity") if c not in frame.columns]
    extra = [c for c in frame.columns if c not in ("rm_id", "skills", "weekly_capacity")]
    if missing or extra:
        raise ContractViolation(f"{path}: columns must be rm_id, skills, weekly_capacity "
                                f"(missing {missing or 'none'}, unknown {extra or 'none'})")
    known = set(categories)
    skills: dict[str, frozenset[str] | None] = {}
    capacity: dict[str, int] = {}
    for n, row in enumerate(frame.to_dict("records"), start=1):
        where = f"{path}: row {n}"
        rm = str(row["rm_id"]).strip()
        if not RM_ID.match(rm):
            raise ContractViolation(f"{where}, column rm_id: {row['rm_id']!r} is not an RM id (letters, digits, _ -)")
        if rm in skills:
            raise ContractViolation(f"{where}, column rm_id: {rm} appears twice")
        raw = row["skills"]
        found = [s.strip() for s in (raw.split(";") if isinstance(raw, str) else list(raw)) if str(s).strip()]
        unknown = sorted(set(found) - known)
        if unknown:
            raise ContractViolation(f"{where}, column skills: unknown product categor{'ies' if len(unknown) > 1 else 'y'} "
                                    f"{', '.join(unknown)} (known: {', '.join(sorted(known))})")
        try:
            weekly = int(str(row["weekly_capacity"]).strip())
        except ValueError:
            weekly = -1
        if weekly < 0 or str(row["weekly_capacity"]).strip() in ("", "nan"):
            raise ContractViolation(f"{where}, column weekly_capacity: {row['weekly_capacity']!r} is not a whole "
                                    "number ≥ 0")
        skills[rm], capacity[rm] = frozenset(found), weekly
    return Roster(skills, capacity, str(path))


@dataclass(frozen=True)
class Assignment:
    rm_id: str | None
    because: str  # own_rm | most_spare_capacity | no_rm_with_capacity_and_skill


class Assigner:
    """Assigns leads in the order given (best first), counting each RM's leads of the week."""

    def __init__(self, roster: Roster, owners: Mapping[str, str | None], taken: Mapping[str, int] | None = None):
        self.roster, self.owners = roster, owners
        self.used: Counter[str] = Counter(taken or {})

    def spare(self, rm: str) -> int:
        return self.roster.capacity.get(rm, 0) - self.used[rm]

    def assign(self, customer_id: str, category: str) -> Assignment:
        own = self.owners.get(customer_id)
        if own is not None and own in self.roster.capacity and self.spare(own) > 0 \
                and self.roster.has_skill(own, category):
            self.used[own] += 1
            return Assignment(own, OWN)
        able = [r for r in self.roster.capacity if self.roster.has_skill(r, category) and self.spare(r) > 0]
        if not able:
            return Assignment(None, NONE)
        best = max(able, key=lambda r: (self.spare(r), [-ord(ch) for ch in r]))  # ties: the first id
        self.used[best] += 1
        return Assignment(best, SPARE)


def assignment_reason(a: Assignment, own: str | None) -> dict[str, str]:
    """Why this RM, in zh and en."""
    if a.because == OWN:
        return {"zh": f"客户的专属客户经理 {a.rm_id}", "en": f"The customer's own RM {a.rm_id}"}
    if a.because == SPARE:
        why_zh = "客户暂无专属客户经理" if own is None else f"专属客户经理 {own} 本周名额已满或不具备该产品资质"
        why_en = "the customer has no RM" if own is None else f"their RM {own} is full this week or lacks the skill"
        return {"zh": f"{why_zh}，分配给本周余量最多且具备资质的 {a.rm_id}",
                "en": f"Assigned to {a.rm_id}, who has the most spare capacity and the skill: {why_en}"}
    return {"zh": "暂无有余量且具备资质的客户经理，待分配", "en": "No RM with capacity and the skill: unassigned"}
