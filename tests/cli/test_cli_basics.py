"""Every command has --help; `nbo info --json` says where things are."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from nbo.cli import main
from tests.conftest import run_cli, run_json
from tests.server import cli_env


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "nbo")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="nbo")
    assert result.exit_code == 0, result.output
    assert "Usage: nbo" in result.output
    assert len(result.output.splitlines()) > 3


def test_the_console_script_runs() -> None:
    assert "Usage: nbo" in run_cli("--help").stdout


def test_info_json_names_every_location(tmp_path) -> None:
    env = {"NBO_STATE_DIR": str(tmp_path / "state")}
    run_json("keys", "demo", env=env)
    info = run_json("info", env=env)
    for key in ("data_dir", "feature_repo", "mlflow_tracking_uri", "service_url", "demo_api_keys"):
        assert key in info
    assert set(info["demo_api_keys"]) == {"app", "rm", "risk", "admin", "payments"}
    stored = (tmp_path / "state" / "api-keys.json").read_text()
    assert all(key not in stored for key in info["demo_api_keys"].values())  # only hashes are kept


def test_cli_runs_see_the_tests_settings_not_the_callers_nbo_variables(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("NBO_DATA_DIR", "/bogus/data")
    monkeypatch.setenv("NBO_STORES__PROFILE", "scale")
    monkeypatch.setenv("NBO_NOT_A_SETTING", "x")
    assert not [k for k in cli_env() if k.startswith("NBO_")]
    assert cli_env({"NBO_STATE_DIR": "/s"})["NBO_STATE_DIR"] == "/s" and cli_env()["PATH"]
    info = run_json("info", env={"NBO_STATE_DIR": str(tmp_path / "state")})
    assert info["data_dir"] != "/bogus/data" and info["store_profile"] == "embedded"
    assert info["state_dir"] == str(tmp_path / "state")


def test_global_options_and_help_texts_say_what_is_true() -> None:
    top = CliRunner().invoke(main, ["--help"], prog_name="nbo").output
    assert "--log-format" in top and "--log-level" in top
    serve = CliRunner().invoke(main, ["serve", "--help"], prog_name="nbo").output
    assert "RM workbench" in serve and "later" not in serve and "exit 5" in serve
    for path in (("score",), ("segments", "report"), ("triggers", "run")):
        assert "zh|zh-CN|en" in CliRunner().invoke(main, [*path, "--help"], prog_name="nbo").output, path
