"""identity.assemble on hand-made extracts and links: survivorship, re-keying, uncovered records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from identity.assemble import assemble
from identity.golden import load_survivorship
from nbo.errors import InputFileError
from sources.io import read_table
from sources.validation import validate_dir

A, B, C = "O0000000001", "O0000000002", "O0000000003"


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(folder / f"{name}.parquet")


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """A is in core banking twice (an old and a newer file) and in the app; B in core banking and
    the CRM; C only in WeChat; the CRM's second record is covered by no link."""
    folder = tmp_path / "sources"
    core = {"gender": "F", "segment": "affluent", "marketing_consent": True, "city_tier": 1,
            "join_date": pd.Timestamp("2015-03-01"), "preferred_channel": "app"}
    _write(folder, "core_banking", [
        core | {"record_id": "CIF1", "full_name": "王芳", "phone": "13800000001", "birth_date": "1980-01-02",
                "updated_at": "2016-01-01", "income_monthly": 9000.0},
        core | {"record_id": "CIF2", "full_name": "王方", "phone": "13800000002", "birth_date": "1980-01-02",
                "updated_at": "2024-05-01", "income_monthly": 12000.0},
        core | {"record_id": "CIF3", "full_name": "李强", "phone": None, "birth_date": "1975-07-08",
                "updated_at": "2020-01-01", "gender": "M", "segment": "mass", "income_monthly": None},
    ])
    _write(folder, "mobile_app", [
        {"record_id": "U1", "full_name": "wang fang", "phone": "13900000009", "updated_at": "2025-01-01"},
    ])
    _write(folder, "branch_crm", [
        {"record_id": "CRM1", "full_name": "li qiang", "phone": "13700000007", "birth_date": "19750807",
         "gender": "M", "updated_at": "2026-01-01"},
        {"record_id": "CRM2", "full_name": "赵敏", "phone": "13600000006", "birth_date": "19900101",
         "gender": "F", "updated_at": "2026-01-01"},
    ])
    _write(folder, "online_banking", [
        {"record_id": "NB1", "full_name": None, "family_name": "李", "given_name": "强", "phone": None,
         "updated_at": "2026-02-01"},
    ])
    _write(folder, "wechat", [{"record_id": "WX1", "openid": "oAbc", "phone": "13500000005", "updated_at": None}])
    t = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    _write(folder, "mobile_app_events", [
        {"event_id": 0, "record_id": "U1", "event_time": t, "event_type": "login", "topic": None,
         "product_id": None, "channel": "app"},
    ])
    month = pd.Timestamp("2026-01-01")
    txn = {"month": month, "outflow": 10.0, "outflow_other_banks": 0.0, "txn_count": 2, "card_spend": 0.0,
           "salary_credit": 0.0}
    _write(folder, "core_banking_transactions", [
        txn | {"record_id": "CIF1", "inflow": 100.0}, txn | {"record_id": "CIF2", "inflow": 50.0},
        txn | {"record_id": "CIF3", "inflow": 7.0},
    ])
    return folder


@pytest.fixture
def links(tmp_path: Path) -> Path:
    folder = tmp_path / "links"
    _write(folder, "links", [
        {"system": "core_banking", "record_id": "CIF1", "customer_id": A},
        {"system": "core_banking", "record_id": "CIF2", "customer_id": A},
        {"system": "mobile_app", "record_id": "U1", "customer_id": A},
        {"system": "core_banking", "record_id": "CIF3", "customer_id": B},
        {"system": "branch_crm", "record_id": "CRM1", "customer_id": B},
        {"system": "online_banking", "record_id": "NB1", "customer_id": B},
        {"system": "wechat", "record_id": "WX1", "customer_id": C},
    ])
    return folder


def test_golden_records_follow_the_survivorship_rules(sources: Path, links: Path, tmp_path: Path) -> None:
    done = assemble(sources, links, tmp_path / "bank")
    customers = read_table(tmp_path / "bank", "customers").set_index("customer_id")
    assert list(customers.index) == [A, B, C]
    a, b, c = (customers.loc[x] for x in (A, B, C))
    assert a["name"] == "王方" and a["external_id"] == "CIF2"  # core banking, the newer of A's two files
    assert a["income_monthly"] == 12000.0
    assert a["phone"] == "13900000009"  # the app is trusted first for phones
    assert b["name"] == "李强"  # core banking's characters beat the CRM's pinyin
    assert b["birth_date"] == pd.Timestamp("1975-07-08")  # core banking over the CRM's swapped day and month
    assert b["phone"] == "13700000007"  # core banking has none: the CRM's
    assert pd.isna(c["name"]) and c["phone"] == "13500000005"
    assert c["gender"] == "U" and c["segment"] == "mass" and not c["marketing_consent"]  # the defaults
    assert done.rows["customers"] == 3


