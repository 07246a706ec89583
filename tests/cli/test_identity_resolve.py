"""`nbo identity resolve` as a user runs it: bad extracts refused with file, row and column and nothing
written; every record linked; a family's shared phone merges nobody; a customer who changed phone and
moved stays one; an incremental run keeps the ids it gave. Extracts: those `nbo data generate` writes
for a small bank, plus a few hand-made people."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import run_cli

CUSTOMERS = 300
SYSTEMS = ("core_banking", "mobile_app", "online_banking", "branch_crm", "call_centre", "wechat")
# Hand-made people: (system, record_id, full_name, birth_date, gender, phone, id_number, address)
FAMILY_PHONE = "13912345678"
PEOPLE = [
    # A couple sharing one phone, in core banking and the branch CRM: two customers.
    ("core_banking", "FAM-1", "欧阳建国", "1961-03-08", "M", FAMILY_PHONE, None, "杭州市西湖区文三路1号"),
    ("core_banking", "FAM-2", "李秀兰", "1963-11-21", "F", FAMILY_PHONE, None, "杭州市西湖区文三路1号"),
    ("branch_crm", "FAM-3", "Ouyang Jianguo", "19610308", "M", FAMILY_PHONE, None, None),
    ("branch_crm", "FAM-4", "Li Xiulan", "19631121", "F", FAMILY_PHONE, None, None),
    # Changed phone and moved: the core record holds the old phone and home; the CRM the new ones.
    ("core_banking", "MOV-1", "司马光明", "1979-07-14", "M", "13600001111", None, "成都市武侯区人民南路8号"),
    ("branch_crm", "MOV-2", "Guangming Sima", "1979-07-14", "M", "+86 186 0000 2222", None, None),
    ("call_centre", "MOV-3", "sima guangming", "19790714", "M", "18600002222", None, None),
]
PEOPLE_TRUTH = {"FAM-1": "H1", "FAM-3": "H1", "FAM-2": "H2", "FAM-4": "H2", "MOV-1": "M", "MOV-2": "M", "MOV-3": "M"}


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """CSV extracts by system: what `nbo data generate` writes for a small bank, hand-made people added."""
    root = tmp_path_factory.mktemp("extracts")
    run_cli("data", "generate", "--customers", CUSTOMERS, "--months", "6", "--seed", "11", "--out", root / "bank")
    out = {}
    for system in SYSTEMS:
        frame = pd.read_parquet(root / "bank" / "sources" / f"{system}.parquet").astype(object)
        mine = pd.DataFrame([dict(zip(("system", "record_id", "full_name", "birth_date", "gender", "phone",
                                       "id_number", "address"), p, strict=True)) for p in PEOPLE if p[0] == system])
        if len(mine):
            frame = pd.concat([frame, mine[[c for c in mine.columns if c in frame.columns]]], ignore_index=True)
        out[system] = root / f"{system}.csv"
        frame.to_csv(out[system], index=False)
    return out


def _systems(files: dict[str, Path]) -> list[str]:
    return [arg for system, path in files.items() for arg in ("--system", f"{system}={path}")]


def _resolve(files: dict[str, Path], out: Path, state: Path, *extra: str, check: bool = True):
    return run_cli("identity", "resolve", *_systems(files), "--out", out, "--json", *extra,
                   env={"NBO_STATE_DIR": str(state)}, check=check)


@pytest.fixture(scope="module")
def resolved(extracts, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("resolved")
    proc = _resolve(extracts, root / "out", root / "state")
    return root / "out", json.loads(proc.stdout)


def _links(out: Path) -> pd.Series:
    links = pd.read_parquet(out / "links.parquet")
    return pd.Series(links["customer_id"].to_numpy(), index=links["system"] + ":" + links["record_id"])


def test_every_record_gets_a_oneid_and_the_report_says_what_was_done(resolved, extracts):
    out, summary = resolved
    links = pd.read_parquet(out / "links.parquet")
    expected = sum(len(pd.read_csv(p, dtype=str)) for p in extracts.values())
    assert len(links) == expected == summary["records"]
    assert list(links.columns) == ["system", "record_id", "customer_id", "match_probability", "evidence"]
    assert links["customer_id"].str.fullmatch(r"O\d{10}").all()
    assert not links.duplicated(["system", "record_id"]).any()
    linked = links["match_probability"].notna()
    assert links.loc[linked, "match_probability"].between(0.9, 1).all()
    assert links.loc[linked, "evidence"].str.len().gt(0).all()
    report = json.loads((out / "report.json").read_text())
    assert report["candidate_pairs_compared"] > 0 and report["clusters"] == links["customer_id"].nunique()
    levels = {lv["level"] for lv in report["parameters"]["comparisons"]["name"]}
    assert {"exact", "swapped", "jw>0.92"} <= levels
    assert set(report["timings"]) >= {"read_seconds", "train_seconds", "score_seconds"}


def test_links_recover_the_planted_customers(resolved, extracts, tmp_path):
    """Quality on the seeded set, measured by `nbo identity evaluate` against the truth."""
    out, _ = resolved
    truth = pd.read_parquet(extracts["core_banking"].parent / "bank" / "truth" / "source_records.parquet")
    truth = pd.concat([truth, pd.DataFrame([(p[0], p[1], PEOPLE_TRUTH[p[1]]) for p in PEOPLE],
                                           columns=truth.columns)], ignore_index=True)
    truth.to_parquet(tmp_path / "truth.parquet")
    quality = json.loads(run_cli("identity", "evaluate", "--links", out, "--truth", tmp_path / "truth.parquet",
                                 "--json").stdout)
    assert quality["precision"] > 0.97 and quality["recall"] > 0.8
    assert [c["threshold"] for c in quality["threshold_curve"]] == sorted(c["threshold"] for c in
                                                                         quality["threshold_curve"])


def test_a_family_sharing_a_phone_is_not_merged(resolved):
    ids = _links(resolved[0])
    assert ids["core_banking:FAM-1"] == ids["branch_crm:FAM-3"]
    assert ids["core_banking:FAM-2"] == ids["branch_crm:FAM-4"]
    assert ids["core_banking:FAM-1"] != ids["core_banking:FAM-2"]


def test_a_customer_who_changed_phone_and_moved_is_still_one_customer(resolved):
    ids = _links(resolved[0])
    assert ids["core_banking:MOV-1"] == ids["branch_crm:MOV-2"] == ids["call_centre:MOV-3"]


def test_phones_and_id_numbers_never_leave_in_clear(resolved, extracts):
    out, _ = resolved
    core = pd.read_csv(extracts["core_banking"], dtype=str)
    secrets = set(core["phone"].dropna().head(50)) | set(core["id_number"].dropna().head(50)) | {FAMILY_PHONE}
    written = b"".join(p.read_bytes() for p in out.iterdir())
    assert not [s for s in secrets if s.encode() in written]
    key = out.parent / "state" / "identity.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_an_incremental_run_keeps_existing_ids(extracts, tmp_path):
    first = {s: tmp_path / f"{s}-first.csv" for s in extracts}
    for system, path in extracts.items():
        frame = pd.read_csv(path, dtype=str)
        mine = frame["record_id"].isin(PEOPLE_TRUTH)
        early = pd.Series(range(len(frame))) < 0.7 * len(frame)
        frame[(early & ~mine) | (mine & ~frame["record_id"].isin(["MOV-3", "FAM-4"]))].to_csv(first[system],
                                                                                            index=False)
    state, out = tmp_path / "state", tmp_path / "out"
    before = json.loads(_resolve(first, out, state).stdout)
    ids_before = _links(out)
    after = json.loads(_resolve(extracts, out, state).stdout)
    ids_after = _links(out)
    assert after["incremental"] and after["new_records"] == after["records"] - before["records"]
    assert after["candidate_pairs_compared"] < before["candidate_pairs_compared"]
    aliases = pd.read_parquet(out / "aliases.parquet")
    moved = ids_before[ids_after.loc[ids_before.index] != ids_before]
    # An id changes only when its customer merged into another: then it is an alias of the new id.
    assert set(moved) <= set(aliases["alias_id"])
    assert len(moved) < 0.02 * len(ids_before)
    assert ids_after["call_centre:MOV-3"] == ids_before["core_banking:MOV-1"]
    assert ids_after["branch_crm:FAM-4"] == ids_before["core_banking:FAM-2"] != ids_after["core_banking:FAM-1"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("content", "expected"), [
    ("", "empty"),
    ("record_id,full_name\n", "empty"),
    ("record_id,nickname,device_id\nA1,Tony,x\n", "header (line 1): none of the identifying columns"),
    ("full_name,phone\n张伟,13800000000\n", "header (line 1), column record_id"),
    ("record_id,full_name\nA1,张伟\nA2,李娜\nA1,王芳\n", "line 4, column record_id: record_id 'A1' duplicates "),
    ("record_id,full_name,birth_date\nA1,张伟,1990-01-01\nA2,李娜,1990-02-30\n", "line 3, column birth_date"),
    ("record_id,full_name,birth_date\nA1,张伟,01/02/1990\n", "line 2, column birth_date"),
])
def test_bad_extracts_are_refused_naming_file_row_and_column(tmp_path, extracts, content, expected):
    bad = _write(tmp_path / "crm.csv", content)
    out = tmp_path / "out"
    proc = _resolve({"core_banking": extracts["core_banking"], "branch_crm": bad}, out, tmp_path / "state",
                    check=False)
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr and expected in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    body = json.loads(proc.stdout)
    assert body["error"] == "ContractViolation" and body["violations"][0]["file"] == str(bad)
    assert not out.exists()


def test_a_missing_file_exits_3_and_a_bad_option_is_a_usage_error(tmp_path):
    proc = _resolve({"core_banking": tmp_path / "nope.csv"}, tmp_path / "out", tmp_path / "state", check=False)
    assert proc.returncode == 3 and "nope.csv: no such file" in proc.stderr
    proc = run_cli("identity", "resolve", "--system", "core banking.csv", "--out", tmp_path / "out", check=False)
    assert proc.returncode == 2 and "expected NAME=FILE" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_other_columns_are_ignored_with_a_warning(resolved):
    # mobile_app carries device_id, wechat nickname and openid: the run above succeeded without them.
    out, _ = resolved
    records = pd.read_parquet(out / "records.parquet")
    assert "device_id" not in records.columns and "nickname" not in records.columns


def test_a_merge_and_a_split_survive_a_full_resolve_rerun(extracts, tmp_path):
    """Corrections made with `nbo identity merge/split` are kept when `nbo identity resolve` runs again."""
    state, out = tmp_path / "state", tmp_path / "out"
    _resolve(extracts, out, state)
    ids = _links(out)
    husband, wife = ids["core_banking:FAM-1"], ids["core_banking:FAM-2"]
    assert husband != wife
    run_cli("identity", "merge", husband, wife, "--reason", "one person: the branch saw the ID card", "--out", out)
    run_cli("identity", "split", "call_centre:MOV-3", "--reason", "the caller was the son", "--out", out)
    corrected = _links(out)
    assert corrected["core_banking:FAM-1"] == corrected["core_banking:FAM-2"]
    assert corrected["call_centre:MOV-3"] != corrected["core_banking:MOV-1"]

    _resolve(extracts, out, state)  # the same extracts again: the matcher alone would undo both corrections
    again = _links(out)
    assert again["core_banking:FAM-1"] == again["core_banking:FAM-2"] == again["branch_crm:FAM-3"]
    assert again["call_centre:MOV-3"] != again["core_banking:MOV-1"] == again["branch_crm:MOV-2"]
    assert set(pd.read_parquet(out / "decisions.parquet")["kind"]) == {"merge", "split"}
