"""`nbo nps load FILE` as a user runs it: a good CSV and parquet file stored, a replay changing
nothing, a bad row named by file, row and column (exit 2, nothing stored), a changed replay refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from nbo.databases import audit_engine
from serving.audit.store import sqlite_url
from serving.nps.store import NpsStore
from tests.conftest import run_cli, run_json

ROWS = [{"answer_id": "a1", "customer_id": "C00000001", "answered_at": "2026-10-03T10:00:00Z", "score": "10",
         "comment": "服务很周到", "channel": "rm_call", "campaign_id": "fund-promotion-ab"},
        {"answer_id": "a2", "customer_id": "C00000002", "answered_at": "2026-10-04 09:00:00", "score": "3",
         "comment": "", "channel": "", "campaign_id": ""}]


def test_load_replay_bad_rows_and_conflicts(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "audit.db")
    env = {"NBO_SERVICE__AUDIT_URL": url}
    good = tmp_path / "answers.csv"
    pd.DataFrame(ROWS).to_csv(good, index=False)
    assert run_json("nps", "load", good, env=env) == {"file": str(good), "rows": 2, "added": 2, "unchanged": 0}

    more = tmp_path / "more.parquet"
    frame = pd.DataFrame(ROWS).assign(score=[10, 3], answered_at=pd.to_datetime(["2026-10-03T10:00:00Z"] * 2),
                                      comment=["服务很周到", None], channel=["rm_call", None],
                                      campaign_id=["fund-promotion-ab", None])
    frame.loc[1, "answered_at"] = pd.Timestamp("2026-10-04 09:00:00", tz="UTC")
    extra = frame.iloc[[0]].assign(answer_id="a3", score=7)
    pd.concat([frame, extra]).to_parquet(more, index=False)
    replay = run_json("nps", "load", more, env=env)  # a1, a2 as in the CSV, a3 new
    assert (replay["added"], replay["unchanged"]) == (1, 2)

    bad = tmp_path / "bad.csv"
    pd.DataFrame([ROWS[0] | {"answer_id": "b1"}, ROWS[1] | {"answer_id": "b2", "score": "12"}]).to_csv(bad, index=False)
    proc = run_cli("nps", "load", bad, "--json", env=env, check=False)
    assert proc.returncode == 2
    error = json.loads(proc.stdout)
    assert error["violations"][0] == {"file": str(bad), "row": 2, "column": "score",
                                      "message": "Input should be less than or equal to 10"}
    assert f"{bad}: row 2, column score" in proc.stderr

    changed = tmp_path / "changed.csv"
    pd.DataFrame([ROWS[1] | {"answer_id": "c1"}, ROWS[0] | {"score": "6"}]).to_csv(changed, index=False)
    proc = run_cli("nps", "load", changed, env=env, check=False)
    assert proc.returncode == 2 and "a1" in proc.stderr and "never overwritten" in proc.stderr

    stored = NpsStore(audit_engine(url)).frame().set_index("answer_id")
    assert sorted(stored.index) == ["a1", "a2", "a3"]  # nothing of the bad nor the changed file
    assert stored.loc["a1", "score"] == 10 and stored.loc["a1", "comment"] == "服务很周到"
