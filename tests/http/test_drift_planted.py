"""Drift planted in served traffic is seen, and the same month without it stays stable over 20 seeds.

A month is MONTH_CUSTOMERS customers of the churn champion's development sample (the session bank's
point-in-time training set from Feast, split as its run split it; customer-month rows drawn at random),
scored one by one (four at a time) through the real `RiskService.churn` (scorer, answer, audit) into a SQLite
AuditStore of its own, then read back by `drift_report`. The service's online reader is replaced by
one that serves those rows: today's online features are a year and more past the development window
and drift for real (see README), so they cannot be the month "without the change". In the drifted
month every income feature (`income_monthly_cny`, the salary credits) is halved for everyone.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from features.online.reader import OnlineFeatures
from models.registry import CHURN
from nbo.errors import CustomerNotFound
from nbo.settings import Settings
from serving.audit.store import AuditStore, sqlite_url
from serving.decisions.risk import RiskPolicy, RiskService
from serving.monitoring.drift import drift_report
from serving.runtime import Runtime, load_runtime
from tests.conftest import Trained, settings_from
from training.datasets import load_training_set
from training.risk.fit import RISK_MODELS
from training.splits import split_training_set

MONTH_CUSTOMERS = 300  # customers scored in a month
SEEDS = 20
INCOME_WORDS = ("income", "salary")


def is_income(feature: str) -> bool:
    return any(word in feature for word in INCOME_WORDS)


class DevelopmentRows:
    """Serves rows of a feature frame by their `key` as the online reader serves customers: value and
    event time of each feature, None for a missing value."""

    def __init__(self, frame: pd.DataFrame, features: list[str]):
        self.rows = {str(r["key"]): r for r in frame.to_dict("records")}
        self.features = features

    def read_customer(self, customer_id: str, now: datetime | None = None) -> OnlineFeatures:  # noqa: ARG002
        row = self.rows.get(customer_id)
        if row is None:
            raise CustomerNotFound(f"customer {customer_id!r} is not in this month")
        values = {n: None if _missing(row[n]) else row[n] for n in self.features}
        return OnlineFeatures(customer_id, values, dict.fromkeys(self.features, row["as_of"]), ())


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def development_sample(settings: Settings, bank_dir: Path) -> pd.DataFrame:
    """The churn run's development sample (train and validation parts), rebuilt as `nbo train` builds it."""
    model = RISK_MODELS["churn"]
    data = load_training_set(settings, model.label, bank_dir)
    split = split_training_set(data.frame, model.label, 0)  # the seed of `nbo train --fast`
    return pd.concat([split.train, split.valid], ignore_index=True)


def month_rows(development: pd.DataFrame, seed: int) -> pd.DataFrame:
    """MONTH_CUSTOMERS rows of the development sample drawn at random (a customer's as-of rows are
    different rows: each is served under its own key, `customer_id/as-of month`)."""
    rows = development.sample(MONTH_CUSTOMERS, random_state=seed)
    return rows.assign(
        key=rows["customer_id"].astype(str) + "/" + rows["as_of"].dt.strftime("%Y-%m")
    )


def score_month(runtime: Runtime, settings: Settings, rows: pd.DataFrame, path: Path) -> dict:
    """Score the month's customers through `RiskService.churn`, audit them, and report its drift."""
    features = runtime.risk_model(CHURN, "champion").scorer.spec.features
    audit = AuditStore(sqlite_url(path))
    try:
        service = RiskService(
            replace(runtime, reader=DevelopmentRows(rows, features)), audit, RiskPolicy()
        )
        with ThreadPoolExecutor(
            max_workers=4
        ) as pool:  # as the service's thread pool calls it; commits are shared
            list(pool.map(lambda key: service.churn(key, "en", path.stem), rows["key"]))
        report = drift_report(settings, audit)
    finally:
        audit.close()
    assert report["unreferenced"] == []
    [entry] = report["models"]
    assert entry["n"] == len(rows)
    return entry


@dataclass(frozen=True)
class Months:
    drifted: dict
    stable: list[dict]
    features: list[str]


def build_months(settings: Settings, bank_dir: Path, out: Path) -> Months:
    runtime = load_runtime(settings)
    development = development_sample(settings, bank_dir)
    features = runtime.risk_model(CHURN, "champion").scorer.spec.features
    drifted_rows = month_rows(development, 0)
    incomes = [f for f in features if is_income(f)]
    drifted_rows[incomes] = drifted_rows[incomes] * 0.5
    drifted = score_month(runtime, settings, drifted_rows, out / "drifted.db")
    stable = [
        score_month(runtime, settings, month_rows(development, seed), out / f"stable-{seed}.db")
        for seed in range(1, SEEDS + 1)
    ]
    return Months(drifted, stable, features)


@pytest.fixture(scope="module")
def months(trained: Trained, bank_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Months:
    return build_months(
        settings_from(trained.env), bank_dir, tmp_path_factory.mktemp("drift-months")
    )


def test_halved_incomes_reach_act_in_the_income_features(months: Months):
    incomes = {f["feature"]: f for f in months.drifted["features"] if is_income(f["feature"])}
    assert "income_monthly_cny" in incomes, f"the churn model reads no income: {months.features}"
    for feature in incomes.values():
        assert (
            feature["verdict"] == "act" and feature["csi"] >= 0.25 and feature["p_value"] < 0.001
        ), feature
    assert months.drifted["verdict"] == "act"


def test_halved_incomes_move_the_score_beyond_any_stable_month(months: Months):
    """The session's churn champion leans little on income: the score's PSI moves past every stable
    month's and its test rejects, to `investigate` (README gives the figure), not to `act`."""
    score = months.drifted["score"]
    assert score["psi"] > max(m["score"]["psi"] for m in months.stable), score
    assert score["p_value"] <= 0.001 and score["verdict"] in {"investigate", "act"}, score


def test_the_same_month_without_the_change_stays_stable_over_20_seeds(months: Months):
    assert [m["score"]["verdict"] for m in months.stable] == ["stable"] * SEEDS
    flagged = [
        (m["month"], f["feature"], f["csi"])
        for m in months.stable
        for f in m["features"]
        if f["verdict"] != "stable"
    ]
    assert flagged == []  # README: the false-alarm rate, 0 of 20 × (1 + features) indices
    assert [m["verdict"] for m in months.stable] == ["stable"] * SEEDS


def test_a_version_without_a_reference_is_reported_as_such(trained: Trained, tmp_path: Path):
    audit = AuditStore(sqlite_url(tmp_path / "old.db"))
    try:
        audit.record_decision(
            kind="churn",
            customer_id="O0000000001",
            request_id="r1",
            variant="champion",
            model_versions={CHURN: {"alias": "champion", "version": "999"}},
            payload={"answer": {"probability": 0.2}, "features": {}},
        )
        report = drift_report(settings_from(trained.env), audit)
    finally:
        audit.close()
    assert report["models"] == []
    [entry] = report["unreferenced"]
    assert (entry["model"], entry["version"], entry["n"]) == (CHURN, "999", 1)
    assert "no drift reference" in entry["message"]
