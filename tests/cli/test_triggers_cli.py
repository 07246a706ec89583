"""`nbo triggers run --as-of DATE`: fires what is due once, a rerun fires nothing; `nbo triggers list`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from serving.audit.store import AuditStore, sqlite_url
from serving.triggers.store import fires
from tests.conftest import Trained, run_cli, run_json


def test_a_run_fires_once_and_a_rerun_fires_nothing(trained: Trained, bank_dir: Path, tmp_path: Path) -> None:
    env = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}
    today = datetime.now(UTC).date().isoformat()
    first = run_json("triggers", "run", "--as-of", today, env=env)
    assert first["as_of"] == today and first["fired"] == first["occasions"] > 0
    assert first["by_trigger"]["retention_no_login"].get("sent", 0) > 0
    again = run_json("triggers", "run", "--as-of", today, env=env)
    assert (again["fired"], again["already_fired"]) == (0, first["occasions"])

    audit = AuditStore(sqlite_url(tmp_path / "audit.db"))
    with audit.engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(sa.select(fires.c.customer_id, fires.c.trigger_id, fires.c.status,
                                                   fires.c.reason, fires.c.decision_id)).all(),
                            columns=["customer_id", "trigger_id", "status", "reason", "decision_id"])
    audit.close()
    assert len(rows) == first["occasions"] and not rows.duplicated(["customer_id", "trigger_id"]).any()
    consent = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id")["marketing_consent"]
    without = rows[~rows["customer_id"].map(consent).astype(bool)]
    assert len(without) > 0 and set(without["status"]) == {"suppressed"}
    assert set(without["reason"]) == {"no_marketing_consent"} and without["decision_id"].isna().all()
    sent = rows[rows["status"] == "sent"]
    assert sent["decision_id"].notna().all() and sent["customer_id"].map(consent).all()


def test_the_rules_and_a_bad_date(trained: Trained) -> None:
    listed = run_json("triggers", "list", env=trained.env)
    assert len(listed["triggers"]) == 8 and {t["when"] for t in listed["triggers"]} == \
        {"events", "journey", "birthday", "condition"}
    bad = run_cli("triggers", "run", "--as-of", "2026-13-01", env=trained.env, check=False)
    assert bad.returncode == 2 and "--as-of" in bad.stderr
