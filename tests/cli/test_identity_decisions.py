"""`nbo identity merge` / `nbo identity split`: applied at once, audited, kept by a rerun; bad input writes nothing.

The OneID folder is made by `identity.clusters.assign_ids` from hand-made pairs (the matcher's scored
pairs have this shape); "a rerun" is `assign_ids` again on the same pairs with what the folder holds.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from identity.clusters import assign_ids
from identity.decisions import load_aliases, load_decisions, load_links
from tests.conftest import run_cli, run_json

RECORDS = pd.DataFrame([("core_banking", "C1"), ("mobile_app", "U1"), ("branch_crm", "R1"),
                        ("core_banking", "C2"), ("mobile_app", "U2"), ("wechat", "W2"),
                        ("call_centre", "K3"), ("branch_crm", "R4"), ("wechat", "W5")],
                       columns=["system", "record_id"])
PAIRS = pd.DataFrame([("core_banking", "C1", "mobile_app", "U1", 0.99, "rule:id_number"),
                      ("mobile_app", "U1", "branch_crm", "R1", 0.97, "name:jw>0.92;phone:exact"),
                      ("core_banking", "C2", "mobile_app", "U2", 0.98, "name:exact;birth_date:exact"),
                      ("mobile_app", "U2", "wechat", "W2", 0.96, "phone:exact"),
                      ("call_centre", "K3", "branch_crm", "R4", 0.42, "name:jw>0.80")],
                     columns=["system_l", "record_id_l", "system_r", "record_id_r", "match_probability", "evidence"])
THRESHOLD = 0.9


@pytest.fixture()
def out(tmp_path: Path) -> Path:
    first = assign_ids(RECORDS, PAIRS, THRESHOLD)
    first.links.to_parquet(tmp_path / "links.parquet", index=False)
    first.aliases.to_parquet(tmp_path / "aliases.parquet", index=False)
    return tmp_path


def ids(links: pd.DataFrame) -> dict[str, str]:
    return dict(zip(links["system"] + ":" + links["record_id"], links["customer_id"], strict=True))


def rerun(out: Path) -> dict[str, str]:
    """What the next resolve on the same pairs does with the folder's links, aliases and decisions."""
    again = assign_ids(RECORDS, PAIRS, THRESHOLD, previous=load_links(out), decisions=load_decisions(out),
                       aliases=load_aliases(out))
    return ids(again.links)


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file in the folder, by name (a refused decision leaves it exactly as it was)."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_merge_applies_at_once_is_audited_and_survives_reruns(out: Path):
    before = ids(load_links(out))
    a, b = before["core_banking:C1"], before["call_centre:K3"]
    got = run_json("identity", "merge", a, b, "--reason", "same person: RM checked the ID card at the branch",
                   "--by", "admin.li", "--out", out)
    assert got["customer_id"] == a and got["alias_id"] == b  # 3 records against 1: the larger survives
    links = ids(load_links(out))
    assert links["call_centre:K3"] == links["mobile_app:U1"] == a
    assert load_aliases(out)[["alias_id", "customer_id"]].to_dict("records") == [{"alias_id": b, "customer_id": a}]
    decision = load_decisions(out).iloc[0]
    assert (decision["decision_id"], decision["kind"], list(decision["subjects"])) == ("D000001", "merge", [a, b])
    assert decision["who"] == "admin.li" and decision["why"].startswith("same person")
    assert decision["when"].tzinfo is not None
    assert ids(load_links(out)) == rerun(out)  # the matcher's pairs alone would keep K3 apart
    # merging through the alias is merging the customer with itself
    refused = run_cli("identity", "merge", b, a, "--reason", "again", "--out", out, check=False)
    assert refused.returncode != 0 and f"{b} and {a} are both {a}" in refused.stderr


def test_split_alone_and_into_a_customer_survive_a_rerun(out: Path):
    before = ids(load_links(out))
    got = run_json("identity", "split", "wechat:W2", "--reason", "WeChat account belongs to the son",
                   "--out", out)
    assert got["previous_customer_id"] == before["wechat:W2"]
    alone = got["customer_id"]
    assert alone not in before.values()
    links = load_links(out)
    w2 = links[links["record_id"] == "W2"].iloc[0]
    assert w2["evidence"] == "split:D000001" and pd.isna(w2["match_probability"])
    assert ids(links)["mobile_app:U2"] == before["mobile_app:U2"]  # the rest keeps its id
    # the record's evidence is kept for the records untouched by the decision
    assert links.loc[links["record_id"] == "C1", "evidence"].item() == "rule:id_number"

    moved = run_json("identity", "split", "wechat:W2", "--into", before["call_centre:K3"],
                     "--reason", "the son is the call-centre caller", "--out", out)
    assert moved["customer_id"] == before["call_centre:K3"]
    after = rerun(out)
    assert after == ids(load_links(out))
    assert after["wechat:W2"] == after["call_centre:K3"] != after["mobile_app:U2"]
    assert list(load_decisions(out)["decision_id"]) == ["D000001", "D000002"]


def test_concurrent_decisions_are_all_kept(out: Path):
    records = ["core_banking:C1", "mobile_app:U1", "core_banking:C2", "mobile_app:U2"]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda r: run_json("identity", "split", r, "--reason", "test", "--out", out), records))
    assert sorted(d["decision_id"] for d in done) == ["D000001", "D000002", "D000003", "D000004"]
    decisions = load_decisions(out)
    assert sorted(r[0] for r in decisions["records"]) == sorted(records)
    links = ids(load_links(out))
    assert len({links[r] for r in records}) == 4  # each split applied, none lost


@pytest.mark.parametrize(("args", "message"), [
    (("merge", "O0000000001", "O0000000099", "--reason", "x"), "no customer O0000000099"),
    (("merge", "O0000000001", "O0000000001", "--reason", "x"), "cannot merge O0000000001 with itself"),
    (("merge", "O0000000001", "O0000000002", "--reason", "   "), "the reason is empty"),
    (("split", "branch_crm:R999", "--reason", "x"), "no record branch_crm:R999"),
    (("split", "R1", "--reason", "x"), "expected SYSTEM:RECORD_ID"),
    (("split", "wechat:W5", "--reason", "x"), "already the only record of"),
    (("split", "branch_crm:R1", "--into", "O0000000001", "--reason", "x"), "already belongs to O0000000001"),
    (("split", "branch_crm:R1", "--into", "O0000000077", "--reason", "x"), "no customer O0000000077"),
    (("split", "branch_crm:R1", "--reason", ""), "the reason is empty"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(out: Path, args: tuple[str, ...], message: str):
    assert ids(load_links(out))["branch_crm:R1"] == "O0000000001"
    before = snapshot(out)
    proc = run_cli("identity", *args, "--out", out, "--json", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert message in json.loads(proc.stdout)["message"]
    assert snapshot(out) == before
    assert "Traceback" not in proc.stderr


def test_a_folder_oneid_never_ran_in(tmp_path: Path):
    proc = run_cli("identity", "merge", "O0000000001", "O0000000002", "--reason", "x", "--out", tmp_path / "none",
                   check=False)
    assert proc.returncode != 0 and "run `nbo identity resolve" in proc.stderr
    assert not (tmp_path / "none").exists()
