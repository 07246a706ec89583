"""The campaign objects over HTTP (/v1/campaigns) and on the workbench: who may do what, bad bodies
refused naming the field, approval by another person, illegal moves 409, every change in the history."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.security.keys import add_key, hash_key, load_records, revoke_key, rm_of
from tests.conftest import ROOT, Trained, settings_from

Headers = Callable[[str | None], dict[str, str]]
SECOND_RM = "RM_CAMPAIGN_B"


def _body(campaign_id: str, **changes: Any) -> dict[str, Any]:
    raw = tomllib.loads((ROOT / "config" / "campaigns" / "fund-promotion-ab.toml").read_text(encoding="utf-8"))
    raw["schedule"] |= {"start": str(raw["schedule"]["start"]), "end": str(raw["schedule"]["end"])}
    return raw | {"id": campaign_id} | changes


@pytest.fixture(scope="module")
def second_rm(app_client: TestClient, trained: Trained) -> Iterator[dict[str, str]]:
    """Headers of another relationship manager's key (the approver), once the service has seen it; the
    key leaves the session's key file after the module (other tests read that file)."""
    keys_file = settings_from(trained.env).api_keys_file
    key_id, key = add_key(keys_file, "rm", SECOND_RM)
    headers = {"X-API-Key": key}
    deadline = time.monotonic() + 5
    while app_client.get("/v1/campaigns", headers=headers).status_code == 401 and time.monotonic() < deadline:
        time.sleep(0.1)
    yield headers
    revoke_key(keys_file, key_id)


@pytest.mark.parametrize(("role", "method", "path", "status"), [
    (None, "get", "/v1/campaigns", 401), ("app", "get", "/v1/campaigns", 403), ("risk", "get", "/v1/campaigns", 403),
    ("app", "post", "/v1/campaigns", 403), ("app", "get", "/v1/campaigns/fund-promotion-ab", 403),
    ("risk", "post", "/v1/campaigns/fund-promotion-ab/approve", 403), ("rm", "get", "/v1/campaigns", 200),
    ("admin", "get", "/v1/campaigns", 200), ("rm", "get", "/v1/campaigns/nope", 404),
    ("rm", "post", "/v1/campaigns/nope/approve", 404), ("rm", "get", "/v1/campaigns/effect", 200),
])
def test_who_may_see_campaigns(app_client: TestClient, as_role: Headers, role: str | None, method: str, path: str,
                               status: int) -> None:
    kwargs: dict[str, Any] = {"json": _body("never-stored", control_share=2)} if path == "/v1/campaigns" and \
        method == "post" else {}
    response = getattr(app_client, method)(path, headers=as_role(role), **kwargs)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"control_share": 1.0}, "body.control_share", "less than 1"),
    ({"channels": ["app_push", "fax"]}, "body.channels.1", "'app_push', 'sms', 'rm_call' or 'wechat'"),
    ({"budget": {"total_cny": 100, "cost_per_contact_cny": {"app_push": 0.01, "sms": -1}}},
     "body.budget.cost_per_contact_cny.sms", "greater than or equal to 0"),
    ({"schedule": {"start": "2027-03-01", "end": "2027-02-01"}}, "body.schedule", "is before start"),
    ({"variants": [{"name": "A", "share": 0.5, "send_time": "09:00"}, {"name": "B", "share": 0.3, "send_time": "20:00"}]},
     "body", "shares add up to 0.8, not 1"),
    ({"audience": {"segment": "sleepy"}}, "audience.segment", "unknown segment 'sleepy'"),
    ({"audience": {"rule": ["shoe_size > 3"]}}, "audience.rule.0", "no customer feature 'shoe_size'"),
    ({"offer": {"products": ["FUND_NOPE"]}}, "offer.products.0", "unknown product 'FUND_NOPE'"),
])
def test_bad_campaigns_are_422_naming_the_field(app_client: TestClient, as_role: Headers, changes: dict[str, Any],
                                                 field: str, words: str) -> None:
    response = app_client.post("/v1/campaigns", json=_body("bad-campaign", **changes), headers=as_role("rm"))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    found = {e["location"]: e["message"] for e in problem.get("errors", [])} | \
        {v["field"]: v["message"] for v in problem.get("violations", [])}
    assert field in found and words in found[field], problem
    assert app_client.get("/v1/campaigns/bad-campaign", headers=as_role("rm")).status_code == 404


def test_drafted_by_one_rm_approved_by_another_then_run_and_finished(
        app_client: TestClient, as_role: Headers, trained: Trained, second_rm: dict[str, str],
        session_cookie: dict[str, str]) -> None:
    author = rm_of(load_records(settings_from(trained.env).api_keys_file), hash_key(trained.keys["rm"]))
    assert author is not None and author != SECOND_RM
    created = app_client.post("/v1/campaigns", json=_body("http-fund"), headers=as_role("rm"), params={"reason": "Q1"})
    assert created.status_code == 201, created.text
    assert (created.json()["state"], created.json()["created_by"], created.json()["changed"]) == ("draft", author, True)
    assert created.json()["audience_size"] > 0
    same = app_client.post("/v1/campaigns", json=_body("http-fund"), headers=as_role("rm"))
    assert (same.status_code, same.json()["changed"], same.json()["version"]) == (200, False, 1)

    own = app_client.post("/v1/campaigns/http-fund/approve", headers=as_role("rm"))
    assert own.status_code == 403 and own.json()["title"] == "SelfApproval" and author in own.json()["detail"]
    early = app_client.post("/v1/campaigns/http-fund/start", headers=second_rm)
    assert early.status_code == 409 and "is draft: start takes a campaign from approved" in early.json()["detail"]

    approved = app_client.post("/v1/campaigns/http-fund/approve", headers=second_rm, json={"reason": "costs checked"})
    assert (approved.status_code, approved.json()["approved_by"]) == (200, SECOND_RM)
    edit = app_client.post("/v1/campaigns", json=_body("http-fund", control_share=0.3), headers=as_role("rm"))
    assert edit.status_code == 409 and "only a draft can change" in edit.json()["detail"]
    started = app_client.post("/v1/campaigns/http-fund/start", headers=as_role("admin"))
    assert started.json()["state"] == "running"
    assert app_client.post("/v1/campaigns/http-fund/approve", headers=second_rm).status_code == 409
    finished = app_client.post("/v1/campaigns/http-fund/finish", headers=as_role("rm")).json()
    admin_id = finished["history"][2]["by"]
    assert admin_id.startswith("key:")  # a key without an RM is recorded by its public id
    assert [(h["action"], h["from"], h["to"], h["by"], h["reason"]) for h in finished["history"]] == [
        ("create", None, "draft", author, "Q1"), ("approve", "draft", "approved", SECOND_RM, "costs checked"),
        ("start", "approved", "running", admin_id, ""), ("finish", "running", "finished", author, "")]

    listed = app_client.get("/v1/campaigns", headers=as_role("rm")).json()
    row = next(c for c in listed["campaigns"] if c["id"] == "http-fund")
    assert (row["state"], row["audience_size"]) == ("finished", created.json()["audience_size"])

    page = app_client.get("/workbench/campaigns/list?lang=zh", headers=session_cookie)
    assert page.status_code == 200 and 'data-campaign="http-fund"' in page.text
    assert '<td data-state="finished">已结束</td>' in page.text and f"<code>{SECOND_RM}</code>" in page.text
    assert "审批通过（草稿 → 已审批）" in page.text and "costs checked" in page.text
    assert f'<td class="num" data-audience-size>{created.json()["audience_size"]:,}</td>' in page.text
