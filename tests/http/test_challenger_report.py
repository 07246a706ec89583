"""`nbo report challenger`: offer decisions served by champion and challenger, joined with feedback.

The test runs the real app with NBO_SERVICE__CHALLENGER_SHARE=0.5 on its own copy of the session's
MLflow store (where the recommender's version 1 also gets the `challenger` alias; the shared store
is not touched) and its own audit database, makes decisions, posts feedback, and checks the
report's counts exactly, its intervals and p-value against scipy.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import scipy.stats as st
from fastapi.testclient import TestClient

from evaluation.proportions import two_proportion_z_test, wilson_interval
from serving.app import create_app
from serving.audit.store import sqlite_url
from tests.conftest import private_mlflow_store, run_cli, run_json, settings_from
from tests.http.conftest import consenting_active
from training.registry import connect


@pytest.fixture(scope="module")
def challenger_env(trained, tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("challenger")
    env = trained.env | private_mlflow_store(trained, tmp) | {"NBO_SERVICE__CHALLENGER_SHARE": "0.5",
                         "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "audit.db")}
    connect(settings_from(env).mlflow).set_registered_model_alias("nbo-recommender", "challenger", "1")
    return env


@pytest.fixture(scope="module")
def client(challenger_env) -> Iterator[TestClient]:
    with TestClient(create_app(settings_from(challenger_env)), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def customers(bank_dir) -> list[str]:
    return consenting_active(bank_dir, 36)


def test_the_report_counts_decisions_and_feedback_per_variant(client, challenger_env, customers, trained) -> None:
    app, rm = {"X-API-Key": trained.keys["app"]}, {"X-API-Key": trained.keys["rm"]}
    decisions: dict[str, int] = defaultdict(int)
    pairs: dict[str, dict[tuple[str, str], set[str]]] = defaultdict(dict)
    seen_variant: dict[str, str] = {}

    def post(decision: str, product: str, outcome: str, variant: str) -> None:
        response = client.post(f"/v1/offers/{decision}/feedback", json={"product_id": product, "outcome": outcome},
                               headers=app)
        assert response.status_code == 201, response.text
        pairs[variant].setdefault((decision, product), set()).add(outcome)

    for i, customer in enumerate(customers + customers[:6]):  # six customers asked twice
        response = client.get(f"/v1/customers/{customer}/offers", params={"k": 3}, headers=app)
        assert response.status_code == 200, response.text
        body = response.json()
        variant = body["variant"]
        assert seen_variant.setdefault(customer, variant) == variant, "the split must be stable per customer"
        assert body["model_versions"]["nbo-recommender"] == "1"
        decisions[variant] += 1
        offers = [o["product_id"] for o in body["offers"]]
        if not offers:
            continue
        offers.append(offers[-1])  # a customer with a single suitable offer: "the second" is the first
        plan = i % 5
        if plan == 0:  # shown and accepted
            post(body["decision_id"], offers[0], "shown", variant)
            post(body["decision_id"], offers[0], "accepted", variant)
        elif plan == 1:  # shown, clicked; a second offer dismissed
            post(body["decision_id"], offers[0], "shown", variant)
            post(body["decision_id"], offers[0], "clicked", variant)
            post(body["decision_id"], offers[1], "dismissed", variant)
        elif plan == 2:  # shown twice (counts once), and a second offer accepted without a 'shown'
            post(body["decision_id"], offers[0], "shown", variant)
            post(body["decision_id"], offers[0], "shown", variant)
            post(body["decision_id"], offers[1], "accepted", variant)
        elif plan == 3:  # shown only
            post(body["decision_id"], offers[1], "shown", variant)
        # plan 4: no feedback at all
    # feedback on a churn score is not an offer outcome: refused, so the report never sees it
    churn = client.get(f"/v1/customers/{customers[0]}/churn", headers=rm).json()
    refused = client.post(f"/v1/offers/{churn['decision_id']}/feedback",
                          json={"product_id": "FUND_BOND", "outcome": "accepted"}, headers=app)
    assert refused.status_code == 422, refused.text

    assert decisions["champion"] > 0 and decisions["challenger"] > 0, decisions

    report = run_json("report", "challenger", env=challenger_env)
    assert set(report["variants"]) == {"champion", "challenger"}
    for variant in ("champion", "challenger"):
        got = report["variants"][variant]
        shown = len(pairs[variant])
        accepted = sum("accepted" in o for o in pairs[variant].values())
        expected = {
            "decisions": decisions[variant],
            "offers_shown": shown,
            "clicked": sum("clicked" in o for o in pairs[variant].values()),
            "accepted": accepted,
            "dismissed": sum("dismissed" in o for o in pairs[variant].values()),
        }
        assert {k: got[k] for k in expected} == expected, variant
        assert got["acceptance_rate"] == pytest.approx(accepted / shown)
        ci = st.binomtest(accepted, shown).proportion_ci(confidence_level=0.95, method="wilson")
        assert got["acceptance_ci95"] == pytest.approx([ci.low, ci.high])

    ch, cp = report["variants"]["challenger"], report["variants"]["champion"]
    pooled = (ch["accepted"] + cp["accepted"]) / (ch["offers_shown"] + cp["offers_shown"])
    z = (ch["acceptance_rate"] - cp["acceptance_rate"]) / math.sqrt(
        pooled * (1 - pooled) * (1 / ch["offers_shown"] + 1 / cp["offers_shown"]))
    assert report["comparison"]["z"] == pytest.approx(z)
    assert report["comparison"]["p_value"] == pytest.approx(2 * st.norm.sf(abs(z)))
    assert report["comparison"]["difference"] == pytest.approx(ch["acceptance_rate"] - cp["acceptance_rate"])

    # --since filters by decision time; the text form names both variants
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    assert run_json("report", "challenger", "--since", yesterday, env=challenger_env)["variants"] == report["variants"]
    later = run_json("report", "challenger", "--since", tomorrow, env=challenger_env)
    assert later["variants"] == {} and later["comparison"] is None
    text = run_cli("report", "challenger", env=challenger_env).stdout
    assert "champion" in text and "challenger" in text and "p = " in text
    bad = run_cli("report", "challenger", "--since", "last tuesday", env=challenger_env, check=False)
    assert bad.returncode == 2 and "since" in bad.stderr


def test_known_answers() -> None:
    """30/100 vs 20/100: z = 1.633, p = 0.1025 (pooled); Wilson 95% for 30/100 = 0.2189-0.3958."""
    z, p = two_proportion_z_test(30, 100, 20, 100)
    assert z == pytest.approx(1.6329931618554518) and p == pytest.approx(0.10247043485974941)
    assert wilson_interval(30, 100) == pytest.approx((0.21894885294932764, 0.39584854633346667))
    assert wilson_interval(0, 0) is None and two_proportion_z_test(0, 0, 1, 2) is None
    assert two_proportion_z_test(0, 10, 0, 10) is None  # no acceptances anywhere: undefined
