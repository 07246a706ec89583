"""`nbo campaigns run CAMPAIGN --as-of DATE` on the session's bank: control held out, treated customers through
suitability, arbitration and the contact policy, send lists and assignments written, a rerun of the day sends
nothing twice (no new contact-ledger row or audit decision, the same files), the budget stops the sends, and a
campaign that is not running or a day outside the schedule is refused (exit 2)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from nbo.databases import audit_engine
from serving.audit.contact_ledger import ContactLedger, contact_ledger
from serving.audit.store import AuditStore, decisions, sqlite_url
from serving.campaigns.run_cli import FileNotStored, campaign_of
from serving.campaigns.runner import (
    SEND_LIST_COLUMNS,
    NotASendDay,
    check_send_day,
    running_campaign,
)
from serving.campaigns.sends import COLUMNS, CampaignSends
from serving.campaigns.spec import CampaignSpec
from serving.campaigns.store import CampaignNotFound, CampaignStore
from serving.triggers.store import tasks
from tests.conftest import Trained, run_cli, run_json, settings_from

DAY = "2026-11-03"  # a Tuesday in the bank's last month


def spec(campaign_id: str, **changes: Any) -> CampaignSpec:
    """A campaign for dormant customers with money, running around DAY."""
    body: dict[str, Any] = {
        "id": campaign_id, "name_zh": "测试唤醒", "name_en": "Test wake-up",
        "audience": {"segment": "dormant", "rule": ["aum_cny >= 1000"]},
        "offer": {"products": ["DEP_TIME_1Y", "WM_STABLE"], "message_zh": "好久不见！定期存款正在热销。",
                  "message_en": "It has been a while! Our time deposit is open now."},
        "channels": ["sms", "rm_call"], "control_share": 0.2,
        "schedule": {"start": "2026-11-02", "end": "2026-11-20", "send_days": ["tue", "thu"], "send_time": "10:30"},
        "budget": {"total_cny": 100000, "cost_per_contact_cny": {"sms": 0.05, "rm_call": 15.0}}}
    return CampaignSpec.model_validate(body | changes)


def store_campaign(env: dict[str, str], campaign: CampaignSpec, start: bool = True) -> None:
    store = CampaignStore(audit_engine(env["NBO_SERVICE__AUDIT_URL"]))
    store.save_draft(campaign, "RM001")
    if start:
        store.move(campaign.id, "approve", "RM002")
        store.move(campaign.id, "start", "RM002")


def counts(env: dict[str, str]) -> tuple[int, int]:
    """Contact-ledger rows and audit decisions in the test's audit database."""
    engine = AuditStore(env["NBO_SERVICE__AUDIT_URL"]).engine
    ContactLedger(engine)  # its table, if nothing made it yet
    with engine.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(contact_ledger)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one())


@pytest.fixture
def env(trained: Trained, tmp_path: Path) -> dict[str, str]:
    return trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}


def test_a_day_runs_once_and_a_rerun_rewrites_the_same_lists(env: dict[str, str], tmp_path: Path) -> None:
    store_campaign(env, spec("run-test-wake"))
    out = tmp_path / "sends"
    first = run_json("campaigns", "run", "run-test-wake", "--as-of", DAY, "--out", out, env=env)
    assert first["audience"] > 20 and first["new_rows"] == first["audience"] and first["already_done"] == 0
    assert first["by_status"].get("held_out", 0) > 0 and first["by_status"].get("sent", 0) > 0
    folder = out / "run-test-wake" / DAY
    assert sorted(p.name for p in folder.iterdir()) == ["assignments.parquet", "rm_call.csv", "sms.csv"]

    rows = pd.read_parquet(folder / "assignments.parquet")
    assert list(rows.columns) == list(COLUMNS) and len(rows) == first["audience"]
    assert rows["customer_id"].is_unique and (rows["day"] == pd.Timestamp(DAY)).all()
    assert set(rows.loc[rows["arm"] == "control", "status"]) == {"held_out"}
    assert set(rows.loc[rows["status"] == "held_out", "arm"]) == {"control"}
    assert rows.loc[rows["arm"] == "control", ["channel", "decision_id"]].isna().all().all()
    sent = rows[rows["status"] == "sent"]
    assert sent["product_id"].isin(["DEP_TIME_1Y", "WM_STABLE"]).all() and sent["decision_id"].notna().all()
    assert (sent["send_at"] == pd.Timestamp(f"{DAY}T02:30:00Z")).all()  # 10:30 Asia/Shanghai
    assert (sent["cost_cny"] == sent["channel"].map({"sms": 0.05, "rm_call": 15.0})).all()
    refused = rows[rows["status"] == "refused"]
    assert refused["reason"].notna().all() and refused["cost_cny"].eq(0).all()
    assert first["cost_cny"] == pytest.approx(round(sent["cost_cny"].sum(), 2))

    sms = pd.read_csv(folder / "sms.csv")
    assert list(sms.columns) == list(SEND_LIST_COLUMNS)
    assert sorted(sms["send_id"]) == sorted(sent.loc[sent["channel"] == "sms", "send_id"])
    assert (sms["message_en"] == "It has been a while! Our time deposit is open now.").all()
    assert sms["product_name_en"].notna().all() and (sms["product_name_en"] != sms["product_id"]).all()

    engine = audit_engine(env["NBO_SERVICE__AUDIT_URL"])
    with engine.connect() as conn:
        ledger = pd.DataFrame(conn.execute(sa.select(contact_ledger.c.ref, contact_ledger.c.channel)
                                           .where(contact_ledger.c.source == "campaign")).all(),
                              columns=["ref", "channel"])
        task_rows = conn.execute(sa.select(tasks.c.fire_id, tasks.c.trigger_id)).all()
    assert sorted(ledger["ref"]) == sorted(sent["send_id"])  # one ledger row per send, none for the rest
    assert dict(ledger.groupby("channel").size()) == first["by_channel"]
    calls = sent.loc[sent["channel"] == "rm_call"]
    assert sorted(f for f, _ in task_rows) == sorted(calls["send_id"]) and first["rm_tasks"] == len(calls)
    assert {t for _, t in task_rows} <= {"campaign:run-test-wake"}

    before, files = counts(env), {p.name: p.read_bytes() for p in folder.iterdir()}
    again = run_json("campaigns", "run", "run-test-wake", "--as-of", DAY, "--out", out, env=env)
    assert (again["new_rows"], again["already_done"]) == (0, 0) and again["by_status"] == first["by_status"] and again["cost_cny"] == first["cost_cny"]
    assert counts(env) == before  # no contact and no decision added by the rerun
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "assignments.parquet"} == \
        {n: b for n, b in files.items() if n != "assignments.parquet"}
    assert pd.read_parquet(folder / "assignments.parquet").equals(rows)

    later = run_json("campaigns", "run", "run-test-wake", "--as-of", "2026-11-05", "--out", out, env=env)
    done = first["by_status"].get("sent", 0) + first["by_status"].get("held_out", 0)
    assert later["already_done"] == done and later["by_status"].get("held_out", 0) == 0
    frame = CampaignSends(engine).frame("run-test-wake")
    finished = frame[frame["status"].isin(["sent", "held_out"])]
    assert finished["customer_id"].is_unique  # at most one sent or held_out row per customer

    summary = CampaignSends(engine).summary("run-test-wake")  # what `nbo campaigns sends` prints
    assert summary["rows"] == len(frame) and summary["cost_cny"] == pytest.approx(round(frame["cost_cny"].sum(), 2))
    assert {(g["day"], g["status"]) for g in summary["groups"]} >= {(DAY, "sent"), (DAY, "held_out")}


