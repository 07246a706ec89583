"""The source-system extracts `nbo data generate` writes, and `nbo data assemble` / `validate --links` on them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sources.io import read_table
from sources.synthetic.identities import Pinyin, is_valid_id
from tests.conftest import run_cli, run_json

SYSTEMS = ("core_banking", "mobile_app", "online_banking", "branch_crm", "call_centre", "wechat")


@pytest.fixture(scope="module")
def extracts(generated_bank: Path) -> dict[str, pd.DataFrame]:
    """Each system's extract with the truth's customer_id joined on (as the tests' answer key)."""
    truth = pd.read_parquet(generated_bank / "truth" / "source_records.parquet")
    out = {}
    for system in SYSTEMS:
        frame = pd.read_parquet(generated_bank / "sources" / f"{system}.parquet")
        key = truth[truth["system"] == system][["record_id", "customer_id"]]
        out[system] = frame.merge(key, on="record_id", how="left", validate="one_to_one")
    return out


@pytest.fixture(scope="module")
def customers(generated_bank: Path) -> pd.DataFrame:
    return read_table(generated_bank, "customers").set_index("customer_id")


def test_truth_covers_every_record_and_ids_are_the_systems_own(generated_bank: Path, extracts: dict) -> None:
    truth = pd.read_parquet(generated_bank / "truth" / "source_records.parquet")
    assert list(truth.columns) == ["system", "record_id", "customer_id"]
    assert not truth.duplicated(["system", "record_id"]).any()
    known = set(read_table(generated_bank, "customers")["customer_id"])
    for system, frame in extracts.items():
        assert frame["customer_id"].notna().all(), system  # every record has its person in the truth
        assert frame["record_id"].is_unique, system
        assert set(frame["customer_id"]) <= known
        assert "customer_id" not in pd.read_parquet(generated_bank / "sources" / f"{system}.parquet")
    assert sum(len(f) for f in extracts.values()) == len(truth)


def test_each_system_holds_only_what_it_would(extracts: dict) -> None:
    assert {"id_number", "birth_date", "address", "postcode"} <= set(extracts["core_banking"])
    assert {"device_id", "nickname"} <= set(extracts["mobile_app"]) and "id_number" not in extracts["mobile_app"]
    assert "birth_date" not in extracts["call_centre"] and "id_number" not in extracts["call_centre"]
    assert "openid" in extracts["wechat"] and "full_name" not in extracts["wechat"]
    assert {"email", "family_name", "given_name"} <= set(extracts["online_banking"])


def test_presence_and_duplicates_inside_systems(extracts: dict, customers: pd.DataFrame) -> None:
    n = len(customers)
    core = extracts["core_banking"]
    assert core["customer_id"].nunique() == n  # every customer holds an account
    for system, frame in extracts.items():
        present = frame["customer_id"].nunique()
        dup_share = frame["customer_id"].duplicated().sum() / present
        bounds = {"core_banking": (0.005, 0.04), "call_centre": (0.04, 0.13)}.get(system, (0.002, 0.06))
        assert bounds[0] <= dup_share <= bounds[1], (system, dup_share)
        if system not in ("core_banking", "mobile_app"):
            assert 0.1 * n < present < 0.8 * n, (system, present)  # people present in only some systems


def test_resident_id_numbers_are_valid_except_the_planted_typos(extracts: dict) -> None:
    ids = pd.concat([extracts[s][["customer_id", "id_number"]] for s in ("core_banking", "online_banking")])
    ids = ids.dropna()
    assert ids["id_number"].str.fullmatch(r"[0-9]{17}[0-9X]").all()
    valid = ids["id_number"].map(is_valid_id)
    per_person = ids[valid].groupby("customer_id")["id_number"]
    assert (per_person.nunique() == 1).all()  # one valid number per person, and nobody shares it
    true_id = per_person.first()
    assert true_id.is_unique
    typos = ids.loc[~valid & ids["customer_id"].isin(true_id.index), ["customer_id", "id_number"]]
    assert len(typos) > 0
    for person, number in typos.itertuples(index=False):
        differs = sum(a != b for a, b in zip(number, true_id[person], strict=True))
        assert differs == 1, (number, true_id[person])  # one digit mistyped, so the check no longer fits
    typo_share = 1 - valid.mean()
    assert 0.0005 <= typo_share <= 0.015, typo_share


def test_names_come_in_characters_pinyin_and_homophones(extracts: dict, customers: pd.DataFrame) -> None:
    crm = extracts["branch_crm"]
    latin = crm["full_name"].str.contains(r"[a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]", case=False)
    assert 0.15 <= latin.mean() <= 0.35
    toned = crm["full_name"].str.contains(r"[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]")
    assert toned.sum() > 0
    py = Pinyin()
    given = crm["customer_id"].map(lambda c: py.parts(customers.at[c, "name"])[1])
    swapped = [n.lower().replace(" ", "").startswith(g) for n, g in zip(crm.loc[latin, "full_name"],
                                                                          given[latin], strict=True)]
    assert 0.1 <= sum(swapped) / len(swapped) <= 0.4  # family and given name swapped
    chars = crm.loc[~latin]
    typos = (chars["full_name"] != chars["customer_id"].map(customers["name"])).mean()
    assert 0.01 <= typos <= 0.08, typos
    call = extracts["call_centre"]
    heard = call[~call["full_name"].str.contains(r"[a-z]")]
    assert (heard["full_name"] != heard["customer_id"].map(customers["name"])).mean() > 0.3  # homophones
    assert extracts["core_banking"]["full_name"].eq(
        extracts["core_banking"]["customer_id"].map(customers["name"])).mean() > 0.97


def test_families_share_a_phone_and_home_but_not_a_birth_date(extracts: dict, customers: pd.DataFrame) -> None:
    crm = extracts["branch_crm"].dropna(subset=["phone"])
    shared = crm.groupby("phone")["customer_id"].nunique()
    pairs = crm[crm["phone"].isin(shared[shared > 1].index)]
    assert pairs["customer_id"].nunique() >= 4
    for _, group in pairs.groupby("phone"):
        people = customers.loc[group["customer_id"].unique()]
        assert people["name"].str[0].nunique() == 1  # same surname
        assert people["birth_date"].nunique() == len(people)
    core = extracts["core_banking"]
    homes = core.groupby("address")["customer_id"].nunique()
    assert (homes > 1).sum() >= 4


def test_a_mover_has_the_old_phone_in_core_banking_and_the_new_one_in_the_app(
        extracts: dict, customers: pd.DataFrame) -> None:
    core = extracts["core_banking"].dropna(subset=["phone"]).drop_duplicates("customer_id")
    old = core[core["phone"] != core["customer_id"].map(customers["phone"])]
    assert 0.01 <= len(old) / len(core) <= 0.06
    app = extracts["mobile_app"]
    movers = app[app["customer_id"].isin(old["customer_id"])]
    assert (movers["phone"] == movers["customer_id"].map(customers["phone"])).mean() > 0.7
    moved = core.set_index("customer_id").loc[old["customer_id"], "updated_at"]
    median = core["updated_at"].sort_values().iloc[len(core) // 2]
    assert (moved < median).mean() > 0.7  # the core record is an old one


def test_activity_is_keyed_by_the_systems_own_records(generated_bank: Path) -> None:
    truth = pd.read_parquet(generated_bank / "truth" / "source_records.parquet")
    person = truth.set_index(["system", "record_id"])["customer_id"]
    events = pd.read_parquet(generated_bank / "sources" / "mobile_app_events.parquet")
    canonical = read_table(generated_bank, "events")
    assert list(events.columns) == ["event_id", "record_id", *canonical.columns[2:]]
    back = events["record_id"].map(person.loc["mobile_app"])
    assert back.notna().all()
    merged = canonical.set_index("event_id")["customer_id"]
    assert (back.to_numpy() == merged.loc[events["event_id"]].to_numpy()).all()
    assert events.groupby("record_id").ngroups > back.nunique()  # re-registrations took later events
    txns = pd.read_parquet(generated_bank / "sources" / "core_banking_transactions.parquet")
    assert len(txns) == len(read_table(generated_bank, "transactions"))
    assert txns["record_id"].map(person.loc["core_banking"]).notna().all()
    paid = pd.read_parquet(generated_bank / "sources" / "core_banking_payments.parquet")
    canonical = read_table(generated_bank, "payments").set_index("payment_id")["customer_id"]
    assert len(paid) == len(canonical)  # the payment system knows every customer by the core-banking number
    assert (paid["record_id"].map(person.loc["core_banking"]).to_numpy() == canonical.loc[paid["payment_id"]]).all()


def _truth_links(generated_bank: Path, out: Path, leave_out: int = 0) -> pd.DataFrame:
    """Links as a perfect resolver would write them (OneID ids), minus the first `leave_out` records."""
    truth = pd.read_parquet(generated_bank / "truth" / "source_records.parquet")
    ids = {c: f"O{i:010d}" for i, c in enumerate(sorted(truth["customer_id"].unique()), start=1)}
    links = truth.assign(customer_id=truth["customer_id"].map(ids), match_probability=1.0, evidence="truth")
    out.mkdir(parents=True, exist_ok=True)
    links.iloc[leave_out:].to_parquet(out / "links.parquet")
    return truth.iloc[:leave_out]


def test_assemble_through_perfect_links_rebuilds_a_valid_bank(generated_bank: Path, tmp_path: Path) -> None:
    _truth_links(generated_bank, tmp_path / "links")
    result = run_json("data", "assemble", "--sources", generated_bank / "sources", "--links", tmp_path / "links",
                      "--out", tmp_path / "bank")
    assert result["uncovered_count"] == 0 and result["unlinked_rows"] == {}
    canonical = read_table(generated_bank, "customers")
    for table in ("customers", "events", "transactions", "credit", "holdings", "products", "customer_history",
                  "payments", "account_events"):
        assert result["rows"][table] == len(read_table(generated_bank, table)), table
    rebuilt = read_table(tmp_path / "bank", "customers")
    assert rebuilt["customer_id"].str.fullmatch(r"O[0-9]{10}").all()
    by_number = rebuilt.set_index("external_id")
    core = pd.read_parquet(generated_bank / "sources" / "core_banking.parquet")
    assert by_number.index.isin(core["record_id"]).all()
    assert (rebuilt["birth_date"].sort_values().to_numpy() == canonical["birth_date"].sort_values().to_numpy()).all()
    report = run_json("data", "validate", tmp_path / "bank")
    assert report["ok"], report["violations"][:5]
    assert not [w for w in report["warnings"] if w.startswith("customer_history")]  # today's versions agree


def test_records_no_link_covers_are_reported(generated_bank: Path, tmp_path: Path) -> None:
    left_out = _truth_links(generated_bank, tmp_path / "links", leave_out=3)
    proc = run_cli("data", "validate", generated_bank, "--links", tmp_path / "links", "--json", check=False)
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    found = [(v["column"], v["check"]) for v in report["violations"]]
    assert found == [("record_id", "no_link")] * 3
    assert {v["message"].split("'")[1] for v in report["violations"]} == set(left_out["record_id"])
    files = {str(generated_bank / "sources" / f"{s}.parquet") for s in left_out["system"]}
    assert all(v["file"] in files and v["row"] >= 1 for v in report["violations"])
    result = run_json("data", "assemble", "--sources", generated_bank / "sources", "--links", tmp_path / "links",
                      "--out", tmp_path / "bank")
    assert result["uncovered_count"] == 3


def test_assemble_refuses_bad_links_with_a_message_and_writes_nothing(generated_bank: Path, tmp_path: Path) -> None:
    (tmp_path / "links").mkdir()
    pd.DataFrame({"system": ["wechat"], "record_id": ["WX1"]}).to_parquet(tmp_path / "links" / "links.parquet")
    for links in (tmp_path / "nowhere", tmp_path / "links"):
        proc = run_cli("data", "assemble", "--sources", generated_bank / "sources", "--links", links,
                       "--out", tmp_path / "bank", check=False)
        assert proc.returncode == 3, proc.stderr
        assert "no links file" in proc.stderr or "lack the column(s) customer_id" in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "bank").exists()
