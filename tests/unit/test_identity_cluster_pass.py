"""The cluster-level pass: who a record left (nearly) alone joins, and when it joins nobody."""

from __future__ import annotations

import numpy as np
import pandas as pd

from identity.cluster_pass import NAMESAKE, PHONE, cluster_pairs

COLUMNS = ["system", "record_id", "name_fg", "birth_date", "gender", "city", "postcode", "phone_hash", "id_hash",
           "id_valid"]


def _records(*rows: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """Records (each row: record_id, cluster and any identifier) and their first-pass clusters."""
    frame = pd.DataFrame([{c: row.get(c) for c in COLUMNS} | {"system": "s"} for row in rows])
    return frame, np.array([row["cluster"] for row in rows])


def _ties(records: pd.DataFrame, cluster: np.ndarray) -> set[tuple[str, str, str]]:
    pairs = cluster_pairs(records, cluster, 0.9)
    assert (pairs["match_probability"] == 0.9).all()
    return {(*sorted((r.record_id_l, r.record_id_r)), r.evidence) for r in pairs.itertuples()}


def test_a_lone_record_joins_the_only_other_holder_of_its_name_in_either_order():
    records, cluster = _records(
        {"record_id": "a1", "cluster": 0, "name_fg": "zhangwei", "birth_date": "1980-01-02", "city": "上海"},
        {"record_id": "a2", "cluster": 0, "name_fg": "zhangwei", "phone_hash": "p1"},
        {"record_id": "b", "cluster": 1, "name_fg": "weizhang", "phone_hash": "p9"},  # a call from another number
    )
    assert _ties(records, cluster) == {("a1", "b", NAMESAKE)}


def test_a_record_that_contradicts_its_namesake_joins_nobody():
    records, cluster = _records(
        {"record_id": "a", "cluster": 0, "name_fg": "zhangwei", "birth_date": "1980-01-02", "gender": "M"},
        {"record_id": "b", "cluster": 1, "name_fg": "zhangwei", "birth_date": "1991-07-30"},
        {"record_id": "c", "cluster": 2, "name_fg": "zhangwei", "gender": "F"},
    )
    assert _ties(records, cluster) == set()


def test_the_one_fitting_namesake_of_the_city_wins_and_two_tie_nobody():
    base = [{"record_id": "x1", "cluster": 0, "name_fg": "lina", "city": "北京", "gender": "F"},
            {"record_id": "x2", "cluster": 0, "name_fg": "lina", "phone_hash": "p1"},
            {"record_id": "y1", "cluster": 1, "name_fg": "lina", "city": "成都"},
            {"record_id": "new", "cluster": 2, "name_fg": "lina", "city": "北京"}]
    assert _ties(*_records(*base)) == {("new", "x1", NAMESAKE)}
    second_in_beijing = {"record_id": "z1", "cluster": 3, "name_fg": "lina", "city": "北京"}
    assert _ties(*_records(*base, second_in_beijing)) == set()


def test_a_bare_record_joins_the_cluster_holding_its_phone_most_and_a_tie_joins_nobody():
    family = [{"record_id": "head1", "cluster": 0, "name_fg": "wangfang", "phone_hash": "home"},
              {"record_id": "head2", "cluster": 0, "name_fg": "wangfang", "phone_hash": "home"},
              {"record_id": "son", "cluster": 1, "name_fg": "wangqiang", "phone_hash": "home"},  # typed at a branch
              {"record_id": "login", "cluster": 2, "phone_hash": "home"}]
    assert _ties(*_records(*family)) == {("head1", "login", PHONE)}
    tie = [*family[:1], *family[2:]]
    assert _ties(*_records(*tie)) == set()
