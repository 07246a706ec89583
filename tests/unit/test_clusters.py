"""identity.clusters.assign_ids: clusters, stable ids, aliases and manual decisions, on hand-made pairs."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from identity.clusters import assign_ids, pairs_from_links
from identity.decisions import DECISION_COLUMNS

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def recs(*keys: str) -> pd.DataFrame:
    return pd.DataFrame([k.split(":", 1) for k in keys], columns=["system", "record_id"])


def pairs(*rows: tuple[str, str, float]) -> pd.DataFrame:
    out = [(*a.split(":", 1), *b.split(":", 1), p, f"ev:{a}-{b}") for a, b, p in rows]
    return pd.DataFrame(out, columns=["system_l", "record_id_l", "system_r", "record_id_r",
                                      "match_probability", "evidence"])


def decisions(*rows: tuple[str, list[str], list[str]]) -> pd.DataFrame:
    return pd.DataFrame([{"decision_id": f"D{i + 1:06d}", "kind": kind, "subjects": subjects, "records": records,
                          "who": "admin", "when": pd.Timestamp(T0) + pd.Timedelta(minutes=i), "why": "checked"}
                         for i, (kind, subjects, records) in enumerate(rows)], columns=DECISION_COLUMNS)


def ids(assignment) -> dict[str, str]:
    links = assignment.links
    return dict(zip(links["system"] + ":" + links["record_id"], links["customer_id"], strict=True))


def row(assignment, key: str) -> pd.Series:
    links = assignment.links
    return links[(links["system"] + ":" + links["record_id"]) == key].iloc[0]


RECORDS = recs("core:1", "app:a", "crm:x", "core:2", "app:b", "wechat:w")
PAIRS = pairs(("core:1", "app:a", 0.99), ("app:a", "crm:x", 0.95), ("crm:x", "core:1", 0.40),
              ("core:2", "app:b", 0.97), ("app:b", "wechat:w", 0.30))


def test_components_at_or_above_the_threshold_with_the_strongest_pair_and_fresh_ids():
    got = assign_ids(RECORDS, PAIRS, 0.95)
    by = ids(got)
    assert by["core:1"] == by["app:a"] == by["crm:x"] == "O0000000001"
    assert by["core:2"] == by["app:b"] == "O0000000002"
    assert by["wechat:w"] == "O0000000003"  # 0.30 is below the threshold
    assert row(got, "app:a")["match_probability"] == 0.99  # its strongest pair, not the 0.95 one
    assert row(got, "app:a")["evidence"] == "ev:core:1-app:a"
    assert row(got, "crm:x")["match_probability"] == 0.95  # the 0.40 pair is below the threshold
    assert np.isnan(row(got, "wechat:w")["match_probability"]) and row(got, "wechat:w")["evidence"] == ""
    assert got.aliases.empty


def test_transitive_chain_is_one_customer():
    chain = recs(*[f"s:{i}" for i in range(6)])
    links = pairs(*[(f"s:{i}", f"s:{i + 1}", 0.9) for i in range(5)])
    assert len(set(ids(assign_ids(chain, links, 0.9)).values())) == 1


def test_empty_pairs_make_singletons_and_empty_records_an_empty_answer():
    got = assign_ids(RECORDS, pairs(), 0.9)
    assert sorted(got.links["customer_id"]) == [f"O{i:010d}" for i in range(1, 7)]
    assert got.links["match_probability"].isna().all()
    none = assign_ids(recs(), pairs(), 0.9)
    assert none.links.empty and list(none.links.columns) == ["system", "record_id", "customer_id",
                                                             "match_probability", "evidence"]


def test_a_rerun_keeps_every_id_and_new_records_join_or_get_fresh_ids():
    first = assign_ids(RECORDS, PAIRS, 0.95)
    more = pd.concat([RECORDS, recs("crm:y", "call:c")], ignore_index=True)
    extra = pd.concat([PAIRS, pairs(("crm:y", "core:2", 0.98))], ignore_index=True)
    # the records arrive in another order: ids follow the records, not their positions
    second = assign_ids(more.iloc[::-1].reset_index(drop=True), extra, 0.95, previous=first.links)
    before, after = ids(first), ids(second)
    assert all(after[k] == v for k, v in before.items())
    assert after["crm:y"] == before["core:2"]
    assert after["call:c"] == "O0000000004"


def test_two_existing_customers_merge_the_larger_id_survives_the_other_is_an_alias():
    first = assign_ids(RECORDS, PAIRS, 0.95)
    bridged = pd.concat([PAIRS, pairs(("crm:x", "app:b", 0.99))], ignore_index=True)
    second = assign_ids(RECORDS, bridged, 0.95, previous=first.links, now=T0)
    assert set(ids(second)[k] for k in ("core:1", "app:a", "crm:x", "core:2", "app:b")) == {"O0000000001"}
    assert second.aliases.to_dict("records") == [
        {"alias_id": "O0000000002", "customer_id": "O0000000001", "merged_at": pd.Timestamp(T0), "reason": "matcher"}]


def test_on_a_tie_the_older_id_survives():
    first = assign_ids(recs("a:1", "b:1"), pairs(), 0.9)
    assert ids(first) == {"a:1": "O0000000001", "b:1": "O0000000002"}
    second = assign_ids(recs("b:1", "a:1"), pairs(("b:1", "a:1", 0.99)), 0.9, previous=first.links)
    assert set(ids(second).values()) == {"O0000000001"}
    assert second.aliases["alias_id"].tolist() == ["O0000000002"]


def test_an_id_is_never_reused_not_even_one_that_became_an_alias():
    first = assign_ids(recs("a:1", "b:1"), pairs(), 0.9)
    merged = assign_ids(recs("a:1", "b:1"), pairs(("a:1", "b:1", 0.99)), 0.9, previous=first.links)
    assert set(merged.links["customer_id"]) == {"O0000000001"}
    later = assign_ids(recs("a:1", "b:1", "c:1"), pairs(("a:1", "b:1", 0.99)), 0.9,
                       previous=merged.links, aliases=merged.aliases)
    assert ids(later)["c:1"] == "O0000000003"  # O0000000002 is an alias: never given out again
    assert later.aliases["alias_id"].tolist() == ["O0000000002"]


def test_a_cluster_cut_in_two_keeps_its_id_on_the_larger_part():
    first = assign_ids(RECORDS, PAIRS, 0.95)
    cut = PAIRS[~((PAIRS["record_id_l"] == "a") & (PAIRS["record_id_r"] == "x"))]
    second = assign_ids(RECORDS, cut, 0.95, previous=first.links)
    assert ids(second)["core:1"] == ids(second)["app:a"] == "O0000000001"
    assert ids(second)["crm:x"] == "O0000000004"
    assert second.aliases.empty


def test_split_takes_a_record_out_of_its_cluster_and_survives_a_rerun():
    first = assign_ids(RECORDS, PAIRS, 0.95)
    made = decisions(("split", ["app:a"], ["app:a"]))
    for previous in (first.links, None):  # applied on a rerun with the same pairs, and from scratch
        got = assign_ids(RECORDS, PAIRS, 0.95, previous=previous, decisions=made)
        by = ids(got)
        assert by["app:a"] not in {by["core:1"], by["crm:x"], by["core:2"]}
        assert by["core:1"] != by["crm:x"]  # app:a was the only bridge between them
        assert np.isnan(row(got, "app:a")["match_probability"])
        assert row(got, "app:a")["evidence"] == "split:D000001"
    rerun = ids(assign_ids(RECORDS, PAIRS, 0.95, previous=first.links, decisions=made))
    assert rerun["core:1"] == "O0000000001" and rerun["app:a"] == "O0000000004"  # a fresh id, never O…3 again


def test_split_into_a_named_customer():
    made = decisions(("split", ["app:a", "O0000000002"], ["app:a", "core:2", "app:b"]))
    got = assign_ids(RECORDS, PAIRS, 0.95, decisions=made)
    by = ids(got)
    assert by["app:a"] == by["core:2"] == by["app:b"]
    assert by["core:1"] != by["app:a"]
    assert row(got, "app:a")["match_probability"] == 1.0 and row(got, "app:a")["evidence"] == "split:D000001"


def test_merge_joins_two_customers_against_the_matcher_and_survives_a_rerun():
    first = assign_ids(RECORDS, PAIRS, 0.95)
    made = decisions(("merge", ["O0000000001", "O0000000003"], ["core:1", "app:a", "crm:x", "wechat:w"]))
    second = assign_ids(RECORDS, PAIRS, 0.95, previous=first.links, decisions=made, now=T0)
    third = assign_ids(RECORDS, PAIRS, 0.95, previous=second.links, decisions=made, aliases=second.aliases)
    for got in (second, third):
        by = ids(got)
        assert by["wechat:w"] == by["core:1"] == "O0000000001"
        assert row(got, "wechat:w")["evidence"] == "merge:D000001"
    assert second.aliases[["alias_id", "customer_id", "reason"]].to_dict("records") == [
        {"alias_id": "O0000000003", "customer_id": "O0000000001", "reason": "decision D000001"}]
    assert third.aliases["alias_id"].tolist() == ["O0000000003"]


def test_a_later_split_wins_over_an_earlier_merge_and_the_rest_stays_merged():
    made = decisions(("merge", ["O0000000001", "O0000000003"], ["core:1", "app:a", "crm:x", "wechat:w"]),
                     ("split", ["wechat:w"], ["wechat:w"]))
    by = ids(assign_ids(RECORDS, pairs(), 0.95, decisions=made))  # no matcher pairs at all
    assert by["core:1"] == by["app:a"] == by["crm:x"] != by["wechat:w"]


def test_a_decision_naming_a_record_no_longer_present_keeps_the_rest():
    made = decisions(("merge", ["O0000000001", "O0000000002"], ["gone:1", "core:1", "core:2"]),
                     ("split", ["gone:2"], ["gone:2"]))
    by = ids(assign_ids(RECORDS, pairs(), 0.95, decisions=made))
    assert by["core:1"] == by["core:2"]


@pytest.mark.parametrize("threshold", [0.0, 0.95])
def test_pairs_from_links_reproduce_the_links_and_an_incremental_run_adds_to_them(threshold: float):
    made = decisions(("merge", ["O0000000002", "O0000000003"], ["core:2", "app:b", "wechat:w"]),
                     ("split", ["app:a", "O0000000001"], ["app:a"]))
    first = assign_ids(RECORDS, PAIRS, 0.95, decisions=made)
    again = assign_ids(RECORDS, pairs_from_links(first.links, made), threshold, previous=first.links, decisions=made)
    pd.testing.assert_frame_equal(again.links, first.links)
    # new records' pairs only (as `resolve` compares them), on top of the existing customers
    more = pd.concat([RECORDS, recs("call:c")], ignore_index=True)
    new_pairs = pd.concat([pairs_from_links(first.links, made), pairs(("call:c", "crm:x", 0.97))])
    later = assign_ids(more, new_pairs, 0.95, previous=first.links, decisions=made)
    assert ids(later) == ids(first) | {"call:c": ids(first)["crm:x"]}
    assert row(later, "core:1")["evidence"] == row(first, "core:1")["evidence"]


def test_bad_input_is_named():
    with pytest.raises(Exception, match="core:1 appears more than once"):
        assign_ids(recs("core:1", "core:1"), pairs(), 0.9)
    with pytest.raises(Exception, match="names a record not among the records"):
        assign_ids(recs("core:1"), pairs(("core:1", "app:zz", 0.99)), 0.9)
