"""Event triggers → next-best-actions (DESIGN §11), through the same path as `/offers`.

Events fire `events` and same-day `journey` triggers in-line (`on_events`); dates fire the rest
(`run`, behind `nbo triggers run --as-of DATE`). Each occasion is claimed once in the trigger
store before it acts; an action that fails gives its claim back. An offer goes through
`OfferService.decide` restricted to the trigger's categories: suitability (fatigue included),
arbitration and SHAP reasons, audited as a decision of kind "trigger".
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pandas as pd

from features.online.reader import OnlineFeatures
from features.segments.rules import SegmentRules, Tags
from features.tables import INTENT_COUNTS
from models.registry import CHURN
from nbo.errors import NotFound
from serving.decisions.contact_policy import (
    CONTACT_CHANNELS,
    ContactPolicy,
    ContactRequest,
    consent_of,
    contact_channel,
    scheduled_moment,
)
from serving.decisions.offers import OfferService
from serving.runtime import Runtime
from serving.schemas import RmOffer
from serving.triggers.event_log import as_utc
from serving.triggers.rules import Trigger, TriggerRules
from serving.triggers.store import Claim, Event, TriggerStore

# Reasons the app may see: they say nothing about risk. A suppression by the suitability rules
# ("blocked: credit_pd_limit" ...) would tell it a PD is over the limit or the customer is in arrears.
# The contact policy's refusals (consent per channel, quiet hours, caps, suppression) say nothing about risk.
APP_REASONS = frozenset({"customer_not_found", "account_closed", "no_marketing_consent", "quiet_hours", "cap_week",
                         "cap_month", "suppressed_dismissals"} | {f"no_consent_{c}" for c in CONTACT_CHANNELS})


DEFERRABLE = frozenset({"quiet_hours"})  # refusals that pass with time: the fire waits for the next run
MAX_DEFERRAL = timedelta(days=2)  # how long after its occasion a deferred fire may still be sent


@dataclass(frozen=True)
class Fired:
    """What one trigger occasion did."""

    trigger_id: str
    customer_id: str
    occasion: str
    status: str  # sent, suppressed (a rule or consent stopped it), skipped (not applicable), deferred (quiet hours)
    reason: str | None
    action: str
    decision_id: str | None = None
    offers: tuple[RmOffer, ...] = ()
    task_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"offers": list(self.offers)}

    def for_app(self) -> dict[str, Any]:
        """`as_dict` as the app may see it: a reason only when it says nothing about risk (a
        suppression by a rule keeps its rule for the audit and the rm), offers as the app sees them."""
        shown = self.status == "skipped" or self.reason in APP_REASONS
        return self.as_dict() | {"reason": self.reason if shown else None,
                                 "offers": [o.for_app() for o in self.offers]}


@dataclass(frozen=True)
class Occasion:
    """A trigger that may fire for a customer."""

    trigger: Trigger
    customer_id: str
    occasion: str
    at: datetime
    why: dict[str, Any]


class TriggerEngine:
    """Evaluates the trigger rules and acts on what fires."""

    def __init__(self, rules: TriggerRules, store: TriggerStore, offers: OfferService):
        self.rules, self.store, self.offers = rules, store, offers

    def tags(self, features: OnlineFeatures) -> Tags:
        """The customer's segment tags (see `customer_tags`)."""
        return customer_tags(self.offers.runtime, self.offers.policy.segments, self.store, features)

    # --- in-line: events ---

    def on_events(self, batch: list[Event], request_id: str, lang: str = "en",
                  online: Callable[[list[Event]], object] | None = None) -> tuple[list[bool], list[Fired]]:
        """Log the batch in one step (all or nothing, once per event_id; Conflict if an id is logged
        with other content), hand `online` its new intent events (page views, searches), then fire
        what the events complete; (new flags, fired). The offline copy follows from the log
        (`serving/triggers/event_flush.py`).

        Every event of the batch is evaluated, replays included: a replayed event finds its
        occasion already claimed, so a retry after a failure fires what the failure left out."""
        new = self.store.record_events(batch)
        if online is not None:
            intent = self._online_intent(batch, new)
            if intent:
                online(intent)
        fired = []
        for event in sorted(batch, key=lambda e: (e.event_time, e.event_id)):
            for occasion in self._event_occasions(event):
                result = self.fire(occasion, request_id, lang, event.event_time.date(), occasion.at)
                if result is not None:
                    fired.append(result)
        return new, fired

    def _online_intent(self, batch: list[Event], new: list[bool]) -> list[Event]:
        """The batch's intent events to write online: the new ones, and a replayed one that is its
        customer's latest (its first send may have been logged, then cut off before the online write)."""
        intent = [(e, is_new) for e, is_new in zip(batch, new, strict=True) if e.event_type in INTENT_COUNTS]
        replayed = {e.customer_id for e, is_new in intent if not is_new}
        latest = self.store.log.latest_intent(replayed) if replayed else {}
        return [e for e, is_new in intent if is_new or latest.get(e.customer_id) == e.event_id]

    def _event_occasions(self, event: Event) -> Iterable[Occasion]:
        for trigger in self.rules.on_event(event.event_type):
            when = trigger.when
            if when.kind == "journey":
                yield Occasion(trigger, event.customer_id, event.event_id, event.event_time,
                               {"event_type": event.event_type, "event_time": event.event_time.isoformat()})
                continue
            if when.topics and event.topic not in when.topics:
                continue
            window = timedelta(days=when.within_days)
            logged = self.store.event_times(event.customer_id, event.event_type, when.topics,
                                            event.event_time - window, event.event_time + window)
            completed = _completed_window(logged, event.event_time, window, when.count_at_least)
            if completed is not None:
                end, end_id, count = completed
                yield Occasion(trigger, event.customer_id, end_id, end,
                               {"event_type": when.event_type, "topics": list(when.topics), "events": count,
                                "within_days": when.within_days})

    # --- by date: journeys, birthdays, conditions ---

    def run(self, as_of: date, customers: pd.DataFrame, request_id: str, lang: str = "en") -> list[Fired]:
        """Send what quiet hours deferred (`send_deferred`), then fire every scheduled trigger due on
        `as_of`; `customers`: one row of features per customer (the latest month) with `customer_id`.
        A rerun fires nothing new. What fires is sent at the contact policy's `scheduled_send_time`
        of `as_of` (local time)."""
        fired = self.send_deferred(as_of, request_id, lang)
        moment = scheduled_moment(self.offers.policy.contact, as_of)
        for occasion in self.due(as_of, customers):
            result = self.fire(occasion, request_id, lang, as_of, moment)
            if result is not None:
                fired.append(result)
        return fired

    def due(self, as_of: date, customers: pd.DataFrame) -> list[Occasion]:
        """The scheduled occasions of `as_of`, trigger by trigger; closed accounts have none."""
        at = datetime.combine(as_of, time(), UTC)
        if "is_closed" in customers:
            customers = customers[~customers["is_closed"].fillna(False).astype(bool)]
        found: list[Occasion] = []
        for trigger in self.rules.scheduled():
            when = trigger.when
            if when.kind == "journey":
                start = at - timedelta(days=when.after_days + when.grace_days)
                anchors = self.store.events_between(str(when.event_type), start,
                                                    at - timedelta(days=when.after_days - 1))
                found += [Occasion(trigger, e.customer_id, e.event_id, e.event_time + timedelta(days=when.after_days),
                                   {"event_type": e.event_type, "event_time": e.event_time.isoformat(),
                                    "after_days": when.after_days}) for e in anchors]
            elif when.kind == "birthday":
                day = as_of + timedelta(days=when.days_before)
                born = pd.to_datetime(customers["birth_date"], errors="coerce")
                hits = customers[_birthday_on(born, day)]
                found += [Occasion(trigger, c, day.isoformat(), datetime.combine(day, time(), UTC),
                                   {"birthday": day.isoformat()}) for c in hits["customer_id"]]
            elif when.kind == "condition":
                match = pd.Series(True, index=customers.index)
                for condition in when.all:
                    match &= condition.holds(customers)
                found += [Occasion(trigger, c, as_of.isoformat(), at, {"conditions": [asdict(x) for x in when.all]})
                          for c in customers.loc[match, "customer_id"]]
        return found

    def send_deferred(self, as_of: date, request_id: str, lang: str = "en",
                      only: frozenset[str] | None = None) -> list[Fired]:
        """Act again, at the scheduled send time of `as_of`, on the fires quiet hours deferred before it:
        each is taken by one run only, then sent, suppressed or deferred again. A fire whose occasion is
        more than MAX_DEFERRAL old by then is dropped (status suppressed, reason `deferral_expired`):
        the moment it answered has passed. `only`: just these customers."""
        moment = scheduled_moment(self.offers.policy.contact, as_of)
        done = []
        for row in self.store.deferred(moment):
            if (only is not None and row["customer_id"] not in only) or not self.store.retake(row["fire_id"]):
                continue  # another run took it
            base = {"trigger_id": row["trigger_id"], "customer_id": row["customer_id"], "occasion": row["occasion"]}
            trigger = next((t for t in self.rules.triggers if t.id == row["trigger_id"]), None)
            if trigger is None or moment - as_utc(row["occasion_time"]) > MAX_DEFERRAL:
                fired = Fired(**base, status="suppressed", action=trigger.action.kind if trigger else "none",
                              reason="deferral_expired" if trigger else "trigger_removed")
            else:
                occasion = Occasion(trigger, row["customer_id"], row["occasion"], as_utc(row["occasion_time"]),
                                    {"deferred_from": as_utc(row["occasion_time"]).isoformat()})
                try:
                    fired = self._act(occasion, row["fire_id"], request_id, lang, as_of, moment)
                except BaseException:
                    self.store.settle(row["fire_id"], "deferred", row["reason"], row["decision_id"])
                    raise
            self.store.settle(row["fire_id"], fired.status, fired.reason, fired.decision_id)
            done.append(fired)
        return done

    # --- acting ---

    def fire(self, o: Occasion, request_id: str, lang: str, today: date,
             moment: datetime | None = None) -> Fired | None:
        """Claim the occasion and act on it, reaching the customer at `moment` (default: the scheduled
        send time of `today`) if the contact policy allows it; None when it was claimed before (or in
        the cooldown)."""
        moment = moment or scheduled_moment(self.offers.policy.contact, today)
        t = o.trigger
        fire_id = self.store.claim(Claim(t.id, o.customer_id, o.occasion, o.at, timedelta(days=t.cooldown_days),
                                         self.rules.version))
        if fire_id is None:
            return None
        try:
            fired = self._act(o, fire_id, request_id, lang, today, moment)
        except BaseException:
            self.store.release(fire_id)
            raise
        self.store.settle(fire_id, fired.status, fired.reason, fired.decision_id)
        return fired

    def _act(self, o: Occasion, fire_id: str, request_id: str, lang: str, today: date, moment: datetime) -> Fired:
        t, action = o.trigger, o.trigger.action
        base = {"trigger_id": t.id, "customer_id": o.customer_id, "occasion": o.occasion, "action": action.kind}
        try:
            features = self.offers.runtime.reader.read_customer(o.customer_id)
        except NotFound:
            return Fired(**base, status="suppressed", reason="customer_not_found")
        if features.values.get("is_closed"):
            return Fired(**base, status="suppressed", reason="account_closed")
        if t.personalised and not features.values.get("has_marketing_consent"):
            return Fired(**base, status="suppressed", reason="no_marketing_consent")
        if t.unless_holding and self._holds(features, t.unless_holding):
            return Fired(**base, status="skipped", reason="holds_" + "_".join(t.unless_holding))
        context = {"trigger_id": t.id, "trigger_version": self.rules.version, "occasion": o.occasion,
                   "why": {"en": t.name_en, "zh": t.name_zh, **o.why},
                   "action": {"kind": action.kind, "content_id": action.content_id,
                              "title": action.title_zh if lang == "zh" else action.title_en}}
        contact = ContactRequest(contact_channel(t.channel), moment, "trigger", fire_id)
        if action.offers:
            only = self._products(action.categories) if action.categories else None
            answer = self.offers.decide(o.customer_id, 1, lang, request_id, t.channel, include_blocked=True,
                                        only=only, kind="trigger", today=today, context=context, contact=contact)
            offers = tuple(answer.offers)
            if answer.contact is not None and not answer.contact.allowed:
                return Fired(**base, status=_refused(answer.contact.reason), reason=answer.contact.reason,
                             decision_id=answer.decision_id)
            if action.kind == "offer" and not offers:
                fired = sorted({b.rule_id for b in answer.blocked or () if only is None or b.product_id in only})
                return Fired(**base, status="suppressed", reason=("blocked: " + ",".join(fired))[:64],
                             decision_id=answer.decision_id)
            if not offers:  # the message goes out without an offer: the policy grants it as a contact of its own
                verdict = ContactPolicy(self.offers.policy.contact, self.offers.audit).contact(
                    o.customer_id, contact.channel, moment, consent_of(features.values), source="trigger", ref=fire_id)
                if not verdict.allowed:
                    return Fired(**base, status=_refused(verdict.reason), reason=verdict.reason,
                                 decision_id=answer.decision_id)
            return Fired(**base, status="sent", reason=None, decision_id=answer.decision_id, offers=offers)
        verdict = ContactPolicy(self.offers.policy.contact, self.offers.audit).contact(
            o.customer_id, contact.channel, moment, consent_of(features.values), source="trigger", ref=fire_id)
        if not verdict.allowed:
            return Fired(**base, status=_refused(verdict.reason), reason=verdict.reason)
        decision = self.offers.audit.record_decision(
            kind="trigger", customer_id=o.customer_id, request_id=request_id, variant="rules", model_versions={},
            payload={"channel": t.channel, "answer": {"offers": []}, **context})
        task_id = None
        if action.kind == "rm_task":
            task_id = self.store.add_task(customer_id=o.customer_id, trigger_id=t.id, fire_id=fire_id,
                                          decision_id=decision.decision_id,
                                          due=today + timedelta(days=action.due_in_days),
                                          title_en=str(action.title_en), title_zh=str(action.title_zh))
        return Fired(**base, status="sent", reason=None, decision_id=decision.decision_id, task_id=task_id)

    def _products(self, categories: tuple[str, ...]) -> frozenset[str]:
        records = self.offers.runtime.recommender("champion").scorer.catalogue.records
        return frozenset(p for p, attrs in records.items() if attrs["category"] in categories)

    def _holds(self, features: OnlineFeatures, categories: tuple[str, ...]) -> bool:
        held = features.values.get("held_product_ids") or ()
        return bool(set(held) & self._products(categories))


