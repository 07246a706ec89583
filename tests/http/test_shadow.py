"""The shadow stage: a `shadow` version scores every decision beside the answer and never answers.

Two apps on the same feature store, each with its own audit database: one on the session's MLflow
store (no shadow), one on a copy where `shadow` points at each model's champion version. The same
1,000 requests (churn, delinquency, offers; then one batch of delinquency scores) get the same
answers from both, every decision of the
second carries the shadow's scores (equal to the answer's: the same version), none of the first
does, and `nbo report shadow` finds full agreement.
"""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient

from models.registry import load_alias
from serving.app import create_app
from serving.audit.store import AuditStore, sqlite_url
from serving.decisions.shadow import risk_shadow
from serving.runtime import RiskModel
from sources.io import read_table
from tests.conftest import private_mlflow_store, run_cli, run_json, settings_from
from training.registry import connect

MODELS = ("nbo-churn", "nbo-delinquency", "nbo-recommender")
REQUESTS = 1000
BATCH = 20


@pytest.fixture(scope="module")
def envs(trained, tmp_path_factory) -> dict[str, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("shadow")
    plain = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "plain.db")}
    shadowed = trained.env | private_mlflow_store(trained, tmp) | {
        "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "shadowed.db")}
    client = connect(settings_from(shadowed).mlflow)
    for name in MODELS:
        champion = client.get_model_version_by_alias(name, "champion").version
        client.set_registered_model_alias(name, "shadow", str(champion))
    return {"plain": plain, "shadowed": shadowed}


@pytest.fixture(scope="module")
def customers(bank_dir) -> list[str]:
    return sorted(read_table(bank_dir, "customers")["customer_id"])


@pytest.fixture(scope="module")
def requests(customers) -> list[tuple[str, str]]:
    """1,000 (path, role) pairs: offers, churn and delinquency of customers of the session bank."""
    rng = random.Random(23)
    kinds = [("offers", "app"), ("churn", "rm"), ("delinquency", "risk")]
    return [(f"/v1/customers/{rng.choice(customers)}/{kind}", role)
            for kind, role in (kinds[i % 3] for i in range(REQUESTS))]


def _answers(env: dict[str, str], requests: list[tuple[str, str]], batch: list[str], keys: dict[str, str]
             ) -> list[dict]:
    """The answers without their decision ids: one per request, then the batch's scores."""
    with TestClient(create_app(settings_from(env)), raise_server_exceptions=False) as client:
        out = []
        for path, role in requests:
            response = client.get(path, headers={"X-API-Key": keys[role]})
            assert response.status_code == 200, (path, response.text)
            body = response.json()
            assert body.pop("decision_id")
            out.append(body)
        response = client.post("/v1/delinquency/batch", json={"customer_ids": batch},
                               headers={"X-API-Key": keys["risk"]})
        assert response.status_code == 200, response.text
        scores = response.json()["scores"]
        assert len(scores) == BATCH and all(s.pop("decision_id") for s in scores)
        return out + scores


@pytest.fixture(scope="module")
def answers(envs, requests, customers, trained) -> dict[str, list[dict]]:
    return {name: _answers(env, requests, customers[:BATCH], trained.keys) for name, env in envs.items()}


def _decisions(env: dict[str, str]) -> list:
    store = AuditStore(settings_from(env).audit_url)
    try:
        with store.engine.connect() as conn:
            ids = [row[0] for row in conn.exec_driver_sql("SELECT decision_id FROM nbo_decisions")]
        return [store.get_decision(i) for i in ids]
    finally:
        store.close()


def test_a_shadow_changes_no_answer_and_scores_every_request(envs, requests, answers) -> None:
    assert answers["shadowed"] == answers["plain"]
    assert sum(bool(a.get("offers")) for a in answers["plain"]) > 100  # offers were really made

    plain, shadowed = _decisions(envs["plain"]), _decisions(envs["shadowed"])
    assert len(plain) == len(shadowed) == REQUESTS + BATCH
    assert not any("shadow" in d.payload for d in plain)
    for d in shadowed:
        name = {"offers": "nbo-recommender", "churn": "nbo-churn", "delinquency": "nbo-delinquency"}[d.kind]
        entry = d.payload["shadow"][name]
        assert entry["version"] == d.model_versions[name]["version"] and "error" not in entry
        answer = d.payload["answer"]
        if d.kind == "churn":
            assert (entry["probability"], entry["band"]) == (answer["probability"], answer["band"])
        elif d.kind == "delinquency":
            assert (entry["pd"], entry["score"], entry["band"]) == (answer["pd"], answer["score"], answer["band"])
        elif answer["personalised"]:  # the same version offers the same products with the same scores
            assert [(o["product_id"], o["score"]) for o in entry["offers"]] == [
                (o["product_id"], o["score"]) for o in answer["offers"]]


def test_the_shadow_report_compares_on_the_same_requests(envs, answers) -> None:
    report = run_json("report", "shadow", env=envs["shadowed"])
    by_model = {m["model"]: m for m in report["models"]}
    assert set(by_model) == set(MODELS)
    for name, kind in (("nbo-churn", "churn"), ("nbo-delinquency", "delinquency")):
        m = by_model[name]
        n = sum(1 for a in answers["shadowed"] if ("probability" if kind == "churn" else "pd") in a)
        assert (m["kind"], m["n"], m["errors"]) == (kind, n, 0)
        assert m["rank_agreement"]["spearman"] == pytest.approx(1.0)
        assert m["band_agreement"]["share"] == 1.0
        assert m["champion"] == m["shadow"]
    rec = by_model["nbo-recommender"]
    personalised = [a for a in answers["shadowed"] if a.get("personalised") and a["offers"]]
    assert rec["n"] == len(personalised) and rec["top_offer_differs"] == 0.0 and rec["top_k_overlap"] == 1.0
    assert sum(rec["shadow_top_offers"].values()) == len(personalised)

    assert run_json("report", "shadow", env=envs["plain"])["models"] == []
    text = run_cli("report", "shadow", env=envs["shadowed"]).stdout
    assert "nbo-recommender" in text and "Spearman 1.000" in text
    bad = run_cli("report", "shadow", "--since", "yesterday-ish", env=envs["shadowed"], check=False)
    assert bad.returncode == 2 and "since" in bad.stderr


def test_a_shadow_that_fails_is_recorded_and_raises_nothing(trained) -> None:
    """A value the shadow cannot read (a text where it expects a number) is an `error` entry, not an error."""
    loaded = load_alias(settings_from(trained.env).mlflow, "nbo-delinquency", "champion")
    assert loaded is not None
    number = next(f for f in loaded.scorer.spec.features if f not in loaded.scorer.spec.categorical)
    good, bad = risk_shadow(RiskModel("shadow", loaded.scorer, loaded.ref), [{}, {number: "not a number"}])
    assert bad["shadow"]["nbo-delinquency"]["error"].startswith("NotPlainValue")
    assert good["shadow"]["nbo-delinquency"]["error"] == bad["shadow"]["nbo-delinquency"]["error"]  # one batch
