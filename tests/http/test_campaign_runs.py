"""POST /v1/campaigns/{id}/run and GET /v1/campaigns/{id}/sends through the real app, and the workbench's
campaign detail page: only rm and admin keys, only a running campaign on a send day, a rerun sends
nothing twice, every send in the contact ledger; the page's forms move and run the campaign, and a
refused move is a notice on the page."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.audit.contact_ledger import contact_ledger
from serving.campaigns.sends import CampaignSends
from serving.campaigns.spec import CampaignSpec

Headers = Callable[[str | None], dict[str, str]]
CAMPAIGN = "http-run-greeting"
DAY = "2026-11-12"  # a Thursday of the bank's last month that other tests leave alone


def _spec() -> CampaignSpec:
    """A content-only campaign (no products): straight to the contact policy."""
    return CampaignSpec.model_validate({
        "id": CAMPAIGN, "name_zh": "年终问候", "name_en": "Year-end greeting",
        "audience": {"segment": "dormant", "rule": ["aum_cny >= 1000"]},
        "offer": {"content": "year_end_greeting", "message_zh": "感谢您一年来的信任。", "message_en": "Thank you for this year."},
        "channels": ["app_push"], "control_share": 0.3,
        "schedule": {"start": "2026-11-09", "end": "2026-11-13", "send_days": ["thu"], "send_time": "11:00"},
        "budget": {"total_cny": 50, "cost_per_contact_cny": {"app_push": 0.01}}})


def _ledger(app_client: TestClient, send_ids: list[str]) -> int:
    with app_client.app.state.audit.engine.connect() as conn:  # type: ignore[attr-defined]
        return conn.execute(sa.select(sa.func.count()).select_from(contact_ledger).where(
            contact_ledger.c.source == "campaign", contact_ledger.c.ref.in_(send_ids))).scalar_one()


def test_run_and_sends_over_http_and_on_the_workbench(app_client: TestClient, as_role: Headers,
                                                      session_cookie: dict[str, str]) -> None:
    store = app_client.app.state.campaign_board.store  # type: ignore[attr-defined]
    store.save_draft(_spec(), "RM_RUN_A")
    store.move(CAMPAIGN, "approve", "RM_RUN_B")
    url = f"/v1/campaigns/{CAMPAIGN}/run"
    for role, status in [(None, 401), ("app", 403), ("risk", 403)]:
        assert app_client.post(url, json={"as_of": DAY}, headers=as_role(role)).status_code == status
        assert app_client.get(f"/v1/campaigns/{CAMPAIGN}/sends", headers=as_role(role)).status_code == status
    early = app_client.post(url, json={"as_of": DAY}, headers=as_role("rm"))
    assert early.status_code == 409 and "is approved: only a running campaign runs" in early.json()["detail"]
    store.move(CAMPAIGN, "start", "RM_RUN_B")
    for day, words in [("2026-11-11", "is a wed"), ("2026-11-19", "runs from 2026-11-09 to 2026-11-13")]:
        wrong = app_client.post(url, json={"as_of": day}, headers=as_role("admin"))
        assert wrong.status_code == 422 and words in wrong.json()["detail"], wrong.text
    assert app_client.post(url, json={"as_of": "12 Nov"}, headers=as_role("rm")).status_code == 422
    assert app_client.post("/v1/campaigns/no-such/run", json={"as_of": DAY}, headers=as_role("rm")).status_code == 404

    first = app_client.post(url, json={"as_of": DAY}, headers=as_role("rm"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["new_rows"] == body["audience"] > 0 and body["by_status"]["sent"] > 0
    assert body["by_status"]["held_out"] > 0 and set(body["by_channel"]) == {"app_push"}
    sent = CampaignSends(app_client.app.state.audit.engine).frame(CAMPAIGN)  # type: ignore[attr-defined]
    sent_ids = list(sent.loc[sent["status"] == "sent", "send_id"])
    assert len(sent_ids) == body["by_status"]["sent"] == _ledger(app_client, list(sent["send_id"]))
    assert body["cost_cny"] == round(0.01 * len(sent_ids), 2)

    again = app_client.post(url, json={"as_of": DAY}, headers=as_role("admin")).json()
    assert again["new_rows"] == 0 and again["by_status"] == body["by_status"] and again["files"] == body["files"]
    assert _ledger(app_client, list(sent["send_id"])) == len(sent_ids)

    sends = app_client.get(f"/v1/campaigns/{CAMPAIGN}/sends", headers=as_role("rm")).json()
    row = next(g for g in sends["groups"] if g["status"] == "sent")
    assert (row["day"], row["channel"], row["customers"], row["cost_cny"]) == (DAY, "app_push", len(sent_ids),
                                                                            body["cost_cny"])
    assert app_client.get("/v1/campaigns/effect", headers=as_role("rm")).status_code == 200  # still its own route

    page = app_client.get(f"/workbench/campaigns/{CAMPAIGN}?lang=zh", headers=session_cookie)
    assert page.status_code == 200 and 'data-state="running"' in page.text
    assert f'data-day="{DAY}" data-channel="app_push" data-status="sent"' in page.text and "已发送" in page.text
    listed = app_client.get("/workbench/campaigns/list", headers=session_cookie)
    assert f'href="/workbench/campaigns/{CAMPAIGN}?lang=en"' in listed.text
    foreign = app_client.post(f"/workbench/campaigns/{CAMPAIGN}/finish", data={"lang": "en"},
                              headers=session_cookie | {"Sec-Fetch-Site": "cross-site"}, follow_redirects=False)
    assert foreign.status_code == 403 and store.get(CAMPAIGN)["state"] == "running"
    finished = app_client.post(f"/workbench/campaigns/{CAMPAIGN}/finish", data={"lang": "en"},
                               headers=session_cookie, follow_redirects=False)
    assert finished.status_code == 303 and store.get(CAMPAIGN)["state"] == "finished"
    refused = app_client.post(f"/workbench/campaigns/{CAMPAIGN}/run", data={"lang": "en", "as_of": DAY},
                              headers=session_cookie)
    assert refused.status_code == 409 and 'id="campaign-notice"' in refused.text
    assert "is finished: only a running campaign runs" in refused.text
    bad_move = app_client.post(f"/workbench/campaigns/{CAMPAIGN}/approve", data={"lang": "zh"}, headers=session_cookie)
    assert bad_move.status_code == 409 and "未执行" in bad_move.text and "approve takes a campaign" in bad_move.text
