"""What the service holds in memory: the feature reader, the catalogue and the models per alias.

A reload builds a whole new `Runtime` and swaps the reference: requests already running keep the
one they started with, so none is dropped or served by half-loaded models. Besides the champion and
challenger, the `shadow` version of each model is loaded when that alias is set: it scores beside
the answer and never answers. Each start or reload that serves another version behind an alias than
the alias history last recorded adds a `reload` entry there.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from features.online.reader import OnlineReader
from features.repo.store import open_store
from models.alias_history import AliasHistory
from models.fraud import FraudScorer
from models.recommender import RecommenderScorer
from models.registry import (
    ALIASES,
    CHURN,
    DELINQUENCY,
    FRAUD,
    RECOMMENDER,
    SHADOW,
    ModelRef,
    load_alias,
    registered_name,
)
from models.risk import RiskScorer
from nbo.errors import ModelUnavailable
from nbo.settings import MlflowSettings, Settings
from sources.portfolio import DEMO

log = logging.getLogger(__name__)

PROFILE_SERVICE = "customer_360_v1"


def _kind(name: str) -> str:
    """`churn` of `nbo-churn`: the model's kind, as `nbo train` and the endpoints name it."""
    return name.removeprefix("nbo-")


@dataclass(frozen=True)
class RiskModel:
    """One risk model (churn or delinquency) behind one alias."""

    alias: str
    scorer: RiskScorer
    ref: ModelRef


@dataclass(frozen=True)
class RecommenderModel:
    """The recommender behind one alias."""

    alias: str
    scorer: RecommenderScorer
    ref: ModelRef


@dataclass(frozen=True)
class FraudModel:
    """The payment fraud model behind `champion` (the rules decide alone without one)."""

    scorer: FraudScorer
    ref: ModelRef


@dataclass
class Runtime:
    """Everything a request reads, loaded once. Each model is loaded on its own: a portfolio with a
    churn champion only serves churn, and asking for another model is a clear `ModelUnavailable`."""

    reader: OnlineReader
    portfolio: str = DEMO
    risk: dict[str, dict[str, RiskModel]] = field(default_factory=dict)  # CHURN|DELINQUENCY → alias → model
    recommenders: dict[str, RecommenderModel] = field(default_factory=dict)
    fraud: FraudModel | None = None

    def _unavailable(self, name: str) -> ModelUnavailable:
        kind = _kind(name)
        return ModelUnavailable(f"no {kind} model for portfolio {self.portfolio!r}: no champion of "
                                f"{registered_name(name, self.portfolio)} is registered; train one with "
                                f"`nbo train {kind}` on the portfolio's data, then reload")

    def recommender(self, alias: str) -> RecommenderModel:
        """The recommender behind `alias`, else the champion; ModelUnavailable if there is none."""
        found = self.recommenders.get(alias) or self.recommenders.get("champion")
        if found is None:
            raise self._unavailable(RECOMMENDER)
        return found

    def risk_model(self, name: str, alias: str) -> RiskModel:
        """Risk model `name` (CHURN, DELINQUENCY) behind `alias`, else its champion; ModelUnavailable
        naming the model and the portfolio if there is none."""
        loaded = self.risk.get(name, {})
        found = loaded.get(alias) or loaded.get("champion")
        if found is None:
            raise self._unavailable(name)
        return found

    def shadow_risk(self, name: str) -> RiskModel | None:
        """Risk model `name`'s shadow (it scores, never answers), or None when none is set."""
        return self.risk.get(name, {}).get(SHADOW)

    def shadow_recommender(self) -> RecommenderModel | None:
        """The recommender's shadow, or None when none is set."""
        return self.recommenders.get(SHADOW)

    def serves(self, name: str) -> bool:
        """Whether model `name` (CHURN, DELINQUENCY, RECOMMENDER) has a champion loaded."""
        loaded = self.recommenders if name == RECOMMENDER else self.risk.get(name, {})
        return "champion" in loaded

    def served(self) -> dict[str, list[str]]:
        """Registered name → the aliases loaded (empty: not served), for /readyz (which anyone may read:
        keyed by registered names, not by the risk fields the app role must never see)."""
        out = {registered_name(name, self.portfolio): sorted(self.risk.get(name, {})) for name in (CHURN, DELINQUENCY)}
        return out | {registered_name(RECOMMENDER, self.portfolio): sorted(self.recommenders),
                      registered_name(FRAUD, self.portfolio): ["champion"] if self.fraud else []}

    def versions(self) -> dict[str, dict[str, str]]:
        """model → alias → version, for /metrics and the audit."""
        out: dict[str, dict[str, str]] = {}
        for ref in self.refs():
            out.setdefault(ref.name, {})[ref.alias] = ref.version
        return out

    def refs(self) -> list[ModelRef]:
        """Every loaded model version."""
        risk = [m.ref for by_alias in self.risk.values() for m in by_alias.values()]
        return risk + [m.ref for m in self.recommenders.values()] + ([self.fraud.ref] if self.fraud else [])


