"""What leads achieved: conversion by score band (Wilson 95% intervals) and the blend in force."""

from __future__ import annotations

from typing import Any

from evaluation.proportions import wilson_interval
from serving.leads.score import LeadSettings, default_blend
from serving.leads.store import LeadStore

BANDS = ((0.0, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0001))


def outcome_report(store: LeadStore, settings: LeadSettings) -> dict[str, Any]:
    """Won of won + lost per score band [lo, hi), with the interval; the latest blend (or the default)."""
    decided = store.outcomes()
    bands = []
    for lo, hi in BANDS:
        part = decided[(decided["score"] >= lo) & (decided["score"] < hi)]
        won, n = int(part["won"].sum()), len(part)
        ci = wilson_interval(won, n)
        bands.append({"band": f"{lo:.1f}-{min(hi, 1.0):.1f}", "won": won, "decided": n,
                      "rate": round(won / n, 4) if n else None,
                      "interval": None if ci is None else [round(ci[0], 4), round(ci[1], 4)]})
    blend = store.latest_blend() or default_blend(settings)
    counts = store.frame()["status"].value_counts().to_dict()
    return {"blend": blend.as_dict(), "refit_min_outcomes": settings.refit_min_outcomes, "decided": len(decided),
            "won": int(decided["won"].sum()), "by_status": {str(k): int(v) for k, v in counts.items()},
            "bands": bands}
