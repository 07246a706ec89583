"""The audit store on real SQLite (WAL) and real PostgreSQL: durable, queryable, feedback tied."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from serving.audit.store import (
    AuditStore,
    DecisionNotFound,
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
