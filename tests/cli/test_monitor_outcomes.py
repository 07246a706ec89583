"""`nbo monitor backfill` and `nbo monitor outcomes` on the session bank (24 months ending 2026-11).

The champions score June and July 2025 (churn) and June 2025 (delinquency) as of those months, the
outcomes have matured within the data, and the realised AUC the report gives equals an offline
evaluation of the same customers computed here: their features at the month's first instant from
Feast, scored by the champion loaded from MLflow, labelled by `sources.labels`. October 2026's churn
window runs past the data's end (2026-12 is needed): not matured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from evaluation.metrics import roc_auc
from tests.conftest import Trained, run_cli, run_json, settings_from

MATURED = {"churn": ("2025-06", "2025-07"), "delinquency": ("2025-06",)}
UNMATURED = ("churn", "2026-10")
NAMES = {"churn": "nbo-churn", "delinquency": "nbo-delinquency"}


@dataclass(frozen=True)
class Monitored:
    env: dict[str, str]
    backfilled: dict[tuple[str, str], dict]
    report: dict


@pytest.fixture(scope="module")
def monitored(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Monitored:
    """The months backfilled in-process (one import of Feast and MLflow), the report by the CLI."""
    from serving.audit.store import AuditStore, sqlite_url
    from serving.monitoring.backfill import backfill

    env = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path_factory.mktemp("audit") / "audit.db")}
    settings = settings_from(env)
    audit = AuditStore(settings.audit_url)
    wanted = [(kind, month) for kind, months in MATURED.items() for month in months] + [UNMATURED]
    backfilled = {(kind, month): backfill(settings, audit, kind, month) for kind, month in wanted}
    audit.close()
    return Monitored(env, backfilled, run_json("monitor", "outcomes", env=env))


def _month(report: dict, kind: str, month: str) -> dict:
    [model] = [m for m in report["models"] if m["model"] == NAMES[kind]]
    [found] = [m for m in model["months"] if m["month"] == month]
    return found


def _offline_auc(env: dict[str, str], bank: Path, kind: str, month: str, customers: list[str]) -> tuple[float, int]:
    """ROC AUC and row count of the champion on these customers' labelled rows at the month's start,
    computed without the report's code: labels by `sources.labels`, features by Feast's join."""
    from features.repo.store import open_store
    from features.training_set import LABEL_SERVICES, training_set
    from models.registry import connect, load_risk
    from sources import labels
    from sources.io import read_table

    settings = settings_from(env)
    as_of = pd.Timestamp(f"{month}-01")
    if kind == "churn":
        t = {n: read_table(bank, n, customers) for n in ("customers", "events", "transactions", "holdings")}
        activity = labels.monthly_activity(t["events"], t["transactions"], t["holdings"])
        labelled = labels.churn_labels(t["customers"], activity, as_of)
    else:
        labelled = labels.delinquency_labels(read_table(bank, "credit", customers), as_of)
    rows = pd.DataFrame({"customer_id": labelled["customer_id"], "event_timestamp": as_of.tz_localize("UTC")})
    store = open_store(settings)
    frame = training_set(store, store.get_feature_service(LABEL_SERVICES[kind]), rows)
    connect(settings.mlflow)
    scorer = load_risk(f"models:/{NAMES[kind]}@champion")
    frame = frame.merge(labelled[["customer_id", kind]], on="customer_id")
    return roc_auc(frame[kind].astype(int), scorer.probability(frame)), len(frame)


def _audited_customers(env: dict[str, str], kind: str, month: str) -> list[str]:
    from serving.audit.store import AuditStore, decisions

    start = pd.Timestamp(f"{month}-01", tz="UTC")
    audit = AuditStore(settings_from(env).audit_url)
    with audit.engine.connect() as conn:
        found = conn.execute(decisions.select().where(
            decisions.c.kind == kind, decisions.c.created_at >= start.to_pydatetime(),
            decisions.c.created_at < (start + pd.DateOffset(months=1)).to_pydatetime())).all()
    audit.close()
    return sorted({row.customer_id for row in found})


@pytest.mark.parametrize(("kind", "month"), [(k, m) for k, months in MATURED.items() for m in months])
def test_realised_auc_equals_an_offline_evaluation(monitored: Monitored, bank_dir: Path, kind: str,
                                                   month: str) -> None:
    reported = _month(monitored.report, kind, month)
    customers = _audited_customers(monitored.env, kind, month)
    assert len(customers) == monitored.backfilled[(kind, month)]["decisions"] == reported["scored"] > 1000
    offline, rows = _offline_auc(monitored.env, bank_dir, kind, month, customers)
    assert reported["matured"] is True
    assert reported["n"] == rows and 0 < reported["positives"] < rows
    assert round(reported["roc_auc"], 3) == round(offline, 3)
    assert 0 < reported["ks"] < 1
    bands = reported["bands"]
    assert sum(b["n"] for b in bands) == rows
    assert sum(b["observed"] * b["n"] for b in bands) == pytest.approx(reported["positives"])


def test_development_figures_are_the_champions_run(monitored: Monitored, trained: Trained) -> None:
    for kind in MATURED:
        [model] = [m for m in monitored.report["models"] if m["model"] == NAMES[kind]]
        run = trained.runs[kind]
        assert model["version"] == str(run["model_version"])
        assert model["development"]["roc_auc"] == pytest.approx(run["metrics"]["roc_auc"])
        logged_ks = run["metrics"].get("ks")  # delinquency's run logs a KS, churn's none
        assert model["development"]["ks"] == (None if logged_ks is None else pytest.approx(logged_ks))
        assert [m["month"] for m in model["months"]] == sorted(m["month"] for m in model["months"])


def test_a_month_whose_outcome_window_runs_past_the_data_is_not_matured(monitored: Monitored) -> None:
    reported = _month(monitored.report, *UNMATURED)
    assert reported["matured"] is False
    assert reported["roc_auc"] is None and reported["ks"] is None and reported["bands"] == []
    assert reported["n"] == reported["scored"] > 1000
    assert "2026-12" in reported["note"]


def test_backfilled_decisions_look_like_the_services(monitored: Monitored) -> None:
    from serving.audit.store import AuditStore

    audit = AuditStore(settings_from(monitored.env).audit_url)
    customer = _audited_customers(monitored.env, "delinquency", "2025-06")[0]
    decisions = audit.decisions_for(customer)
    audit.close()
    by_month = {(d.kind, f"{d.created_at:%Y-%m}"): d for d in decisions}
    churn, delinquency = by_month[("churn", "2025-06")], by_month[("delinquency", "2025-06")]
    assert churn.created_at == pd.Timestamp("2025-06-01", tz="UTC") and churn.variant == "champion"
    assert churn.model_versions == {"nbo-churn": {"alias": "champion",
                                                  "version": str(monitored.backfilled[("churn", "2025-06")]["version"])}}
    assert 0 <= churn.payload["answer"]["probability"] <= 1 and churn.payload["answer"]["band"]
    assert 0 <= delinquency.payload["answer"]["pd"] <= 1 and delinquency.payload["answer"]["band"]
    features = delinquency.payload["features"]
    assert len(features) > 10 and all(set(f) == {"value", "at"} for f in features.values())
    assert {f["at"] for f in features.values()} - {None} == {"2025-06-01 00:00:00+00:00"}


def test_bad_input_is_a_clear_error(monitored: Monitored, tmp_path: Path) -> None:
    from nbo.errors import ContractViolation, InputFileError
    from serving.audit.store import AuditStore
    from serving.monitoring.backfill import backfill
    from serving.monitoring.outcomes import outcomes_report

    proc = run_cli("monitor", "backfill", "--model", "churn", "--month", "2025-13", "--json", env=monitored.env,
                   check=False)
    assert proc.returncode == 2 and "not a month" in json.loads(proc.stdout)["message"]
    assert "Traceback" not in proc.stderr
    settings = settings_from(monitored.env)
    audit = AuditStore(settings.audit_url)
    try:
        for kind, month, says in (("churn", "June", "not a month"), ("churn", "2024-12", "cannot be scored"),
                                  ("churn", "2027-01", "cannot be scored"), ("recommender", "2025-06", "not one of")):
            with pytest.raises(ContractViolation, match=says):
                backfill(settings, audit, kind, month)
        with pytest.raises(InputFileError, match="customers"):
            outcomes_report(settings.model_copy(update={"data_dir": tmp_path}), audit)
    finally:
        audit.close()


def test_outcomes_text_is_a_table(monitored: Monitored) -> None:
    from serving.monitoring.outcomes_cli import outcomes_text

    lines = outcomes_text(monitored.report).splitlines()
    assert any(line.split()[:2] == ["2025-06", str(_month(monitored.report, "churn", "2025-06")["scored"])]
               for line in lines)
    assert any(line.strip().startswith("2026-10") and line.endswith("not matured") for line in lines)
