"""The contact policy (issue 25): may this customer be contacted on this channel at this moment?

One module decides for every path that reaches a customer: the trigger engine, outbound offers
(`/v1/offers?channel=app_push|sms|wechat|rm_call`) and the campaign runner (`ContactPolicy.contact`).
Rules, in order (settings in `contact_policy.toml`): consent to the channel, suppression after
repeated dismissals, the channel's quiet hours in the bank's local time, then the channel's caps per
calendar week (Monday to Sunday) and calendar month, both local: every contact of that week and month
counts, including one already recorded for a later moment of it (batches need not run in time order). A refusal carries a reason code
and a zh-CN and en text, like suitability's verdicts. Contacts granted are recorded in the contact
ledger (`serving/audit/contact_ledger.py`) in the same step as the caps are checked, so concurrent
callers never break a cap.

The offer and trigger channels map onto the policy's: app and web → app_push, rm, phone and
branch → rm_call (`CONTACT_CHANNEL_OF`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from nbo.errors import ContractViolation
from serving.audit.contact_ledger import ContactLedger, LedgerEntry
from serving.audit.store import AuditStore
from sources.contract import CONTACT_CHANNELS

DEFAULT_CONTACT_POLICY = Path(__file__).with_name("contact_policy.toml")
CONTACT_CHANNEL_OF = {"app": "app_push", "web": "app_push", "rm": "rm_call", "phone": "rm_call", "branch": "rm_call"}
_CHANNEL_ZH = {"app_push": "App推送", "sms": "短信", "rm_call": "客户经理电话", "wechat": "微信"}


class UnknownContactChannel(ContractViolation):
    """A channel the contact policy does not know."""


@dataclass(frozen=True)
class ChannelRules:
    """One channel's caps and quiet hours (local time; start == end: none)."""

    per_week: int
    per_month: int
    quiet_start: time
    quiet_end: time


@dataclass(frozen=True)
class ContactSettings:
    """The whole policy, as read from `contact_policy.toml`."""

    version: str
    timezone: str
    dismissals: int
    dismissal_window_days: int
    suppress_days: int
    scheduled_send_time: time
    channels: dict[str, ChannelRules]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ContactVerdict:
    """Allow, or refuse with a reason code and why in zh-CN and en."""

    allowed: bool
    channel: str
    reason: str | None = None
    message_zh: str | None = None
    message_en: str | None = None

    def message(self, lang: str) -> str | None:
        return self.message_zh if lang == "zh" else self.message_en

    def as_dict(self, lang: str) -> dict[str, Any]:
        return {"allowed": self.allowed, "channel": self.channel, "reason": self.reason,
                "message": self.message(lang)}


@dataclass(frozen=True)
class ContactHistory:
    """What the rules need to know of the past: contacts made on the channel, dismissals (UTC)."""

    contacts: Sequence[datetime]
    dismissals: Sequence[datetime]


