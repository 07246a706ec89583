"""The alias history is complete after train → promote → forced promote → set shadow → service start →
set challenger → admin reload: `nbo models history --json` lists every event, newest first, with who,
when, why, the evidence (the primary metric of candidate and champion on the same holdout) and
whether it was forced. A private MLflow store (a copy of the session's) and a private audit database.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit.store import sqlite_url
from tests.conftest import private_mlflow_store, run_cli, run_json, settings_from

CHURN = "nbo-churn"


@pytest.fixture(scope="module")
def env(trained, tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("alias-history")
    return trained.env | private_mlflow_store(trained, tmp) | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "audit.db")}


def test_every_alias_change_is_in_the_history(env, trained) -> None:
    started = datetime.now(UTC)
    trained_run = run_json("train", "churn", "--fast", env=env)
    new = trained_run["model_version"]
    champion = trained_run["promotion"]["previous_champion"]
    assert champion is not None and new != champion
    asked = run_json("promote", CHURN, "--version", new, "--reason", "quarterly review", env=env)
    forced = run_json("promote", CHURN, "--version", new, "--force", "--reason", "risk committee 2026-12", env=env)
    assert forced["promoted"] and forced["forced"]
    shadow = run_json("promote", CHURN, "--version", champion, "--alias", "shadow", "--reason", "watch v1", env=env)
    with TestClient(create_app(settings_from(env)), raise_server_exceptions=False) as client:
        admin = {"X-API-Key": trained.keys["admin"]}
        assert client.post("/v1/admin/reload", headers=admin).status_code == 200  # nothing changed: no entry
        run_json("promote", CHURN, "--version", champion, "--alias", "challenger", env=env)
        assert client.post("/v1/admin/reload", headers=admin).status_code == 200
    ended = datetime.now(UTC)

    history = run_json("models", "history", env=env)["entries"]
    assert [e["at"] for e in history] == sorted((e["at"] for e in history), reverse=True)
    events = history[::-1]  # oldest first
    start_reloads = [("reload", "nbo-churn", "champion", new), ("reload", "nbo-churn", "shadow", champion),
                     ("reload", "nbo-delinquency", "champion", "1"), ("reload", "nbo-fraud", "champion", "1"),
                     ("reload", "nbo-recommender", "champion", "1")]
    assert [(e["action"], e["model"], e["alias"], e["version"]) for e in events] == [
        ("train", CHURN, None, new), ("promote", CHURN, "champion", new), ("promote", CHURN, "champion", new),
        ("promote", CHURN, "champion", new), ("set", CHURN, "shadow", champion), *start_reloads,
        ("set", CHURN, "challenger", champion), ("reload", CHURN, "challenger", champion)]
    user = getpass.getuser()
    assert all(started <= datetime.fromisoformat(e["at"]) <= ended for e in events)
    assert [e["by"] for e in events[:5]] == [user] * 5
    assert {e["by"] for e in events[5:5 + len(start_reloads)]} == {"service start"}
    assert events[-1]["by"].startswith("admin key ") and len(events[-1]["by"]) > len("admin key ")

    train, at_train, promote, force, set_shadow = events[:5]
    assert train["evidence"]["metrics"] == trained_run["metrics"] and train["evidence"]["run_id"] == trained_run["run_id"]
    holdout = train["evidence"]["holdout_id"]
    for entry, outcome in ((at_train, trained_run["promotion"]), (promote, asked), (force, forced)):
        evidence = entry["evidence"]
        assert evidence["holdout_id"] == holdout and evidence["primary_metric"] == "roc_auc"
        assert (evidence["candidate"], evidence["champion"]) == (outcome["candidate_value"], outcome["champion_value"])
        assert evidence["promoted"] == outcome["promoted"] and entry["forced"] == outcome["forced"]
        assert entry["previous_version"] == outcome["previous_champion"]
    assert not promote["forced"] and promote["reason"].endswith("; quarterly review")
    assert force["forced"] and force["reason"].endswith("(forced); risk committee 2026-12")
    assert force["previous_version"] == champion
    assert (set_shadow["reason"], set_shadow["previous_version"], set_shadow["forced"]) == ("watch v1", None, False)
    assert shadow["previous_version"] is None
    assert events[-1]["previous_version"] is None and events[5]["previous_version"] is None

    only_delinquency = run_json("models", "history", "--model", "nbo-delinquency", env=env)["entries"]
    assert [(e["action"], e["alias"]) for e in only_delinquency] == [("reload", "champion")]
    text = run_cli("models", "history", env=env).stdout
    assert "forced" in text and "risk committee 2026-12" in text and text.count("\n") >= len(events)
