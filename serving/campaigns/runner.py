"""Run a campaign for one day (issue 25): audience → arms → suitability, arbitration, contact policy → send lists.

`CampaignRunner.run(campaign_id, as_of)` takes a running campaign on one of its send days. The
audience comes from the feature month at or before `as_of` (point in time). Each customer not yet
done with the campaign is claimed in `nbo_campaign_sends` for the day (so a rerun, or a second run
at the same moment, acts on nobody twice), then:

- control arm: one `held_out` row, never contacted;
- treated (main or a variant): with products, `OfferService.decide` restricted to them, audited as
  kind "campaign", on the campaign's channels in their order until the contact policy allows one
  (the contact is recorded in the contact ledger then); without products (content only), the
  contact policy directly. An `rm_call` send opens an RM task (trigger id `campaign:<id>`).
- the budget counts every earlier run: once no channel's cost fits, the rest are `refused`
  (`budget_spent`).

The day's send lists (one per channel) and `assignments.parquet` are then written from the stored
rows, so a rerun writes the same files.
"""

from __future__ import annotations

import os
import tempfile
import time as clock
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from features.segments.report import needed_columns, read_monthly_features
from features.segments.rules import SegmentRules, parse_condition
from features.tables import CUSTOMER_KEY, EVENT_TIMESTAMP
from nbo.errors import Conflict, ContractViolation, CustomerNotFound
from serving.campaigns import states
from serving.campaigns.assignment import assign_arm
from serving.campaigns.audience import audience_mask
from serving.campaigns.sends import (
    BLOCKED,
    COLUMNS,
    HELD_OUT,
    REFUSED,
    SENT,
    CampaignSends,
    Outcome,
)
from serving.campaigns.spec import CampaignSpec, Variant
from serving.campaigns.store import CampaignStore
from serving.decisions.contact_policy import ContactPolicy, ContactRequest, consent_of
from serving.decisions.offers import OfferService
from serving.decisions.variants import CONTROL
from serving.triggers.store import TriggerStore

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMATS = ("csv", "parquet")
SEND_LIST_COLUMNS = ("send_id", "customer_id", "channel", "send_at", "product_id", "product_name_zh",
                     "product_name_en", "message_zh", "message_en", "reasons", "arm")
TASK_PREFIX = "campaign:"
_BUDGET_ZH, _BUDGET_EN = "活动预算已用完", "the campaign's budget is spent"


class CampaignNotRunning(Conflict):
    """Only a running campaign runs."""


class NotASendDay(ContractViolation):
    """The run day is outside the campaign's schedule or not one of its send days."""


@dataclass(frozen=True)
class RunSummary:
    """What one run did; the day's counts are of every stored row of the day (a rerun shows the same)."""

    campaign_id: str
    campaign_version: int
    as_of: str
    feature_month: str
    audience: int
    new_rows: int  # rows this run claimed and settled (0 on a rerun)
    already_done: int  # audience customers sent to or held out on another day
    by_status: dict[str, int]
    by_channel: dict[str, int]  # sent rows per channel
    by_arm: dict[str, dict[str, int]]
    cost_cny: float  # of the day's sends
    cost_total_cny: float  # of every run so far
    budget_cny: float
    rm_tasks: int
    files: list[str]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def send_moment(spec: CampaignSpec, arm: str, day: date, timezone: str) -> datetime:
    """When the arm's message goes out on `day`: the variant's send time, else the schedule's, local → UTC."""
    variant = _variant(spec, arm)
    at = time.fromisoformat((variant.send_time if variant and variant.send_time else None) or spec.schedule.send_time)
    return datetime.combine(day, at, ZoneInfo(timezone)).astimezone(UTC)


def check_send_day(spec: CampaignSpec, day: date) -> None:
    """NotASendDay unless `day` lies in the schedule and falls on one of its send days."""
    s = spec.schedule
    if not s.start <= day <= s.end:
        raise NotASendDay(f"--as-of {day}: campaign {spec.id!r} runs from {s.start} to {s.end}")
    if WEEKDAYS[day.weekday()] not in s.send_days:
        raise NotASendDay(f"--as-of {day} is a {WEEKDAYS[day.weekday()]}: campaign {spec.id!r} sends on "
                          f"{', '.join(s.send_days)} only")


