"""Drift of served risk scores and their inputs, per registered model version and month, from the audit.

Reads churn and delinquency decisions (one pass, filtered by kind and time in SQL), groups them by
registered model name, version and UTC month of `created_at`, and compares each group's scores
(`answer.probability` / `answer.pd`) and audited feature values with the development reference logged
with that version (`models.reference`): PSI of the score, CSI of every feature, missing and
out-of-range shares, and a verdict by the rule of `evaluation.drift`.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from evaluation.drift import ALPHA, RULE, BinnedReference, Stability, assess, worst
from models.reference import DriftReference, load_reference
from models.registry import RISK_MODEL_NAMES, connect, split_name
from nbo.settings import Settings
from serving.audit.store import AuditStore, decisions

log = logging.getLogger(__name__)

SCORE_FIELD = {"churn": "probability", "delinquency": "pd"}  # the score each kind answers
READ_BATCH = 5_000  # rows fetched at a time from the audit


@dataclass
class _Group:
    """One model version's decisions of one month: scores and each feature's values."""

    scores: list[object] = field(default_factory=list)
    features: defaultdict[str, list[object]] = field(default_factory=lambda: defaultdict(list))


GroupKey = tuple[str, str, str]  # registered name, version, "YYYY-MM"


def _model_of(kind: str, model_versions: dict[str, Any]) -> tuple[str, str] | None:
    """(registered name, version) of the decision's risk model of `kind`."""
    for name, served in model_versions.items():
        if split_name(name)[0] == RISK_MODEL_NAMES[kind]:
            return name, str(served["version"])
    return None


def _utc(created: datetime) -> datetime:
    """SQLite returns naive UTC datetimes, PostgreSQL aware ones in the session's zone."""
    return created.astimezone(UTC) if created.tzinfo else created


def read_groups(audit: AuditStore, since: date | None) -> dict[GroupKey, _Group]:
    """Risk decisions since `since` (UTC), grouped by model version and month, in one pass."""
    query = sa.select(
        decisions.c.kind, decisions.c.created_at, decisions.c.model_versions, decisions.c.payload
    ).where(decisions.c.kind.in_(tuple(SCORE_FIELD)))
    if since is not None:
        query = query.where(
            decisions.c.created_at >= datetime(since.year, since.month, since.day, tzinfo=UTC)
        )
    groups: defaultdict[GroupKey, _Group] = defaultdict(_Group)
    with audit.engine.connect() as conn:
        for kind, created, versions, payload_text in conn.execution_options(
            yield_per=READ_BATCH
        ).execute(query):
            model = _model_of(kind, json.loads(versions))
            if model is None:
                continue
            payload = json.loads(payload_text)
            group = groups[(*model, _utc(created).strftime("%Y-%m"))]
            group.scores.append((payload.get("answer") or {}).get(SCORE_FIELD[kind]))
            for name, entry in (payload.get("features") or {}).items():
                group.features[name].append(entry.get("value") if isinstance(entry, dict) else None)
    return dict(groups)


def _values(reference: BinnedReference, values: list[object]) -> list[object] | np.ndarray:
    """Audited values as the reference bins them: numbers (anything else missing), or categories as sent."""
    if reference.kind == "numeric":
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
            float, na_value=np.nan
        )
    return values


def _stability(reference: BinnedReference, values: list[object], alpha: float) -> Stability:
    return assess(reference, _values(reference, values), alpha)


def group_entry(key: GroupKey, group: _Group, reference: DriftReference) -> dict[str, Any]:
    """One model version's month: score PSI, each feature's CSI (worst first) and the verdicts."""
    name, version, month = key
    n = len(group.scores)
    alpha = ALPHA / (1 + len(reference.features))
    score = _stability(reference.score, group.scores, alpha)
    features = []
    for feature, feature_reference in reference.features.items():
        found = group.features.get(feature, [])
        s = _stability(feature_reference, found + [None] * (n - len(found)), alpha)
        features.append(
            {
                "feature": feature,
                "csi": s.index,
                "p_value": s.p_value,
                "verdict": s.verdict,
                "missing_share": s.missing_share,
                "out_of_range_share": s.out_of_range_share,
            }
        )
    features.sort(key=lambda f: f["csi"], reverse=True)
    return {
        "model": name,
        "portfolio": split_name(name)[1],
        "version": version,
        "month": month,
        "n": n,
        "score": {"psi": score.index, "p_value": score.p_value, "verdict": score.verdict},
        "features": features,
        "verdict": worst([score.verdict, *(f["verdict"] for f in features)]),
    }


def drift_report(
    settings: Settings, audit: AuditStore, since: date | None = None
) -> dict[str, Any]:
    """Drift of every risk model version and month served since `since` (UTC date), months ascending.

    Versions without a logged reference (trained before references existed) are listed under
    `unreferenced`, with the reason, instead of being judged."""
    groups = read_groups(audit, since)
    client = connect(settings.mlflow) if groups else None
    references: dict[tuple[str, str], DriftReference | None] = {}
    models, unreferenced = [], []
    for key in sorted(groups, key=lambda k: (k[2], k[0], int(k[1]) if k[1].isdigit() else 0)):
        name, version, month = key
        if (name, version) not in references:
            references[(name, version)] = load_reference(client, name, version)  # type: ignore[arg-type]
        reference = references[(name, version)]
        if reference is None:
            unreferenced.append(
                {
                    "model": name,
                    "portfolio": split_name(name)[1],
                    "version": version,
                    "month": month,
                    "n": len(groups[key].scores),
                    "message": f"{name} version {version} has no drift reference (trained "
                    "before references were logged): retrain to monitor it",
                }
            )
            continue
        models.append(group_entry(key, groups[key], reference))
    log.info("drift_report", extra={"groups": len(groups), "unreferenced": len(unreferenced)})
    return {
        "rule": RULE,
        "since": since.isoformat() if since else None,
        "models": models,
        "unreferenced": unreferenced,
    }


def previous_month_start(today: date) -> date:
    """The first day of the month before `today`'s."""
    return date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)


def recent_drift_report(settings: Settings, audit: AuditStore) -> dict[str, Any]:
    """`drift_report` of this month and the last (UTC): what the service's drift gauges show."""
    return drift_report(settings, audit, previous_month_start(datetime.now(UTC).date()))
