"""NPS answers and campaign results over HTTP: who may post and read, bad answers refused naming the
field, replays idempotent and changed replays 409, the summary's arithmetic on known answers, a
campaign's results (and the fixed `/v1/campaigns/effect` still reachable), and the NPS section of the
workbench's campaign-effect page.

Answers carry dates in March 2021 (and one in April) and unique ids, so the summary is read over that
period only and no other test's answers count."""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.segments.rules import load_segment_rules
from tests.conftest import ROOT
from tests.http.conftest import consenting_active
from tests.http.test_wording_zh_pages import problems, visible_texts

Headers = Callable[[str | None], dict[str, str]]
TAG = uuid.uuid4().hex[:8]
PERIOD = {"since": "2021-03-01", "until": "2021-05-01"}


def _answer(n: int, customer: str, score: int, **changes: Any) -> dict[str, Any]:
    return {"answer_id": f"t-{TAG}-{n}", "customer_id": customer, "answered_at": f"2021-03-{n % 28 + 1:02d}T08:00:00Z",
            "score": score, "comment": None, "channel": "sms", "campaign_id": None} | changes


@pytest.fixture(scope="module")
def customers(bank_dir: Path) -> list[str]:
    return consenting_active(bank_dir, 3)


@pytest.fixture(scope="module")
def posted(app_client: TestClient, as_role: Headers, customers: list[str]) -> list[dict[str, Any]]:
    """Ten answers: 5 promoters, 2 passives, 3 detractors (NPS +20), one of them in April on the app."""
    scores = [10, 9, 9, 10, 9, 7, 8, 0, 6, 3]
    answers = [_answer(i, customers[i % 3], s) for i, s in enumerate(scores)]
    answers[9] |= {"answered_at": "2021-04-02T01:00:00+08:00", "channel": "app_push", "comment": "太慢了"}
    response = app_client.post("/v1/nps", json=answers, headers=as_role("app"))
    assert response.status_code == 200, response.text
    assert response.json() == {"added": 10, "unchanged": 0}
    return answers


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("risk", 403), ("payments", 403), ("app", 200),
                                              ("rm", 200), ("admin", 200)])
def test_who_may_post_answers(app_client: TestClient, as_role: Headers, customers: list[str], role: str | None,
                              status: int) -> None:
    body = [_answer(100, customers[0], 8, answer_id=f"role-{TAG}-{role}", answered_at="2020-01-15T00:00:00Z")]
    assert app_client.post("/v1/nps", json=body, headers=as_role(role)).status_code == status


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"score": 11}, "body.0.score", "less than or equal to 10"),
    ({"score": -1}, "body.0.score", "greater than or equal to 0"),
    ({"channel": "fax"}, "body.0.channel", "'app_push', 'sms', 'rm_call' or 'wechat'"),
    ({"answered_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "body.0.answered_at", "in the future"),
    ({"comment": "x" * 501}, "body.0.comment", "at most 500"),
    ({"customer_id": "nobody"}, "body.0.customer_id", "pattern"),
    ({"answer_id": ""}, "body.0.answer_id", "at least 1"),
    ({"score": True}, "body.0.score", "not true/false"),
    ({"answered_at": "0001-01-01T00:00:00+01:00"}, "body.0.answered_at", "out of range"),
])
def test_bad_answers_are_422_naming_the_field(app_client: TestClient, as_role: Headers, customers: list[str],
                                             change: dict[str, Any], field: str, words: str) -> None:
    response = app_client.post("/v1/nps", json=[_answer(200, customers[0], 5) | change], headers=as_role("app"))
    assert response.status_code == 422, response.text
    assert field in response.text and words in response.text


def test_batch_size_is_bounded(app_client: TestClient, as_role: Headers, customers: list[str]) -> None:
    assert app_client.post("/v1/nps", json=[], headers=as_role("app")).status_code == 422
    many = [_answer(i, customers[0], 5, answer_id=f"many-{TAG}-{i}") for i in range(1001)]
    response = app_client.post("/v1/nps", json=many, headers=as_role("app"))
    assert response.status_code == 422 and "at most 1000" in response.text


def test_replay_is_a_no_op_and_a_changed_replay_is_409(app_client: TestClient, as_role: Headers,
                                                       posted: list[dict[str, Any]]) -> None:
    again = app_client.post("/v1/nps", json=posted, headers=as_role("rm"))
    assert again.status_code == 200 and again.json() == {"added": 0, "unchanged": 10}
    new = _answer(300, posted[0]["customer_id"], 4, answered_at="2021-03-20T00:00:00Z")
    changed = app_client.post("/v1/nps", json=[new, posted[0] | {"score": 2}], headers=as_role("rm"))
    assert changed.status_code == 409 and posted[0]["answer_id"] in changed.text
    summary = app_client.get("/v1/nps/summary", params=PERIOD, headers=as_role("rm")).json()
    assert summary["overall"]["n"] == 10  # neither the changed answer nor the new one of its batch