def _clock(value: object, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as err:
        raise ValueError(f"{where}: {value!r} is not a time HH:MM") from err


def load_contact_settings(path: Path = DEFAULT_CONTACT_POLICY) -> ContactSettings:
    """Read the policy file; a malformed file is a clear error naming the field, never a silent default."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        channels = {name: ChannelRules(int(c["per_week"]), int(c["per_month"]),
                                       _clock(c["quiet_start"], f"channel.{name}.quiet_start"),
                                       _clock(c["quiet_end"], f"channel.{name}.quiet_end"))
                    for name, c in raw["channel"].items()}
        settings = ContactSettings(str(raw["version"]), str(raw["timezone"]), int(raw["dismissals"]),
                                   int(raw["dismissal_window_days"]), int(raw["suppress_days"]),
                                   _clock(raw["scheduled_send_time"], "scheduled_send_time"), channels)
        ZoneInfo(settings.timezone)
    except (KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"{path}: {type(err).__name__}: {err}") from err
    problems = [f"channel {c!r} is not one of {', '.join(CONTACT_CHANNELS)}" for c in channels
                if c not in CONTACT_CHANNELS]
    problems += [f"channel.{c} is missing" for c in CONTACT_CHANNELS if c not in channels]
    problems += [f"channel.{c}: per_week and per_month must be >= 0 and per_week <= per_month"
                 for c, r in channels.items() if not 0 <= r.per_week <= r.per_month]
    if settings.dismissals < 1 or settings.suppress_days < 0 or settings.dismissal_window_days < 1:
        problems.append("dismissals and dismissal_window_days must be >= 1, suppress_days >= 0")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return settings


def contact_channel(channel: str) -> str:
    """The policy's channel for a policy, offer or trigger channel name (app → app_push ...)."""
    name = CONTACT_CHANNEL_OF.get(channel, channel)
    if name not in CONTACT_CHANNELS:
        raise UnknownContactChannel(f"channel {channel!r} is not one of {', '.join(CONTACT_CHANNELS)}")
    return name


def consent_of(values: Mapping[str, object]) -> dict[str, bool]:
    """Consent per channel from a customer's features: `has_<channel>_consent` where the bank has it,
    else the single `has_marketing_consent` flag for every channel (banks without per-channel consent)."""
    overall = bool(values.get("has_marketing_consent"))
    found = {c: values.get(f"has_{c}_consent") for c in CONTACT_CHANNELS}
    return {c: overall if v is None else bool(v) for c, v in found.items()}


def _in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    return start <= local < end if start < end else (local >= start or local < end)


def suppressed_until(dismissals: Sequence[datetime], at: datetime, s: ContactSettings) -> datetime | None:
    """The end of the suppression in force at `at`, or None: `s.dismissals` dismissals within
    `dismissal_window_days` suppress every channel for `suppress_days` after the last of them."""
    times = sorted(d for d in dismissals if d <= at)
    window, length = timedelta(days=s.dismissal_window_days), timedelta(days=s.suppress_days)
    ends = [times[i] + length for i in range(s.dismissals - 1, len(times))
            if times[i] - times[i - s.dismissals + 1] <= window and at < times[i] + length]
    return max(ends) if ends else None


def judge(s: ContactSettings, channel: str, at: datetime, consent: Mapping[str, bool],
          history: ContactHistory) -> ContactVerdict:
    """The verdict of the rules for one contact (pure: no I/O). `at` must be timezone-aware."""
    channel = contact_channel(channel)
    rules, zh = s.channels[channel], _CHANNEL_ZH[channel]
    if not consent.get(channel, False):
        return ContactVerdict(False, channel, f"no_consent_{channel}", f"客户未授权通过{zh}联系",
                              f"the customer has not consented to contact by {channel}")
    until = suppressed_until(history.dismissals, at, s)
    if until is not None:
        day = until.astimezone(s.zone).date().isoformat()
        return ContactVerdict(False, channel, "suppressed_dismissals",
                              f"客户近期多次拒绝推荐，{day}前暂停联系",
                              f"the customer dismissed {s.dismissals} offers recently: no contact until {day}")
    local = at.astimezone(s.zone)
    if _in_quiet_hours(local.time(), rules.quiet_start, rules.quiet_end):
        hours = f"{rules.quiet_start:%H:%M}-{rules.quiet_end:%H:%M}"
        return ContactVerdict(False, channel, "quiet_hours", f"{hours}为{zh}免打扰时段",
                              f"{hours} ({s.timezone}) are quiet hours for {channel}")
    week, month = _week_start(local), local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month + timedelta(days=32)).replace(day=1)
    # every contact of the calendar week and month counts, also one recorded for a later moment of it
    # (a batch that runs for 10:30 before another for 10:00 the same day)
    stamps = [c.astimezone(s.zone) for c in history.contacts]
    this_week = sum(week <= c < week + timedelta(days=7) for c in stamps)
    if this_week >= rules.per_week:
        return ContactVerdict(False, channel, "cap_week", f"本周已通过{zh}联系{this_week}次，已达每周上限",
                              f"contacted {this_week} times by {channel} this week: the weekly cap")
    this_month = sum(month <= c < next_month for c in stamps)
    if this_month >= rules.per_month:
        return ContactVerdict(False, channel, "cap_month", f"本月已通过{zh}联系{this_month}次，已达每月上限",
                              f"contacted {this_month} times by {channel} this month: the monthly cap")
    return ContactVerdict(True, channel)


def _week_start(local: datetime) -> datetime:
    monday = local - timedelta(days=local.weekday())
    return monday.replace(hour=0, minute=0, second=0, microsecond=0)


def scheduled_moment(s: ContactSettings, day: Any) -> datetime:
    """When a scheduled run of `day` sends: `scheduled_send_time` local, in UTC."""
    return datetime.combine(day, s.scheduled_send_time, s.zone).astimezone(UTC)


class ContactPolicy:
    """The rules applied to a customer's recorded contacts and dismissals; grants are recorded."""

    def __init__(self, settings: ContactSettings, audit: AuditStore):
        self.settings, self.audit, self.ledger = settings, audit, ContactLedger(audit.engine)

    def _dismissals(self, customer_id: str, at: datetime) -> list[datetime]:
        s = self.settings
        return self.audit.dismissal_times(customer_id, at - timedelta(days=s.dismissal_window_days + s.suppress_days))

    def check(self, customer_id: str, channel: str, at: datetime, consent: Mapping[str, bool]) -> ContactVerdict:
        """The verdict now, recording nothing (a preview: a send list's dry run)."""
        channel = contact_channel(channel)
        contacts = self.ledger.times(customer_id, channel, at - timedelta(days=32))
        return judge(self.settings, channel, at, consent, ContactHistory(contacts, self._dismissals(customer_id, at)))

    def contact(self, customer_id: str, channel: str, at: datetime, consent: Mapping[str, bool], *,
                source: str, ref: str) -> ContactVerdict:
        """Decide and, when allowed, record the contact (source: offers, trigger, campaign; ref: its id)
        in one step. The function every path that reaches a customer calls."""
        channel = contact_channel(channel)
        entry = LedgerEntry(customer_id, channel, at, source, ref, self.settings.version)
        dismissals = self._dismissals(customer_id, at)

        def rules(contacts: list[datetime]) -> ContactVerdict:
            return judge(self.settings, channel, at, consent, ContactHistory(contacts, dismissals))

        return self.ledger.record_if(entry, at - timedelta(days=32), rules)


@dataclass(frozen=True)
class ContactRequest:
    """A decision that will reach the customer: on `channel` at `at`, for `source` (`ref`: its id)."""

    channel: str
    at: datetime
    source: str
    ref: str
