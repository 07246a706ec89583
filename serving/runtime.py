"""What the service holds in memory: the feature reader, the catalogue and the models per alias.

A reload builds a whole new `Runtime` and swaps the reference: requests already running keep the
one they started with, so none is dropped or served by half-loaded models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from features.online.reader import OnlineReader
from features.repo.store import open_store
from models.recommender import RecommenderScorer
from models.registry import (
    ALIASES,
    CHURN,
    DELINQUENCY,
    RECOMMENDER,
    ModelRef,
    load_alias,
    registered_name,
)
from models.risk import RiskScorer
from nbo.errors import ModelUnavailable
from nbo.settings import MlflowSettings, Settings

log = logging.getLogger(__name__)

PROFILE_SERVICE = "customer_360_v1"


@dataclass(frozen=True)
class RiskModels:
    """The churn and delinquency scorers behind one alias."""

    alias: str
    churn: RiskScorer
    delinquency: RiskScorer
    refs: dict[str, ModelRef]


@dataclass(frozen=True)
class RecommenderModel:
    """The recommender behind one alias."""

    alias: str
    scorer: RecommenderScorer
    ref: ModelRef


@dataclass
class Runtime:
    """Everything a request reads, loaded once."""

    reader: OnlineReader
    risk: dict[str, RiskModels] = field(default_factory=dict)
    recommenders: dict[str, RecommenderModel] = field(default_factory=dict)

    def recommender(self, alias: str) -> RecommenderModel:
        found = self.recommenders.get(alias) or self.recommenders.get("champion")
        if found is None:
            raise ModelUnavailable("no champion recommender is registered; run `nbo train recommender`")
        return found

    def risk_models(self, alias: str) -> RiskModels:
        found = self.risk.get(alias) or self.risk.get("champion")
        if found is None:
            raise ModelUnavailable("no champion risk models are registered; run `nbo train churn` "
                                   "and `nbo train delinquency`")
        return found

    def versions(self) -> dict[str, dict[str, str]]:
        """model → alias → version, for /metrics and the audit."""
        out: dict[str, dict[str, str]] = {}
        for models in self.risk.values():
            for ref in models.refs.values():
                out.setdefault(ref.name, {})[ref.alias] = ref.version
        for model in self.recommenders.values():
            out.setdefault(model.ref.name, {})[model.ref.alias] = model.ref.version
        return out

    def refs(self) -> list[ModelRef]:
        """Every loaded model version."""
        return [r for m in self.risk.values() for r in m.refs.values()] + [m.ref for m in self.recommenders.values()]


def _load_risk(settings: MlflowSettings, alias: str, portfolio: str) -> RiskModels | None:
    """Churn and delinquency behind `alias`, keyed by their base names (the portfolio's registered names)."""
    loaded = {name: load_alias(settings, registered_name(name, portfolio), alias, portfolio)
              for name in (CHURN, DELINQUENCY)}
    churn, delinquency = loaded[CHURN], loaded[DELINQUENCY]
    if churn is None or delinquency is None:
        return None
    assert isinstance(churn.scorer, RiskScorer) and isinstance(delinquency.scorer, RiskScorer)
    return RiskModels(alias, churn.scorer, delinquency.scorer, {CHURN: churn.ref, DELINQUENCY: delinquency.ref})


def _load_recommender(settings: MlflowSettings, alias: str, portfolio: str) -> RecommenderModel | None:
    loaded = load_alias(settings, registered_name(RECOMMENDER, portfolio), alias, portfolio)
    if loaded is None:
        return None
    assert isinstance(loaded.scorer, RecommenderScorer)
    return RecommenderModel(alias, loaded.scorer, loaded.ref)


def load_runtime(settings: Settings) -> Runtime:
    """Open the feature store and load the models of every alias that exists, for the portfolio the
    service serves (`settings.portfolio`); a version tagged with another portfolio is refused."""
    reader = OnlineReader(open_store(settings), PROFILE_SERVICE)
    runtime = Runtime(reader=reader)
    for alias in ALIASES:
        models = _load_risk(settings.mlflow, alias, settings.portfolio)
        if models is not None:
            runtime.risk[alias] = models
        recommender = _load_recommender(settings.mlflow, alias, settings.portfolio)
        if recommender is not None:
            runtime.recommenders[alias] = recommender
    log.info("runtime_loaded", extra={"portfolio": settings.portfolio, "versions": runtime.versions()})
    return runtime


def reload_models(state: Any) -> dict[str, dict[str, str]]:
    """Load the current champions and challengers into an app's `state`, then switch to them
    (requests in flight finish on the models they started with); returns model → alias → version."""
    runtime = load_runtime(state.settings)
    state.runtime = runtime
    state.metrics.set_models(runtime.versions())
    return runtime.versions()
