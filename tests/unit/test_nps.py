"""NPS arithmetic on known scores, segments from the sends frame before the latest month, and the store's
idempotency on real SQLite and PostgreSQL audit databases; the campaign results partial renders from a
context dict."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from nbo.databases import audit_engine
from nbo.errors import Conflict
from serving.audit.store import sqlite_url
from serving.campaigns.results import campaign_results
from serving.nps.answers import NpsAnswer
from serving.nps.store import NpsStore
from serving.nps.summary import nps_of, nps_summary
from serving.routers.workbench import _templates
from serving.workbench.i18n import labels
from tests.conftest import private_database
from tests.unit.test_campaign_results import MARGINS, _spec, _world


def test_nps_of_known_scores() -> None:
    scores = pd.Series([10, 9, 9, 10, 9, 7, 8, 0, 6, 3])
    got = nps_of(scores)
    assert (got["promoters"], got["passives"], got["detractors"]) == (5, 2, 3)
    assert got["nps"] == pytest.approx(20.0)
    s = [1] * 5 + [0] * 2 + [-1] * 3
    sd = math.sqrt(sum((x - 0.2) ** 2 for x in s) / 9)
    assert got["ci95"] == pytest.approx((100 * (0.2 - 1.959964 * sd / math.sqrt(10)),
                                         100 * (0.2 + 1.959964 * sd / math.sqrt(10))), abs=1e-3)
    assert nps_of(pd.Series([10, 10]))["ci95"] == (100.0, 100.0)  # no spread: clipped to the top
    assert nps_of(pd.Series([5]))["ci95"] is None and nps_of(pd.Series([], dtype=int))["nps"] is None


def test_summary_groups_by_segment_channel_and_month() -> None:
    answers = pd.DataFrame({
        "customer_id": ["C1", "C1", "C2", "C3"], "score": [10, 2, 9, 8], "channel": ["sms", None, "sms", "wechat"],
        "campaign_id": ["camp", None, None, "camp"],
        "answered_at": pd.to_datetime(["2026-01-05", "2026-02-01", "2026-02-03", "2026-02-04"], utc=True)})
    s = nps_summary(answers, latest={"C1": "loyal", "C2": "champions"}, from_sends={("camp", "C1"): "new"})
    segments = {g["segment"]: (g["n"], g["nps"]) for g in s["by_segment"]}
    assert segments == {"new": (1, 100.0), "loyal": (1, -100.0), "champions": (1, 100.0), "unknown": (1, 0.0)}
    assert {g["channel"]: g["n"] for g in s["by_channel"]} == {"sms": 2, "unknown": 1, "wechat": 1}
    assert [(g["month"], g["n"]) for g in s["by_month"]] == [("2026-01", 1), ("2026-02", 3)]
    assert nps_summary(answers.iloc[:0])["overall"]["n"] == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NpsStore]:
    with ExitStack() as stack:
        url = sqlite_url(tmp_path / "audit.db") if request.param == "sqlite" else \
            stack.enter_context(private_database("nbo_nps"))
        engine = audit_engine(url)
        stack.callback(engine.dispose)
        yield NpsStore(engine)


def _answer(answer_id: str, score: int, **changes: object) -> NpsAnswer:
    return NpsAnswer.model_validate({"answer_id": answer_id, "customer_id": "C00000001", "score": score,
                                     "answered_at": datetime(2026, 3, 1, 8, tzinfo=UTC)} | changes)


def test_store_is_idempotent_and_never_overwrites(store: NpsStore) -> None:
    assert store.add([_answer("x1", 9), _answer("x2", 3, channel="sms", comment="慢")]) == {"added": 2, "unchanged": 0}
    assert store.add([_answer("x1", 9), _answer("x3", 7)]) == {"added": 1, "unchanged": 1}
    with pytest.raises(Conflict, match="x2"):
        store.add([_answer("x4", 5), _answer("x2", 3, channel="sms", comment="很慢")])
    with pytest.raises(Conflict, match="x5"):
        store.add([_answer("x5", 5), _answer("x5", 6)])
    frame = store.frame().set_index("answer_id")
    assert sorted(frame.index) == ["x1", "x2", "x3"] and frame.loc["x2", "comment"] == "慢"
    assert frame.loc["x1", "answered_at"] == pd.Timestamp("2026-03-01 08:00", tz="UTC")
    assert len(store.frame(since=datetime(2026, 3, 2, tzinfo=UTC))) == 0


def test_the_results_partial_renders_from_a_context_dict() -> None:
    sends, holdings = _world(600, 0.2, 0.05)
    results = campaign_results(_spec(), sends, holdings, MARGINS)
    env = _templates().env
    for lang, words in (("en", "A/B variants"), ("zh", "A/B测试方案")):
        html = env.get_template("campaign_results.html").render(r=results, t=labels(lang), lang=lang,
                                                                segment_names={})
        assert words in html and 'data-variant="B"' in html and 'data-channel="sms"' in html
        assert f'id="results-assigned">{results["assigned"]}<' in html
    empty = campaign_results(_spec(), sends.iloc[:0], holdings, MARGINS)
    html = env.get_template("campaign_results.html").render(r=empty, t=labels("en"), lang="en", segment_names={})
    assert 'id="results-none"' in html
