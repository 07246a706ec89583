"""The contact policy's rules at their edges (pure `judge`), its settings file, and the ledger's
conditional write on a real SQLite audit store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from serving.audit.store import AuditStore, sqlite_url
from serving.decisions.contact_policy import (
    CONTACT_CHANNELS,
    ChannelRules,
    ContactHistory,
    ContactPolicy,
    UnknownContactChannel,
    consent_of,
    contact_channel,
    judge,
    load_contact_settings,
    scheduled_moment,
)

SH = ZoneInfo("Asia/Shanghai")
ALL = dict.fromkeys(CONTACT_CHANNELS, True)
NONE = ContactHistory([], [])


@pytest.fixture(scope="module")
def settings():
    s = load_contact_settings()
    rules = ChannelRules(per_week=2, per_month=3, quiet_start=time(21), quiet_end=time(8))
    return replace(s, dismissals=3, dismissal_window_days=30, suppress_days=30,
                   channels=dict.fromkeys(CONTACT_CHANNELS, rules))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize(("hour", "minute", "quiet"), [
    (20, 59, False), (21, 0, True), (23, 59, True), (0, 0, True), (7, 59, True), (8, 0, False), (12, 0, False)])
def test_quiet_hours_edges_in_local_time(settings, hour, minute, quiet):
    verdict = judge(settings, "sms", local(2026, 12, 9, hour, minute), ALL, NONE)
    assert verdict.allowed is not quiet
    if quiet:
        assert verdict.reason == "quiet_hours" and "21:00-08:00" in verdict.message_zh


def test_quiet_hours_are_read_in_shanghai_not_utc(settings):
    # 13:30 UTC is 21:30 in Shanghai: quiet; 01:00 UTC is 09:00 there: allowed
    assert judge(settings, "sms", datetime(2026, 12, 9, 13, 30, tzinfo=UTC), ALL, NONE).reason == "quiet_hours"
    assert judge(settings, "sms", datetime(2026, 12, 9, 1, 0, tzinfo=UTC), ALL, NONE).allowed


def test_no_quiet_hours_when_start_equals_end(settings):
    s = replace(settings, channels=settings.channels | {"sms": ChannelRules(2, 3, time(0), time(0))})
    assert judge(s, "sms", local(2026, 12, 9, 3, 0), ALL, NONE).allowed


def test_weekly_cap_reached_exactly_and_reset_on_monday(settings):
    wednesday = local(2026, 12, 9, 10)  # Monday is 7 December
    one = ContactHistory([local(2026, 12, 7, 0, 0)], [])
    two = ContactHistory([local(2026, 12, 7, 0, 0), local(2026, 12, 8, 10)], [])
    assert judge(settings, "sms", wednesday, ALL, one).allowed
    refused = judge(settings, "sms", wednesday, ALL, two)
    assert (refused.allowed, refused.reason) == (False, "cap_week")
    assert "本周" in refused.message_zh and "this week" in refused.message_en
    # the previous Sunday 23:59 local (15:59 UTC) is last week: it does not count
    last_week = ContactHistory([local(2026, 12, 6, 23, 59), local(2026, 12, 8, 10)], [])
    assert judge(settings, "sms", wednesday, ALL, last_week).allowed
    assert judge(settings, "sms", local(2026, 12, 14, 9), ALL, two).allowed  # next Monday


def test_a_contact_recorded_for_later_in_the_same_week_counts(settings):
    # a campaign batch for Tuesday 10:30 ran before the triggers' batch for Tuesday 10:00
    later = ContactHistory([local(2026, 12, 8, 10, 30), local(2026, 12, 10, 10)], [])
    refused = judge(settings, "sms", local(2026, 12, 8, 10), ALL, later)
    assert (refused.allowed, refused.reason) == (False, "cap_week")
    next_week = ContactHistory([local(2026, 12, 14, 10), local(2026, 12, 15, 10)], [])
    assert judge(settings, "sms", local(2026, 12, 8, 10), ALL, next_week).allowed
    next_month = ContactHistory([local(2027, 1, 4, 10), local(2027, 1, 5, 10), local(2027, 1, 6, 10)], [])
    assert judge(settings, "sms", local(2026, 12, 30, 10), ALL, next_month).allowed


def test_monthly_cap_counts_the_calendar_month(settings):
    history = ContactHistory([local(2026, 12, 1, 10), local(2026, 12, 2, 10), local(2026, 12, 9, 10)], [])
    refused = judge(settings, "sms", local(2026, 12, 16, 10), ALL, history)
    assert (refused.allowed, refused.reason) == (False, "cap_month")
    assert judge(settings, "sms", local(2027, 1, 1, 10), ALL, history).allowed
    # two of the three were in November: the cap is not reached
    november = ContactHistory([local(2026, 11, 30, 10), local(2026, 11, 29, 10), local(2026, 12, 9, 10)], [])
    assert judge(settings, "sms", local(2026, 12, 16, 10), ALL, november).allowed


def test_caps_are_per_channel(settings):
    two = ContactHistory([local(2026, 12, 7, 10), local(2026, 12, 8, 10)], [])
    assert not judge(settings, "sms", local(2026, 12, 9, 10), ALL, two).allowed
    assert judge(settings, "app_push", local(2026, 12, 9, 10), ALL, NONE).allowed


def test_consent_per_channel(settings):
    only_app = {c: c == "app_push" for c in CONTACT_CHANNELS}
    at = local(2026, 12, 9, 10)
    assert judge(settings, "app_push", at, only_app, NONE).allowed
    sms = judge(settings, "sms", at, only_app, NONE)
    assert (sms.allowed, sms.reason) == (False, "no_consent_sms")
    assert sms.message_zh == "客户未授权通过短信联系"
    assert judge(settings, "wechat", at, only_app, NONE).reason == "no_consent_wechat"
    assert judge(settings, "app", at, only_app, NONE).allowed  # the offer channel app is app_push


def test_suppression_after_n_dismissals_and_its_expiry(settings):
    third = local(2026, 12, 1, 10)
    dismissed = [third - timedelta(days=20), third - timedelta(days=1), third]
    history = ContactHistory([], dismissed)
    during = judge(settings, "app_push", third + timedelta(days=29, hours=23), ALL, history)
    assert (during.allowed, during.reason) == (False, "suppressed_dismissals")
    assert "2026-12-31" in during.message_zh
    assert judge(settings, "app_push", third + timedelta(days=30), ALL, history).allowed  # expired exactly
    two = ContactHistory([], dismissed[1:])
    assert judge(settings, "app_push", third + timedelta(days=1), ALL, two).allowed  # N - 1 dismissals
    spread = ContactHistory([], [third - timedelta(days=31), third - timedelta(days=1), third])
    assert judge(settings, "app_push", third + timedelta(days=1), ALL, spread).allowed  # not within 30 days


def test_rules_apply_in_order_consent_first(settings):
    history = ContactHistory([local(2026, 12, 7, 10)] * 5, [local(2026, 12, 8, 10)] * 3)
    refused = judge(settings, "sms", local(2026, 12, 9, 23), {"sms": False}, history)
    assert refused.reason == "no_consent_sms"


def test_channel_mapping_and_unknown_channel():
    assert [contact_channel(c) for c in ("app", "web", "rm", "phone", "branch", "sms", "wechat")] == [
        "app_push", "app_push", "rm_call", "rm_call", "rm_call", "sms", "wechat"]
    with pytest.raises(UnknownContactChannel, match="'fax'"):
        contact_channel("fax")


def test_consent_from_features_falls_back_to_the_single_flag():
    assert consent_of({"has_marketing_consent": True}) == ALL
    assert consent_of({"has_marketing_consent": True, "has_sms_consent": False})["sms"] is False
    assert consent_of({"has_marketing_consent": False, "has_app_push_consent": True}) == {
        "app_push": True, "sms": False, "rm_call": False, "wechat": False}


def test_scheduled_moment_is_local_send_time():
    s = load_contact_settings()
    assert scheduled_moment(s, datetime(2026, 12, 9).date()) == datetime(2026, 12, 9, 2, 0, tzinfo=UTC)


def test_settings_file_errors_name_the_field(tmp_path: Path):
    text = Path("serving/decisions/contact_policy.toml").read_text(encoding="utf-8")
    bad = tmp_path / "p.toml"
    bad.write_text(text.replace('quiet_start = "20:00"', 'quiet_start = "8pm"'), encoding="utf-8")
    with pytest.raises(ValueError, match="channel.sms.quiet_start"):
        load_contact_settings(bad)
    bad.write_text(text.replace("[channel.wechat]", "[channel.fax]"), encoding="utf-8")
    with pytest.raises(ValueError, match="'fax' is not one of.*channel.wechat is missing"):
        load_contact_settings(bad)


def test_ledger_records_grants_only_and_enforces_the_cap(tmp_path: Path, settings):
    audit = AuditStore(sqlite_url(tmp_path / "audit.db"))
    policy = ContactPolicy(settings, audit)
    at = local(2026, 12, 9, 10)
    verdicts = [policy.contact("C00000001", "sms", at + timedelta(minutes=i), ALL, source="test", ref=str(i))
                for i in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[2].reason == "cap_week"
    refused = policy.contact("C00000001", "wechat", at, {"wechat": False}, source="test", ref="x")
    assert refused.reason == "no_consent_wechat"
    rows = policy.ledger.all_contacts()
    assert [(r["channel"], r["ref"]) for r in rows] == [("sms", "0"), ("sms", "1")]
    assert policy.check("C00000001", "sms", at + timedelta(hours=1), ALL).reason == "cap_week"
    assert policy.check("C00000002", "sms", at, ALL).allowed
    audit.close()
