"""The one settings object. Entry points call `load_settings()` once and pass it down.

Values come from `NBO_*` environment variables and, when `NBO_CONFIG` names a TOML file, from
that file (environment variables win). One file switches every store: `config/scale.toml`.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nbo.errors import ConfigError

CONFIG_VARIABLE = "NBO_CONFIG"


class MlflowSettings(BaseModel):
    """Where MLflow keeps runs and the model registry."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a silent default

    # SQLite in mlruns/ (a relative path is from the working directory, like data_dir); postgresql://...
    # at scale; file:... is MLflow's old file store, still read and written when named explicitly.
    tracking_uri: str = "sqlite:///mlruns/mlflow.db"
    # Where new experiments keep artifacts (models, reports); None: `artifacts/` beside a SQLite
    # database, inside a file store, MLflow's ./mlruns for a server database.
    artifact_root: str | None = None

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a `sqlite:///` tracking URI (relative to the working directory), or None."""
        if not self.tracking_uri.startswith("sqlite:///"):
            return None
        return Path(self.tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])

    @property
    def artifact_location(self) -> str | None:
        """Where new experiments keep artifacts: `artifact_root`, else `artifacts/` beside a SQLite database."""
        if self.artifact_root is None and self.sqlite_path is not None:
            return str(self.sqlite_path.parent / "artifacts")
        return self.artifact_root


class StoreSettings(BaseModel):
    """Which stores back Feast and the audit log: the embedded default or the scale profile."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a silent default

    profile: Literal["embedded", "scale"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    feast_project: str = Field(default="nbo", pattern=r"^[a-z0-9][a-z0-9_]*$")
    # Offline store and point-in-time joins: DuckDB in-process, or Spark (needs Java 17+) on spark_master.
    offline: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = "local[2]"


class ServiceSettings(BaseModel):
    """Where the HTTP service listens."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a silent default

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Audit log: None means SQLite (WAL) under the state dir, or PostgreSQL in the scale profile.
    audit_url: str | None = None
    challenger_share: float = Field(default=0.0, ge=0, le=1)
    # Share of customers (stable hash, disjoint from the challenger's) held out on the non-personalised default.
    control_share: float = Field(default=0.0, ge=0, lt=1)
    refuse_stale_scores: bool = False
    pd_limit: float = Field(default=0.10, gt=0, le=1)
    # Per API key, for the whole service: sustained requests/s and burst (rate 0: no limit).
    rate_limit_per_s: float = Field(default=300.0, ge=0)
    rate_limit_burst: int = Field(default=600, ge=1)
    # Largest request body accepted (413 above it): 1 MiB, about 5x a 10,000-customer batch.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Worker processes (`nbo serve --workers` sets it); each holds 1/workers of the rate limit.
    workers: int = Field(default=1, ge=1, le=64)

    @model_validator(mode="after")
    def _shares_fit(self) -> ServiceSettings:
        """Challenger and control are disjoint slices of the customers: together at most all of them."""
        if self.challenger_share + self.control_share > 1:
            raise ValueError(f"challenger_share ({self.challenger_share}) + control_share ({self.control_share}) "
                             "must not exceed 1")
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Settings(BaseSettings):
    """nbo's configuration, read from `NBO_*` environment variables (nested with `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="NBO_", env_nested_delimiter="__", extra="forbid"
    )

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used
                                   file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then NBO_* variables, then the NBO_CONFIG file, then the defaults."""
        config = config_file()
        file_source = (TomlConfigSettingsSource(settings_cls, toml_file=config),) if config else ()
        return (init_settings, env_settings, *file_source)

    # The canonical tables the service reads: `make demo` assembles them through OneID (`nbo data assemble`).
    data_dir: Path = Path("data/customers")
    # The portfolio the service serves and `nbo score` assumes (sources.portfolio: demo is the synthetic bank).
    portfolio: str = Field(default="demo", pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    state_dir: Path = Path("var")
    feature_repo: Path = Path("features/repo")
    # The OneID folder the workbench reads (links, aliases, decisions); None: STATE/identity (var/identity).
    identity_dir: Path | None = None
    mlflow: MlflowSettings = MlflowSettings()
    stores: StoreSettings = StoreSettings()
    service: ServiceSettings = ServiceSettings()

    @property
    def feast_dir(self) -> Path:
        """Feast's local state: feature tables, file registry and SQLite online store."""
        return self.state_dir / "feast"

    @property
    def audit_url(self) -> str:
        """Where decisions (and alias changes) are audited: NBO_SERVICE__AUDIT_URL, else PostgreSQL in
        the scale profile, else SQLite in the state dir."""
        if self.service.audit_url:
            return self.service.audit_url
        if self.stores.profile == "scale":
            return self.stores.postgres_url
        return f"sqlite:///{(self.state_dir / 'audit.db').resolve()}"

    @property
    def oneid_dir(self) -> Path:
        """The OneID folder: NBO_IDENTITY_DIR, or `identity` under the state dir."""
        return self.identity_dir or self.state_dir / "identity"

    @property
    def api_keys_file(self) -> Path:
        """Hashed API keys by role (what the service checks requests against)."""
        return self.state_dir / "api-keys.json"

    @property
    def demo_keys_file(self) -> Path:
        """Plain demo keys, written only by `nbo keys demo` so `nbo info` can show them."""
        return self.state_dir / "demo-keys.json"


def config_file() -> Path | None:
    """The TOML file NBO_CONFIG names (ConfigError if it is missing or not TOML), or None."""
    named = os.environ.get(CONFIG_VARIABLE)
    if not named:
        return None
    path = Path(named)
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{CONFIG_VARIABLE}={named}: cannot read the file ({err.strerror})") from err
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{CONFIG_VARIABLE}={named}: not a TOML file: {err}") from err
    return path


def load_settings() -> Settings:
    """Read settings from the environment and the NBO_CONFIG file; ConfigError names what is wrong."""
    try:
        return Settings()
    except ValidationError as err:
        where = f" (NBO_* variables or {os.environ[CONFIG_VARIABLE]})" if os.environ.get(CONFIG_VARIABLE) else \
            " (NBO_* variables)"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"invalid settings{where}: {problems}") from err
