"""Leads: the blend and its refit on outcomes, assignment by capacity and skill, the roster's checks,
and the store's outcome moves on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.segments.rules import load_segment_rules
from nbo.databases import audit_engine
from nbo.errors import Conflict, ContractViolation, Forbidden, NotFound
from serving.audit.store import sqlite_url
from serving.leads.assign import NONE, OWN, SPARE, Assigner, Roster, assignment_reason, load_roster
from serving.leads.build import blend_in_force
from serving.leads.score import (
    Candidate,
    can_refit,
    default_blend,
    intent_of,
    intent_tag,
    load_lead_settings,
    reasons,
    refit,
)
from serving.leads.store import LeadStore, NewLead, iso_week
from tests.conftest import private_database

SETTINGS = load_lead_settings()


def planted(n: int, by: str, seed: int = 7) -> pd.DataFrame:
    """Outcomes whose wins follow one signal (`by`: intent or propensity); the other is noise."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"intent": rng.uniform(0, 1, n), "propensity": rng.uniform(0, 1, n)})
    p = 1 / (1 + np.exp(-(8 * frame[by] - 4)))
    return frame.assign(won=rng.uniform(0, 1, n) < p, score=0.5)


def test_the_default_blend_is_the_documented_weighted_mean() -> None:
    blend = default_blend(SETTINGS)
    assert blend.version == f"default-{SETTINGS.version}" and blend.kind == "default"
    assert blend.score(1.0, 0.0) == pytest.approx(SETTINGS.w_intent)
    assert blend.score(0.5, 0.5) == pytest.approx(0.5) and blend.score(0, 0) == 0.0
    assert blend.shares() == {"intent": SETTINGS.w_intent, "propensity": SETTINGS.w_propensity}


@pytest.mark.parametrize("by", ["intent", "propensity"])
def test_a_refit_moves_the_weights_toward_the_signal_that_predicts_wins(by: str) -> None:
    other = "propensity" if by == "intent" else "intent"
    before = default_blend(SETTINGS).shares()
    fitted = refit(planted(400, by), "fit-1")
    after = fitted.shares()
    assert after[by] > before[by] and after[by] > 0.8 and after[other] < before[other]
    assert fitted.kind == "fitted" and fitted.outcomes == 400
    assert fitted.score(1.0, 1.0) > fitted.score(0.0, 0.0) and 0 <= fitted.score(0.0, 0.0) <= 1


def test_no_refit_before_enough_outcomes_of_both_kinds() -> None:
    enough = planted(SETTINGS.refit_min_outcomes, "intent")
    assert can_refit(enough, SETTINGS)
    assert not can_refit(enough.iloc[:-1], SETTINGS)
    assert not can_refit(enough.assign(won=True), SETTINGS) and not can_refit(enough.assign(won=False), SETTINGS)


def test_intent_and_its_reasons_name_the_tag_and_product() -> None:
    segments = load_segment_rules()
    month = {"page_views_fund_30d": 2, "searches_fund_30d": 1, "page_views_mortgage_30d": float("nan")}
    assert intent_of(month, "fund", 3.0) == pytest.approx(1 - np.exp(-4 / 3))
    assert intent_of(month, "mortgage", 3.0) == 0.0 and intent_tag(segments, month, "mortgage") is None
    assert intent_tag(segments, month, "fund") == "wealth_interest"
    c = Candidate("O00000001", "FUND_X", "fund", "fund", 0.7, 0.12, 0.47, 2, 1, "wealth_interest")
    names = {"zh": {"FUND_X": "稳健基金"}, "en": {"FUND_X": "Steady fund"}}
    text = reasons(c, names, {lang: segments.names(lang) for lang in ("zh", "en")})
    assert "理财意向" in text["zh"][0] and "稳健基金" in text["zh"][1] and "12.0%" in text["zh"][1]
    assert "Investment interest" in text["en"][0] and "Steady fund" in text["en"][1]


ROSTER = Roster({"RM1": frozenset({"fund"}), "RM2": frozenset({"fund", "loan"}), "RM3": None},
                {"RM1": 1, "RM2": 2, "RM3": 2}, "test")


def test_assignment_prefers_the_own_rm_then_the_most_spare_capacity_with_the_skill() -> None:
    owners = {"C1": "RM1", "C2": "RM1", "C3": None, "C4": "RM9"}
    a = Assigner(ROSTER, owners)
    first = a.assign("C1", "fund")
    assert (first.rm_id, first.because) == ("RM1", OWN)
    full = a.assign("C2", "fund")  # RM1 is full: RM2 and RM3 have 2 spare each, the first id wins
    assert (full.rm_id, full.because) == ("RM2", SPARE)
    skill = a.assign("C1", "mortgage")  # only RM3 has every skill
    assert (skill.rm_id, skill.because) == ("RM3", SPARE)
    assert a.assign("C3", "loan").rm_id in {"RM2", "RM3"}
    assert a.assign("C4", "loan").rm_id in {"RM2", "RM3"}
    gone = a.assign("C3", "mortgage")  # RM3's capacity is used up
    assert (gone.rm_id, gone.because) == (None, NONE)
    assert "待分配" in assignment_reason(gone, None)["zh"]
    assert "RM1" in assignment_reason(full, "RM1")["en"] and "RM2" in assignment_reason(full, "RM1")["zh"]


def test_capacity_counts_the_leads_the_rm_already_has_this_week() -> None:
    a = Assigner(ROSTER, {"C1": "RM1"}, taken={"RM1": 1})
    assert a.assign("C1", "fund").because == SPARE


