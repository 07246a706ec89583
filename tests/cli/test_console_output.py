"""What the CLI writes on stderr, for scripts and for people.

Piped: JSON lines only, no ANSI codes, Feast's registry refreshes and deprecation warnings below
INFO, `--log-level WARNING` silences INFO; sparse progress lines. On a terminal: readable lines and
a progress bar with an ETA. `--lang zh-CN` and customer numbers are accepted where they apply.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios
from pathlib import Path

import pandas as pd

from serving.audit.store import sqlite_url
from tests.conftest import BANK_AS_OF, NBO, ROOT, FeatureState, Trained, run_cli, run_json
from tests.server import cli_env

ANSI = "\x1b["
CJK = re.compile(r"[\u4e00-\u9fff]")


def _records(stderr: str) -> list[dict]:
    """Every stderr line as JSON (fails on a line that is not)."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def _materialize(state: FeatureState, *options: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*options, "features", "materialize", "--end", BANK_AS_OF.isoformat(), "--json",
                   env=state.env["embedded"])


def test_piped_materialize_is_json_lines_without_ansi_or_feast_chatter(feature_state: FeatureState) -> None:
    proc = _materialize(feature_state)
    assert ANSI not in proc.stderr and ANSI not in proc.stdout
    assert json.loads(proc.stdout)["total_rows"] > 0  # stdout: exactly one object
    records = _records(proc.stderr)
    assert not [r for r in records if "Registry cache expired" in r["event"] or "Warning" in r["event"]]
    assert not [r for r in records if r["logger"].split(".")[0] not in ("nbo", "features")]
    progress = [r for r in records if r["event"] == "progress"]
    assert progress[0]["done"] == 0 and progress[-1]["finished"] and progress[-1]["done"] == progress[-1]["total"] == 7
    assert all({"time", "level", "logger", "eta_s", "percent"} <= set(r) for r in progress[1:])


def test_debug_shows_the_chatter_as_debug_and_warning_hides_info(feature_state: FeatureState) -> None:
    debug = _records(_materialize(feature_state, "--log-level", "DEBUG").stderr)
    refreshes = [r for r in debug if r["event"] == "Registry cache expired, so refreshing"]
    assert refreshes and {r["level"] for r in refreshes} == {"debug"}
    printed = [r for r in debug if r["logger"] == "third_party.stdout"]  # what Feast printed, captured
    assert any("customer_profile" in r["event"] for r in printed)

    quiet = _materialize(feature_state, "--log-level", "WARNING")
    assert not [r for r in _records(quiet.stderr) if r["level"] in ("debug", "info")]
    text = _materialize(feature_state, "--log-level", "WARNING", "--log-format", "text")
    assert " INFO " not in text.stderr and ANSI not in text.stderr


def test_text_format_off_a_terminal_is_readable_without_colour(tmp_path: Path) -> None:
    proc = run_cli("--log-format", "text", "data", "generate", "--customers", 150, "--months", 6,
                   "--seed", 3, "--end-month", "2026-06", "--out", tmp_path / "bank")
    lines = proc.stderr.splitlines()
    assert lines and all(re.match(r"\d\d:\d\d:\d\d (INFO|WARNING) +\w", line) for line in lines), lines
    assert ANSI not in proc.stderr and "task=simulating the bank" in proc.stderr


def test_piped_progress_is_sparse(tmp_path: Path) -> None:
    months = 30
    proc = run_cli("data", "generate", "--customers", 300, "--months", months, "--seed", 3,
                   "--end-month", "2026-06", "--out", tmp_path / "bank", "--json")
    progress = [r for r in _records(proc.stderr) if r.get("task") == "simulating the bank"]
    assert 2 <= len(progress) < months / 3  # start, end and at most one line per 5 s, never one per month
    assert progress[-1]["done"] == progress[-1]["total"] == months and progress[-1]["eta_s"] == 0


def _on_terminal(*args: object, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `nbo ARGS` with stderr on a pseudo-terminal 120 columns wide; its exit code and what it drew."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([str(NBO), *map(str, args)], stdout=subprocess.DEVNULL, stderr=terminal,
                            env=cli_env(env) | {"TERM": "xterm-256color"}, cwd=ROOT)
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    return proc.wait(timeout=120), drawn.decode("utf-8", "replace")


def test_a_terminal_gets_a_progress_bar_with_eta_and_readable_lines(tmp_path: Path) -> None:
    code, drawn = _on_terminal("data", "generate", "--customers", 300, "--months", 12, "--seed", 3,
                               "--end-month", "2026-06", "--out", tmp_path / "bank")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert code == 0, plain
    assert "simulating the bank" in plain and "12/12" in plain and "eta" in plain
    assert "computing label rates" in plain and '{"' not in plain  # bars, not JSON lines


def test_customer_ids_read_in_either_case(feature_state: FeatureState) -> None:
    """The session bank's OneID ids (`O` + 10 digits); `42` → `C00000042` is tests/cli/test_console_parsing.py's."""
    env = feature_state.env["embedded"]
    lower, upper = (run_json("features", "online", ref, env=env) for ref in ("o0000000042", "O0000000042"))
    assert lower["customer_id"] == "O0000000042" and lower["values"] == upper["values"]
    refused = run_cli("features", "online", "Ｃ００００００４２", env=env, check=False)
    assert refused.returncode == 2 and "is not a customer id" in refused.stderr


def test_zh_cn_is_accepted_by_score_segments_and_triggers(trained: Trained, tmp_path: Path) -> None:
    from models.registry import connect
    from nbo.settings import MlflowSettings
    from training.risk.review import read_holdout

    client = connect(MlflowSettings(tracking_uri=trained.env["NBO_MLFLOW__TRACKING_URI"]))
    run_id = client.get_model_version_by_alias("nbo-churn", "champion").run_id
    portfolio = tmp_path / "portfolio.csv"
    holdout = read_holdout(run_id).sort_values("as_of").drop_duplicates("customer_id", keep="last")  # one row per customer
    holdout.drop(columns=["as_of", "churn"]).head(40).to_csv(portfolio, index=False)
    scored = run_json("score", "churn", "--input", portfolio, "--output", tmp_path / "scores.csv", "--lang", "zh-CN",
                      env=trained.env)
    assert scored["rows_scored"] == 40
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert scores.select_dtypes("object").apply(lambda c: c.astype(str).str.contains(CJK)).any().any()

    segments = run_cli("segments", "report", "--months", 2, "--lang", "zh-CN", env=trained.env)
    assert CJK.search(segments.stdout)

    env = trained.env | {"NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}
    fired = run_json("triggers", "run", "--as-of", BANK_AS_OF.date().isoformat(), "--lang", "zh-CN",
                     "--customer", "42", env=env)
    assert fired["as_of"] == BANK_AS_OF.date().isoformat()
    refused = run_cli("segments", "report", "--lang", "fr", env=trained.env, check=False)
    assert refused.returncode == 2 and "zh-CN" in refused.stderr