def test_activity_is_re_keyed_and_one_customers_records_combined(sources: Path, links: Path, tmp_path: Path) -> None:
    assemble(sources, links, tmp_path / "bank")
    events = read_table(tmp_path / "bank", "events")
    assert events["customer_id"].tolist() == [A]
    txns = read_table(tmp_path / "bank", "transactions").set_index("customer_id")
    assert txns.loc[A, "inflow"] == 150.0 and txns.loc[A, "txn_count"] == 4  # CIF1 and CIF2 in one month
    assert txns.loc[B, "inflow"] == 7.0
    found = validate_dir(tmp_path / "bank")
    assert {v.file.rsplit("/", 1)[-1] for v in found.violations} <= {"holdings.parquet", "credit.parquet",
                                                                       "products.parquet"}  # not in this source


def test_records_and_rows_no_link_covers_are_reported(sources: Path, links: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(links / "links.parquet")
    frame[frame["record_id"] != "CIF3"].to_parquet(links / "links.parquet")
    done = assemble(sources, links, tmp_path / "bank")
    where = sorted((Path(v.file).name, v.row, v.column) for v in done.uncovered)
    assert where == [("branch_crm.parquet", 2, "record_id"), ("core_banking.parquet", 3, "record_id")]
    assert done.unlinked_rows == {str(sources / "core_banking_transactions.parquet"): 1}
    b = read_table(tmp_path / "bank", "customers").set_index("customer_id").loc[B]
    assert b["name"] == "李强"  # without core banking: online banking's family and given name, before the CRM's


def test_bad_inputs_are_clear_errors(sources: Path, links: Path, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no links file"):
        assemble(sources, tmp_path / "nowhere", tmp_path / "bank")
    pd.DataFrame({"system": ["x"], "record_id": ["1"]}).to_parquet(links / "links.parquet")
    with pytest.raises(InputFileError, match="customer_id"):
        assemble(sources, links, tmp_path / "bank")
    pd.DataFrame({"system": ["wechat", "wechat"], "record_id": ["WX1", "WX1"],
                  "customer_id": [A, B]}).to_parquet(links / "links.parquet")
    with pytest.raises(InputFileError, match=r"links.parquet row 2 column record_id: wechat record 'WX1'"):
        assemble(sources, links, tmp_path / "bank")
    pd.DataFrame({"system": ["wechat"], "record_id": ["WX1"], "customer_id": [C]}).to_parquet(links / "links.parquet")
    pd.DataFrame({"record_id": ["WX1", "WX2", "WX1"], "openid": ["a", "b", "c"]}).to_parquet(sources / "wechat.parquet")
    with pytest.raises(InputFileError, match=r"wechat.parquet row 3 column record_id: 'WX1' is missing or repeats"):
        assemble(sources, links, tmp_path / "bank")
    rules = tmp_path / "rules.toml"
    rules.write_text('[columns.nickname]\nsource = "nickname"\nsystems = ["wechat"]\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"\[columns.nickname\] is not a column"):
        load_survivorship(rules)
    assert not (tmp_path / "bank").exists()


def test_owners_follow_the_crm_then_core_banking_and_the_manifest_names_the_inputs(
        sources: Path, links: Path, tmp_path: Path) -> None:
    from identity.owners import load_owners
    from sources.validation import ValidationReport, sources_of, validate_links

    for name, rms in (("core_banking", ["RM011", "RM012", "RM021"]), ("branch_crm", ["RM099", "RM098"])):
        frame = pd.read_parquet(sources / f"{name}.parquet")
        frame.assign(rm_id=rms).to_parquet(sources / f"{name}.parquet")
    done = assemble(sources, links, tmp_path / "out")
    # A: core banking only, its newer file; B: the CRM's RM over core banking's; C: no record names one
    assert load_owners(done.out).to_dict() == {A: "RM012", B: "RM099", C: None}
    assert "rm_id" not in read_table(done.out, "customers")
    assert sources_of(done.out) == sources.resolve() and sources_of(sources.parent) == sources.parent / "sources"
    report = ValidationReport(data_dir=str(done.out))
    validate_links(done.out, links, report)  # the extracts behind the assembled tables, found by assembly.json
    assert [(Path(v.file).name, v.row) for v in report.violations] == [("branch_crm.parquet", 2)]
