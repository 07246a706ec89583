"""`nbo score delinquency` on bad and big portfolio files: clear errors naming file, row and column,
good rows kept, and a run killed mid-write leaves no partial output (a rerun completes it)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbo.errors import InputFileError
from tests.conftest import NBO, ROOT, Trained, run_cli, settings_from
from tests.server import cli_env
from training.risk.portfolio import read_portfolio, write_frame

BIG_ROWS = 100_000


@pytest.fixture(scope="module")
def holdout(trained: Trained) -> pd.DataFrame:
    """The delinquency champion's holdout rows, each customer's latest: a realistic portfolio."""
    from training import registry
    from training.risk.review import read_holdout

    client = registry.connect(settings_from(trained.env).mlflow)
    run_id = client.get_model_version_by_alias("nbo-delinquency", "champion").run_id
    latest = read_holdout(run_id).sort_values("as_of").drop_duplicates("customer_id", keep="last")
    return latest.drop(columns=["as_of", "delinquency"]).reset_index(drop=True)


def score(trained: Trained, portfolio: Path, out: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run_cli("score", "delinquency", "--input", portfolio, "--output", out, "--json", env=trained.env,
                   check=check)


def test_ten_percent_bad_rows_are_named_by_row_and_column_and_the_rest_scored(trained, holdout, tmp_path) -> None:
    frame = holdout.astype({"utilization": object, "missed_payments_12m": object, "age_years": object})
    bad_rows = np.arange(0, len(frame), 10)  # every tenth row
    columns = ["utilization", "missed_payments_12m", "age_years", "customer_id"]
    values = ["lots", "1.5", "-3", ""]
    for n, row in enumerate(bad_rows):
        frame.at[row, columns[n % 4]] = values[n % 4]
    path = tmp_path / "portfolio.csv"
    frame.to_csv(path, index=False)
    proc = score(trained, path, tmp_path / "scores.csv")
    result = json.loads(proc.stdout)
    assert (result["rows_in"], result["rows_rejected"]) == (len(frame), len(bad_rows))
    assert result["rows_scored"] == len(frame) - len(bad_rows)
    errors = pd.read_csv(result["errors"], dtype=str)
    assert errors["row"].astype(int).tolist() == (bad_rows + 1).tolist()
    assert errors["column"].tolist() == [columns[n % 4] for n in range(len(bad_rows))]
    assert f"{path}: row 1, column utilization: not a finite number" in proc.stderr
    scored = pd.read_csv(tmp_path / "scores.csv", dtype={"customer_id": str})
    good = holdout.drop(index=bad_rows)["customer_id"]
    assert sorted(scored["customer_id"]) == sorted(good)


@pytest.mark.parametrize("damage", ["truncated parquet", "latin-1 csv"])
def test_an_unreadable_portfolio_is_a_clear_error_with_exit_code_3(trained, holdout, tmp_path, damage) -> None:
    if damage == "truncated parquet":
        path = tmp_path / "portfolio.parquet"
        holdout.to_parquet(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        words = ["not a readable parquet file"]
    else:
        path = tmp_path / "portfolio.csv"
        frame = holdout.astype({"occupation": object})
        frame.at[6, "occupation"] = "ingénieur"
        frame.to_csv(path, index=False, encoding="latin-1")
        words = ["not UTF-8", "row 7", "column occupation"]
    proc = score(trained, path, tmp_path / "scores.csv", check=False)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    body = json.loads(proc.stdout)
    assert body["error"] == "InputFileError" and str(path) in body["message"], body
    for word in words:
        assert word in body["message"], body["message"]
    assert not (tmp_path / "scores.csv").exists()


@pytest.mark.parametrize(("name", "content", "words"), [
    ("ragged.csv", "customer_id,age_years\nC00000001,40\nC00000002,41,7,8\n", ["not a readable CSV", "line 3"]),
    ("empty.csv", "", ["not a readable CSV"]),
    ("text.parquet", "customer_id,age_years\nC00000001,40\n", ["not a readable parquet file"]),
    ("portfolio.xlsx", "x", ["must be .csv or .parquet"]),
])
def test_other_unreadable_files_name_the_file_and_the_problem(tmp_path, name, content, words) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputFileError) as raised:
        read_portfolio(path)
    assert str(path) in str(raised.value) and all(w in str(raised.value) for w in words), str(raised.value)


def test_a_write_that_fails_midway_leaves_the_previous_file_whole(tmp_path) -> None:
    path = write_frame(pd.DataFrame({"customer_id": ["C00000001"], "pd": [0.1]}), tmp_path / "scores.csv")
    before = path.read_bytes()

    class Unprintable:
        def __str__(self) -> str:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_frame(pd.DataFrame({"customer_id": ["C1"] * 1000 + [Unprintable()]}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"]


def test_a_run_killed_mid_write_leaves_no_partial_output_and_a_rerun_completes(trained, holdout, tmp_path) -> None:
    big = pd.concat([holdout] * (BIG_ROWS // len(holdout) + 1), ignore_index=True).iloc[:BIG_ROWS]
    big["customer_id"] = [f"C{i:08d}" for i in range(len(big))]
    portfolio, out = tmp_path / "portfolio.parquet", tmp_path / "out" / "scores.csv"
    big.to_parquet(portfolio)
    proc = subprocess.Popen([str(NBO), "score", "delinquency", "--input", str(portfolio), "--output", str(out)],
                            env=cli_env(trained.env), cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.parent.glob(".scores.csv.*.tmp")) and proc.poll() is None:  # the write has begun
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed mid-write"
    assert not out.exists(), "a killed run left a partial output file"
    result = json.loads(score(trained, portfolio, out).stdout)
    scores = pd.read_csv(out, dtype={"customer_id": str})
    assert result["rows_scored"] == len(scores) == BIG_ROWS
    assert scores["customer_id"].is_unique and set(scores["customer_id"]) == set(big["customer_id"])