def running_campaign(store: CampaignStore, campaign_id: str) -> tuple[CampaignSpec, int]:
    """The stored definition and its version; CampaignNotRunning unless it is running."""
    stored = store.get(campaign_id)
    if stored["state"] != states.RUNNING:
        raise CampaignNotRunning(f"campaign {campaign_id!r} is {stored['state']}: only a running campaign runs "
                                 f"(`nbo campaigns start {campaign_id} --by USER` after approval)")
    return CampaignSpec.model_validate(stored["definition"]), int(stored["version"])


def default_out_dir(state_dir: Path) -> Path:
    """Where send lists go unless told: STATE/campaign-sends (var/campaign-sends)."""
    return state_dir / "campaign-sends"


class CampaignRunner:
    """Runs campaigns day by day; everything it does is in the audit database."""

    def __init__(self, store: CampaignStore, sends: CampaignSends, offers: OfferService, tasks: TriggerStore,
                 rules: SegmentRules, offline_dir: Path):
        self.store, self.sends, self.offers, self.tasks = store, sends, offers, tasks
        self.rules, self.offline_dir = rules, offline_dir

    def campaign(self, campaign_id: str) -> tuple[CampaignSpec, int]:
        """The stored definition and its version; CampaignNotRunning unless it is running."""
        return running_campaign(self.store, campaign_id)

    def run(self, campaign_id: str, as_of: date, *, lang: str = "en", out: Path, fmt: str = "csv",
            request_id: str | None = None, progress: Callable[[int, str], None] | None = None) -> RunSummary:
        """Run the campaign for `as_of` and write the day's files under `out`; `progress(total, note)`
        is called once with the total (note "") and after each customer."""
        started = clock.perf_counter()
        spec, version = self.campaign(campaign_id)
        check_send_day(spec, as_of)
        if fmt not in FORMATS:
            raise ContractViolation(f"--format {fmt!r}: one of {', '.join(FORMATS)}")
        features = self._features(spec, as_of)
        tags = self.rules.tag_frame(features)
        mask = audience_mask(spec, features, tags)
        segments = dict(zip(features.loc[mask, CUSTOMER_KEY].astype(str), tags.loc[mask, "rfm_segment"], strict=True))
        audience = sorted(segments)
        done = self.sends.done_customers(spec.id, other_than=as_of)  # the day's own rows: its claims say
        todo = [c for c in audience if c not in done]
        request_id = request_id or f"campaign-run-{spec.id}-{as_of.isoformat()}-{uuid.uuid4().hex[:8]}"
        spent = self.sends.cost_so_far(spec.id)
        new_rows = 0
        if progress:
            progress(len(todo), "")
        for customer_id in todo:
            arm = assign_arm(spec, customer_id)
            send_id = self.sends.claim(spec.id, version, as_of, customer_id, arm, _text(segments[customer_id]))
            if send_id is not None:
                try:
                    outcome = self._act(spec, version, as_of, customer_id, arm, send_id, spent, lang, request_id)
                except BaseException:
                    self.sends.release(send_id)
                    raise
                self.sends.settle(send_id, outcome)
                spent += outcome.cost_cny
                new_rows += 1
            if progress:
                progress(0, customer_id)
        rows = self.sends.rows(spec.id, as_of)
        files = write_day(rows, spec, as_of, out, fmt)
        month = pd.Timestamp(features[EVENT_TIMESTAMP].max()).date().isoformat() if len(features) else ""
        return _summary(spec, version, as_of, month, len(audience), new_rows, len(audience) - len(todo), rows,
                        self.sends.cost_so_far(spec.id), files, clock.perf_counter() - started)

    def _features(self, spec: CampaignSpec, as_of: date) -> pd.DataFrame:
        columns = needed_columns(self.rules) | {parse_condition(c).feature for c in spec.audience.rule}
        return read_monthly_features(self.offline_dir, columns, 1, pd.Timestamp(as_of, tz="UTC"))

    # --- one customer ---

    def _act(self, spec: CampaignSpec, version: int, day: date, customer_id: str, arm: str, send_id: str,
             spent: float, lang: str, request_id: str) -> Outcome:
        if arm == CONTROL:
            return Outcome(HELD_OUT)
        costs, total = spec.budget.cost_per_contact_cny, spec.budget.total_cny
        channels = [c for c in spec.channels if spent + costs[c] <= total + 1e-9]
        if not channels:
            return Outcome(REFUSED, reason="budget_spent",
                           detail={"reason_zh": _BUDGET_ZH, "reason_en": _BUDGET_EN})
        at = send_moment(spec, arm, day, self.offers.policy.contact.timezone)
        context = {"campaign_id": spec.id, "campaign_version": version, "arm": arm, "day": day.isoformat()}
        try:
            if spec.offer.products:
                outcome = self._offer(spec, day, customer_id, channels, at, send_id, context, lang, request_id)
            else:
                outcome = self._content(spec, customer_id, channels, at, send_id, context, request_id)
        except CustomerNotFound:
            return Outcome(REFUSED, reason="customer_not_found")
        if outcome.status != SENT:
            return outcome
        message = _message(spec, arm, outcome.detail)
        task_id = None
        if outcome.channel == "rm_call":
            assert outcome.decision_id is not None
            task_id = self.tasks.add_task(
                customer_id=customer_id, trigger_id=(TASK_PREFIX + spec.id)[:64], fire_id=send_id,
                decision_id=outcome.decision_id, due=day, title_en=f"{spec.name_en}: {message['message_en']}",
                title_zh=f"{spec.name_zh}：{message['message_zh']}")
        return Outcome(SENT, outcome.channel, outcome.product_id, at, costs[str(outcome.channel)], None,
                       outcome.decision_id, task_id, outcome.detail | message)

    def _offer(self, spec: CampaignSpec, day: date, customer_id: str, channels: list[str], at: datetime,
               send_id: str, context: dict[str, Any], lang: str, request_id: str) -> Outcome:
        only = frozenset(spec.offer.products)
        refusal: Outcome | None = None
        for channel in channels:
            answer = self.offers.decide(customer_id, 1, lang, request_id, channel, include_blocked=True, only=only,
                                        kind="campaign", today=day, context=context,
                                        contact=ContactRequest(channel, at, "campaign", send_id))
            if answer.contact is not None and not answer.contact.allowed:
                refusal = Outcome(REFUSED, reason=answer.contact.reason, decision_id=answer.decision_id,
                                  detail={"reason_" + lang: answer.contact.message, "channel_tried": channel})
                continue
            if not answer.offers:
                rules = sorted({b.rule_id for b in answer.blocked or () if b.product_id in only})
                return Outcome(BLOCKED, reason=("blocked: " + ",".join(rules))[:64], decision_id=answer.decision_id,
                               detail={"reason_" + lang: "; ".join(f"{b.product_id}: {b.message}"
                                                                   for b in answer.blocked or ()
                                                                   if b.product_id in only)})
            offer = answer.offers[0]
            catalogue = self.offers.runtime.recommender("champion").scorer.catalogue
            return Outcome(SENT, channel, offer.product_id, at, decision_id=answer.decision_id, detail={
                "product_name_zh": catalogue.names("zh").get(offer.product_id, offer.product_id),
                "product_name_en": catalogue.names("en").get(offer.product_id, offer.product_id),
                "reasons": [{"code": r.code, "text": r.text} for r in offer.reasons], "lang": lang})
        assert refusal is not None
        return refusal

    def _content(self, spec: CampaignSpec, customer_id: str, channels: list[str], at: datetime, send_id: str,
                 context: dict[str, Any], request_id: str) -> Outcome:
        features = self.offers.runtime.reader.read_customer(customer_id)
        policy = ContactPolicy(self.offers.policy.contact, self.offers.audit)
        consent = consent_of(features.values)
        verdict = None
        for channel in channels:
            verdict = policy.contact(customer_id, channel, at, consent, source="campaign", ref=send_id)
            if verdict.allowed:
                decision = self.offers.audit.record_decision(
                    kind="campaign", customer_id=customer_id, request_id=request_id, variant="rules",
                    model_versions={}, payload={"channel": channel, "answer": {"offers": []},
                                                "content": spec.offer.content, **context})
                return Outcome(SENT, channel, None, at, decision_id=decision.decision_id,
                               detail={"content": spec.offer.content})
        assert verdict is not None
        return Outcome(REFUSED, reason=verdict.reason,
                       detail={"reason_zh": verdict.message_zh, "reason_en": verdict.message_en})


