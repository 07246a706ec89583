"""NBO_CONFIG: one TOML file switches every store; NBO_* variables still win; mistakes are named."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from nbo.databases import ensure_databases, postgres_urls
from nbo.errors import ConfigError
from nbo.settings import load_settings
from tests.conftest import ROOT, run_json

SCALE = ROOT / "config" / "scale.toml"


def test_the_scale_file_moves_every_store_to_redis_and_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBO_CONFIG", str(SCALE))
    settings = load_settings()
    assert settings.stores.profile == "scale"
    assert settings.stores.redis_url.startswith("redis://")
    assert settings.mlflow.tracking_uri.startswith("postgresql://")
    assert settings.audit_url == settings.stores.postgres_url
    assert set(postgres_urls(settings)) == {"feast_registry", "audit", "mlflow"}


def test_environment_variables_win_over_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBO_CONFIG", str(SCALE))
    monkeypatch.setenv("NBO_STORES__PROFILE", "embedded")
    monkeypatch.setenv("NBO_MLFLOW__TRACKING_URI", "file:./elsewhere")
    settings = load_settings()
    assert settings.stores.profile == "embedded"
    assert settings.mlflow.tracking_uri == "file:./elsewhere"
    assert settings.stores.feast_project == "nbo_scale"  # the rest still comes from the file


@pytest.mark.parametrize(("text", "named"), [
    ('[stores]\nprofile = "cluster"\n', "stores.profile"),
    ('[stores]\nredis = "redis://x"\n', "stores.redis"),
    ("[stores\n", "not a TOML file"),
])
def test_a_bad_file_is_refused_naming_the_file_and_the_key(text: str, named: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("NBO_CONFIG", str(config))
    with pytest.raises(ConfigError, match=named) as raised:
        load_settings()
    assert str(config) in str(raised.value)


def test_a_missing_file_is_a_clear_cli_error(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    proc = run_cli("info", "--json", env={"NBO_CONFIG": str(tmp_path / "nope.toml")}, check=False)
    assert proc.returncode == 2
    assert "nope.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_stores_init_creates_the_missing_databases_once(tmp_path: Path) -> None:
    name = f"nbo_init_{uuid.uuid4().hex[:10]}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    config = tmp_path / "scale.toml"
    config.write_text(SCALE.read_text(encoding="utf-8").replace("postgresql://postgres@127.0.0.1:5432/nbo_scale", url)
                      .replace("postgresql://postgres@127.0.0.1:5432/nbo_mlflow", url), encoding="utf-8")
    env = {"NBO_CONFIG": str(config)}
    try:
        first = run_json("stores", "init", env=env)["databases"]
        again = run_json("stores", "init", env=env)["databases"]
        assert {d["use"] for d in first} == {"feast_registry", "audit", "mlflow"}
        assert all(d["database"] == name for d in first)
        assert [d["created"] for d in first] == [True, True, True]  # one database, created by the first use
        assert [d["created"] for d in again] == [False, False, False]
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_no_postgresql_in_the_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NBO_CONFIG", raising=False)
    assert ensure_databases(load_settings()) == []
