"""The audit store on real SQLite (WAL) and real PostgreSQL: durable, queryable, feedback tied."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.audit.store import (
    AuditStore,
    DecisionNotFound,
    InvalidContact,
    NotAnOfferDecision,
    ProductNotInDecision,
    sqlite_url,
)
from tests.conftest import private_database


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AuditStore]:
    """An empty audit per test: its own SQLite file, or its own PostgreSQL database (no order dependence)."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = sqlite_url(tmp_path / "audit.db")
        else:
            url = stack.enter_context(private_database("nbo_audit"))
        audit = AuditStore(url)
        yield audit
        audit.close()


def _decide(store: AuditStore, customer: str = "C00000001") -> str:
    return store.record_decision(kind="offers", customer_id=customer, request_id="r-1", variant="champion",
                                 model_versions={"nbo-recommender": "3"},
                                 payload={"answer": {"offers": [{"product_id": "FUND_BOND"}]}, "reason": "近30天浏览基金页面"}
                                 ).decision_id


def test_a_decision_reads_back_whole_by_id_and_by_customer(store: AuditStore) -> None:
    decision_id = _decide(store)
    _decide(store, "C00000002")
    got = store.get_decision(decision_id)
    assert got.payload["reason"] == "近30天浏览基金页面"
    assert got.model_versions == {"nbo-recommender": "3"}
    assert [d.decision_id for d in store.decisions_for("C00000001")] == [decision_id]


def test_feedback_is_tied_to_a_decision_and_unknown_ids_are_refused(store: AuditStore) -> None:
    decision_id = _decide(store)
    store.record_feedback(decision_id, "FUND_BOND", "shown")
    store.record_feedback(decision_id, "FUND_BOND", "accepted")
    assert [f["outcome"] for f in store.feedback_for(decision_id)] == ["shown", "accepted"]
    with pytest.raises(DecisionNotFound):
        store.record_feedback("no-such-decision", "FUND_BOND", "clicked")
    with pytest.raises(ValueError, match="outcome must be one of"):
        store.record_feedback(decision_id, "FUND_BOND", "loved")


def _trigger(store: AuditStore, offers: list[str]) -> str:
    return store.record_decision(kind="trigger", customer_id="C00000001", request_id="r", variant="rules",
                                 model_versions={}, payload={"answer": {"offers": [{"product_id": p} for p in offers]}}
                                 ).decision_id


def test_feedback_must_name_a_product_of_an_offer_decision(store: AuditStore) -> None:
    """Every caller (the API and the workbench buttons) records through here: the rule lives here."""
    with_offer, without = _trigger(store, ["FUND_BOND"]), _trigger(store, [])
    churn = store.record_decision(kind="churn", customer_id="C00000001", request_id="r", variant="champion",
                                  model_versions={}, payload={"probability": 0.4}).decision_id
    store.record_feedback(with_offer, "FUND_BOND", "accepted")
    with pytest.raises(ProductNotInDecision, match="MORTGAGE is not among the offers of decision"):
        store.record_feedback(with_offer, "MORTGAGE", "accepted")
    for decision_id in (without, churn):
        with pytest.raises(NotAnOfferDecision, match="not an offer decision"):
            store.record_feedback(decision_id, "FUND_BOND", "accepted")
    assert [len(store.feedback_for(d)) for d in (with_offer, without, churn)] == [1, 0, 0]


def test_concurrent_writers_lose_nothing(store: AuditStore) -> None:
    before = store.count("offers")
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda i: _decide(store, f"C{i:08d}"), range(200)))
    assert len(set(ids)) == 200
    assert store.count("offers") - before == 200


