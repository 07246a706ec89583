"""The synthetic customers' answer to campaigns: planted uptake, holdings rows, truth and NPS answers."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nbo.errors import ContractViolation, InputFileError
from sources.io import table_path, write_table
from sources.synthetic.catalogue import build_products
from sources.synthetic.responses import (
    EFFECT_FILE,
    NPS_COLUMNS,
    SEND_COLUMNS,
    load_settings,
    nps_answers,
    plant_uptake,
    planted_effect,
    read_assignments,
    respond,
)

SNAPSHOTS = pd.date_range("2026-06-30", "2026-11-30", freq="ME")
SETTINGS = load_settings()
CERTAIN = dataclasses.replace(SETTINGS, uptake=dict.fromkeys(SETTINGS.uptake, 1.0))


def cid(i: int) -> str:
    return f"C{i:08d}"


def sends(customers: range, *, campaign: str = "CAMP_A", arm: str = "main", status: str = "sent",
          channel: str | None = "rm_call", product: str | None = "WM_STABLE", day: str = "2026-08-10") -> pd.DataFrame:
    """Assignment rows as the campaign runner writes them (the sends contract's columns)."""
    n = len(customers)
    sent = status == "sent"
    at = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=2)
    return pd.DataFrame({
        "send_id": [f"{campaign}-{day}-{i}" for i in customers], "campaign_id": campaign, "campaign_version": 1,
        "day": pd.Timestamp(day), "customer_id": [cid(i) for i in customers], "arm": arm, "segment": "mass",
        "status": status, "channel": channel if sent else None, "product_id": product if sent else None,
        "send_at": pd.Series([at if sent else pd.NaT] * n, dtype="datetime64[ns, UTC]"),
        "cost_cny": 8.0 if sent else 0.0, "reason": None, "decision_id": None, "task_id": None,
    })[list(SEND_COLUMNS)]


def customers_frame(n: int, close: dict[int, str] | None = None) -> pd.DataFrame:
    close = close or {}
    return pd.DataFrame({"customer_id": [cid(i) for i in range(n)],
                         "close_date": pd.to_datetime([close.get(i) for i in range(n)]),
                         "income_monthly": 20_000.0})


