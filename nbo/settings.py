"""The one settings object. Entry points call `load_settings()` once and pass it down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MlflowSettings(BaseModel):
    """Where MLflow keeps runs and the model registry."""

    tracking_uri: str = "file:./mlruns"
    # Where a database backend (postgresql://...) keeps artifacts; None: MLflow's ./mlruns.
    artifact_root: str | None = None


class StoreSettings(BaseModel):
    """Which stores back Feast and the audit log: the embedded default or the scale profile."""

    profile: Literal["embedded", "scale"] = "embedded"
    redis_url: str = "redis://127.0.0.1:6379/0"
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    feast_project: str = Field(default="nbo", pattern=r"^[a-z0-9][a-z0-9_]*$")


class ServiceSettings(BaseModel):
    """Where the HTTP service listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Audit log: None means SQLite (WAL) under the state dir, or PostgreSQL in the scale profile.
    audit_url: str | None = None
    challenger_share: float = Field(default=0.0, ge=0, le=1)
    refuse_stale_scores: bool = False
    pd_limit: float = Field(default=0.10, gt=0, le=1)
    # Per API key, for the whole service: sustained requests/s and burst (rate 0: no limit).
    rate_limit_per_s: float = Field(default=300.0, ge=0)
    rate_limit_burst: int = Field(default=600, ge=1)
    # Worker processes (`nbo serve --workers` sets it); each holds 1/workers of the rate limit.
    workers: int = Field(default=1, ge=1, le=64)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Settings(BaseSettings):
    """nbo's configuration, read from `NBO_*` environment variables (nested with `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="NBO_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("data/bank")
    state_dir: Path = Path("var")
    feature_repo: Path = Path("features")
    mlflow: MlflowSettings = MlflowSettings()
    stores: StoreSettings = StoreSettings()
    service: ServiceSettings = ServiceSettings()

    @property
    def feast_dir(self) -> Path:
        """Feast's local state: feature tables, file registry and SQLite online store."""
        return self.state_dir / "feast"

    @property
    def api_keys_file(self) -> Path:
        """Hashed API keys by role (what the service checks requests against)."""
        return self.state_dir / "api-keys.json"

    @property
    def demo_keys_file(self) -> Path:
        """Plain demo keys, written only by `nbo keys demo` so `nbo info` can show them."""
        return self.state_dir / "demo-keys.json"


def load_settings() -> Settings:
    """Read settings from the environment."""
    return Settings()