def test_the_budget_stops_the_sends(env: dict[str, str], tmp_path: Path) -> None:
    campaign = spec("run-test-budget", channels=["sms"], control_share=0.0,
                    budget={"total_cny": 3.0, "cost_per_contact_cny": {"sms": 1.0}})
    store_campaign(env, campaign)
    result = run_json("campaigns", "run", "run-test-budget", "--as-of", DAY, "--out", tmp_path, "--format", "parquet",
                      env=env)
    assert result["by_status"]["sent"] == 3 and result["cost_cny"] == 3.0 == result["cost_total_cny"]
    rows = pd.read_parquet(tmp_path / "run-test-budget" / DAY / "assignments.parquet")
    spent = rows[rows["reason"] == "budget_spent"]
    assert len(spent) > 0 and set(spent["status"]) == {"refused"}
    last_sent = rows.loc[rows["status"] == "sent", "customer_id"].max()
    assert (spent["customer_id"] > last_sent).all()  # in customer order: the rest once the money ran out
    assert len(pd.read_parquet(tmp_path / "run-test-budget" / DAY / "sms.parquet")) == 3


def test_only_a_running_campaign_on_a_send_day_runs(env: dict[str, str], tmp_path: Path) -> None:
    store_campaign(env, spec("run-test-draft"), start=False)
    draft = run_cli("campaigns", "run", "run-test-draft", "--as-of", DAY, "--json", env=env, check=False)
    assert draft.returncode == 2 and json.loads(draft.stdout)["error"] == "CampaignNotRunning"
    assert "is draft: only a running campaign runs" in draft.stderr
    assert counts(env) == (0, 0)  # nothing decided, nobody contacted

    # the rest in-process, as the command checks them (each `nbo` process costs seconds)
    store_campaign(env, spec("run-test-days"))
    with pytest.raises(NotASendDay, match=r"--as-of 2026-12-01: campaign 'run-test-days' runs from 2026-11-02 to "
                                          "2026-11-20") as outside:
        check_send_day(spec("run-test-days"), date(2026, 12, 1))
    assert outside.value.exit_code == 2 and outside.value.status == 422
    with pytest.raises(NotASendDay, match=r"--as-of 2026-11-04 is a wed: .* sends on tue, thu only"):
        check_send_day(spec("run-test-days"), date(2026, 11, 4))
    store = CampaignStore(audit_engine(env["NBO_SERVICE__AUDIT_URL"]))
    with pytest.raises(CampaignNotFound) as missing:
        running_campaign(store, "no-such-campaign")
    assert missing.value.exit_code == 3
    path = tmp_path / "run-test-days.toml"
    path.write_text('id = "run-test-days"\nname_zh = "别的"\nname_en = "Other"\nchannels = ["sms"]\n'
                    '[audience]\nsegment = "dormant"\n[offer]\nproducts = ["DEP_TIME_1Y"]\n'
                    '[schedule]\nstart = 2026-11-02\nend = 2026-11-20\n'
                    '[budget]\ntotal_cny = 10\ncost_per_contact_cny = { sms = 0.05 }\n', encoding="utf-8")
    settings = settings_from(env)
    with pytest.raises(FileNotStored, match="differs from the stored campaign 'run-test-days'") as differs:
        campaign_of(str(path), settings, store)
    assert differs.value.exit_code == 2
    path.write_text(path.read_text(encoding="utf-8").replace("run-test-days", "run-test-unknown"), encoding="utf-8")
    with pytest.raises(FileNotStored, match="is not stored: `nbo campaigns load"):
        campaign_of(str(path), settings, store)
