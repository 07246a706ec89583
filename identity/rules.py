"""Deterministic pairs, found before any model: the same valid ID number; the same phone and birth date;
the same e-mail and birth date. Each record is tied to the first record of its group (a star is
enough to join a cluster), and only pairs that touch a record in `new` are returned."""

from __future__ import annotations

import pandas as pd

PAIR_COLUMNS = ["system_l", "record_id_l", "system_r", "record_id_r", "match_probability", "evidence"]
# (evidence, the columns that must all be equal and present, a filter on the records first)
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rule:id_number", ("id_hash",)),
    ("rule:phone+birth_date", ("phone_hash", "birth_date")),
    ("rule:email+birth_date", ("email_hash", "birth_date")),
)


def rule_pairs(records: pd.DataFrame, new: pd.Series | None = None) -> pd.DataFrame:
    """Pairs (probability 1.0) from every rule. `new` (bool per record) limits them to pairs touching a new record.

    Records come old-first, so a new record joins its group's oldest member. An ID number counts only
    when its checksum is valid: a typo could make it equal another person's."""
    is_new = pd.Series(True, index=records.index) if new is None else new.reindex(records.index, fill_value=False)
    frames = []
    for evidence, columns in RULES:
        usable = records[list(columns)].notna().all(axis=1)
        if "id_hash" in columns:
            usable &= records["id_valid"].fillna(False).astype(bool)
        group = records[usable]
        head = group.groupby(list(columns), sort=False)["uid"].transform("first")
        keep = (head != group["uid"]) & is_new[group.index]
        left = records.set_index("uid").loc[head[keep], ["system", "record_id"]].reset_index(drop=True)
        right = group.loc[keep, ["system", "record_id"]].reset_index(drop=True)
        frames.append(pd.DataFrame({"system_l": left["system"], "record_id_l": left["record_id"],
                                    "system_r": right["system"], "record_id_r": right["record_id"],
                                    "match_probability": 1.0, "evidence": evidence}))
    pairs = pd.concat(frames, ignore_index=True)
    return pairs.groupby(PAIR_COLUMNS[:4], as_index=False, sort=False).agg(
        match_probability=("match_probability", "max"), evidence=("evidence", ";".join))
