"""`nbo leads build --as-of DATE` scores, assigns and stores a week's leads once; `list` ranks them;
`outcomes` reports conversion by score band and the blend in force."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from identity.owners import load_owners
from serving.audit.store import sqlite_url
from serving.leads.score import load_lead_settings
from tests.conftest import Trained, run_cli, run_json

AS_OF = "2026-12-07"


def test_a_build_assigns_consenting_customers_leads_once_and_lists_them_ranked(
        trained: Trained, bank_dir: Path, tmp_path: Path) -> None:
    env = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}
    first = run_json("leads", "build", "--as-of", AS_OF, env=env)
    settings = load_lead_settings()
    assert first["week"] == "2026-W50" and first["blend"]["version"] == f"default-{settings.version}"
    assert first["added"] == first["candidates"] > 0 and first["roster"] == "default"
    assert sum(first["by_rm"].values()) + first["unassigned"] == first["added"]
    assert first["assigned_because"].get("own_rm", 0) > 0

    again = run_json("leads", "build", "--as-of", AS_OF, env=env)
    assert (again["added"], again["candidates"]) == (0, first["candidates"])

    listed = run_json("leads", "list", "--limit", "100000", env=env)
    leads = pd.DataFrame(listed["leads"])
    assert listed["total"] == len(leads) == first["added"]
    assert leads["score"].is_monotonic_decreasing and leads["score"].between(settings.min_score, 1).all()
    assert not leads.duplicated(["customer_id"]).any()  # leads_per_customer = 1
    customers = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id")
    assert customers.loc[leads["customer_id"], "marketing_consent"].all()
    assert customers.loc[leads["customer_id"], "close_date"].isna().all()
    owners = load_owners(bank_dir)
    own = leads[leads["assigned_because"] == "own_rm"]
    assert (own["rm_id"] == own["customer_id"].map(owners)).all()
    assert all(r["en"][-1].startswith(("The customer's own RM", "Assigned to", "No RM")) and len(r["zh"]) == 3
               for r in leads["reasons"])

    rm = own["rm_id"].iloc[0]
    mine = run_json("leads", "list", "--rm", rm, "--limit", "100000", env=env)
    assert mine["total"] == first["by_rm"][rm] and {x["rm_id"] for x in mine["leads"]} == {rm}
    text = run_cli("leads", "list", "--rm", rm, "--limit", "3", env=env).stdout
    assert text.startswith(f"3 of {mine['total']} leads") and rm in text

    report = run_json("leads", "outcomes", env=env)
    assert report["decided"] == 0 and report["by_status"] == {"open": first["added"]}
    assert report["blend"]["kind"] == "default" and [b["decided"] for b in report["bands"]] == [0, 0, 0, 0]
