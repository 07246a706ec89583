"""Dynamic tags and segments (DESIGN §11) from the rules in `features/segments/segments.toml`.

The same rules tag one customer (a dict of online feature values, for the profile, offers and
triggers) and a whole month of customers at once (a DataFrame, for `nbo segments report`):
each condition compares a feature with a constant and works on a scalar or a column alike.
"""

from __future__ import annotations

import operator
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.tables import CUSTOMER_TABLES, INTENT_REALTIME
from nbo.errors import ContractViolation
from sources.contract import CATEGORIES

DEFAULT_RULES = Path(__file__).with_name("segments.toml")
_OPS: dict[str, Callable[[Any, Any], Any]] = {"<=": operator.le, ">=": operator.ge, "==": operator.eq,
                                               "!=": operator.ne, "<": operator.lt, ">": operator.gt}
_CONDITION = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")
FEATURES = frozenset(c for t in (*CUSTOMER_TABLES, INTENT_REALTIME) for c in t.columns)


@dataclass(frozen=True)
class Condition:
    """`feature op value`; a missing value never holds."""

    feature: str
    op: str
    value: float | str | bool

    def holds(self, values: Mapping[str, Any] | pd.DataFrame) -> Any:
        """True/False for one customer's values, a boolean array for a frame."""
        compare = _OPS[self.op]
        if isinstance(values, pd.DataFrame):
            column = values[self.feature]
            known = column.notna().to_numpy()
            if isinstance(self.value, str):
                return known & compare(column.astype(object).to_numpy(), self.value)
            numbers = pd.to_numeric(column, errors="coerce").astype(float).to_numpy()
            return known & ~np.isnan(numbers) & compare(numbers, float(self.value))
        value = values.get(self.feature)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return False
        if isinstance(self.value, str):
            return bool(compare(str(value), self.value))
        return bool(compare(float(value), float(self.value)))


@dataclass(frozen=True)
class Rule:
    """One segment or stage: matches when every `all` condition holds and, if any, one `any`."""

    id: str
    name_en: str
    name_zh: str
    all: tuple[Condition, ...]
    any: tuple[Condition, ...]

    def matches(self, values: Mapping[str, Any] | pd.DataFrame) -> Any:
        every = [c.holds(values) for c in self.all]
        if self.any:
            every.append(np.logical_or.reduce([c.holds(values) for c in self.any]))
        if not every:
            return np.ones(len(values), dtype=bool) if isinstance(values, pd.DataFrame) else True
        result = np.logical_and.reduce(every)
        return result if isinstance(values, pd.DataFrame) else bool(result)


@dataclass(frozen=True)
class IntentTag:
    """An intent from views and searches on some topics."""

    id: str
    name_en: str
    name_zh: str
    topics: tuple[str, ...]
    views_30d_at_least: int
    realtime_at_least: int

    def monthly_views(self, values: Mapping[str, Any] | pd.DataFrame) -> Any:
        columns = [f"{kind}_{t}_30d" for t in self.topics for kind in ("page_views", "searches")]
        if isinstance(values, pd.DataFrame):
            return values[columns].fillna(0).sum(axis=1).to_numpy()
        return sum(int(values.get(c) or 0) for c in columns)


@dataclass(frozen=True)
class Tags:
    """One customer's tags (all None for an excluded customer)."""

    version: str
    rfm_segment: str | None
    lifecycle_stage: str | None
    clv_cny: float | None
    intent_tags: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "rfm_segment": self.rfm_segment, "lifecycle_stage": self.lifecycle_stage,
                "clv_cny": self.clv_cny, "intent_tags": list(self.intent_tags)}


@dataclass(frozen=True)
class Clv:
    """The lifetime-value formula's constants (see the rules file)."""

    horizon_months: int
    annual_discount: float
    base_churn_90d: float
    card_spend_margin: float
    balance_margin: dict[str, float]

    def value(self, values: Mapping[str, Any] | pd.DataFrame, churn_90d: Any = None) -> Any:
        """CLV in CNY for one customer (float) or a frame (array)."""
        frame = isinstance(values, pd.DataFrame)

        def get(name: str) -> Any:
            if frame:
                return values[name].fillna(0).to_numpy(dtype=float)
            return float(values.get(name) or 0)

        annual = sum(rate * get(f"{c}_balance_cny") for c, rate in self.balance_margin.items())
        monthly = annual / 12 + self.card_spend_margin * get("card_spend_cny_30d")
        p = self.base_churn_90d if churn_90d is None else churn_90d
        stay = (1 - np.clip(p, 0, 1)) ** (1 / 3)
        m = np.arange(1, self.horizon_months + 1)
        factor = np.power.outer(stay, m) / (1 + self.annual_discount) ** (m / 12)
        total = monthly * factor.sum(axis=-1)
        return np.round(total, 2) if frame else round(float(total), 2)


