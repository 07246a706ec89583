"""The contract-extension file: a bank's own event type and monthly metric are validated like the rest
and become features.

Uses a copy of the session's synthetic bank (its canonical tables only) with complaint events added.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from features.repo.store import open_store
from tests.conftest import run_cli, run_json, settings_from

TABLES = ("customers", "products", "holdings", "events", "transactions", "credit")


def _bank_with_complaints(bank_dir: Path, out: Path) -> tuple[str, list[pd.Timestamp]]:
    """Copy the bank, give one always-open customer three complaints; return the customer and times."""
    out.mkdir()
    for table in TABLES:
        shutil.copy(bank_dir / f"{table}.parquet", out)
    customers = pd.read_parquet(out / "customers.parquet")
    who = customers.loc[customers["close_date"].isna() & (customers["join_date"] < "2024-01-01"),
                        "customer_id"].iloc[0]
    times = [pd.Timestamp(t, tz="UTC") for t in ("2026-08-03 10:00", "2026-10-20 09:00", "2026-10-31 23:59:59")]
    events = pd.read_parquet(out / "events.parquet")
    complaints = pd.DataFrame({"event_id": events["event_id"].max() + 1 + np.arange(3), "customer_id": who,
                               "event_time": pd.DatetimeIndex(times).as_unit("ns"), "event_type": "complaint",
                               "topic": None, "product_id": None, "channel": "branch"})
    pd.concat([events, complaints], ignore_index=True).to_parquet(out / "events.parquet", index=False)
    return who, times


def test_extension_event_types_and_metrics_are_validated_and_become_features(bank_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "bank"
    who, _ = _bank_with_complaints(bank_dir, data)
    refused = run_cli("data", "validate", data, check=False)  # undeclared: a contract violation, by row
    assert refused.returncode == 2 and "column event_type: fails isin" in refused.stdout + refused.stderr
    pd.DataFrame({"customer_id": who, "month": pd.to_datetime(["2026-09-01", "2026-10-01"]),
                  "night_minutes": [10.0, 40.0]}).to_parquet(data / "customer_metrics_monthly.parquet")
    (data / "extensions.json").write_text(json.dumps({"version": 1, "event_types": ["complaint"],
                                                      "monthly_metrics": {"night_minutes": "numeric"}}))
    assert run_json("data", "validate", data)["ok"]

    env = {"NBO_STATE_DIR": str(tmp_path / "var")}
    built = run_json("features", "build", data, env=env)
    assert built["rows"]["customer_events_extra"] == built["rows"]["customer_profile"]
    rows = pd.read_parquet(tmp_path / "var" / "feast" / "offline" / "customer_events_extra.parquet")
    mine = rows[rows["customer_id"] == who]
    mine = mine.set_index(mine["event_timestamp"].dt.strftime("%Y-%m"))
    assert mine.loc["2026-09", ["x_complaint_30d", "x_complaint_90d"]].tolist() == [1, 1]  # August's
    assert mine.loc["2026-11", ["x_complaint_30d", "x_complaint_90d"]].tolist() == [2, 3]  # October's two
    assert mine.loc["2026-11", "x_days_since_last_complaint"] == 0  # 23:59:59 on the last day
    assert mine.loc["2026-09", "x_days_since_last_complaint"] == 28  # 3 August 10:00 → 1 September
    assert mine.loc["2026-10", "x_days_since_last_complaint"] == 58
    assert pd.isna(mine.loc["2026-08", "x_days_since_last_complaint"])  # none yet: missing, not 0

    metrics = pd.read_parquet(tmp_path / "var" / "feast" / "offline" / "customer_metrics_extra.parquet")
    metrics = metrics[metrics["customer_id"] == who].set_index("event_timestamp")
    assert metrics.loc[pd.Timestamp("2026-11-01", tz="UTC"), ["x_night_minutes_1m", "x_night_minutes_3m_avg"]
                       ].tolist() == [40.0, 25.0]
    assert metrics.loc[pd.Timestamp("2026-09-01", tz="UTC"), ["x_night_minutes_1m", "x_night_minutes_6m_avg"]
                       ].isna().all()  # none reported yet: missing, not 0

    run_json("features", "apply", env=env)
    store = open_store(settings_from(env))
    for service in ("churn_v1", "delinquency_v1", "customer_360_v1"):
        views = {p.name: [f.name for f in p.features]
                 for p in store.get_feature_service(service).feature_view_projections}
        assert views["customer_events_extra"] == ["x_complaint_30d", "x_complaint_90d",
                                                  "x_days_since_last_complaint"]
        assert views["customer_metrics_extra"] == ["x_night_minutes_1m", "x_night_minutes_3m_avg",
                                                   "x_night_minutes_6m_avg"]
