"""/v1/leads: an RM sees its own leads ranked and records their outcomes; admins see all; app and
risk keys get 403; another RM's lead is 403, a wrong move 409."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.leads.store import LeadStore, NewLead, iso_week
from serving.security.keys import add_key, hash_key, load_records, revoke_key, rm_of
from tests.conftest import Trained, settings_from
from tests.http.conftest import consenting_active

OTHER_RM = "RM_LEADS_B"


@pytest.fixture(scope="module")
def other_rm(app_client: TestClient, trained: Trained) -> Iterator[dict[str, str]]:
    """Headers of another RM's key; it leaves the session's key file after the module."""
    keys_file = settings_from(trained.env).api_keys_file
    key_id, key = add_key(keys_file, "rm", OTHER_RM)
    headers = {"X-API-Key": key}
    deadline = time.monotonic() + 5
    while app_client.get("/v1/leads", headers=headers).status_code == 401 and time.monotonic() < deadline:
        time.sleep(0.1)
    yield headers
    revoke_key(keys_file, key_id)


@pytest.fixture(scope="module")
def planted(app_client: TestClient, trained: Trained, bank_dir: Path) -> dict[str, str]:
    """Three leads in the service's audit database: two for the demo RM, one for the other RM."""
    demo = rm_of(load_records(settings_from(trained.env).api_keys_file), hash_key(trained.keys["rm"]))
    assert demo is not None
    c1, c2, c3 = consenting_active(bank_dir, 3)
    store = LeadStore(app_client.app.state.audit.engine)

    def lead(customer: str, rm: str, score: float) -> NewLead:
        return NewLead(customer, "FUND_LEADS_T", "fund", score, "default-test", 0.5, 0.2,
                       {"zh": ["近30天浏览相关页面2次"], "en": ["2 page views on the topic"]}, rm, "own_rm")

    store.add([lead(c1, demo, 0.41), lead(c2, demo, 0.83), lead(c3, OTHER_RM, 0.6)], iso_week(datetime.now(UTC).date()))
    frame = store.frame()
    return {"demo": demo, **{row.customer_id: row.lead_id for row in frame.itertuples()
                             if row.product_id == "FUND_LEADS_T"}, "c1": c1, "c2": c2, "c3": c3}


def test_an_rm_sees_only_its_own_leads_best_first(app_client: TestClient, as_role, planted, other_rm) -> None:
    mine = app_client.get("/v1/leads", headers=as_role("rm"))
    assert mine.status_code == 200, mine.text
    rows = [x for x in mine.json()["leads"] if x["product_id"] == "FUND_LEADS_T"]
    assert [x["customer_id"] for x in rows] == [planted["c2"], planted["c1"]]
    assert {x["rm_id"] for x in mine.json()["leads"]} == {planted["demo"]}
    assert rows[0]["reasons"]["zh"] == ["近30天浏览相关页面2次"] and rows[0]["status"] == "open"
    theirs = app_client.get("/v1/leads", headers=other_rm).json()["leads"]
    assert [x["customer_id"] for x in theirs] == [planted["c3"]]
    assert app_client.get("/v1/leads", headers=as_role("rm"), params={"rm": OTHER_RM}).status_code == 403
    everyone = app_client.get("/v1/leads", headers=as_role("admin")).json()["leads"]
    assert {planted["c1"], planted["c2"], planted["c3"]} <= {x["customer_id"] for x in everyone}
    one = app_client.get("/v1/leads", headers=as_role("admin"), params={"rm": OTHER_RM}).json()["leads"]
    assert [x["customer_id"] for x in one] == [planted["c3"]]


@pytest.mark.parametrize("role", ["app", "risk", None])
def test_other_roles_may_not_read_or_record(app_client: TestClient, as_role, planted, role: str | None) -> None:
    status = 401 if role is None else 403
    assert app_client.get("/v1/leads", headers=as_role(role)).status_code == status
    answer = app_client.post(f"/v1/leads/{planted[planted['c1']]}/outcome", headers=as_role(role),
                             json={"outcome": "contacted"})
    assert answer.status_code == status and "FUND_LEADS_T" not in answer.text


def test_outcomes_move_one_way_and_only_for_the_leads_rm(app_client: TestClient, as_role, planted,
                                                         other_rm) -> None:
    lead = planted[planted["c2"]]
    url = f"/v1/leads/{lead}/outcome"
    assert app_client.post(url, headers=other_rm, json={"outcome": "contacted"}).status_code == 403
    early = app_client.post(url, headers=as_role("rm"), json={"outcome": "won"})
    assert early.status_code == 409 and "is open: won follows contacted" in early.json()["detail"]
    called = app_client.post(url, headers=as_role("rm"), json={"outcome": "contacted", "note": "约了下周面谈"})
    assert called.status_code == 200 and called.json()["status"] == "contacted"
    assert called.json()["outcome_by"] == planted["demo"] and called.json()["note"] == "约了下周面谈"
    won = app_client.post(url, headers=as_role("rm"), json={"outcome": "won"})
    assert won.status_code == 200 and won.json()["status"] == "won"
    assert app_client.post(url, headers=as_role("rm"), json={"outcome": "lost"}).status_code == 409
    assert app_client.post(url, headers=as_role("rm"), json={"outcome": "maybe"}).status_code == 422
    assert app_client.post("/v1/leads/" + "0" * 32 + "/outcome", headers=as_role("admin"),
                           json={"outcome": "won"}).status_code == 404
    theirs = planted[planted["c3"]]
    by_admin = app_client.post(f"/v1/leads/{theirs}/outcome", headers=as_role("admin"), json={"outcome": "contacted"})
    assert by_admin.status_code == 200 and by_admin.json()["outcome_by"].startswith("key:")


def test_the_workbench_lists_the_session_rms_leads_and_takes_outcome_forms(
        app_client: TestClient, planted, session_cookie: dict[str, str]) -> None:
    page = app_client.get("/workbench/leads?lang=en", headers=session_cookie)
    assert page.status_code == 200 and 'id="nav-leads"' in page.text
    own, other = planted[planted["c1"]], planted[planted["c3"]]
    assert f'id="lead-{own}"' in page.text and f'id="lead-{other}"' not in page.text
    assert "2 page views on the topic" in page.text and "近30天" not in page.text
    assert app_client.post(f"/workbench/leads/{other}/outcome", data={"outcome": "contacted", "lang": "en"},
                           headers=session_cookie, follow_redirects=False).status_code == 403
    crossed = app_client.post(f"/workbench/leads/{own}/outcome", data={"outcome": "contacted"},
                              headers=session_cookie | {"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert crossed.status_code == 403
    done = app_client.post(f"/workbench/leads/{own}/outcome", data={"outcome": "contacted", "lang": "zh"},
                           headers=session_cookie, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith("/workbench/leads?lang=zh&recorded=")
    shown = app_client.get(done.headers["location"], headers=session_cookie)
    assert "已登记为“已联系”" in shown.text and f'id="won-{own}"' in shown.text