@dataclass(frozen=True)
class SegmentRules:
    """The whole rules file."""

    version: str
    exclude: tuple[Condition, ...]
    rfm_segments: tuple[Rule, ...]
    lifecycle_stages: tuple[Rule, ...]
    intents: tuple[IntentTag, ...]
    realtime_days: int
    clv: Clv

    def names(self, lang: str) -> dict[str, str]:
        """Every segment, stage and intent id → its name in `lang` (zh or en)."""
        items = [*self.rfm_segments, *self.lifecycle_stages, *self.intents]
        return {i.id: i.name_zh if lang == "zh" else i.name_en for i in items}

    def tag(self, values: Mapping[str, Any], realtime: Mapping[str, int] | None = None,
            churn_90d: float | None = None) -> Tags:
        """One customer's tags; `realtime`: topic → events pushed in the last `realtime_days` days."""
        if any(c.holds(values) for c in self.exclude):
            return Tags(self.version, None, None, None, ())
        realtime = realtime or {}
        intents = tuple(t.id for t in self.intents
                        if t.monthly_views(values) >= t.views_30d_at_least
                        or sum(realtime.get(topic, 0) for topic in t.topics) >= t.realtime_at_least)
        return Tags(self.version, _first(self.rfm_segments, values), _first(self.lifecycle_stages, values),
                    self.clv.value(values, churn_90d), intents)

    def tag_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Tags of every row (monthly features only): rfm_segment, lifecycle_stage, clv_cny, intent_tags;
        excluded rows get None."""
        excluded = np.logical_or.reduce([c.holds(frame) for c in self.exclude]) if self.exclude \
            else np.zeros(len(frame), dtype=bool)
        out = pd.DataFrame(index=frame.index)
        for column, rules in (("rfm_segment", self.rfm_segments), ("lifecycle_stage", self.lifecycle_stages)):
            chosen = np.select([r.matches(frame) for r in rules], [r.id for r in rules], default="")
            out[column] = pd.Series(chosen, index=frame.index, dtype=object).replace("", None)
            out.loc[excluded, column] = None
        out["clv_cny"] = np.where(excluded, np.nan, self.clv.value(frame))
        hits = {t.id: t.monthly_views(frame) >= t.views_30d_at_least for t in self.intents}
        out["intent_tags"] = [tuple(t for t, hit in hits.items() if hit[i]) if not excluded[i] else ()
                              for i in range(len(frame))]
        return out


def _first(rules: tuple[Rule, ...], values: Mapping[str, Any]) -> str | None:
    return next((r.id for r in rules if r.matches(values)), None)


def load_segment_rules(path: Path = DEFAULT_RULES) -> SegmentRules:
    """Read and check the rules file; ContractViolation naming the file and the bad entry."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        intent = raw["intent"]
        clv = raw["clv"]
        rules = SegmentRules(
            version=str(raw["version"]),
            exclude=tuple(parse_condition(c) for c in raw.get("exclude", [])),
            rfm_segments=tuple(_rule(r) for r in raw["rfm_segment"]),
            lifecycle_stages=tuple(_rule(r) for r in raw["lifecycle_stage"]),
            intents=tuple(IntentTag(str(t["id"]), str(t["name_en"]), str(t["name_zh"]), tuple(t["topics"]),
                                    int(t["views_30d_at_least"]), int(t["realtime_at_least"]))
                          for t in intent["tag"]),
            realtime_days=int(intent["realtime_days"]),
            clv=Clv(int(clv["horizon_months"]), float(clv["annual_discount"]), float(clv["base_churn_90d"]),
                    float(clv["card_spend_margin"]),
                    {str(k): float(v) for k, v in clv["balance_margin"].items()}))
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as err:
        raise ContractViolation(f"{path}: invalid segment rules: {type(err).__name__}: {err}") from err
    _check(rules, path)
    return rules


def parse_condition(text: str) -> Condition:
    """`feature op value` (a number, true/false or a quoted text) on a known customer feature."""
    found = _CONDITION.match(str(text))
    if found is None:
        raise ValueError(f"condition {text!r} is not 'feature operator value'")
    feature, op, literal = found.groups()
    if feature not in FEATURES:
        raise ValueError(f"condition {text!r}: no customer feature {feature!r}")
    value: float | str | bool
    if literal in ("true", "false"):
        value = literal == "true"
    elif literal[:1] in ("'", '"') and literal[-1:] == literal[:1]:
        value = literal[1:-1]
        if op not in ("==", "!="):
            raise ValueError(f"condition {text!r}: a text value takes == or != only")
    else:
        value = float(literal)
    return Condition(feature, op, value)


def _rule(raw: Mapping[str, Any]) -> Rule:
    return Rule(str(raw["id"]), str(raw["name_en"]), str(raw["name_zh"]),
                tuple(parse_condition(c) for c in raw.get("all", [])), tuple(parse_condition(c) for c in raw.get("any", [])))


def _check(rules: SegmentRules, path: Path) -> None:
    for kind, items in (("rfm_segment", rules.rfm_segments), ("lifecycle_stage", rules.lifecycle_stages),
                        ("intent.tag", rules.intents)):
        ids = [i.id for i in items]
        if not ids or len(set(ids)) != len(ids):
            raise ContractViolation(f"{path}: {kind} ids must be present and unique, got {ids}")
    for category in rules.clv.balance_margin:
        if category not in CATEGORIES:
            raise ContractViolation(f"{path}: clv.balance_margin.{category}: not a product category")
    topics = {c.removeprefix("page_views_").removesuffix("_30d") for c in FEATURES if c.startswith("page_views_")}
    for t in rules.intents:
        unknown = set(t.topics) - topics
        if unknown:
            raise ContractViolation(f"{path}: intent tag {t.id}: unknown topics {sorted(unknown)}")
