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
SOME = 500


def test_a_build_assigns_consenting_customers_leads_once_and_lists_them_ranked(
        trained: Trained, bank_dir: Path, tmp_path: Path) -> None:
    env = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}
    customers = pd.read_parquet(bank_dir / "customers.parquet").set_index("customer_id")
    some = sorted(customers.index)[:SOME]  # a quarter of the bank keeps the test quick
    first = run_json("leads", "build", "--as-of", AS_OF, *[a for c in some for a in ("--customer", c)], env=env)
    assert 0 < first["customers"] <= SOME
    settings = load_lead_settings()
    assert first["week"] == "2026-W50" and first["blend"]["version"] == f"default-{settings.version}"
    assert first["added"] == first["candidates"] > 0 and first["roster"] == "default"
    assert sum(first["by_rm"].values()) + first["unassigned"] == first["added"]
    assert first["assigned_because"].get("own_rm", 0) > 0

    listed = run_json("leads", "list", "--limit", "100000", env=env)
    leads = pd.DataFrame(listed["leads"])
    rerun = list(leads["customer_id"].iloc[:3])
    again = run_json("leads", "build", "--as-of", AS_OF, *[a for c in rerun for a in ("--customer", c)], env=env)
    assert (again["customers"], again["added"], again["candidates"], again["already_built"]) == (3, 0, 0, 3)
    assert again["scored"] == 0  # customers with leads of the week are not scored again
    assert listed["total"] == len(leads) == first["added"]
    assert leads["score"].is_monotonic_decreasing and leads["score"].between(settings.min_score, 1).all()
    assert not leads.duplicated(["customer_id"]).any()  # leads_per_customer = 1
    assert set(leads["customer_id"]) <= set(some)
    assert customers.loc[leads["customer_id"], "marketing_consent"].all()
    assert customers.loc[leads["customer_id"], "close_date"].isna().all()
    owners = load_owners(bank_dir)
    own = leads[leads["assigned_because"] == "own_rm"]
    assert (own["rm_id"] == own["customer_id"].map(owners)).all()
    assert all(r["en"][-1].startswith(("The customer's own RM", "Assigned to", "No RM")) and len(r["zh"]) == 3
               for r in leads["reasons"])

    rm = own["rm_id"].value_counts().idxmax()
    n = first["by_rm"][rm]
    assert n >= 2
    text = run_cli("leads", "list", "--rm", rm, "--limit", "2", env=env).stdout
    assert text.startswith(f"2 of {n} leads") and text.count(rm) == 2
    assert (leads["rm_id"] == rm).sum() == first["by_rm"][rm]

    report = run_json("leads", "outcomes", env=env)
    assert report["decided"] == 0 and report["by_status"] == {"open": first["added"]}
    assert report["blend"]["kind"] == "default" and [b["decided"] for b in report["bands"]] == [0, 0, 0, 0]
