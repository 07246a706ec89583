"""The trigger rules file (`serving/triggers/triggers.toml`), read and checked once."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from features.segments.rules import Condition, parse_condition
from nbo.errors import ContractViolation
from sources.contract import CATEGORIES

DEFAULT_TRIGGERS = Path(__file__).with_name("triggers.toml")
EVENT_TYPES = ("page_view", "search", "login", "account_opened")
WhenKind = Literal["events", "journey", "birthday", "condition"]
ActionKind = Literal["offer", "content", "rm_task"]


@dataclass(frozen=True)
class When:
    """What makes a trigger fire."""

    kind: WhenKind
    event_type: str | None = None
    topics: tuple[str, ...] = ()
    count_at_least: int = 1
    within_days: int = 0
    after_days: int = 0
    grace_days: int = 0
    days_before: int = 0
    all: tuple[Condition, ...] = ()


@dataclass(frozen=True)
class Action:
    """What a trigger does."""

    kind: ActionKind
    categories: tuple[str, ...] = ()
    content_id: str | None = None
    title_en: str | None = None
    title_zh: str | None = None
    with_offer: bool = False
    due_in_days: int = 0

    @property
    def offers(self) -> bool:
        return self.kind == "offer" or (self.kind == "content" and self.with_offer)


@dataclass(frozen=True)
class Trigger:
    """One rule: when → action, on a channel."""

    id: str
    name_en: str
    name_zh: str
    channel: str
    when: When
    action: Action
    personalised: bool = True
    cooldown_days: int = 0
    unless_holding: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class TriggerRules:
    """Every trigger, with the file's version."""

    version: str
    triggers: tuple[Trigger, ...]

    def by_id(self, trigger_id: str) -> Trigger:
        return next(t for t in self.triggers if t.id == trigger_id)

    def on_event(self, event_type: str) -> tuple[Trigger, ...]:
        """Triggers an arriving event of this type may fire in-line."""
        return tuple(t for t in self.triggers if t.when.event_type == event_type
                     and (t.when.kind == "events" or (t.when.kind == "journey" and t.when.after_days == 0)))

    def scheduled(self) -> tuple[Trigger, ...]:
        """Triggers `nbo triggers run` evaluates."""
        return tuple(t for t in self.triggers if t.when.kind in ("birthday", "condition")
                     or (t.when.kind == "journey" and t.when.after_days > 0))


def load_trigger_rules(path: Path = DEFAULT_TRIGGERS) -> TriggerRules:
    """Read and check the triggers file; ContractViolation naming the file and trigger."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        rules = TriggerRules(str(raw["version"]), tuple(_trigger(t) for t in raw["trigger"]))
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as err:
        raise ContractViolation(f"{path}: invalid triggers file: {type(err).__name__}: {err}") from err
    ids = [t.id for t in rules.triggers]
    if len(set(ids)) != len(ids):
        raise ContractViolation(f"{path}: trigger ids must be unique, got {ids}")
    return rules


def _trigger(raw: Mapping[str, Any]) -> Trigger:
    tid = str(raw["id"])
    w, a = dict(raw["when"]), dict(raw["action"])
    when = When(kind=w.pop("kind"), event_type=w.pop("event_type", None), topics=tuple(w.pop("topics", ())),
                all=tuple(parse_condition(c) for c in w.pop("all", ())),
                **{k: int(v) for k, v in w.items()})
    action = Action(kind=a.pop("kind"), categories=tuple(a.pop("categories", ())), **a)
    trigger = Trigger(tid, str(raw["name_en"]), str(raw["name_zh"]), str(raw["channel"]), when, action,
                      bool(raw.get("personalised", True)), int(raw.get("cooldown_days", 0)),
                      tuple(raw.get("unless_holding", ())))
    problems = _problems(trigger)
    if problems:
        raise ValueError(f"trigger {tid}: {'; '.join(problems)}")
    return trigger


def _problems(t: Trigger) -> list[str]:
    w, a = t.when, t.action
    found = []
    if w.kind not in ("events", "journey", "birthday", "condition"):
        found.append(f"when.kind {w.kind!r} is not events, journey, birthday or condition")
    if w.kind in ("events", "journey") and w.event_type not in EVENT_TYPES:
        found.append(f"when.event_type {w.event_type!r} is not one of {', '.join(EVENT_TYPES)}")
    if w.kind == "events" and (w.count_at_least < 1 or w.within_days < 1):
        found.append("an events trigger needs count_at_least >= 1 and within_days >= 1")
    if w.kind == "condition" and not w.all:
        found.append("a condition trigger needs `all` conditions")
    if a.kind not in ("offer", "content", "rm_task"):
        found.append(f"action.kind {a.kind!r} is not offer, content or rm_task")
    if a.kind in ("content", "rm_task") and not (a.title_en and a.title_zh):
        found.append("content and rm_task actions need title_en and title_zh")
    unknown = set(a.categories) | set(t.unless_holding)
    if unknown - set(CATEGORIES):
        found.append(f"unknown categories {sorted(unknown - set(CATEGORIES))}")
    if t.channel not in ("app", "web", "branch", "rm", "phone"):
        found.append(f"channel {t.channel!r} is not app, web, branch, rm or phone")
    return found