def test_sqlite_runs_in_wal_mode_and_survives_a_new_process(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    audit = AuditStore(sqlite_url(path))
    decision_id = _decide(audit)
    audit.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT count(*) FROM nbo_decisions WHERE decision_id = ?", (decision_id,)).fetchone()[0] == 1


def test_concurrent_decisions_share_commits_and_each_caller_sees_its_own_row(tmp_path: Path) -> None:
    import sqlalchemy as sa

    audit = AuditStore(sqlite_url(tmp_path / "audit.db"))
    commits = []
    sa.event.listen(audit.engine, "commit", lambda _conn: commits.append(1))
    with ThreadPoolExecutor(max_workers=8) as pool:  # each caller reads its row back on return
        found = list(pool.map(lambda i: audit.get_decision(_decide(audit, f"C{i:08d}")).customer_id, range(400)))
    assert found == [f"C{i:08d}" for i in range(400)]
    assert audit.count("offers") == 400
    assert len(commits) < 400  # grouped: fewer commits than decisions
    audit.close()


def test_a_failed_group_commit_reaches_its_caller_and_stores_nothing(tmp_path: Path) -> None:
    audit = AuditStore(sqlite_url(tmp_path / "audit.db"))
    payload = {"not_json_safe": object()}  # json.dumps(default=str) copes; a duplicate key does not
    first = audit.record_decisions(kind="offers", request_id="r", variant="champion", model_versions={},
                                   entries=[("C00000001", payload)])[0]
    from serving.audit.store import decisions

    with pytest.raises(Exception, match="UNIQUE|unique|IntegrityError"):
        audit._writer.insert(decisions, [{"decision_id": first.decision_id, "request_id": "r", "kind": "offers",
                                          "customer_id": "C00000002", "created_at": first.created_at,
                                          "variant": "champion", "model_versions": "{}", "payload": "{}"}])
    assert audit.count("offers") == 1
    audit.close()


def test_payloads_read_back_as_json_dumps_wrote_them_and_the_database_reads_them(store: AuditStore) -> None:
    """Payloads are written by orjson: they parse to what `json.dumps(default=str)` wrote, and
    SQLite's json_extract or PostgreSQL's jsonb (the campaign report's SQL) read them."""
    import json
    from datetime import UTC, date, datetime

    import numpy as np
    import sqlalchemy as sa

    at = datetime(2026, 12, 1, tzinfo=UTC)
    payload = {"answer": {"pd": 1e-05, "score": 616, "band": "C", "freshness": {"oldest_feature_at": at},
                          "reason_codes": [{"code": "R035", "text": "近90天交易 25 笔"}]},
               "channel": "app", "features": {"aum_cny": {"value": np.float64(8527.25), "at": str(at)},
                                              "txn_count_30d": {"value": np.int64(3), "at": at},
                                              "birth_date": {"value": date(1990, 5, 17), "at": None},
                                              "naive": {"value": datetime(2026, 1, 2, 3, 4, 5, 6), "at": [1, (2, 3)]}}}
    [decision] = store.record_decisions(kind="delinquency", request_id="r", variant="champion",
                                        model_versions={"nbo-delinquency": {"alias": "champion", "version": "2"}},
                                        entries=[("C00000001", payload)])
    got = store.get_decision(decision.decision_id)
    assert got.payload == json.loads(json.dumps(payload, default=str, ensure_ascii=False))
    assert got.payload["features"]["aum_cny"]["value"] == 8527.25
    assert got.payload["answer"]["freshness"]["oldest_feature_at"] == "2026-12-01 00:00:00+00:00"
    assert got.model_versions == {"nbo-delinquency": {"alias": "champion", "version": "2"}}
    path = ("json_extract(payload, '$.answer.reason_codes[0].text')" if store.engine.dialect.name == "sqlite"
            else "CAST(payload AS jsonb)->'answer'->'reason_codes'->0->>'text'")
    with store.engine.connect() as conn:
        text = conn.execute(sa.text(f"SELECT {path} FROM nbo_decisions WHERE decision_id = :d"),
                            {"d": decision.decision_id}).scalar_one()
    assert text == "近90天交易 25 笔"


def test_a_logged_contact_reads_back_newest_first_and_bad_ones_are_refused(store: AuditStore) -> None:
    first = store.record_contact("C00000001", "not_reached", recorded_by="abc")
    second = store.record_contact("C00000001", "interested", note="  想了解定期存款，下周再约  ",
                                  product_id="DEP_TIME_1Y", recorded_by="abc")
    store.record_contact("C00000002", "reached", recorded_by="abc")
    got = store.contacts_for("C00000001")
    assert [c["contact_id"] for c in got] == [second["contact_id"], first["contact_id"]]
    assert (got[0]["outcome"], got[0]["note"], got[0]["product_id"]) == ("interested", "想了解定期存款，下周再约",
                                                                         "DEP_TIME_1Y")
    assert got[1]["note"] is None and got[1]["product_id"] is None and got[0]["created_at"].tzinfo is not None
    store.record_contact("C00000003", "declined", note="长" * 500, recorded_by="abc")  # exactly the limit
    for outcome, kwargs, message in [("hung_up", {}, "is not one of reached"),
                                     ("reached", {"note": "长" * 501}, "501 characters; at most 500"),
                                     ("declined", {"product_id": "drop table"}, "is not a product id"),
                                     ("reached", {"note": "a\x00b"}, "NUL character")]:
        with pytest.raises(InvalidContact, match=message):
            store.record_contact("C00000004", outcome, recorded_by="abc", **kwargs)
    assert store.contacts_for("C00000004") == []


def test_declined_products_are_dismissals_and_declined_calls_within_the_window(store: AuditStore) -> None:
    since = datetime.now(UTC) - timedelta(days=30)
    decision_id = store.record_decision(
        kind="offers", customer_id="C00000001", request_id="r", variant="champion", model_versions={},
        payload={"answer": {"offers": [{"product_id": p} for p in ("FUND_BOND", "INS_HEALTH", "GOLD_ACCUM")]}}
    ).decision_id
    store.record_feedback(decision_id, "FUND_BOND", "dismissed")
    store.record_feedback(decision_id, "INS_HEALTH", "accepted")
    store.record_contact("C00000001", "declined", product_id="MORTGAGE", recorded_by="abc")
    store.record_contact("C00000001", "declined", recorded_by="abc")  # no product: history only
    store.record_contact("C00000001", "interested", product_id="GOLD_ACCUM", recorded_by="abc")
    store.record_contact("C00000002", "declined", product_id="CC_CLASSIC", recorded_by="abc")
    assert store.declined_products("C00000001", since) == {"FUND_BOND", "MORTGAGE"}
    assert store.declined_products("C00000001", datetime.now(UTC) + timedelta(seconds=1)) == frozenset()
    assert [(f["product_id"], f["outcome"]) for f in store.customer_feedback("C00000001")] == [
        ("INS_HEALTH", "accepted"), ("FUND_BOND", "dismissed")]


def test_high_risk_customers_are_those_whose_latest_score_is_high(store: AuditStore) -> None:
    def score(customer: str, band: str) -> str:
        return store.record_decision(kind="churn", customer_id=customer, request_id="r", variant="champion",
                                     model_versions={}, payload={"answer": {"band": band, "probability": 0.5},
                                                                 "features": {"band_x": "high"}}).decision_id

    score("C00000001", "high")
    score("C00000001", "low")  # no longer high
    score("C00000002", "medium")
    high = score("C00000002", "high")
    store.record_decision(kind="delinquency", customer_id="C00000003", request_id="r", variant="champion",
                          model_versions={}, payload={"answer": {"band": "high"}})
    since = datetime.now(UTC) - timedelta(days=30)
    assert [d.decision_id for d in store.latest_in_bands("churn", ("high",), since)] == [high]
    assert store.latest_in_bands("churn", ("high",), datetime.now(UTC) + timedelta(seconds=1)) == []