def holdings_frame(rows: list[tuple[int, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [cid(r[0]) for r in rows], "product_id": [r[1] for r in rows],
                         "snapshot_date": pd.to_datetime([r[2] for r in rows]), "balance": [r[3] for r in rows]})


def base_holdings(n: int) -> pd.DataFrame:
    """Every customer holds a savings account at every month end (not sorted by customer: block order)."""
    return holdings_frame([(i, "DEP_SAVINGS", str(d.date()), 50_000.0 + i) for d in SNAPSHOTS for i in range(n)])


@pytest.mark.parametrize("channel", ["rm_call", "app_push"])
def test_uptake_rate_is_the_channels_probability(channel: str) -> None:
    n = 8_000
    truth, rows = plant_uptake(sends(range(n), channel=channel), customers_frame(n), build_products(),
                               base_holdings(1), SETTINGS, seed=7)
    p = SETTINGS.uptake[channel]
    assert len(truth) == n
    assert abs(truth["drawn"].mean() - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert truth["planted"].sum() == truth["drawn"].sum()  # nobody held WM_STABLE before
    # one row per planted customer and snapshot after the send (2026-08-31 .. 2026-11-30)
    assert len(rows) == 4 * truth["planted"].sum()
    assert rows["snapshot_date"].min() == pd.Timestamp("2026-08-31")


def test_no_double_holding_and_control_never_planted() -> None:
    holdings = pd.concat([base_holdings(6), holdings_frame([
        (1, "WM_STABLE", "2026-08-31", 12_000.0),   # already held at the first snapshot after the send
        (2, "WM_STABLE", "2026-10-31", 15_000.0),   # the bank's own simulation adopts it later
        (2, "WM_STABLE", "2026-11-30", 15_100.0),
    ])], ignore_index=True)
    assignments = pd.concat([
        sends(range(0, 4)),
        sends(range(4, 6), arm="control", status="held_out"),
        sends(range(3, 4), campaign="CAMP_B", day="2026-08-20"),  # customer 3 is sent the same product twice
    ], ignore_index=True)
    truth, rows = plant_uptake(assignments, customers_frame(6, close={0: "2026-10-15"}), build_products(),
                               holdings, CERTAIN, seed=1)
    outcome = dict(zip(truth["campaign_id"] + "/" + truth["customer_id"], truth["outcome"], strict=True))
    assert outcome == {"CAMP_A/C00000000": "planted", "CAMP_A/C00000001": "already_held",
                       "CAMP_A/C00000002": "planted", "CAMP_A/C00000003": "planted",
                       "CAMP_B/C00000003": "planted_by_earlier_send"}
    assert not set(rows["customer_id"]) & {cid(4), cid(5)}  # control customers: no planted holding
    assert not truth["customer_id"].isin([cid(4), cid(5)]).any()
    both = pd.concat([holdings, rows], ignore_index=True)
    assert not both.duplicated(["customer_id", "product_id", "snapshot_date"]).any()
    # customer 0 closed on 2026-10-15: rows for Aug and Sep only; customer 2 keeps the bank's own Oct/Nov rows
    assert list(rows.loc[rows["customer_id"] == cid(0), "snapshot_date"].dt.strftime("%m")) == ["08", "09"]
    assert list(rows.loc[rows["customer_id"] == cid(2), "snapshot_date"].dt.strftime("%m")) == ["08", "09"]
    mine = rows[rows["customer_id"] == cid(3)]["balance"].to_numpy()
    assert (np.diff(mine) >= 0).all() and (mine >= 10_000).all()  # growing or flat, at least the minimum


def test_draws_do_not_depend_on_row_order() -> None:
    assignments = pd.concat([sends(range(300)), sends(range(300, 600), campaign="CAMP_B", channel="sms")])
    args = (customers_frame(600), build_products(), base_holdings(600), SETTINGS)
    truth, rows = plant_uptake(assignments, *args, seed=5)
    shuffled, rows2 = plant_uptake(assignments.sample(frac=1, random_state=3), *args, seed=5)
    key = ["campaign_id", "customer_id"]
    pd.testing.assert_frame_equal(truth.sort_values(key).reset_index(drop=True),
                                  shuffled.sort_values(key).reset_index(drop=True))
    pd.testing.assert_frame_equal(rows, rows2)
    other, _ = plant_uptake(assignments, *args, seed=6)
    assert not truth["drawn"].equals(other.sort_values(key)["drawn"].reset_index(drop=True))


def test_planted_effect_matches_the_added_holdings() -> None:
    assignments = pd.concat([sends(range(0, 40)), sends(range(40, 80), arm="control", status="held_out")],
                            ignore_index=True)
    products = build_products()
    truth, rows = plant_uptake(assignments, customers_frame(80), products, base_holdings(80),
                               dataclasses.replace(SETTINGS, uptake=dict.fromkeys(SETTINGS.uptake, 0.5)), seed=2)
    effect = planted_effect(truth, assignments, products, window_days=60).set_index("campaign_id").loc["CAMP_A"]
    assert (effect["treated_n"], effect["control_n"]) == (40, 40)
    assert effect["planted_conversions"] == truth["planted"].sum() > 0
    assert effect["planted_rate"] == pytest.approx(truth["planted"].sum() / 40)
    # assigned 2026-08-10, window to 2026-10-09: value at the 2026-09-30 snapshot, margin of WM_STABLE
    at_end = rows.loc[rows["snapshot_date"] == pd.Timestamp("2026-09-30"), "balance"].sum()
    assert effect["planted_value_cny"] == pytest.approx(at_end * 0.012 / 40, rel=1e-4)
    assert effect["cost_cny_per_treated"] == pytest.approx(8.0)


def _bank(tmp_path: Path, n: int) -> Path:
    data = tmp_path / "bank"
    write_table(data, "products", build_products())
    write_table(data, "holdings", base_holdings(n))
    customers = customers_frame(n)
    customers.to_parquet(table_path(data, "customers"))
    return data


def _assignments(root: Path, frame: pd.DataFrame) -> None:
    for (campaign, day), part in frame.groupby(["campaign_id", "day"]):
        folder = root / campaign / f"{day:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        part.to_parquet(folder / "assignments.parquet", index=False)


def test_respond_appends_rows_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
    data = _bank(tmp_path, 200)
    before = pq.read_table(table_path(data, "holdings"))
    _assignments(tmp_path / "runs", pd.concat([sends(range(0, 100)), sends(range(100, 200), arm="control",
                                                                           status="held_out")]))
    first = respond(tmp_path / "runs", data, data / "truth", seed=3, settings=CERTAIN)
    after = pq.read_table(table_path(data, "holdings"))
    assert first["planted"] == 100 and first["holdings_rows_added"] == 400
    assert after.num_rows == before.num_rows + 400
    assert after.slice(0, before.num_rows).equals(before)  # existing rows: same values, same order
    assert after.schema.equals(before.schema)
    content = table_path(data, "holdings").read_bytes()
    nps_bytes = (data / "nps_answers.parquet").read_bytes()
    again = respond(tmp_path / "runs", data, data / "truth", seed=3, settings=CERTAIN)
    assert (again["sent_treated_new"], again["planted"], again["holdings_rows_added"]) == (0, 0, 0)
    assert again["already_applied"] == 100
    assert table_path(data, "holdings").read_bytes() == content
    assert (data / "nps_answers.parquet").read_bytes() == nps_bytes
    assert len(pd.read_parquet(data / "truth" / EFFECT_FILE)) == 100
    # a new day's file: only its sends are applied
    _assignments(tmp_path / "runs", sends(range(0, 10), campaign="CAMP_B", product="FUND_BOND", day="2026-09-05"))
    third = respond(tmp_path / "runs", data, data / "truth", seed=3, settings=CERTAIN)
    assert (third["sent_treated_new"], third["planted"], third["holdings_rows_added"]) == (10, 10, 30)


def test_nps_answers_fall_with_contacts() -> None:
    calm = sends(range(0, 1500), arm="control", status="held_out", day="2026-09-01")
    busy_ids = range(1500, 3000)
    pushed = pd.concat([sends(busy_ids, campaign=f"PUSH_{k}", channel="sms", day=f"2026-08-{10 + 5 * k}")
                        for k in range(3)] + [sends(busy_ids, campaign="CAMP_A", day="2026-09-01")])
    settings = dataclasses.replace(SETTINGS, answer_share=1.0, delay_days=(1, 3))
    answers, truth = nps_answers(pd.concat([calm, pushed], ignore_index=True), settings, seed=9)
    assert tuple(answers.columns) == NPS_COLUMNS
    assert answers["answer_id"].is_unique and answers["answer_id"].str.len().between(1, 64).all()
    assert answers["score"].between(0, 10).all() and answers["score"].dtype == "int64"
    assert str(answers["answered_at"].dt.tz) == "UTC"
    assert answers["comment"].dropna().str.len().le(500).all() and answers["comment"].notna().any()
    assert set(answers["channel"].dropna()) <= {"sms", "rm_call"}
    contacts = truth.set_index("answer_id")["contacts_30d"]
    by = answers.assign(contacts=answers["answer_id"].map(contacts)).groupby("contacts")["score"].mean()
    assert by.index.min() == 0 and by.index.max() >= 3
    assert by.loc[0] > by.loc[by.index.max()] + 1.5  # planted: about 0.9 points lower per contact
    # one answer per customer and assignment day: ids are stable for the same seed
    again, _ = nps_answers(pd.concat([pushed, calm]), settings, seed=9)
    pd.testing.assert_frame_equal(answers, again)


def test_bad_assignments_name_file_row_and_column(tmp_path: Path) -> None:
    wrong = sends(range(3))
    wrong.loc[1, "status"] = "delivered"
    wrong.loc[2, "product_id"] = None
    _assignments(tmp_path / "runs", wrong)
    path = tmp_path / "runs" / "CAMP_A" / "2026-08-10" / "assignments.parquet"
    with pytest.raises(ContractViolation, match=r"column status row 2: not one of") as err:
        read_assignments(tmp_path / "runs")
    assert str(path) in str(err.value)
    assert {(v["row"], v["column"]) for v in err.value.violations} == {(2, "status"), (3, "product_id")}
    path.write_bytes(b"not parquet")
    with pytest.raises(InputFileError, match="cannot read the parquet file"):
        read_assignments(tmp_path / "runs")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no assignments.parquet"):
        read_assignments(tmp_path / "empty")
