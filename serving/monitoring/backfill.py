"""Scores as of a past month, recorded in the audit as the service would have recorded them then.

Outcome monitoring needs scores whose outcomes have matured; the service only scores "now". A
backfill scores month M with a model's champion exactly as training sees month M: the as-of instant
is T = the first instant of M (UTC), each customer's features are the offline rows Feast's
point-in-time join picks at T (the data of the months before M, the rows the service reads online
during M), and the customers are those the bank had at T (joined before T, not closed). Each score
is audited as a decision of its kind (churn, delinquency) by variant `champion`, `created_at` = T,
with the service's model versions, `answer` (probability or pd and points, band) and `features`
(each value with `at` = T, the instant the join was made at). Reasons and actions are left out (no
one was shown them) and the payload says `"backfill": {"as_of": ...}`.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

from features.repo.store import open_store
from features.tables import EVENT_TIMESTAMP
from features.training_set import LABEL_SERVICES, training_set
from models.registry import CHAMPION, RISK_MODEL_NAMES, load_alias, registered_name
from models.risk import RiskScorer
from nbo.console import progress_bar
from nbo.errors import ContractViolation, ModelUnavailable
from nbo.settings import Settings
from serving.audit.store import AuditStore
from serving.monitoring.outcomes import require_tables
from sources.io import read_table, table_path

CHUNK = 5_000  # decisions per audit commit


def score_month(text: str) -> pd.Timestamp:
    """The first instant of month `text` (YYYY-MM); ContractViolation for anything else."""
    try:
        month = pd.Period(text, freq="M") if len(text) == 7 and text[4] == "-" else None
    except ValueError:
        month = None
    if month is None:
        raise ContractViolation(f"month {text[:20]!r} is not a month: give YYYY-MM, e.g. 2025-06")
    return month.to_timestamp()


def _customers_at(settings: Settings, as_of: pd.Timestamp) -> list[str]:
    """The bank's customers at `as_of`: joined before it (or since before the data) and not closed.
    ContractViolation unless the data has the month before `as_of` (the features of M are M−1's)."""
    require_tables(settings.data_dir)
    months = pd.read_parquet(table_path(settings.data_dir, "transactions"), columns=["month"])["month"]
    first, last = months.min(), months.max()
    if not first < as_of <= last + pd.DateOffset(months=1):
        raise ContractViolation(
            f"{as_of:%Y-%m} cannot be scored from {settings.data_dir}: its data runs {first:%Y-%m} to {last:%Y-%m}, "
            f"so the months with features are {first + pd.DateOffset(months=1):%Y-%m} to "
            f"{last + pd.DateOffset(months=1):%Y-%m}")
    c = read_table(settings.data_dir, "customers")
    there = (c["join_date"].isna() | (c["join_date"] < as_of)) & ~(c["close_date"] < as_of)
    return sorted(c.loc[there, "customer_id"])


def _features(settings: Settings, kind: str, scorer: RiskScorer, customers: list[str],
              as_of: pd.Timestamp) -> pd.DataFrame:
    """The customers' model features at `as_of`, point in time (the training set's join), in order."""
    store = open_store(settings)
    rows = pd.DataFrame({"customer_id": customers, EVENT_TIMESTAMP: as_of.tz_localize("UTC")})
    frame = training_set(store, store.get_feature_service(LABEL_SERVICES[kind]), rows)
    missing = [f for f in scorer.spec.features if f not in frame.columns]
    if missing:
        raise ContractViolation(f"feature service {LABEL_SERVICES[kind]} lacks model features {', '.join(missing[:8])}")
    return frame.set_index("customer_id").loc[customers, scorer.spec.features]


def _answers(kind: str, version: str, customers: list[str], scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The answer part of each decision: the service's fields of a score, less reasons and actions."""
    band = scores["band"].tolist()
    if kind == "delinquency":
        return [{"customer_id": c, "model_version": version, "pd": p, "score": s, "band": b}
                for c, p, s, b in zip(customers, scores["pd"].tolist(), scores["score"].tolist(), band, strict=True)]
    return [{"customer_id": c, "model_version": version, "probability": p, "band": b}
            for c, p, b in zip(customers, scores["probability"].tolist(), band, strict=True)]


def backfill(settings: Settings, audit: AuditStore, kind: str, month: str) -> dict[str, Any]:
    """Score month `month` (YYYY-MM) with the `kind` champion of the configured portfolio and audit
    every score at the month's first instant; returns what was recorded.

    Raises:
        ContractViolation: an unknown kind, a malformed month or one the data has no features for.
        ModelUnavailable: the portfolio has no champion of this kind.
    """
    if kind not in RISK_MODEL_NAMES:
        raise ContractViolation(f"model {kind[:40]!r} is not one of {', '.join(RISK_MODEL_NAMES)}")
    as_of = score_month(month)
    customers = _customers_at(settings, as_of)
    name = registered_name(RISK_MODEL_NAMES[kind], settings.portfolio)
    loaded = load_alias(settings.mlflow, name, CHAMPION, settings.portfolio)
    if loaded is None or not isinstance(loaded.scorer, RiskScorer):
        raise ModelUnavailable(f"no champion of {name} is registered: train one with `nbo train {kind}`")
    frame = _features(settings, kind, loaded.scorer, customers, as_of)
    scores = loaded.scorer.score(frame, with_reasons=False)
    answers = _answers(kind, loaded.ref.version, customers, scores)
    at = as_of.tz_localize("UTC").to_pydatetime()
    stamp = str(at)
    values = {f: frame[f].tolist() for f in frame.columns}  # plain Python values, NaN for missing
    request_id = f"backfill-{uuid.uuid4().hex[:16]}"
    versions = {loaded.ref.name: {"alias": CHAMPION, "version": loaded.ref.version}}
    with progress_bar(f"recording {kind} scores of {month}", len(customers), unit="decisions") as bar:
        for start in range(0, len(customers), CHUNK):
            entries = [(answers[i]["customer_id"], {
                "answer": answers[i], "backfill": {"as_of": f"{as_of:%Y-%m-%d}"},
                "features": {f: {"value": column[i], "at": None if pd.isna(column[i]) else stamp}
                             for f, column in values.items()}})
                for i in range(start, min(start + CHUNK, len(customers)))]
            audit.record_decisions(kind=kind, request_id=request_id, variant=CHAMPION, model_versions=versions,
                                   entries=entries, at=at)
            bar.advance(len(entries))
    return {"model": loaded.ref.name, "version": loaded.ref.version, "portfolio": settings.portfolio,
            "kind": kind, "month": f"{as_of:%Y-%m}", "created_at": at.isoformat(), "request_id": request_id,
            "decisions": len(customers)}
