"""Exit codes exactly as the README's table says: one run through the CLI per code, and the table
itself agrees with what the errors declare."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

import nbo.errors
from tests.conftest import ROOT, run_cli


def _readme_codes() -> dict[int, str]:
    """The README's exit-code table: code → meaning."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("Exit codes:", 1)[1].strip().split("\n\n", 1)[0]
    return {int(code): meaning.strip() for code, meaning in re.findall(r"^\| `(\d)` \| (.+?) \|$", section, re.M)}


def test_the_readme_table_has_every_code_and_every_error_declares_one_of_them() -> None:
    table = _readme_codes()
    assert sorted(table) == [0, 1, 2, 3, 4, 5]
    errors = [c for c in vars(nbo.errors).values() if isinstance(c, type) and issubclass(c, nbo.errors.NboError)]
    assert {e.exit_code for e in errors} <= set(table) - {0}
    assert "contract" in table[2] and "missing" in table[3] and "forbidden" in table[4]
    assert "model" in table[5] and "port" in table[5]


def _failed(proc, code: int) -> None:  # noqa: ANN001 - a CompletedProcess
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_0_success() -> None:
    proc = run_cli("info", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["data_dir"]


def test_1_anything_else_says_what_failed_without_a_traceback(tmp_path: Path) -> None:
    proc = run_cli("data", "generate", "--customers", 10, "--months", 2, "--out", "/dev/null/bank", "--json",
                   check=False)
    _failed(proc, 1)
    assert json.loads(proc.stdout)["error"] == "NotADirectoryError" and "/dev/null/bank" in proc.stderr


@pytest.mark.parametrize("args", [
    ("features", "materialize", "--end", "not-a-time"),  # the input breaks the contract
    ("score", "churn", "--output", "x.csv"),  # a usage error: --input is missing
], ids=["contract", "usage"])
def test_2_contract_or_usage(args: tuple[str, ...], tmp_path: Path) -> None:
    proc = run_cli(*args, env={"NBO_STATE_DIR": str(tmp_path)}, check=False)
    _failed(proc, 2)
    assert "not-a-time" in proc.stderr or "--input" in proc.stderr


def test_3_input_missing(tmp_path: Path) -> None:
    proc = run_cli("data", "validate", tmp_path / "no-such-bank", check=False)
    _failed(proc, 3)
    assert "no such data directory" in proc.stderr


def test_4_forbidden_by_the_operating_system() -> None:
    proc = run_cli("data", "generate", "--customers", 10, "--months", 2, "--out", "/sys/nbo-bank", "--json",
                   check=False)  # sysfs refuses a new directory even to root
    _failed(proc, 4)
    assert json.loads(proc.stdout)["error"] == "PermissionError" and "permission denied: /sys/nbo-bank" in proc.stderr


def test_5_a_missing_model(tmp_path: Path) -> None:
    proc = run_cli("evaluate", "nbo-churn/99", "--json", check=False,
                   env={"NBO_STATE_DIR": str(tmp_path), "NBO_MLFLOW__TRACKING_URI": f"file:{tmp_path / 'mlruns'}"})
    _failed(proc, 5)
    assert json.loads(proc.stdout)["error"] == "ModelNotFound" and "nbo-churn/99" in proc.stderr


def test_5_a_busy_port_and_no_claim_to_serve(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("serve", "--port", port, check=False, env={"NBO_STATE_DIR": str(tmp_path)})
    _failed(proc, 5)
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "serving" not in proc.stderr
