"""Liveness, readiness, Prometheus metrics and the models being served."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from models.registry import ModelRef
from serving.deps import RuntimeDep
from serving.health import online_store_status
from serving.security.auth import caller_role

router = APIRouter(tags=["ops"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


def _checks(request: Request) -> dict[str, str]:
    checks: dict[str, str] = {}
    runtime = getattr(request.app.state, "runtime", None)
    checks["models"] = "ok" if runtime is not None and runtime.refs() else "not loaded"
    try:
        with request.app.state.audit.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["audit"] = "ok"
    except Exception as err:  # noqa: BLE001 - any failure means not ready
        checks["audit"] = f"unavailable: {type(err).__name__}"
    checks["features"] = (online_store_status(runtime.reader.store, request.app.state.settings)
                          if runtime is not None else "not loaded")
    return checks


@router.get("/readyz", responses={503: {"description": "Models or stores are not ready"}})
def readyz(request: Request) -> JSONResponse:
    """Ready when at least one model is loaded and the audit and feature stores answer; `served` lists
    the aliases loaded per model of the served `portfolio` (an empty list: that model is not served,
    its endpoints answer 503)."""
    checks = _checks(request)
    ready = all(v == "ok" for v in checks.values())
    runtime = getattr(request.app.state, "runtime", None)
    served = runtime.served() if runtime is not None else {}
    return JSONResponse({"ready": ready, "checks": checks, "portfolio": request.app.state.settings.portfolio,
                         "served": served}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency by route, loaded model versions, drift of the risk models."""
    return request.app.state.metrics.render()


@router.get("/v1/models", dependencies=[Depends(caller_role)], tags=["models"])
def models(runtime: RuntimeDep) -> list[ModelRef]:
    """The versions served under each alias, when they were trained and their test metrics."""
    return runtime.refs()
