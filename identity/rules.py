"""Deterministic pairs, found before any model:
- the same valid ID number (an invalid one may be a typo that equals another person's);
- the same phone and birth date; the same e-mail and birth date;
- the same phone and name, when the phone belongs to one person: every named record holding it has
  that name (the same pinyin letters, so either order). A record with nothing else to go by (no name, birth date or
  valid ID number, e.g. an app login or a WeChat follower) joins that person too. A phone shared by
  a family (records with different names) ties nobody.

Each record is tied to the first record of its group (a star is enough to join a cluster), and only
pairs that touch a record in `new` are returned."""

from __future__ import annotations

import pandas as pd

PAIR_COLUMNS = ["system_l", "record_id_l", "system_r", "record_id_r", "match_probability", "evidence"]
# (evidence, the columns that must all be equal and present)
EQUAL_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rule:id_number", ("id_hash",)),
    ("rule:phone+birth_date", ("phone_hash", "birth_date")),
    ("rule:email+birth_date", ("email_hash", "birth_date")),
)


def _star(records: pd.DataFrame, members: pd.Series, group: pd.Series, is_new: pd.Series,
          evidence: str) -> pd.DataFrame:
    """Each member tied to the first member of its group (records in the order given)."""
    chosen = records[members]
    head = chosen.groupby(group[members], sort=False)["uid"].transform("first")
    new_by_uid = pd.Series(is_new.to_numpy(), index=records["uid"].to_numpy())
    keep = (head != chosen["uid"]) & (is_new[chosen.index] | new_by_uid.loc[head].to_numpy())
    where = records.set_index("uid")[["system", "record_id"]]
    left = where.loc[head[keep]].reset_index(drop=True)
    right = chosen.loc[keep, ["system", "record_id"]].reset_index(drop=True)
    return pd.DataFrame({"system_l": left["system"], "record_id_l": left["record_id"],
                         "system_r": right["system"], "record_id_r": right["record_id"],
                         "match_probability": 1.0, "evidence": evidence})


def name_key(records: pd.DataFrame) -> pd.Series:
    """The name's pinyin letters in order: one key whichever part comes first, split or not."""
    return records["name_fg"].map(lambda n: "".join(sorted(n)) if isinstance(n, str) else None)


def bare(records: pd.DataFrame) -> pd.Series:
    """Records with nothing to go by but a phone, e-mail or place: no name, birth date or valid ID number."""
    valid_id = records["id_valid"].astype("boolean").fillna(False).astype(bool)
    return records["name_fg"].isna() & records["birth_date"].isna() & ~valid_id


def _names_per_phone(records: pd.DataFrame) -> pd.Series:
    """Per phone, how many names (name_key) the records holding it carry."""
    held = records["name_fg"].notna() & records["phone_hash"].notna()
    return name_key(records)[held].groupby(records.loc[held, "phone_hash"]).nunique()


def bare_on_family_phone(records: pd.DataFrame) -> pd.Series:
    """Bare records whose phone records of several names hold (a family's): nothing tells whose they are."""
    names = _names_per_phone(records)
    return bare(records) & records["phone_hash"].isin(names.index[names > 1])


def _phone_of_one_person(records: pd.DataFrame, is_new: pd.Series) -> pd.DataFrame:
    named = records["name_fg"].notna()
    bare_ = bare(records)
    has_phone = records["phone_hash"].notna()
    names = _names_per_phone(records)
    single = records["phone_hash"].isin(names.index[names == 1])
    members = has_phone & single & (named | bare_)
    order = records.assign(_bare=bare_).sort_values("_bare", kind="stable").index  # a named record heads
    ranked = records.loc[order]
    return _star(ranked, members.loc[order], ranked["phone_hash"], is_new.loc[order],
                 "rule:phone+name, one person")


def rule_pairs(records: pd.DataFrame, new: pd.Series | None = None) -> pd.DataFrame:
    """Pairs (probability 1.0) from every rule. `new` (bool per record) limits them to pairs touching a
    new record. Records come old-first, so a new record joins its group's oldest member."""
    is_new = pd.Series(True, index=records.index) if new is None else new.reindex(records.index, fill_value=False)
    frames = []
    for evidence, columns in EQUAL_RULES:
        usable = records[list(columns)].notna().all(axis=1)
        if "id_hash" in columns:
            usable &= records["id_valid"].astype("boolean").fillna(False).astype(bool)
        group = records[list(columns)].astype(str).agg("|".join, axis=1)
        frames.append(_star(records, usable, group, is_new, evidence))
    frames.append(_phone_of_one_person(records, is_new))
    pairs = pd.concat(frames, ignore_index=True)
    return pairs.groupby(PAIR_COLUMNS[:4], as_index=False, sort=False).agg(
        match_probability=("match_probability", "max"), evidence=("evidence", ";".join))