def test_summary_counts_the_answers(app_client: TestClient, as_role: Headers, posted: list[dict[str, Any]],
                                   customers: list[str]) -> None:
    response = app_client.get("/v1/nps/summary", params=PERIOD, headers=as_role("admin"))
    assert response.status_code == 200, response.text
    s = response.json()
    overall = s["overall"]
    assert (overall["n"], overall["promoters"], overall["passives"], overall["detractors"]) == (10, 5, 2, 3)
    assert overall["nps"] == pytest.approx(20.0)
    low, high = overall["ci95"]
    assert low < 20 < high and high - low > 50  # ten answers: a wide interval
    months = {m["month"]: m for m in s["by_month"]}
    assert months["2021-03"]["n"] == 9 and months["2021-04"]["n"] == 1 and months["2021-04"]["nps"] == -100
    channels = {c["channel"]: c["n"] for c in s["by_channel"]}
    assert channels == {"sms": 9, "app_push": 1}
    rfm = {r.id for r in load_segment_rules().rfm_segments}
    assert sum(g["n"] for g in s["by_segment"]) == 10 and {g["segment"] for g in s["by_segment"]} <= rfm
    march = app_client.get("/v1/nps/summary", params={"since": "2021-03-01", "until": "2021-04-01"},
                           headers=as_role("rm")).json()
    assert march["overall"]["n"] == 9


@pytest.mark.parametrize(("role", "status"), [(None, 401), ("app", 403), ("risk", 403), ("rm", 200)])
def test_who_may_read_the_summary(app_client: TestClient, as_role: Headers, role: str | None, status: int) -> None:
    assert app_client.get("/v1/nps/summary", headers=as_role(role)).status_code == status


def test_summary_period_must_be_ordered(app_client: TestClient, as_role: Headers) -> None:
    response = app_client.get("/v1/nps/summary", params={"since": "2021-05-01", "until": "2021-03-01"},
                              headers=as_role("rm"))
    assert response.status_code == 422 and "since must be before until" in response.text


def test_campaign_results_over_http(app_client: TestClient, as_role: Headers) -> None:
    raw = tomllib.loads((ROOT / "config" / "campaigns" / "fund-promotion-ab.toml").read_text(encoding="utf-8"))
    raw["schedule"] |= {"start": str(raw["schedule"]["start"]), "end": str(raw["schedule"]["end"])}
    campaign_id = f"results-{TAG}"
    created = app_client.post("/v1/campaigns", json=raw | {"id": campaign_id}, headers=as_role("rm"))
    assert created.status_code == 201, created.text
    response = app_client.get(f"/v1/campaigns/{campaign_id}/results", params={"window_days": 30},
                              headers=as_role("rm"))
    assert response.status_code == 200, response.text
    r = response.json()
    assert r["campaign_id"] == campaign_id and r["window_days"] == 30 and r["assigned"] == 0
    assert r["roi"]["roi"] is None and r["roi"]["conversion_difference_ci95"] is None
    assert [v["variant"] for v in r["ab"]] == ["A", "B"]
    assert app_client.get(f"/v1/campaigns/{campaign_id}/results", headers=as_role("app")).status_code == 403
    assert app_client.get("/v1/campaigns/nope/results", headers=as_role("admin")).status_code == 404
    assert app_client.get(f"/v1/campaigns/{campaign_id}/results", params={"window_days": 0},
                          headers=as_role("rm")).status_code == 422
    assert app_client.get("/v1/campaigns/effect", headers=as_role("rm")).status_code == 200


@pytest.mark.parametrize(("lang", "words"), [("en", "Net promoter score"), ("zh", "净推荐值")])
def test_the_campaign_page_shows_nps_and_roi(app_client: TestClient, session_cookie: dict[str, str],
                                             posted: list[dict[str, Any]], lang: str, words: str) -> None:
    page = app_client.get("/workbench/campaigns", params={"lang": lang, "from": "2021-03-01", "to": "2021-04-30"},
                          headers=session_cookie)
    assert page.status_code == 200, page.text
    html = page.text
    assert 'id="nps"' in html and words in html and 'id="campaign-roi"' in html
    assert 'id="nps-overall">+20.0<' in html
    assert 'data-month="2021-04"' in html and 'data-channel="app_push"' in html
    if lang == "zh":  # read as a Chinese RM writes: no English word, no ASCII colon
        assert "手机银行推送" in html and problems(visible_texts(html)) == []
