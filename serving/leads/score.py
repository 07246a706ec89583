"""Lead scores: a customer's intent for a product's topic blended with the recommender's propensity.

intent = 1 - exp(-(page views + 2 × searches on the product's topic, last 30 days) / intent_scale), in
[0, 1); propensity = the champion ranker's P(adopt). The default blend is a weighted mean of the two
(`leads.toml`); once enough won/lost outcomes are recorded, `refit` fits a logistic regression
score = σ(b + a_i × intent + a_p × propensity) on them and the store keeps it as a new version.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.segments.rules import SegmentRules
from nbo.errors import ContractViolation

DEFAULT_SETTINGS = Path(__file__).with_name("leads.toml")
DEFAULT = "default"
FITTED = "fitted"


@dataclass(frozen=True)
class LeadSettings:
    """The deployment's lead choices (`leads.toml`)."""

    version: str
    min_score: float
    leads_per_customer: int
    default_weekly_capacity: int
    intent_scale: float
    refit_min_outcomes: int
    w_intent: float
    w_propensity: float


def load_lead_settings(path: Path = DEFAULT_SETTINGS) -> LeadSettings:
    """Read the lead settings; a bad file is a ContractViolation naming the file and key."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        blend = raw["default_blend"]
        found = LeadSettings(str(raw["version"]), float(raw["min_score"]), int(raw["leads_per_customer"]),
                             int(raw["default_weekly_capacity"]), float(raw["intent_scale"]),
                             int(raw["refit_min_outcomes"]), float(blend["w_intent"]), float(blend["w_propensity"]))
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as err:
        raise ContractViolation(f"{path}: not a lead settings file ({type(err).__name__}: {err})") from err
    checks = {"min_score": 0 <= found.min_score <= 1, "leads_per_customer": found.leads_per_customer >= 1,
              "default_weekly_capacity": found.default_weekly_capacity >= 0, "intent_scale": found.intent_scale > 0,
              "refit_min_outcomes": found.refit_min_outcomes >= 2,
              "default_blend": found.w_intent >= 0 and found.w_propensity >= 0
              and math.isclose(found.w_intent + found.w_propensity, 1.0)}
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ContractViolation(f"{path}: {', '.join(bad)} out of range (weights ≥ 0 adding up to 1, "
                                "scores in [0, 1], counts ≥ 0)")
    return found


@dataclass(frozen=True)
class Blend:
    """How intent and propensity make a score; `version` goes on every lead scored with it."""

    version: str
    kind: str  # default (weighted mean) | fitted (logistic regression on outcomes)
    intercept: float
    w_intent: float
    w_propensity: float
    outcomes: int = 0  # won/lost outcomes it was fitted on

    def score(self, intent: Any, propensity: Any) -> Any:
        """The lead score in [0, 1] (floats or arrays)."""
        linear = self.intercept + self.w_intent * np.asarray(intent, float) + \
            self.w_propensity * np.asarray(propensity, float)
        out = linear if self.kind == DEFAULT else 1 / (1 + np.exp(-linear))
        out = np.clip(out, 0.0, 1.0)
        return float(out) if np.ndim(out) == 0 else out

    def shares(self) -> dict[str, float]:
        """Each signal's share of the weights (|w| over the sum of both |w|): how much it counts."""
        total = abs(self.w_intent) + abs(self.w_propensity)
        if total == 0:
            return {"intent": 0.5, "propensity": 0.5}
        return {"intent": round(abs(self.w_intent) / total, 4), "propensity": round(abs(self.w_propensity) / total, 4)}

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "kind": self.kind, "intercept": round(self.intercept, 6),
                "w_intent": round(self.w_intent, 6), "w_propensity": round(self.w_propensity, 6),
                "outcomes": self.outcomes, "shares": self.shares()}


def default_blend(settings: LeadSettings) -> Blend:
    return Blend(f"default-{settings.version}", DEFAULT, 0.0, settings.w_intent, settings.w_propensity)


def can_refit(outcomes: pd.DataFrame, settings: LeadSettings) -> bool:
    """Enough won/lost outcomes (`won` column), and both kinds among them."""
    won = outcomes["won"].astype(bool)
    return len(outcomes) >= settings.refit_min_outcomes and bool(won.any()) and bool((~won).any())


def refit(outcomes: pd.DataFrame, version: str) -> Blend:
    """A logistic regression of won on (intent, propensity) over the recorded outcomes."""
    from sklearn.linear_model import LogisticRegression

    x = outcomes[["intent", "propensity"]].to_numpy(dtype=float)
    y = outcomes["won"].astype(bool).to_numpy()
    model = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
    a_i, a_p = (float(w) for w in model.coef_[0])
    return Blend(version, FITTED, float(model.intercept_[0]), a_i, a_p, len(outcomes))


def intent_counts(values: Mapping[str, Any], topic: str) -> tuple[int, int]:
    """(page views, searches) on `topic` in the last 30 days; a missing value counts 0."""
    def count(name: str) -> int:
        v = values.get(name)
        return 0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
    return count(f"page_views_{topic}_30d"), count(f"searches_{topic}_30d")


def intent_of(values: Mapping[str, Any], topic: str, scale: float) -> float:
    views, searches = intent_counts(values, topic)
    return 1.0 - math.exp(-(views + 2 * searches) / scale)


def intent_columns(topics: set[str]) -> set[str]:
    return {f"{kind}_{t}_30d" for t in topics for kind in ("page_views", "searches")}


@dataclass(frozen=True)
class Candidate:
    """One customer × product the scorer proposes as a lead."""

    customer_id: str
    product_id: str
    category: str
    topic: str
    intent: float
    propensity: float
    score: float
    views: int
    searches: int
    intent_tag: str | None  # the customer's intent tag on the product's topic, if they carry one


def intent_tag(segments: SegmentRules, values: Mapping[str, Any], topic: str) -> str | None:
    """The intent tag (segments.toml) the customer carries that covers `topic` (a missing count is 0)."""
    values = {k: v for k, v in values.items() if not (isinstance(v, float) and math.isnan(v))}
    for tag in segments.intents:
        if topic in tag.topics and tag.monthly_views(values) >= tag.views_30d_at_least:
            return tag.id
    return None


def reasons(c: Candidate, product_names: Mapping[str, Mapping[str, str]],
            tag_names: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Why this lead, in zh and en: the intent (tag or counts), the product, the propensity."""
    out: dict[str, list[str]] = {"zh": [], "en": []}
    if c.intent_tag:
        out["zh"].append(f"客户带有“{tag_names['zh'][c.intent_tag]}”标签（近30天浏览{c.views}次、搜索{c.searches}次）")
        out["en"].append(f"Tagged '{tag_names['en'][c.intent_tag]}' ({c.views} page views, {c.searches} searches "
                         "in 30 days)")
    elif c.views or c.searches:
        out["zh"].append(f"近30天浏览相关页面{c.views}次、搜索{c.searches}次")
        out["en"].append(f"{c.views} page views and {c.searches} searches on the topic in 30 days")
    else:
        out["zh"].append("近30天未见相关浏览，主要依据模型预测")
        out["en"].append("No recent interest on the topic: the model's propensity carries the lead")
    out["zh"].append(f"推荐产品：{product_names['zh'][c.product_id]}，模型预测办理概率{c.propensity:.1%}")
    out["en"].append(f"Product: {product_names['en'][c.product_id]}, predicted uptake {c.propensity:.1%}")
    return out
