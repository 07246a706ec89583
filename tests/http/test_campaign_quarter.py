"""Issue 25's must-show on a simulated quarter of the session bank (September to November 2026).

Three overlapping campaigns (dormant reactivation by push, SMS and RM call; a fund promotion with an
A/B test of message and send time; a card offer by WeChat, push and RM call) run on every one of their
send days, with the date triggers running every day of the quarter, all through the one contact policy.
Then:
- a sweep over every contact recorded for every customer proves no channel cap, quiet hour or channel
  consent is ever broken, and every campaign send is exactly one contact;
- a rerun of campaign days sends nothing twice (no new contact, decision or send row; the same files);
- the synthetic customers answer (`sources/synthetic/responses.py`: uptake planted per channel, written to
  `truth/campaign_effect.parquet`, on a private copy of the bank's holdings), and each campaign's ROI
  against its control group (`serving/campaigns/results.py`, intention to treat) recovers the planted
  effect within its 95 % interval;
- the survey answers arrive at `POST /v1/nps` and the summary counts them.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.build.monthly import offline_dir
from features.segments.report import read_monthly_features
from serving.audit.contact_ledger import ContactLedger
from serving.audit.store import decisions
from serving.campaigns.results import campaign_results, compare, margins_of, outcomes
from serving.campaigns.runner import CampaignRunner
from serving.campaigns.sends import CampaignSends
from serving.campaigns.spec import CampaignSpec
from serving.decisions.offers import OfferService
from serving.triggers.engine import TriggerEngine
from sources.contract import CONTACT_CHANNELS
from sources.io import read_table, table_path
from sources.synthetic.responses import load_settings, planted_effect, read_assignments, respond
from tests.conftest import Trained, settings_from
from tests.contact_rules import assert_contacts_keep_policy, recorded_contacts

log = logging.getLogger(__name__)
Headers = Callable[[str | None], dict[str, str]]
QUARTER = (date(2026, 9, 1), date(2026, 11, 30))
WINDOW_DAYS = 30  # every assignment (the last on 30 October) matures by the bank's last month-end
UPTAKE = 0.3  # the planted uptake per channel: large enough for the interval to exclude 0 on ~200 customers
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _spec(campaign_id: str, zh: str, en: str, audience: dict, products: list[str], costs: dict[str, float],
          start: str, end: str, send_days: list[str], **more: object) -> CampaignSpec:
    return CampaignSpec.model_validate({
        "id": campaign_id, "name_zh": zh, "name_en": en, "audience": audience, "offer": {"products": products},
        "channels": list(costs), "control_share": 0.3,
        "schedule": {"start": start, "end": end, "send_days": send_days, "send_time": "10:30"},
        "budget": {"total_cny": 1_000_000, "cost_per_contact_cny": costs}, **more})


SPECS = (
    _spec("q3-dormant", "沉睡客户唤醒（季度模拟）", "Dormant reactivation (quarter)", {"segment": "dormant"},
          ["DEP_TIME_1Y", "WM_STABLE"], {"app_push": 0.01, "sms": 0.05, "rm_call": 15.0},
          "2026-09-01", "2026-10-30", ["tue", "thu"]),
    _spec("q3-fund-ab", "基金定投推广（季度模拟）", "Fund promotion A/B (quarter)", {"rule": ["aum_cny >= 20000"]},
          ["FUND_BOND", "FUND_BALANCED"], {"app_push": 0.01, "sms": 0.05},
          "2026-09-07", "2026-10-23", ["mon", "wed", "fri"],
          variants=[{"name": "A", "share": 0.5, "message_zh": "债券基金1000元起投，手机银行一键定投。",
                     "message_en": "Bond funds from 1,000 CNY: set up a monthly plan in the app."},
                    {"name": "B", "share": 0.5, "message_zh": "想让收益更稳一些？试试债券基金定投。",
                     "message_en": "Steadier returns? Try a monthly bond fund plan.", "send_time": "20:00"}]),
    _spec("q3-protect", "保障与储蓄推荐（季度模拟）", "Protection and savings (quarter)", {"rule": ["aum_cny >= 5000"]},
          ["INS_HEALTH", "DEP_TIME_1Y", "GOLD_ACCUM"], {"wechat": 0.02, "app_push": 0.01, "rm_call": 15.0},
          "2026-09-01", "2026-10-30", ["mon", "tue", "wed", "thu", "fri"]),
)


@dataclass(frozen=True)
class Quarter:
    runner: CampaignRunner
    sends_dir: Path
    data_dir: Path
    truth_dir: Path
    runs: list[tuple[str, date]]
    answered: dict


def _sends_on(spec: CampaignSpec, day: date) -> bool:
    s = spec.schedule
    return s.start <= day <= s.end and WEEKDAYS[day.weekday()] in s.send_days


def _private_data(source: Path, into: Path) -> Path:
    """The bank's tables as links, but its holdings as a copy: the customers' answers are written there."""
    into.mkdir()
    for entry in source.iterdir():
        (into / entry.name).symlink_to(entry.resolve())
    holdings = table_path(into, "holdings")
    holdings.unlink()
    shutil.copy2(table_path(source, "holdings"), holdings)
    return into


@pytest.fixture(scope="module")
def quarter(app_client: TestClient, trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Quarter:
    state = app_client.app.state
    settings = settings_from(trained.env)
    store = state.campaign_board.store
    for spec in SPECS:
        store.save_draft(spec, "rm-quarter-author", "the simulated quarter")
        store.move(spec.id, "approve", "rm-quarter-approver")
        store.move(spec.id, "start", "rm-quarter-approver")
    offers = OfferService(state.runtime, state.audit, state.offer_policy)
    runner = CampaignRunner(store, CampaignSends(state.audit.engine), offers, state.trigger_store,
                            state.offer_policy.segments, offline_dir(settings))
    triggers = TriggerEngine(state.trigger_rules, state.trigger_store, offers)
    columns = {"birth_date", "is_closed"} | {c.feature for t in state.trigger_rules.scheduled() for c in t.when.all}
    work = tmp_path_factory.mktemp("quarter")
    sends_dir, runs, months = work / "sends", [], {}
    day = QUARTER[0]
    while day <= QUARTER[1]:
        for spec in SPECS:
            if _sends_on(spec, day):
                runner.run(spec.id, day, out=sends_dir, request_id=f"quarter-{spec.id}-{day}")
                runs.append((spec.id, day))
        month = day.replace(day=1)
        if month not in months:
            months[month] = read_monthly_features(offline_dir(settings), columns, 1, pd.Timestamp(day, tz="UTC"))
        triggers.run(day, months[month], f"quarter-triggers-{day}")
        day += timedelta(days=1)
    data_dir = _private_data(settings.data_dir, work / "data")
    truth_dir = work / "truth"
    answers = work / "nps_answers.parquet"
    world = replace(load_settings(), uptake=dict.fromkeys(CONTACT_CHANNELS, UPTAKE))
    answered = respond(sends_dir, data_dir, truth_dir, seed=2026, nps_out=answers, settings=world)
    return Quarter(runner, sends_dir, data_dir, truth_dir, runs, answered)


def test_every_campaign_ran_on_its_send_days_and_overlapped(quarter: Quarter) -> None:
    sends = quarter.runner.sends.frame()
    mine = sends[sends["campaign_id"].isin([s.id for s in SPECS])]
    assert {c: n for c, n in Counter(c for c, _ in quarter.runs).items()} == {
        s.id: sum(_sends_on(s, QUARTER[0] + timedelta(days=d)) for d in range(91)) for s in SPECS}
    sent = mine[mine["status"] == "sent"]
    by_status = mine.groupby(["campaign_id", "status"]).size()
    assert set(sent["campaign_id"]) == {s.id for s in SPECS} and len(sent) > 300, by_status
    both = sent.groupby("customer_id")["campaign_id"].nunique()
    assert (both >= 2).sum() > 10  # the campaigns overlap: customers reached by more than one
    per_customer = mine[mine["status"].isin(["sent", "held_out"])].groupby(["campaign_id", "customer_id"]).size()
    assert per_customer.max() == 1  # once sent or held out, never again by the same campaign
    assert set(sent["channel"]) >= {"app_push", "sms", "rm_call", "wechat"}
    assert (mine.loc[mine["arm"] == "control", "status"] == "held_out").all()
    assert set(mine.loc[mine["campaign_id"] == "q3-fund-ab", "arm"]) == {"A", "B", "control"}


def test_a_sweep_over_every_customer_finds_no_contact_rule_broken(app_client: TestClient, quarter: Quarter) -> None:
    state = app_client.app.state
    policy = state.offer_policy.contact
    ledger = ContactLedger(state.audit.engine)
    contacts = recorded_contacts(ledger, policy)
    in_quarter = contacts[(contacts["local"].dt.date >= QUARTER[0]) & (contacts["local"].dt.date <= QUARTER[1])]
    assert set(in_quarter["source"]) >= {"campaign", "trigger"}
    assert in_quarter["customer_id"].nunique() > 500
    assert_contacts_keep_policy(contacts, policy, state.runtime.reader)
    sends = quarter.runner.sends.frame()
    sent = sends[(sends["status"] == "sent") & sends["campaign_id"].isin([s.id for s in SPECS])]
    by_send = Counter(contacts.loc[contacts["source"] == "campaign", "ref"])
    assert [s for s in sent["send_id"] if by_send[s] != 1] == []  # each send is exactly one contact
    refused = sends[(sends["status"] == "refused") & sends["campaign_id"].isin([s.id for s in SPECS])]
    policy_reasons = {"cap_week", "cap_month", "quiet_hours", "suppressed_dismissals", "budget_spent"} | {
        f"no_consent_{c}" for c in CONTACT_CHANNELS}
    assert len(refused) > 0 and set(refused["reason"]) <= policy_reasons, Counter(refused["reason"])


def test_a_rerun_of_any_campaign_day_sends_nothing_twice(app_client: TestClient, quarter: Quarter) -> None:
    state = app_client.app.state
    engine = state.audit.engine
    chosen = [quarter.runs[0], quarter.runs[len(quarter.runs) // 2], quarter.runs[-1]]

    def counts() -> tuple[int, int, int]:
        with engine.connect() as conn:
            made = conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        return len(ContactLedger(engine).all_contacts()), made, len(quarter.runner.sends.frame())

    for campaign_id, day in chosen:
        folder = quarter.sends_dir / campaign_id / day.isoformat()
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"}
        assert files, folder
        before = counts()
        summary = quarter.runner.run(campaign_id, day, out=quarter.sends_dir).as_dict()
        assert counts() == before, (campaign_id, day)
        assert {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"} == files
        assert summary["new_rows"] == 0, summary


def test_roi_against_control_recovers_the_planted_effect(quarter: Quarter) -> None:
    truth = pd.read_parquet(quarter.truth_dir / "campaign_effect.parquet")
    assert truth["planted"].sum() > 50
    assignments = read_assignments(quarter.sends_dir)
    products = read_table(quarter.data_dir, "products")
    planted = planted_effect(truth, assignments, products, WINDOW_DAYS).set_index("campaign_id")
    holdings = read_table(quarter.data_dir, "holdings")
    sends = quarter.runner.sends.frame()
    for spec in SPECS:
        results = campaign_results(spec, sends[sends["campaign_id"] == spec.id], holdings, margins_of(products),
                                   WINDOW_DAYS)
        roi, effect = results["roi"], planted.loc[spec.id]
        log.info("quarter_roi", extra={"campaign_id": spec.id, "treated": int(effect["treated_n"]),
                                       "control": int(effect["control_n"]), "sent": results["sent"],
                                       "planted_rate": round(float(effect["planted_rate"]), 4),
                                       "measured_rate": roi["conversion_difference"],
                                       "rate_ci95": roi["conversion_difference_ci95"],
                                       "planted_value_cny": round(float(effect["planted_value_cny"]), 2),
                                       "measured_value_cny": roi["value_difference_cny"],
                                       "value_ci95": roi["value_difference_ci95"], "cost_cny": roi["cost_cny"],
                                       "roi": roi["roi"], "roi_ci95": roi["roi_ci95"]})
        assert results["unmatured"] == 0 and results["matured"] == effect["treated_n"] + effect["control_n"]
        low, high = roi["conversion_difference_ci95"]
        assert low <= effect["planted_rate"] <= high, (spec.id, roi["conversion_difference_ci95"], effect.to_dict())
        value_low, value_high = roi["value_difference_ci95"]
        assert value_low <= effect["planted_value_cny"] <= value_high, (spec.id, roi, effect.to_dict())
        assert roi["cost_cny"] > 0 and roi["roi_ci95"] is not None and roi["roi_ci95"][0] <= roi["roi"] <= roi["roi_ci95"][1]
    # the quarter as a whole: every campaign's customers pooled, treated against control
    people = pd.concat([outcomes(sends[sends["campaign_id"] == spec.id], holdings, margins_of(products),
                                 spec.offer.products, WINDOW_DAYS) for spec in SPECS], ignore_index=True)
    pooled = compare(people[people["arm"] != "control"], people[people["arm"] == "control"])
    planted_rate = planted["planted_conversions"].sum() / planted["treated_n"].sum()
    log.info("quarter_roi_pooled", extra={"planted_rate": round(float(planted_rate), 4),
                                           "measured_rate": pooled["conversion_difference"],
                                           "rate_ci95": pooled["conversion_difference_ci95"],
                                           "value_ci95": pooled["value_difference_ci95"], "roi": pooled["roi"],
                                           "roi_ci95": pooled["roi_ci95"]})
    low, high = pooled["conversion_difference_ci95"]
    assert 0 < low <= planted_rate <= high, (pooled["conversion_difference_ci95"], planted_rate)
    planted_value = (planted["planted_value_cny"] * planted["treated_n"]).sum() / planted["treated_n"].sum()
    value_low, value_high = pooled["value_difference_ci95"]
    assert 0 < value_low <= planted_value <= value_high, (pooled["value_difference_ci95"], planted_value)
    ab = campaign_results(SPECS[1], sends[sends["campaign_id"] == "q3-fund-ab"], holdings, margins_of(products),
                          WINDOW_DAYS)["ab"]
    assert [v["variant"] for v in ab] == ["A", "B"] and all(v["n"] > 30 for v in ab)
    assert ab[1]["conversion_difference_ci95"] is not None


def test_the_survey_answers_arrive_as_events_and_are_summarised(app_client: TestClient, as_role: Headers,
                                                               quarter: Quarter) -> None:
    answers = pd.read_parquet(quarter.answered["nps"])
    assert len(answers) == quarter.answered["nps_answers"] > 50
    body = answers.assign(answered_at=answers["answered_at"].map(lambda t: pd.Timestamp(t).isoformat()))
    records = body.astype(object).where(body.notna(), None).to_dict("records")
    for start in range(0, len(records), 1000):
        response = app_client.post("/v1/nps", json=records[start:start + 1000], headers=as_role("rm"))
        assert response.status_code == 200, response.text[:500]
    again = app_client.post("/v1/nps", json=records[:10], headers=as_role("app"))
    assert again.status_code == 200 and again.json()["added"] == 0  # a replay adds nothing
    summary = app_client.get("/v1/nps/summary", params={"since": "2026-09-01", "until": "2026-12-01"},
                             headers=as_role("rm"))
    assert summary.status_code == 200, summary.text[:500]
    overall = summary.json()["overall"]
    assert overall["n"] == len(answers) and overall["ci95"] is not None
