"""Prometheus metrics: request counts and latency by route template, and the loaded model versions."""

from __future__ import annotations

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

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

    def set_models(self, versions: dict[str, dict[str, str]]) -> None:
        """Record the versions now loaded: model → alias → version."""
        for labels in list(self._model_labels):
            self.model_version.remove(*labels)
        self._model_labels = {(m, a) for m, aliases in versions.items() for a in aliases}
        for model, aliases in versions.items():
            for alias, version in aliases.items():
                self.model_version.labels(model=model, alias=alias).set(float(version))

    def render(self) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
