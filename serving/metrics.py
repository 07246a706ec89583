"""Prometheus metrics: request counts and latency by route template, the loaded model versions, and the
drift of the served risk models (refreshed in the background: see `DriftGauges`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class ServiceMetrics:
    """The service's own registry (one per app, so tests and reloads do not clash)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("nbo_requests_total", "HTTP requests", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("nbo_request_seconds", "HTTP request latency", ["route", "method"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.model_version = Gauge("nbo_model_version", "Loaded model version by model and alias",
                                   ["model", "alias"], registry=self.registry)
        self._model_labels: set[tuple[str, str]] = set()
        self.drift = DriftGauges(self.registry)

    def set_models(self, versions: dict[str, dict[str, str]]) -> None:
        """Record the versions now loaded: model → alias → version."""
        for labels in list(self._model_labels):
            self.model_version.remove(*labels)
        self._model_labels = {(m, a) for m, aliases in versions.items() for a in aliases}
        for model, aliases in versions.items():
            for alias, version in aliases.items():
                self.model_version.labels(model=model, alias=alias).set(float(version))

    def render(self) -> Response:
        self.drift.refresh_if_due()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


DRIFT_REFRESH_S = 900.0  # the drift gauges are recomputed at most this often
VERDICT_VALUE = {"stable": 0.0, "investigate": 1.0, "act": 2.0}


class DriftGauges:
    """`nbo_drift_index` and `nbo_drift_verdict` by model, version, month and feature (`score` for the
    score's PSI; `model` in the verdict for the month's overall verdict).

    A scrape never waits for them: when the last refresh is older than DRIFT_REFRESH_S, the scrape
    starts one in a background thread and answers with the values it has (none before the first
    refresh ends)."""

    def __init__(self, registry: CollectorRegistry):
        labels = ["model", "version", "month", "feature"]
        self.index = Gauge("nbo_drift_index", "PSI of the score (feature=score) or CSI of an input feature "
                           "against the version's development sample", labels, registry=registry)
        self.verdict = Gauge("nbo_drift_verdict", "Drift verdict: 0 stable, 1 investigate, 2 act "
                             "(feature=model: the month's overall verdict)", labels, registry=registry)
        self._source: Callable[[], dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._refreshed_at = -DRIFT_REFRESH_S
        self._thread: threading.Thread | None = None

    def watch(self, source: Callable[[], dict[str, Any]]) -> None:
        """Refresh from `source` (a drift report) from now on."""
        self._source = source

    def refresh_if_due(self) -> threading.Thread | None:
        """Start a background refresh if one is due and none runs; that thread, else None."""
        with self._lock:
            due = time.monotonic() - self._refreshed_at >= DRIFT_REFRESH_S
            if self._source is None or not due or (self._thread is not None and self._thread.is_alive()):
                return None
            self._refreshed_at = time.monotonic()
            self._thread = threading.Thread(target=self._refresh, args=(self._source,), name="drift-gauges",
                                            daemon=True)
            self._thread.start()
            return self._thread

    def _refresh(self, source: Callable[[], dict[str, Any]]) -> None:
        try:
            self.show(source())
        except Exception as err:  # noqa: BLE001 - keep the last values; the next due scrape tries again
            log.error("drift_gauges_failed", extra={"error_type": type(err).__name__, "error": str(err)})

    def show(self, report: dict[str, Any]) -> None:
        """Replace the gauges' values with those of a drift report."""
        self.index.clear()
        self.verdict.clear()
        for entry in report["models"]:
            key = (entry["model"], entry["version"], entry["month"])
            self.verdict.labels(*key, "model").set(VERDICT_VALUE[entry["verdict"]])
            self.index.labels(*key, "score").set(entry["score"]["psi"])
            self.verdict.labels(*key, "score").set(VERDICT_VALUE[entry["score"]["verdict"]])
            for feature in entry["features"]:
                self.index.labels(*key, feature["feature"]).set(feature["csi"])
                self.verdict.labels(*key, feature["feature"]).set(VERDICT_VALUE[feature["verdict"]])
