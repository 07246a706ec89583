"""The campaign sends table on real SQLite and real PostgreSQL: one row per campaign, customer and day
(of concurrent claims exactly one wins), the contract's columns and dtypes, cost so far and the summary."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest

from nbo.databases import audit_engine
from serving.audit.store import sqlite_url
from serving.campaigns.sends import COLUMNS, HELD_OUT, REFUSED, SENT, CampaignSends, Outcome
from tests.conftest import private_database

DAY = date(2026, 11, 3)


@pytest.fixture(params=["sqlite", "postgresql"])
def sends(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CampaignSends]:
    with ExitStack() as stack:
        url = sqlite_url(tmp_path / "audit.db") if request.param == "sqlite" else \
            stack.enter_context(private_database("nbo_sends"))
        engine = audit_engine(url)
        yield CampaignSends(engine)
        engine.dispose()


def test_one_claim_per_customer_and_day_and_the_contract_frame(sends: CampaignSends) -> None:
    with ThreadPoolExecutor(8) as pool:
        claims = list(pool.map(lambda _: sends.claim("c1", 2, DAY, "C00000001", "main", "dormant"), range(8)))
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    at = datetime(2026, 11, 3, 2, 30, tzinfo=UTC)
    sends.settle(won[0], Outcome(SENT, "sms", "DEP_TIME_1Y", at, 0.05, None, "d1", None, {"message_en": "hi"}))
    held = sends.claim("c1", 2, DAY, "C00000002", "control", None)
    assert held is not None
    sends.settle(held, Outcome(HELD_OUT))
    pending = sends.claim("c1", 2, DAY, "C00000003", "main", "new")
    assert pending is not None
    assert len(sends.frame("c1")) == 2  # a claim not yet settled is not in the frame
    sends.release(pending)
    again = sends.claim("c1", 2, DAY, "C00000003", "main", "new")  # released: claimable again
    assert again is not None
    sends.settle(again, Outcome(REFUSED, reason="budget_spent"))
    assert sends.claim("c1", 2, date(2026, 11, 5), "C00000003", "main", "new") is not None  # another day

    frame = sends.frame("c1")
    assert tuple(frame.columns) == COLUMNS and len(frame) == 3
    assert frame["day"].dtype == "datetime64[ns]" and str(frame["send_at"].dtype) == "datetime64[ns, UTC]"
    row = frame.iloc[0]
    assert (row["customer_id"], row["status"], row["send_at"], row["cost_cny"]) == \
        ("C00000001", "sent", pd.Timestamp(at), 0.05)
    assert sends.done_customers("c1") == {"C00000001", "C00000002"}
    assert sends.done_customers("c1", other_than=DAY) == set()  # a rerun of the day: its claims decide
    assert sends.cost_so_far("c1") == pytest.approx(0.05) and sends.cost_so_far("other") == 0
    assert sends.rows("c1", DAY)["detail"].iloc[0] == {"message_en": "hi"}
    summary = sends.summary("c1")
    assert summary["by_status"] == {"held_out": 1, "refused": 1, "sent": 1} and summary["customers"] == 3
    assert {(g["channel"], g["status"], g["customers"]) for g in summary["groups"]} == \
        {("sms", "sent", 1), (None, "held_out", 1), (None, "refused", 1)}
