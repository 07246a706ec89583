"""`nbo data respond`: the synthetic customers answer a campaign run's sends, on a tiny generated bank."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sources.io import table_path
from sources.synthetic.responses import EFFECT_FILE, NPS_COLUMNS
from tests.conftest import run_cli, run_json
from tests.unit.test_campaign_responses import sends


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("respond") / "bank"
    run_cli("data", "generate", "--customers", 300, "--months", 6, "--seed", 3, "--end-month", "2026-10",
            "--out", out, "--no-extracts")
    return out


def _write(root: Path, frame: pd.DataFrame) -> Path:
    day = pd.Timestamp(frame["day"].iloc[0])
    path = root / str(frame["campaign_id"].iloc[0]) / f"{day:%Y-%m-%d}" / "assignments.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _campaign(bank: Path) -> pd.DataFrame:
    ids = pd.read_parquet(table_path(bank, "customers"), columns=["customer_id"])["customer_id"].tolist()
    treated = sends(range(150), channel="rm_call", product="FUND_BOND", day="2026-07-12")
    control = sends(range(150, 300), arm="control", status="held_out", day="2026-07-12")
    frame = pd.concat([treated, control], ignore_index=True)
    frame["customer_id"] = ids[:300]
    return frame


def test_respond_plants_uptake_and_keeps_the_bank_valid(tiny_bank: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs, _campaign(tiny_bank))
    settings = tmp_path / "responses.toml"
    default = (Path(__file__).parents[2] / "sources" / "synthetic" / "responses.toml").read_text(encoding="utf-8")
    settings.write_text(default.replace("rm_call = 0.20", "rm_call = 0.50"), encoding="utf-8")
    rows_before = pq.read_metadata(table_path(tiny_bank, "holdings")).num_rows
    args = ("data", "respond", "--assignments", runs, "--data", tiny_bank, "--truth", tiny_bank / "truth",
            "--seed", 4, "--settings", settings)
    result = run_json(*args)
    assert result["sent_treated_new"] == 150 and result["by_channel"]["rm_call"]["probability"] == 0.5
    assert 40 <= result["drawn"] <= 110 and 0 < result["planted"] <= result["drawn"]
    assert pq.read_metadata(table_path(tiny_bank, "holdings")).num_rows == rows_before + result["holdings_rows_added"]
    truth = pd.read_parquet(tiny_bank / "truth" / EFFECT_FILE)
    assert len(truth) == 150 and truth["planted"].sum() == result["planted"]
    (effect,) = result["effect"]
    assert (effect["treated_n"], effect["control_n"]) == (150, 150)
    assert effect["planted_rate"] == pytest.approx(effect["planted_conversions"] / 150)
    nps = pd.read_parquet(tiny_bank / "nps_answers.parquet")
    assert tuple(nps.columns) == NPS_COLUMNS and len(nps) == result["nps_answers"] > 0
    valid = run_cli("data", "validate", tiny_bank, "--json", check=False)
    assert valid.returncode == 0, valid.stdout[-2000:]


def test_a_bad_assignments_file_is_named_with_its_column(tiny_bank: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs, _campaign(tiny_bank))
    bad = _write(runs, sends(range(3), campaign="CAMP_BAD").drop(columns="channel"))
    proc = run_cli("data", "respond", "--assignments", runs, "--data", tiny_bank, "--truth", tmp_path / "truth",
                   "--seed", 1, "--json", check=False)
    assert proc.returncode == 2
    body = json.loads(proc.stdout)
    assert str(bad) in body["message"] and "channel" in body["message"]
    assert not (tmp_path / "truth" / EFFECT_FILE).exists()

    proc = run_cli("data", "respond", "--assignments", tmp_path / "nowhere", "--data", tiny_bank,
                   "--truth", tmp_path / "truth", "--seed", 1, check=False)
    assert proc.returncode == 3 and "no such assignments directory" in proc.stderr
