"""FastAPI dependencies: the services a route needs, built from what the app holds.

They only look things up, so they are coroutines: FastAPI runs a plain `def` dependency in its
thread pool, a hop per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from features.online.push import OnlineIntentWriter
from nbo.errors import ModelUnavailable
from serving.audit.store import AuditStore
from serving.decisions.offers import OfferService
from serving.decisions.risk import RiskService
from serving.payments.counter_store import CounterStore
from serving.payments.service import PaymentService
from serving.runtime import Runtime
from serving.triggers.engine import TriggerEngine


def runtime_of(request: Request) -> Runtime:
    """The runtime current when the request arrived (a reload swaps it for later requests)."""
    runtime = request.app.state.runtime
    if runtime is None:
        raise ModelUnavailable("models or feature store not loaded; see /readyz")
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


async def get_audit(request: Request) -> AuditStore:
    return request.app.state.audit


async def get_risk_service(request: Request) -> RiskService:
    return RiskService(runtime_of(request), request.app.state.audit, request.app.state.risk_policy)


async def get_offer_service(request: Request) -> OfferService:
    return OfferService(runtime_of(request), request.app.state.audit, request.app.state.offer_policy)


async def get_trigger_engine(request: Request) -> TriggerEngine:
    state = request.app.state
    return TriggerEngine(state.trigger_rules, state.trigger_store,
                         OfferService(runtime_of(request), state.audit, state.offer_policy))


async def get_intent_writer(request: Request) -> OnlineIntentWriter:
    writer = getattr(request.app.state, "intent_writer", None)
    if writer is None:
        raise ModelUnavailable("feature store not loaded; see /readyz")
    return writer


def payment_service_of(request: Request) -> PaymentService:
    """Payment scoring and the alert queue on the app's counters and ledger and the runtime's fraud model."""
    state = request.app.state
    return PaymentService(runtime_of(request), state.payment_counters, state.payment_ledger)


async def get_payment_service(request: Request) -> PaymentService:
    return payment_service_of(request)


async def get_payment_counters(request: Request) -> CounterStore:
    return request.app.state.payment_counters


async def request_id(request: Request) -> str:
    return request.state.request_id


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
AuditDep = Annotated[AuditStore, Depends(get_audit)]
RiskServiceDep = Annotated[RiskService, Depends(get_risk_service)]
OfferServiceDep = Annotated[OfferService, Depends(get_offer_service)]
TriggerEngineDep = Annotated[TriggerEngine, Depends(get_trigger_engine)]
IntentWriterDep = Annotated[OnlineIntentWriter, Depends(get_intent_writer)]
RequestIdDep = Annotated[str, Depends(request_id)]
PaymentServiceDep = Annotated[PaymentService, Depends(get_payment_service)]
PaymentCountersDep = Annotated[CounterStore, Depends(get_payment_counters)]