def _load_risk(settings: MlflowSettings, name: str, alias: str, portfolio: str) -> RiskModel | None:
    """Risk model `name` behind `alias` in the portfolio (its registered name), or None."""
    loaded = load_alias(settings, registered_name(name, portfolio), alias, portfolio)
    if loaded is None:
        return None
    assert isinstance(loaded.scorer, RiskScorer)
    return RiskModel(alias, loaded.scorer, loaded.ref)


def _load_recommender(settings: MlflowSettings, alias: str, portfolio: str) -> RecommenderModel | None:
    loaded = load_alias(settings, registered_name(RECOMMENDER, portfolio), alias, portfolio)
    if loaded is None:
        return None
    assert isinstance(loaded.scorer, RecommenderScorer)
    return RecommenderModel(alias, loaded.scorer, loaded.ref)


def load_runtime(settings: Settings) -> Runtime:
    """Open the feature store and load the models of every alias that exists (shadow included), for the
    portfolio the service serves (`settings.portfolio`); a version tagged with another portfolio is refused."""
    reader = OnlineReader(open_store(settings), PROFILE_SERVICE)
    runtime = Runtime(reader=reader, portfolio=settings.portfolio)
    for alias in (*ALIASES, SHADOW):
        for name in (CHURN, DELINQUENCY):
            model = _load_risk(settings.mlflow, name, alias, settings.portfolio)
            if model is not None:
                runtime.risk.setdefault(name, {})[alias] = model
        recommender = _load_recommender(settings.mlflow, alias, settings.portfolio)
        if recommender is not None:
            runtime.recommenders[alias] = recommender
    fraud = load_alias(settings.mlflow, registered_name(FRAUD, settings.portfolio), "champion", settings.portfolio)
    if fraud is not None:
        assert isinstance(fraud.scorer, FraudScorer)
        runtime.fraud = FraudModel(fraud.scorer, fraud.ref)
    log.info("runtime_loaded", extra={"portfolio": settings.portfolio, "versions": runtime.versions(),
                                      "not_served": [k for k, aliases in runtime.served().items() if not aliases]})
    return runtime


def record_reload(audit: Engine, runtime: Runtime, by: str) -> list[dict[str, Any]]:
    """A `reload` entry in the alias history for each (model, alias) whose loaded version differs from
    the history's last `reload` entry for it (version None: an alias no longer set); the entries.
    A failure to record is logged: the models are loaded and serve either way."""
    loaded = {(ref.name, ref.alias): ref for ref in runtime.refs()}
    try:
        history = AliasHistory.using(audit)
        last = history.last_versions("reload", list(runtime.served()))
        changed = {key for key, ref in loaded.items() if last.get(key) != ref.version}
        changed |= {key for key, version in last.items() if key not in loaded and version is not None}
        return [history.record(model=name, portfolio=runtime.portfolio, action="reload", by=by, alias=alias,
                               version=loaded[name, alias].version if (name, alias) in loaded else None,
                               previous_version=last.get((name, alias)),
                               reason=f"the service (pid {os.getpid()}) loaded it" if (name, alias) in loaded
                               else "the alias is no longer set: the service stopped loading it",
                               evidence={"run_id": loaded[name, alias].run_id} if (name, alias) in loaded else {})
                for name, alias in sorted(changed)]
    except Exception as err:  # noqa: BLE001 - the history is the audit's; serving goes on
        log.error("alias_history_failed", extra={"error_type": type(err).__name__, "error": str(err)})
        return []


def reload_models(state: Any, by: str) -> dict[str, dict[str, str]]:
    """Load the current champions, challengers and shadows into an app's `state`, then switch to them
    (requests in flight finish on the models they started with); returns model → alias → version.
    `by`: who asked (`service start`, the admin key's role and id), for the alias history, which is
    written through the audit store's engine (`state.audit`)."""
    runtime = load_runtime(state.settings)
    state.runtime = runtime
    state.metrics.set_models(runtime.versions())
    record_reload(state.audit.engine, runtime, by)
    return runtime.versions()
