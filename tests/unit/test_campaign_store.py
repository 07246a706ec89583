"""Campaign storage and states on real SQLite and real PostgreSQL: every change in the history,
approval by another person, only legal moves, one winner among concurrent moves."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest

from nbo.databases import audit_engine
from nbo.errors import Conflict
from serving.audit.store import sqlite_url
from serving.campaigns.spec import CampaignSpec
from serving.campaigns.states import IllegalMove, SelfApproval
from serving.campaigns.store import CampaignNotFound, CampaignStore
from tests.conftest import private_database

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "campaigns" / "dormant-reactivation.toml"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CampaignStore]:
    with ExitStack() as stack:
        url = sqlite_url(tmp_path / "audit.db") if request.param == "sqlite" else \
            stack.enter_context(private_database("nbo_campaigns"))
        engine = audit_engine(url)
        yield CampaignStore(engine)
        engine.dispose()


def _spec(**changes: object) -> CampaignSpec:
    return CampaignSpec.model_validate(tomllib.loads(EXAMPLE.read_text(encoding="utf-8")) | changes)


def test_a_campaign_goes_draft_approved_running_finished_with_every_change_recorded(store: CampaignStore) -> None:
    created = store.save_draft(_spec(), "RM001", "first draft")
    assert (created["state"], created["version"], created["changed"]) == ("draft", 1, True)
    assert store.save_draft(_spec(), "RM009")["changed"] is False  # the same definition: nothing happens
    store.move("dormant-reactivation", "approve", "RM002", "checked the costs")
    store.move("dormant-reactivation", "start", "RM001")
    done = store.move("dormant-reactivation", "finish", "RM001", "end of quarter")
    assert done["state"] == "finished"
    shown = store.get("dormant-reactivation")
    assert shown["approved_by"] == "RM002" and shown["created_by"] == "RM001"
    assert [(h["action"], h["from"], h["to"], h["by"], h["reason"]) for h in shown["history"]] == [
        ("create", None, "draft", "RM001", "first draft"), ("approve", "draft", "approved", "RM002", "checked the costs"),
        ("start", "approved", "running", "RM001", ""), ("finish", "running", "finished", "RM001", "end of quarter")]
    assert all(h["at"].endswith("+00:00") for h in shown["history"])


@pytest.mark.parametrize(("moves", "action"), [
    ((), "start"), ((), "finish"), ((), "withdraw"),
    (("approve",), "approve"), (("approve",), "finish"),
    (("approve", "start"), "approve"), (("approve", "start"), "withdraw"),
    (("approve", "start", "finish"), "start"), (("approve", "start", "finish"), "approve"),
])
def test_illegal_moves_are_conflicts_and_change_nothing(store: CampaignStore, moves: tuple[str, ...],
                                                        action: str) -> None:
    store.save_draft(_spec(), "RM001")
    for move in moves:
        store.move("dormant-reactivation", move, "RM002")
    before = store.get("dormant-reactivation")
    with pytest.raises(IllegalMove, match=f"{action} takes a campaign from"):
        store.move("dormant-reactivation", action, "RM003")
    assert store.get("dormant-reactivation") == before


def test_approval_takes_someone_who_wrote_no_version(store: CampaignStore) -> None:
    store.save_draft(_spec(), "RM001")
    store.save_draft(_spec(control_share=0.2), "RM002", "a larger control group")  # RM002 edits: version 2
    for author in ("RM001", "RM002"):
        with pytest.raises(SelfApproval, match=f"'{author}' wrote it and may not approve it"):
            store.move("dormant-reactivation", "approve", author)
    approved = store.move("dormant-reactivation", "approve", "RM003")
    assert (approved["state"], approved["version"]) == ("approved", 2)


def test_only_a_draft_changes_and_a_withdrawn_campaign_needs_approval_again(store: CampaignStore) -> None:
    store.save_draft(_spec(), "RM001")
    store.move("dormant-reactivation", "approve", "RM002")
    with pytest.raises(IllegalMove, match="only a draft can change"):
        store.save_draft(_spec(control_share=0.3), "RM001")
    store.move("dormant-reactivation", "withdraw", "RM001", "raise the control share")
    changed = store.save_draft(_spec(control_share=0.3), "RM001")
    assert (changed["state"], changed["version"], changed["approved_by"]) == ("draft", 2, None)
    assert store.get("dormant-reactivation")["definition"]["control_share"] == 0.3


def test_an_unknown_campaign_is_not_found(store: CampaignStore) -> None:
    with pytest.raises(CampaignNotFound):
        store.move("nope", "approve", "RM002")


def test_of_concurrent_approvals_exactly_one_wins(store: CampaignStore) -> None:
    store.save_draft(_spec(), "RM001")

    def approve(n: int) -> str:
        try:
            store.move("dormant-reactivation", "approve", f"RM1{n:02d}")
            return "won"
        except Conflict:  # IllegalMove is one: it read `approved`, or lost the race after reading `draft`
            return "refused"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(approve, range(8)))
    assert results.count("won") == 1
    history = store.get("dormant-reactivation")["history"]
    assert [h["action"] for h in history] == ["create", "approve"]