def _variant(spec: CampaignSpec, arm: str) -> Variant | None:
    return next((v for v in spec.variants if v.name == arm), None)


def _message(spec: CampaignSpec, arm: str, detail: dict[str, Any]) -> dict[str, str]:
    """The arm's message: the variant's, else the campaign's, else a plain line naming the product."""
    variant = _variant(spec, arm)
    if variant is not None and variant.message_zh and variant.message_en:
        return {"message_zh": variant.message_zh, "message_en": variant.message_en}
    if spec.offer.message_zh and spec.offer.message_en:
        return {"message_zh": spec.offer.message_zh, "message_en": spec.offer.message_en}
    name_zh = detail.get("product_name_zh") or spec.name_zh
    name_en = detail.get("product_name_en") or spec.name_en
    return {"message_zh": f"为您推荐：{name_zh}", "message_en": f"Recommended for you: {name_en}"}


def _text(value: object) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


# --- files ---

def send_list(rows: pd.DataFrame, channel: str) -> pd.DataFrame:
    """The sent rows of one channel as an SMS gateway or push service takes them."""
    sent = rows[(rows["status"] == SENT) & (rows["channel"] == channel)]
    detail = sent["detail"]
    out = pd.DataFrame({
        "send_id": sent["send_id"], "customer_id": sent["customer_id"], "channel": sent["channel"],
        "send_at": sent["send_at"].map(lambda t: t.isoformat()), "product_id": sent["product_id"],
        "product_name_zh": detail.map(lambda d: d.get("product_name_zh")),
        "product_name_en": detail.map(lambda d: d.get("product_name_en")),
        "message_zh": detail.map(lambda d: d.get("message_zh")), "message_en": detail.map(lambda d: d.get("message_en")),
        "reasons": detail.map(lambda d: "; ".join(r["text"] for r in d.get("reasons", []))),
        "arm": sent["arm"]}, columns=list(SEND_LIST_COLUMNS))
    return out.astype({c: "object" for c in SEND_LIST_COLUMNS}).reset_index(drop=True)


