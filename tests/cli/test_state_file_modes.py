"""State files that hold PDs and feature values are readable by their owner only (0600).

The audit database with its WAL and shared-memory files after a real `nbo serve` has answered, and
the Feast online store and file registry after the session's `nbo features apply` and `materialize`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import httpx

from tests.conftest import FeatureState, Trained
from tests.server import running_service

CUSTOMER = "O0000000042"


def _modes(*paths: Path) -> dict[str, str]:
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in paths}


def test_the_feast_online_store_and_registry_are_0600_after_materialize(feature_state: FeatureState) -> None:
    assert feature_state.materialized["embedded"]["total_rows"] > 0
    feast = feature_state.state_dir / "feast"
    online, registry = feast / "online.db", feast / "registry.db"
    assert online.stat().st_size > 0 and registry.stat().st_size > 0
    assert _modes(online, registry) == {"online.db": "0o600", "registry.db": "0o600"}


def test_the_audit_database_and_its_wal_and_shm_are_0600_while_serving(trained: Trained, tmp_path: Path) -> None:
    audit = tmp_path / "state" / "audit.db"
    old_umask = os.umask(0o022)  # what a default shell gives: files 0644 unless created otherwise
    try:
        env = trained.env | {"NBO_SERVICE__AUDIT_URL": f"sqlite:///{audit}"}
        with running_service(env) as server:
            response = httpx.get(f"{server.url}/v1/customers/{CUSTOMER}/offers",
                                 headers={"X-API-Key": trained.keys["app"]}, timeout=30)
            assert response.status_code == 200, response.text
            wal, shm = audit.with_name("audit.db-wal"), audit.with_name("audit.db-shm")
            assert wal.exists() and shm.exists()  # the decision went through the WAL
            assert _modes(audit, wal, shm) == {"audit.db": "0o600", "audit.db-wal": "0o600",
                                               "audit.db-shm": "0o600"}
    finally:
        os.umask(old_umask)
