"""API keys are managed while the service runs: `nbo keys create|list|revoke` take effect within a
second on every worker of `nbo serve --workers 2`, and a revoked rm key's workbench session ends."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import httpx

from serving.security import keys
from serving.workbench.session import COOKIE
from tests.conftest import Trained, run_cli, run_json
from tests.reliability.conftest import private_state
from tests.server import Server, running_service

HITS = 24  # requests on fresh connections: enough to reach both workers
EFFECT_S = 1.0


def _statuses(server: Server, path: str, **headers: str) -> list[int]:
    """The status of HITS requests, each on a new connection (the kernel spreads them over the workers)."""
    return [httpx.get(f"{server.url}{path}", headers=headers, timeout=30).status_code for _ in range(HITS)]


def _after(started: float, seconds: float = EFFECT_S) -> None:
    time.sleep(max(0.0, started + seconds - time.monotonic()))


def _sign_in(server: Server, key: str) -> str:
    response = httpx.post(f"{server.url}/workbench/login", data={"key": key, "lang": "en"}, timeout=30)
    assert response.status_code == 303, response.text
    return response.cookies[COOKIE]


def test_created_and_revoked_keys_take_effect_within_a_second_on_every_worker(
        trained: Trained, tmp_path: Path) -> None:
    env = private_state(trained, tmp_path)
    with running_service(env, "--workers", "2", log_path=tmp_path / "serve.log") as server:
        created = run_json("keys", "create", "--role", "rm", env=env)
        started = time.monotonic()
        _after(started)
        assert _statuses(server, "/v1/models", **{"X-API-Key": created["key"]}) == [200] * HITS
        assert _statuses(server, "/v1/models", **{"X-API-Key": trained.keys["app"]}) == [200] * HITS  # old file's key
        cookie = _sign_in(server, created["key"])
        assert _statuses(server, "/workbench", Cookie=f"{COOKIE}={cookie}") == [200] * HITS

        listed = {k["id"]: k for k in run_json("keys", "list", env=env)["keys"]}
        assert listed[created["id"]]["role"] == "rm" and listed[created["id"]]["last_used"] is not None
        revoked = run_json("keys", "revoke", created["id"], env=env)
        started = time.monotonic()
        assert (revoked["id"], revoked["role"], revoked["revoked"]) == (created["id"], "rm", True)
        _after(started)
        assert _statuses(server, "/v1/models", **{"X-API-Key": created["key"]}) == [401] * HITS
        answer = httpx.get(f"{server.url}/v1/models", headers={"X-API-Key": created["key"]}, timeout=30)
        assert answer.json()["detail"] == "unknown API key"
        after = [httpx.get(f"{server.url}/workbench", headers={"Cookie": f"{COOKIE}={cookie}"}, timeout=30)
                 for _ in range(HITS)]
        assert {(r.status_code, r.headers.get("location")) for r in after} == {(303, "/workbench/login?lang=en")}
        assert _statuses(server, "/v1/models", **{"X-API-Key": trained.keys["rm"]}) == [200] * HITS


def test_keys_list_shows_ids_roles_and_dates_but_never_a_key(tmp_path: Path) -> None:
    env = {"NBO_STATE_DIR": str(tmp_path / "state")}
    demo = run_json("keys", "demo", env=env)["demo_api_keys"]
    created = run_json("keys", "create", "--role", "risk", env=env)
    assert created["key"].startswith("nbo_risk_") and created["role"] == "risk" and created["id"]
    result = run_cli("keys", "list", "--json", env=env)
    listed = json.loads(result.stdout)["keys"]
    assert sorted(k["role"] for k in listed) == ["admin", "app", "payments", "risk", "risk", "rm"]
    assert all(set(k) == {"id", "role", "rm_id", "created", "last_used"} for k in listed)
    assert all(k["created"] and k["last_used"] is None for k in listed)
    secrets = [*demo.values(), created["key"], *(keys.hash_key(k) for k in [*demo.values(), created["key"]])]
    text = run_cli("keys", "list", env=env).stdout
    assert created["id"] in text and "risk" in text
    assert not [s for s in secrets if s in result.stdout + text]


def test_revoking_a_key_removes_it_everywhere_and_an_unknown_id_is_not_found(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {"NBO_STATE_DIR": str(state)}
    demo = run_json("keys", "demo", env=env)["demo_api_keys"]
    app_id = next(k["id"] for k in run_json("keys", "list", env=env)["keys"] if k["role"] == "app")
    assert run_json("keys", "revoke", app_id, env=env)["revoked"] is True
    assert keys.hash_key(demo["app"]) not in (state / "api-keys.json").read_text(encoding="utf-8")
    assert "app" not in run_json("info", env=env)["demo_api_keys"]  # no revoked demo key is shown
    missing = run_cli("keys", "revoke", app_id, "--json", env=env, check=False)
    assert missing.returncode == 3 and json.loads(missing.stdout)["error"] == "KeyNotFound"
    assert app_id in json.loads(missing.stdout)["message"]


def test_a_key_file_of_an_earlier_install_keeps_working_and_stays_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    old_key = "nbo_rm_from-an-earlier-install"
    (state / "api-keys.json").write_text(json.dumps({keys.hash_key(old_key): "rm"}), encoding="utf-8")
    env = {"NBO_STATE_DIR": str(state)}
    listed = run_json("keys", "list", env=env)["keys"]
    assert [(k["role"], k["created"]) for k in listed] == [("rm", None)]
    run_json("keys", "create", "--role", "app", env=env)
    stored = json.loads((state / "api-keys.json").read_text(encoding="utf-8"))
    assert stored[keys.hash_key(old_key)]["role"] == "rm" and len(stored) == 2
    assert stat.S_IMODE((state / "api-keys.json").stat().st_mode) == 0o600
    assert [k["id"] for k in run_json("keys", "list", env=env)["keys"] if k["role"] == "rm"] == [listed[0]["id"]]


def test_an_rm_key_names_its_relationship_manager_and_no_other_key_may(tmp_path: Path) -> None:
    env = {"NBO_STATE_DIR": str(tmp_path / "state")}
    created = run_json("keys", "create", "--role", "rm", "--rm-id", "RM011", env=env)
    assert created["rm_id"] == "RM011"
    listed = {k["id"]: k for k in run_json("keys", "list", env=env)["keys"]}
    assert listed[created["id"]]["rm_id"] == "RM011" and "RM011" in run_cli("keys", "list", env=env).stdout
    records = keys.load_records(tmp_path / "state" / "api-keys.json")
    assert keys.rm_of(records, keys.hash_key(created["key"])[:16]) == "RM011"
    for args in (("--role", "app", "--rm-id", "RM011"), ("--role", "rm", "--rm-id", "RM 011; drop")):
        refused = run_cli("keys", "create", *args, env=env, check=False)
        assert refused.returncode == 2 and "Invalid value for --rm-id" in refused.stderr, refused.stderr
    assert len(run_json("keys", "list", env=env)["keys"]) == 1  # nothing written for the refused ones
