"""`create_app(settings)`: the FastAPI service with its stores and models loaded once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from features.build.monthly import offline_dir
from features.online.push import OnlineIntentWriter, intent_source
from features.segments.rules import load_segment_rules
from nbo import __version__
from nbo.settings import Settings, load_settings
from serving import docs_pages
from serving.audit.store import AuditStore
from serving.campaigns.board import CampaignBoard
from serving.campaigns.store import CampaignStore
from serving.decisions import suitability
from serving.decisions.arbitration import load_levers
from serving.decisions.offers import OfferPolicy
from serving.decisions.risk import RiskPolicy
from serving.errors import install_error_handlers
from serving.metrics import ServiceMetrics
from serving.middleware import install_pipeline
from serving.monitoring.drift import recent_drift_report
from serving.nps.store import NpsStore
from serving.payments.counter_store import open_counter_store
from serving.payments.ledger import PaymentLedger
from serving.reload_signal import ReloadSignal
from serving.routers import (
    admin,
    campaign_pages,
    campaign_results,
    campaign_runs,
    campaigns,
    customers,
    identity,
    leads,
    offers,
    ops,
    payments,
    risk,
    workbench,
    workbench_leads,
)
from serving.runtime import reload_models
from serving.security.keyring import KeyRing
from serving.security.ratelimit import limiter_for
from serving.triggers.event_flush import EventFlusher
from serving.triggers.rules import load_trigger_rules
from serving.triggers.store import TriggerStore

log = logging.getLogger(__name__)


def offer_policy(settings: Settings) -> OfferPolicy:
    """Levers, suitability limits, challenger and control shares and segment rules, from their files and settings."""
    return OfferPolicy(load_levers(), suitability.Policy(pd_limit=settings.service.pd_limit),
                       settings.service.challenger_share, load_segment_rules(), settings.service.control_share)


def _load(app: FastAPI) -> None:
    try:
        reload_models(app.state, "service start")
    except Exception as err:  # noqa: BLE001 - start anyway; /readyz says why, requests get 503
        log.error("runtime_load_failed", extra={"error_type": type(err).__name__, "error": str(err)})
        app.state.runtime = None


def _start_event_writers(app: FastAPI) -> None:
    """The online intent writer, and the flusher of the offline copy for the last flush when the
    service stops (none without a store). The periodic flush runs in a process of its own, started
    by `nbo serve`: a flush rewrites the push source's file, and in a worker it held the worker's
    interpreter long enough to stall requests (p99 0.9 s at 150 requests/s)."""
    app.state.intent_writer = app.state.event_flusher = None
    if app.state.runtime is not None:
        store = app.state.runtime.reader.store
        app.state.intent_writer = OnlineIntentWriter(store)
        app.state.event_flusher = EventFlusher(app.state.trigger_store.log, intent_source(store))


def _follow_reload(app: FastAPI) -> None:
    """Another worker reloaded: do the same here, in the background."""
    try:
        reload_models(app.state, "service (following another worker's reload)")
    except Exception as err:  # noqa: BLE001 - keep serving the models already loaded
        log.error("worker_reload_failed", extra={"error_type": type(err).__name__, "error": str(err)})
    finally:
        app.state.reload_signal.release()


def app_from_environment() -> FastAPI:
    """The service with settings from the environment (the factory `nbo serve --workers N` runs)."""
    return create_app(load_settings())


def create_app(settings: Settings) -> FastAPI:
    """The service. Stores and models are opened in the lifespan, not at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.keys = KeyRing(settings.api_keys_file)
        app.state.audit = AuditStore(settings.audit_url)
        app.state.risk_policy = RiskPolicy(settings.service.challenger_share, settings.service.refuse_stale_scores)
        app.state.offer_policy = offer_policy(settings)
        app.state.trigger_rules = load_trigger_rules()
        app.state.trigger_store = TriggerStore(app.state.audit.engine)
        app.state.campaign_board = CampaignBoard(CampaignStore(app.state.audit.engine), app.state.offer_policy.segments,
                                                 offline_dir(settings))
        app.state.reload_signal = ReloadSignal(settings.state_dir)
        app.state.payment_counters = open_counter_store(settings)
        app.state.payment_ledger = PaymentLedger(app.state.audit.engine)
        app.state.nps_store = NpsStore(app.state.audit.engine)
        app.state.metrics.drift.watch(lambda: recent_drift_report(settings, app.state.audit))
        _load(app)
        _start_event_writers(app)
        yield
        if app.state.event_flusher is not None:
            app.state.event_flusher.stop()  # the offline copy of every logged event, before exiting
        app.state.payment_counters.close()
        app.state.audit.close()

    app = FastAPI(title="nbo", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Next-best-offer and customer-risk service. Send your API key as `X-API-Key`.")
    app.state.metrics = ServiceMetrics()
    install_error_handlers(app)
    install_pipeline(app, app.state.metrics, limiter_for(settings.service),
                     f"{settings.service.rate_limit_per_s:g}", _follow_reload, settings.service.max_body_bytes)

    for router in (ops.router, offers.router, customers.router, risk.router, admin.router, campaigns.router,
                   campaign_runs.router, campaign_results.router, workbench.router, campaign_pages.router,
                   workbench_leads.router, identity.router, payments.router, leads.router, docs_pages.router):
        app.include_router(router)
    return app
