"""Shared fixtures: the CLI as a subprocess and one small synthetic bank per test session."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from nbo.settings import Settings, load_settings
from tests.server import cli_env

if TYPE_CHECKING:
    import pandas as pd
    from feast import FeatureStore

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
NBO = Path(sys.executable).parent / "nbo"

# The session's synthetic bank: small enough for a 2-core machine, big enough to learn from.
BANK_CUSTOMERS = 2000
BANK_MONTHS = 24
BANK_SEED = 7
# A fixed last month, so the bank (and every threshold measured on it) does not move with the calendar.
BANK_END_MONTH = "2026-11"
# The event time of the bank's newest feature rows (the first instant after BANK_END_MONTH): materialize
# loads up to here, so the online store serves the latest rows whatever day the tests run.
BANK_AS_OF = datetime(2026, 12, 1, tzinfo=UTC)

# What the `--fast` models score on the session bank's time-split test set, measured on the fixed bank
# as assembled through OneID with the cluster pass and attribute history (2026-12-07: its delinquency
# test part holds 19 defaults in 420 rows, so its AUC moves a lot with the bank: 0.833 before the
# attribute history; before OneID, on the generator's own tables: churn 0.755, delinquency 0.766,
# recommender 0.814; README's seed table is for those tables). Each
# model's primary metric (the one promotion compares) must reach it less METRIC_TOLERANCE: the spread
# of a fit's test AUC with the seed alone on a bank this small (README: 0.01-0.03). A missing metric fails.
PRIMARY_METRIC = {"nbo-churn": "roc_auc", "nbo-delinquency": "roc_auc", "nbo-recommender": "map_at_5"}
MEASURED_METRIC = {"nbo-churn": 0.841, "nbo-delinquency": 0.651, "nbo-recommender": 0.770}
METRIC_TOLERANCE = 0.03


def reaches_measured(model: str, metrics: dict[str, float]) -> bool:
    """Whether `metrics` has the model's primary metric at its measured value less the tolerance. The fraud
    model's test month on the session bank holds 5 fraud payments, too few for a fixed figure: its primary
    metric (fraud value held by model + rules) must reach what the rules alone hold on the same month."""
    if model == "nbo-fraud":
        return metrics["fraud_value_held"] >= metrics["rules_fraud_value_held"]
    return metrics[PRIMARY_METRIC[model]] >= MEASURED_METRIC[model] - METRIC_TOLERANCE


def daytime_in_shanghai() -> datetime:
    """The latest 12:00 Asia/Shanghai not after now (UTC): a moment outside every channel's quiet
    hours, so tests that send events "some hours ago" do not depend on the hour they run at."""
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
    return (noon if noon <= local else noon - timedelta(days=1)).astimezone(UTC)


def with_contact_consent(bank_dir: Path, customers: pd.DataFrame) -> pd.DataFrame:
    """`customers` (of the bank's customers table) with a column per contact channel (app_push, sms,
    rm_call, wechat): the bank's contact_consent, else the customer's marketing_consent."""
    import pandas as pd

    consent = pd.read_parquet(bank_dir / "contact_consent.parquet")
    out = customers.merge(consent, on="customer_id", how="left")
    for channel in consent.columns.drop("customer_id"):
        out[channel] = out[channel].fillna(out["marketing_consent"]).astype(bool)
    return out


def service_today() -> date:
    """The date the service calls today (ages, assessment expiry, closures): the UTC date, not the local one."""
    return datetime.now(UTC).date()


def run_cli(*args: object, env: dict[str, str] | None = None, check: bool = True,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `nbo ARGS...` as a user would; fail the test with its stderr if it fails and `check`."""
    proc = subprocess.run([str(NBO), *map(str, args)], capture_output=True, text=True,
                          env=cli_env(env), cwd=cwd or ROOT, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"nbo {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc


def run_json(*args: object, **kwargs: object) -> dict:
    """Run `nbo ARGS... --json` and return the one JSON object it prints."""
    proc = run_cli(*args, "--json", **kwargs)
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def generated_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded synthetic bank ending with BANK_END_MONTH, generated once per session through the CLI:
    its systems' extracts (`sources/`), the truth (`truth/`) and its own canonical tables (`C` ids)."""
    out = tmp_path_factory.mktemp("generated")
    run_cli("data", "generate", "--customers", BANK_CUSTOMERS, "--months", BANK_MONTHS,
            "--seed", BANK_SEED, "--end-month", BANK_END_MONTH, "--out", out)
    return out


def resolve_args(sources: Path) -> list[object]:
    """`--system NAME=FILE` for every extract of a sources directory, as `make demo` lists them."""
    from sources.validation import extract_files

    return [arg for system, path in extract_files(sources).items() for arg in ("--system", f"{system}={path}")]


@pytest.fixture(scope="session")
def oneid_dir(generated_bank: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`nbo identity resolve` of every extract of the session bank (its key in a state dir of its own).
    Tests that correct identities work on a copy (`private_oneid`)."""
    state = tmp_path_factory.mktemp("oneid-state")
    out = state / "identity"
    run_cli("identity", "resolve", *resolve_args(generated_bank / "sources"), "--out", out,
            env={"NBO_STATE_DIR": str(state)})
    return out


@pytest.fixture(scope="session")
def bank_dir(generated_bank: Path, oneid_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's canonical tables as `make demo` makes them: the generated bank's extracts assembled
    through OneID (`O` ids, golden records), checked by `nbo data validate --links`."""
    out = tmp_path_factory.mktemp("bank")
    run_cli("data", "assemble", "--sources", generated_bank / "sources", "--links", oneid_dir, "--out", out)
    run_cli("data", "validate", out, "--links", oneid_dir)
    return out


def private_oneid(oneid_dir: Path, into: Path) -> Path:
    """A copy of the session's OneID folder in `into`, for a test that merges or splits."""
    return Path(shutil.copytree(oneid_dir, into / "identity"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, read in place; tests that need it skip only when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent on this machine")
    return SHARED_DATA


@contextmanager
def private_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the machine's server (127.0.0.1:5432), dropped afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for the session, dropped afterwards."""
    with private_database("nbo_test") as url:
        yield url


# --- Feast features of the session bank: built once, applied and materialized in both profiles ---

@dataclass(frozen=True)
class FeatureState:
    """A Feast state dir for the session bank, and what each step reported."""

    state_dir: Path
    env: dict[str, dict[str, str]]  # profile → NBO_* variables
    build: dict
    applied: dict[str, dict]
    materialized: dict[str, dict]


def settings_from(env: dict[str, str]) -> Settings:
    """The Settings a CLI run with these NBO_* variables sees, built in-process."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return load_settings()


def _apply_and_materialize(settings: Settings) -> tuple[dict, dict]:
    """What `nbo features apply` and `materialize` do, in-process."""
    from features.repo.store import apply_repo, materialize_store, open_store

    store = open_store(settings)
    applied = apply_repo(store, settings)
    rows = materialize_store(store, settings, BANK_AS_OF)
    return {"feature_views": applied.feature_views, "feature_services": applied.feature_services}, {"rows": rows}


@pytest.fixture(scope="session")
def feature_state(bank_dir: Path, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[FeatureState]:
    """`nbo features build`, `apply` and `materialize` on SQLite; the same on Redis/Postgres in-process.

    The two profiles run side by side; a unique Feast project keeps concurrent sessions apart in
    the shared Redis.
    """
    state = tmp_path_factory.mktemp("feast")
    embedded = {"NBO_STATE_DIR": str(state), "NBO_STORES__PROFILE": "embedded",
                "NBO_STORES__FEAST_PROJECT": f"nbo_test_{uuid.uuid4().hex[:10]}"}
    scale = embedded | {"NBO_STORES__PROFILE": "scale", "NBO_STORES__POSTGRES_URL": postgres_url}
    build = run_json("features", "build", bank_dir, env=embedded)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scale_run = pool.submit(_apply_and_materialize, settings_from(scale))
        applied = run_json("features", "apply", env=embedded)
        materialized = run_json("features", "materialize", "--end", BANK_AS_OF.isoformat(), env=embedded)
        scale_applied, scale_materialized = scale_run.result()
    yield FeatureState(state, {"embedded": embedded, "scale": scale}, build,
                       {"embedded": applied, "scale": scale_applied},
                       {"embedded": materialized, "scale": scale_materialized})
    from features.repo.store import open_store

    open_store(settings_from(scale)).teardown()  # the session's keys out of the shared Redis


@pytest.fixture(scope="session")
def feature_stores(feature_state: FeatureState) -> dict[str, FeatureStore]:
    """In-process FeatureStores on the session's state: "embedded" (SQLite) and "scale" (Redis)."""
    from features.repo.store import open_store

    return {profile: open_store(settings_from(env)) for profile, env in feature_state.env.items()}


# --- Models trained on the session bank, in a temporary MLflow store ---

@dataclass(frozen=True)
class Trained:
    """Environment of a fully set-up nbo (features + champions), and the demo keys by role."""

    env: dict[str, str]
    keys: dict[str, str]
    runs: dict[str, dict]


@pytest.fixture(scope="session")
def trained(bank_dir: Path, generated_bank: Path, feature_state: FeatureState,
            tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """`nbo train churn|delinquency|recommender|fraud` (fast settings) on the session's features (fraud:
    its payments, labelled by the generated bank's truth), into a store laid out as the default one
    (SQLite database and artifacts in an `mlruns/` folder)."""
    mlruns = tmp_path_factory.mktemp("mlruns")
    env = feature_state.env["embedded"] | {"NBO_DATA_DIR": str(bank_dir),
                                           "NBO_MLFLOW__TRACKING_URI": f"sqlite:///{mlruns / 'mlflow.db'}"}
    runs = {model: run_json("train", model, "--fast", env=env) for model in ("churn", "delinquency", "recommender")}
    runs["fraud"] = run_json("train", "fraud", "--fast", "--truth", generated_bank / "truth" / "fraud.parquet", env=env)
    keys = run_json("keys", "demo", env=env)["demo_api_keys"]
    return Trained(env, keys, runs)


def private_mlflow_store(trained: Trained, into: Path) -> dict[str, str]:
    """The NBO_* variable of a copy of the session's MLflow database in `into`, for a test that moves
    aliases; the copy's runs point at the session's artifacts, which it only reads."""
    db = into / "mlflow.db"
    shutil.copyfile(trained.env["NBO_MLFLOW__TRACKING_URI"].removeprefix("sqlite:///"), db)
    return {"NBO_MLFLOW__TRACKING_URI": f"sqlite:///{db}"}