def write_day(rows: pd.DataFrame, spec: CampaignSpec, day: date, out: Path, fmt: str) -> list[str]:
    """Write the day's send lists (one per campaign channel, empty ones too) and assignments.parquet,
    each atomically; the paths written."""
    folder = Path(out) / spec.id / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for channel in spec.channels:
        path = folder / f"{channel}.{fmt}"
        frame = send_list(rows, channel)
        _atomic(path, lambda p, f=frame: f.to_csv(p, index=False) if fmt == "csv" else f.to_parquet(p, index=False))
        written.append(str(path))
    assignments = rows[list(COLUMNS)].reset_index(drop=True)
    path = folder / "assignments.parquet"
    _atomic(path, lambda p: assignments.to_parquet(p, index=False))
    written.append(str(path))
    return written


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename over `path`."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(name))
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _summary(spec: CampaignSpec, version: int, day: date, month: str, audience: int, new_rows: int, already: int,
             rows: pd.DataFrame, cost_total: float, files: list[str], seconds: float) -> RunSummary:
    sent = rows[rows["status"] == SENT]
    by_arm: dict[str, dict[str, int]] = {}
    for (arm, status), n in Counter(zip(rows["arm"], rows["status"], strict=True)).items():
        by_arm.setdefault(arm, {})[status] = n
    return RunSummary(
        campaign_id=spec.id, campaign_version=version, as_of=day.isoformat(), feature_month=month, audience=audience,
        new_rows=new_rows, already_done=already,
        by_status={s: int(n) for s, n in rows["status"].value_counts().sort_index().items()},
        by_channel={c: int(n) for c, n in sent["channel"].value_counts().sort_index().items()},
        by_arm={a: dict(sorted(s.items())) for a, s in sorted(by_arm.items())},
        cost_cny=round(float(rows["cost_cny"].sum()), 2), cost_total_cny=round(cost_total, 2),
        budget_cny=spec.budget.total_cny, rm_tasks=int(rows["task_id"].notna().sum()), files=files,
        seconds=round(seconds, 2))