def _roster(tmp_path: Path, text: str) -> Roster:
    (tmp_path / "rm_roster.csv").write_text(text, encoding="utf-8")
    return load_roster(tmp_path, pd.Series(dtype=object), 40, {"fund", "loan", "deposit"})


def test_the_roster_is_read_and_bad_rows_are_named(tmp_path: Path) -> None:
    owners = pd.Series({"C1": "RM7", "C2": None, "C3": "RM5"})
    default = load_roster(tmp_path, owners, 12, {"fund"})
    assert (default.source, default.capacity, default.skills) == ("default", {"RM5": 12, "RM7": 12},
                                                                   {"RM5": None, "RM7": None})
    good = _roster(tmp_path, "rm_id,skills,weekly_capacity\nRM1,fund;loan,5\nRM2,,0\n")
    assert good.skills == {"RM1": frozenset({"fund", "loan"}), "RM2": frozenset()} and good.capacity["RM1"] == 5
    with pytest.raises(ContractViolation, match=r"rm_roster.csv: row 2, column skills: unknown product category gold"):
        _roster(tmp_path, "rm_id,skills,weekly_capacity\nRM1,fund,5\nRM2,gold,3\n")
    with pytest.raises(ContractViolation, match=r"row 1, column weekly_capacity: '-3' is not a whole number"):
        _roster(tmp_path, "rm_id,skills,weekly_capacity\nRM1,fund,-3\n")
    with pytest.raises(ContractViolation, match=r"row 2, column rm_id: RM1 appears twice"):
        _roster(tmp_path, "rm_id,skills,weekly_capacity\nRM1,fund,1\nRM1,loan,1\n")
    with pytest.raises(ContractViolation, match=r"missing \['weekly_capacity'\]"):
        _roster(tmp_path, "rm_id,skills\nRM1,fund\n")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LeadStore]:
    if request.param == "sqlite":
        engine = audit_engine(sqlite_url(tmp_path / "audit.db"))
        yield LeadStore(engine)
        engine.dispose()
        return
    with private_database("leads") as url:
        engine = audit_engine(url)
        yield LeadStore(engine)
        engine.dispose()


def _lead(customer: str, product: str = "FUND_A", rm: str | None = "RM1", score: float = 0.5,
          intent: float = 0.5, propensity: float = 0.5) -> NewLead:
    return NewLead(customer, product, "fund", score, "default-test", intent, propensity,
                   {"zh": ["理由"], "en": ["why"]}, rm, OWN if rm else NONE)


def test_the_store_builds_once_per_week_and_moves_outcomes_one_way(store: LeadStore) -> None:
    week = iso_week(pd.Timestamp("2026-12-07").date())
    assert week == "2026-W50"
    assert store.add([_lead("C1"), _lead("C2", rm="RM2", score=0.9)], week) == 2
    assert store.add([_lead("C1"), _lead("C3", rm=None), _lead("C0", product="FUND_B", rm=None)], week) == 2
    assert store.taken(week) == {"RM1": 1, "RM2": 1}
    assert list(store.frame()["customer_id"]) == ["C2", "C0", "C1", "C3"]  # C1 was built already; ties by id
    lead = store.frame(rm="RM1").iloc[0]["lead_id"]
    with pytest.raises(Forbidden, match="not assigned to RM2"):
        store.record_outcome(lead, "contacted", "RM2")
    with pytest.raises(Conflict, match="is open: won follows contacted"):
        store.record_outcome(lead, "won", "RM1")
    assert store.record_outcome(lead, "contacted", "RM1", note="called")["status"] == "contacted"
    with pytest.raises(Conflict, match="is contacted: contacted follows open"):
        store.record_outcome(lead, "contacted", "RM1")
    done = store.record_outcome(lead, "won", "key:admin1", admin=True)
    assert (done["status"], done["outcome_by"]) == ("won", "key:admin1")
    with pytest.raises(Conflict):
        store.record_outcome(lead, "lost", "RM1")
    with pytest.raises(NotFound):
        store.record_outcome("0" * 32, "won", "RM1")
    assert store.expire_before("2026-W51") == 3 and set(store.frame()["status"]) == {"won", "expired"}


def test_recorded_outcomes_refit_the_blend_once_and_version_it(tmp_path: Path) -> None:
    engine = audit_engine(sqlite_url(tmp_path / "audit.db"))
    store = LeadStore(engine)
    outcomes = planted(60, "intent")
    store.add([_lead(f"C{i}", intent=r.intent, propensity=r.propensity) for i, r in enumerate(outcomes.itertuples())],
              "2026-W49")
    ids = list(store.frame()["lead_id"])
    blend, refitted = blend_in_force(store, SETTINGS)
    assert (blend.kind, refitted) == ("default", False)  # no outcomes yet
    by_customer = dict(zip(store.frame()["customer_id"], store.frame()["lead_id"], strict=True))
    for i, r in enumerate(outcomes.itertuples()):
        lead = by_customer[f"C{i}"]
        store.record_outcome(lead, "contacted", "RM1")
        store.record_outcome(lead, "won" if r.won else "lost", "RM1")
    blend, refitted = blend_in_force(store, SETTINGS)
    assert refitted and blend.version == "fit-1-60" and blend.shares()["intent"] > SETTINGS.w_intent
    again, refitted = blend_in_force(store, SETTINGS)
    assert (again.version, refitted) == ("fit-1-60", False)  # nothing new recorded: the same blend
    assert len(ids) == 60
    engine.dispose()
