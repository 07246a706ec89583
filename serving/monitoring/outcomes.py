"""Realised outcomes of audited risk scores, by model and score month, beside the development figures.

Convention (the one training uses): a score made in month M is a score as of T = the first instant
of M. The service reads, during M, the monthly feature rows stamped T (the data of the months before
M), which are the rows a training example at as-of T joins; so the realised outcome of the score is
the label at as-of T, computed by the label code training uses (`sources.labels`, through
`features.training_set.label_rows`) on the canonical tables of `settings.data_dir`: churn within 90
days of T, 30+ days past due within the 12 months from M on.

Per registered model (churn, delinquency) and score month (the UTC month of `created_at`), each
customer counts once, with the latest score of that month. A month is matured when the data holds
its whole outcome window (churn: through M+2; delinquency: through M+11); otherwise it is reported
with `matured: false`, its scored customers as `n` and no figures. For a matured month, `n` and the
figures cover the scored customers in the label's population (churn: active at T; delinquency:
credit exposure and performing at T), `scored` counts them all. Figures: ROC AUC and KS
(`evaluation.metrics`), and calibration by band (mean predicted probability vs observed rate).
`development` is the test-holdout `roc_auc` and `ks` logged by the run of the version that scored
the model's latest decision (`version`). Models of another portfolio than the data directory's are
left out: their outcomes live in another bank's tables.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import sqlalchemy as sa
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from evaluation import metrics
from features.training_set import LABEL_COLUMNS, label_rows
from models.registry import RISK_MODEL_NAMES, connect, split_name
from nbo.errors import ContractViolation, InputFileError
from nbo.settings import Settings
from serving.audit.store import AuditStore, decisions
from sources.io import table_path
from sources.portfolio import portfolio_of

log = logging.getLogger(__name__)

RISK_KINDS = ("churn", "delinquency")
OUTCOMES = {"churn": "churn within 90 days (closes or goes dormant)",
            "delinquency": "30+ days past due within 12 months"}
TABLES = ("customers", "events", "transactions", "holdings", "credit")  # the labels' (sources.labels)
PROBABILITY = {"churn": "probability", "delinquency": "pd"}


def latest_scores(audit: AuditStore) -> pd.DataFrame:
    """Audited churn and delinquency scores, one per model, customer and UTC month (the latest):
    columns model, kind, version, customer_id, created_at, month, probability, band."""
    query = (sa.select(decisions.c.kind, decisions.c.customer_id, decisions.c.created_at,
                       decisions.c.model_versions, decisions.c.payload)
             .where(decisions.c.kind.in_(RISK_KINDS)))
    rows = []
    with audit.engine.connect() as conn:
        for kind, customer_id, created_at, versions, payload in conn.execute(query):
            [(model, ref)] = [(name, ref) for name, ref in orjson.loads(versions).items()
                              if split_name(name)[0] == RISK_MODEL_NAMES[kind]]  # the model that answered
            answer = orjson.loads(payload)["answer"]
            rows.append((model, kind, str(ref["version"]), customer_id, created_at,
                         answer[PROBABILITY[kind]], answer["band"]))
    frame = pd.DataFrame(rows, columns=["model", "kind", "version", "customer_id", "created_at", "probability",
                                        "band"])
    created = pd.to_datetime(frame["created_at"], utc=True)
    frame["created_at"] = created
    frame["month"] = created.dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    frame = frame.sort_values("created_at", kind="stable")
    return frame.drop_duplicates(["model", "month", "customer_id"], keep="last").reset_index(drop=True)


def require_tables(data_dir: Path) -> None:
    """InputFileError unless `data_dir` holds the tables scores and their outcomes are read from."""
    missing = [t for t in TABLES if not table_path(data_dir, t).is_file()]
    if missing:
        raise InputFileError(f"{data_dir}: no {', '.join(missing)} table (NBO_DATA_DIR names the canonical tables)")


def _number(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def _month(settings: Settings, kind: str, month: pd.Timestamp, scores: pd.DataFrame) -> dict[str, Any]:
    """One score month's realised figures (or `matured: false`)."""
    entry: dict[str, Any] = {"month": f"{month:%Y-%m}", "scored": len(scores)}
    try:
        outcome = label_rows(settings.data_dir, kind, [month], scores["customer_id"].tolist())
    except ContractViolation as err:  # the label code's own check: the data ends before the window does
        return entry | {"n": len(scores), "positives": 0, "matured": False, "roc_auc": None, "ks": None,
                        "bands": [], "note": str(err)}
    rows = scores.merge(outcome[["customer_id", LABEL_COLUMNS[kind]]], on="customer_id")
    y = rows[LABEL_COLUMNS[kind]].astype(int).to_numpy()
    p = rows["probability"].astype(float).to_numpy()
    figures = {"roc_auc": _number(metrics.roc_auc(y, p)), "ks": _number(metrics.ks(y, p))} if len(rows) else {
        "roc_auc": None, "ks": None}
    bands = (rows.assign(y=y).groupby("band").agg(n=("y", "size"), predicted=("probability", "mean"),
                                                  observed=("y", "mean"))
             .sort_values("predicted").reset_index())
    return entry | {"n": len(rows), "positives": int(y.sum()), "matured": True, **figures,
                    "bands": [{"band": str(b.band), "n": int(b.n), "predicted": float(b.predicted),
                               "observed": float(b.observed)} for b in bands.itertuples()]}


def development(client: MlflowClient, model: str, version: str) -> dict[str, float | None]:
    """The version's test-holdout ROC AUC and KS as its run logged them (None where it logged none
    or the registry no longer has the version)."""
    try:
        logged = client.get_run(client.get_model_version(model, version).run_id).data.metrics
    except MlflowException:
        logged = {}
    return {"roc_auc": logged.get("roc_auc"), "ks": logged.get("ks")}


def outcomes_report(settings: Settings, audit: AuditStore) -> dict[str, Any]:
    """Per risk model and score month: realised ROC AUC, KS and calibration by band where the
    outcomes have matured, beside the development figures (see the module's docstring)."""
    scores = latest_scores(audit)
    if len(scores):
        require_tables(settings.data_dir)
    portfolio = portfolio_of(settings.data_dir)
    client = connect(settings.mlflow) if len(scores) else None
    models = []
    for (model, kind), group in scores.groupby(["model", "kind"], sort=True):
        if split_name(model)[1] != portfolio:
            log.warning("outcomes_skipped", extra={"model": model, "data_dir": str(settings.data_dir),
                                                   "reason": f"the data is portfolio {portfolio!r}'s"})
            continue
        assert client is not None
        version = str(group.loc[group["created_at"].idxmax(), "version"])
        months = [_month(settings, str(kind), month, rows) for month, rows in group.groupby("month", sort=True)]
        models.append({"model": model, "portfolio": split_name(model)[1], "outcome": OUTCOMES[str(kind)],
                       "version": version, "development": development(client, model, version), "months": months})
    return {"data_dir": str(settings.data_dir), "models": models}
