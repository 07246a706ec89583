"""OneID on the workbench and the admin API: the source records behind a customer, and merge/split
corrections that are applied at once, audited with who/when/why and refused when bad or cross-site.

The OneID folder (`NBO_IDENTITY_DIR`, here the default STATE/identity) is written by this module from
hand-made links keyed by three real customers of the session's bank (two of the demo rm key's RM, one of
another RM, by the bank's `rm_assignments.parquet`), and removed afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from identity.decisions import load_aliases, load_decisions, load_links
from identity.owners import load_owners
from nbo.settings import Settings
from serving.security import keys
from serving.workbench.i18n import labels
from serving.workbench.identity import IdentityPanels, describe_evidence, mask_name
from tests.conftest import Trained


@pytest.fixture(scope="module")
def demo_rm(trained: Trained) -> str:
    """The RM the demo rm key belongs to (`nbo keys demo`: the one owning the most customers)."""
    records = keys.load_records(Path(trained.env["NBO_STATE_DIR"]) / "api-keys.json")
    rm = keys.rm_of(records, keys.hash_key(trained.keys["rm"]))
    assert rm is not None
    return rm


def _open_customers(bank_dir: Path) -> pd.DataFrame:
    people = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id")
    return people[people["close_date"].isna()].join(load_owners(bank_dir)).sort_index()


@pytest.fixture(scope="module")
def two_customers(bank_dir: Path, demo_rm: str) -> tuple[str, str]:
    """Two open customers of the demo RM."""
    ids = _open_customers(bank_dir).query("rm_id == @demo_rm").index
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def stranger(bank_dir: Path, demo_rm: str) -> tuple[str, str]:
    """An open customer of another RM, and that RM."""
    others = _open_customers(bank_dir).query("rm_id.notna() and rm_id != @demo_rm")
    return others.index[0], others["rm_id"].iloc[0]


@pytest.fixture()
def oneid(app_client: TestClient, two_customers: tuple[str, str], stranger: tuple[str, str]) -> Iterator[Path]:
    """A OneID folder where the first customer has three source records, the second one, the stranger one."""
    folder: Path = app_client.app.state.settings.oneid_dir  # type: ignore[attr-defined]
    a, b = two_customers
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"system": ["core_banking", "mobile_app", "wechat", "core_banking", "core_banking"],
                  "record_id": ["CB001", "U001", "W001", "CB002", "CB003"], "customer_id": [a, a, a, b, stranger[0]],
                  "match_probability": [0.999, 0.999, 0.962, float("nan"), float("nan")],
                  "evidence": ["rule:id_number", "rule:id_number", "name:jw>0.92;phone:exact", "", ""]}
                 ).to_parquet(folder / "links.parquet", index=False)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture()
def rm_client(app_client: TestClient, trained: Trained) -> Iterator[TestClient]:
    signed_in = app_client.post("/workbench/login", data={"key": trained.keys["rm"], "lang": "en"},
                                follow_redirects=False)
    assert signed_in.status_code == 303
    yield app_client
    app_client.post("/workbench/logout", follow_redirects=False)


def page(client: TestClient, customer_id: str, lang: str = "en") -> str:
    response = client.get(f"/workbench/customers/{customer_id}", params={"lang": lang})
    assert response.status_code == 200, response.text[:500]
    return response.text


def audited(client: TestClient, customer_id: str) -> list:
    return [d for d in client.app.state.audit.decisions_for(customer_id)  # type: ignore[attr-defined]
            if d.kind.startswith("identity_")]


def test_the_panel_says_when_oneid_has_not_run(rm_client: TestClient, two_customers: tuple[str, str]):
    html = page(rm_client, two_customers[0], "zh")
    assert 'id="oneid-not-run"' in html and "客户统一识别尚未运行" in html


def test_the_panel_lists_the_source_records_with_probability_and_evidence(
        rm_client: TestClient, oneid: Path, two_customers: tuple[str, str]):
    html = page(rm_client, two_customers[0])
    for key in ("core_banking:CB001", "mobile_app:U001", "wechat:W001"):
        assert f'data-record="{key}"' in html
    assert "core_banking:CB002" not in html
    assert "same ID number (rule)" in html and "name very close; phone same" in html and "96.2%" in html
    assert 'title="name:jw&gt;0.92;phone:exact"' in html  # the matcher's own words for analysts


def test_rm_split_and_merge_from_the_workbench_apply_at_once_and_are_audited(
        rm_client: TestClient, oneid: Path, two_customers: tuple[str, str]):
    a, b = two_customers
    split = rm_client.post(f"/workbench/customers/{a}/identity/split", follow_redirects=False,
                           data={"record": "wechat:W001", "reason": "微信号属于客户的儿子", "lang": "zh"})
    assert split.status_code == 303 and split.headers["location"].endswith("oneid=D000001#oneid")
    links = load_links(oneid)
    assert links.loc[links["record_id"] == "W001", "customer_id"].item() not in (a, b)
    html = page(rm_client, a, "zh")
    assert "修正 D000001 已保存" not in html  # the notice shows only with ?oneid=
    shown = rm_client.get(split.headers["location"]).text
    assert 'id="oneid-notice"' in shown and "微信号属于客户的儿子" in shown and 'data-record="wechat:W001"' not in shown

    merge = rm_client.post(f"/workbench/customers/{a}/identity/merge", follow_redirects=False,
                           data={"other": b, "reason": "same ID card seen at the branch", "lang": "en"})
    assert merge.status_code == 303
    assert set(load_links(oneid).loc[lambda x: x["record_id"].isin(["CB001", "CB002"]), "customer_id"]) == {a}
    assert load_aliases(oneid)[["alias_id", "customer_id"]].to_dict("records") == [{"alias_id": b, "customer_id": a}]
    decisions = load_decisions(oneid)
    assert list(decisions["kind"]) == ["split", "merge"] and all(w.startswith("rm:") for w in decisions["who"])
    kinds = {d.kind: d.payload for d in audited(rm_client, a)}
    assert kinds["identity_merge"]["why"] == "same ID card seen at the branch"
    assert kinds["identity_merge"]["other_id"] == b and kinds["identity_merge"]["who"].startswith("rm:")
    assert "identity_split" in {d.kind for d in audited(rm_client, links.loc[links["record_id"] == "W001",
                                                                                  "customer_id"].item())}
    # the merged-away id's page shows the customer it became
    assert f"This id is now part of {a}" in page(rm_client, b)


@pytest.mark.parametrize(("path", "data", "headers", "status"), [
    ("split", {"record": "wechat:W001", "reason": "x"}, {"Sec-Fetch-Site": "cross-site"}, 403),
    ("merge", {"other": "C99999999", "reason": "x"}, {"Origin": "https://evil.example"}, 403),
    ("split", {"record": "wechat:W001", "reason": "  "}, {}, 422),
    ("split", {"record": "wechat:NOPE", "reason": "x"}, {}, 404),
    ("merge", {"other": "C99999999", "reason": "x"}, {}, 404),
    ("merge", {"other": "SELF", "reason": "x"}, {}, 422),
])
def test_bad_or_cross_site_corrections_are_refused_and_write_nothing(
        rm_client: TestClient, oneid: Path, two_customers: tuple[str, str], path: str, data: dict,
        headers: dict, status: int):
    a = two_customers[0]
    data = {k: (a if v == "SELF" else v) for k, v in data.items()}
    before, audits = (oneid / "links.parquet").read_bytes(), len(audited(rm_client, a))
    response = rm_client.post(f"/workbench/customers/{a}/identity/{path}", data=data, headers=headers,
                              follow_redirects=False)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert (oneid / "links.parquet").read_bytes() == before and not (oneid / "decisions.parquet").exists()
    assert len(audited(rm_client, a)) == audits


def test_an_rm_corrects_only_their_own_customers(rm_client: TestClient, oneid: Path, demo_rm: str,
                                                two_customers: tuple[str, str], stranger: tuple[str, str]):
    """Another RM's customer: no correction forms on the page, and a posted merge or split is 403 naming
    the owner, with nothing written or audited."""
    a, (other, owner) = two_customers[0], stranger
    html = page(rm_client, other)
    assert 'data-record="core_banking:CB003"' in html
    assert 'id="oneid-merge"' not in html and 'class="oneid-split"' not in html
    assert 'id="oneid-not-yours"' in html and f"Only {owner}, this customer" in html
    assert 'id="oneid-merge"' in page(rm_client, a) and 'class="oneid-split"' in page(rm_client, a)
    before, audits = (oneid / "links.parquet").read_bytes(), len(audited(rm_client, a) + audited(rm_client, other))
    for url, data in [(f"/workbench/customers/{a}/identity/merge", {"other": other, "reason": "x"}),
                      (f"/workbench/customers/{other}/identity/merge", {"other": a, "reason": "x"}),
                      (f"/workbench/customers/{a}/identity/split", {"record": "core_banking:CB003", "reason": "x"})]:
        response = rm_client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, response.text
        detail = response.json()["detail"]
        assert f"customer {other} belongs to {owner}" in detail and f"{demo_rm} may correct only their own" in detail
    assert (oneid / "links.parquet").read_bytes() == before and not (oneid / "decisions.parquet").exists()
    assert len(audited(rm_client, a) + audited(rm_client, other)) == audits


def test_without_a_session_a_correction_goes_to_the_login_form(app_client: TestClient, oneid: Path,
                                                               two_customers: tuple[str, str]):
    app_client.cookies.clear()
    response = app_client.post(f"/workbench/customers/{two_customers[0]}/identity/split", follow_redirects=False,
                               data={"record": "wechat:W001", "reason": "x"})
    assert response.status_code == 303 and response.headers["location"].startswith("/workbench/login")
    assert not (oneid / "decisions.parquet").exists()


def test_admins_correct_through_the_api_and_other_roles_may_not(
        app_client: TestClient, as_role: Callable[[str | None], dict[str, str]], oneid: Path,
        two_customers: tuple[str, str]):
    a, b = two_customers
    for role in ("rm", "app", "risk"):
        assert app_client.post("/v1/identity/merge", headers=as_role(role),
                               json={"first": a, "second": b, "reason": "x"}).status_code == 403
    assert app_client.post("/v1/identity/split", headers=as_role("admin"),
                           json={"record": "core_banking:CB001", "reason": ""}).status_code == 422
    done = app_client.post("/v1/identity/split", headers=as_role("admin"),
                           json={"record": "core_banking:CB001", "into": b, "reason": "wrong customer number"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["customer_id"] == b and body["other_id"] == a and body["who"].startswith("admin:")
    assert load_links(oneid).set_index("record_id").loc["CB001", "customer_id"] == b
    assert any(d.payload["decision_id"] == body["decision_id"] for d in audited(app_client, b))


def test_names_and_phones_come_masked_from_the_extracts(tmp_path: Path):
    (tmp_path / "bank" / "sources").mkdir(parents=True)
    (tmp_path / "oneid").mkdir()
    pd.DataFrame({"record_id": ["1", "2"], "full_name": ["张晓明", "Zhang Xiaoming"],
                  "phone": ["13812340114", None], "id_number": ["110101199003071234", None]}
                 ).to_parquet(tmp_path / "bank" / "sources" / "core_banking.parquet")
    pd.DataFrame({"system": ["core_banking", "core_banking"], "record_id": ["1", "2"],
                  "customer_id": ["O0000000001"] * 2, "match_probability": [0.97, 0.97],
                  "evidence": ["name:pinyin"] * 2}).to_parquet(tmp_path / "oneid" / "links.parquet")
    panel = IdentityPanels(Settings(data_dir=tmp_path / "bank", identity_dir=tmp_path / "oneid")
                           ).for_customer("O0000000001")
    assert [(r.name, r.phone) for r in panel.records] == [("张*明", "138****0114"), ("Z**** X*******", None)]
    assert "110101199003071234" not in repr(panel)
    assert mask_name("王芳") == "王*"
    assert labels("en")["oneid"].keys() == labels("zh")["oneid"].keys()


@pytest.mark.parametrize(("evidence", "zh", "en"), [
    ("rule:id_number", "身份证号一致（规则）", "same ID number (rule)"),
    ("rule:phone+birth_date", "手机号、出生日期一致（规则）", "same phone and birth date (rule)"),
    ("name:jw>0.92;birth_date:day-month transposed;phone:exact", "姓名高度相近；出生日期日与月颠倒；手机号一致",
     "name very close; birth date day and month swapped; phone same"),
    ("merge:D000003", "人工合并（D000003）", "merged by hand (D000003)"),
    ("name:soundex;rule:face", "name:soundex；rule:face", "name:soundex; rule:face"),  # unknown: as written
    ("", "", ""),
])
def test_evidence_in_an_rms_words(evidence: str, zh: str, en: str):
    assert describe_evidence(evidence, "zh") == zh
    assert describe_evidence(evidence, "en") == en