def customer_tags(runtime: Runtime, segments: SegmentRules, store: TriggerStore, features: OnlineFeatures) -> Tags:
    """A customer's segment tags: monthly features, the events of the last days and, when the
    service has it, the champion churn model's probability for the lifetime value."""
    since = datetime.now(UTC) - timedelta(days=segments.realtime_days)
    churn = (runtime.risk_model(CHURN, "champion").scorer.probability_of(features.values)
             if runtime.serves(CHURN) else None)
    return segments.tag(features.values, store.topic_counts(features.customer_id, since), churn)


def _completed_window(logged: list[tuple[datetime, str]], at: datetime, window: timedelta,
                      needed: int) -> tuple[datetime, str, int] | None:
    """The first window [end - window, end] that holds `at`, ends at a logged event and holds at
    least `needed` logged events: (end, that event's id, count); None if there is none.

    Windows ending at later events count too, so events that arrive out of order (the last one
    first) still complete the window; a replay finds the same window, hence the same occasion."""
    times = [t for t, _ in logged]
    for i in range(bisect_left(times, at), len(times)):
        end = times[i]
        if end - window > at:
            break
        count = i + 1 - bisect_left(times, end - window)
        if count >= needed:
            return end, logged[i][1], count
    return None


def _birthday_on(born: pd.Series, day: date) -> pd.Series:
    """Whose birthday is `day` (born 29 February: the 28th in a common year)."""
    month, dom = born.dt.month, born.dt.day
    leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
    feb29 = (month == 2) & (dom == 29)
    moved = feb29 & (not leap)
    return ((month == day.month) & (dom == day.day) & ~moved) | (moved & (day.month == 2) & (day.day == 28))


def _refused(reason: str | None) -> str:
    """The status of a fire the contact policy refused: deferred when time alone lifts the refusal."""
    return "deferred" if reason in DEFERRABLE else "suppressed"
