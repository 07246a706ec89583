"""One `nbo serve` on the session's trained state for the reliability tests, with its log kept."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.repo.store import apply_repo, open_store
from sources.io import read_table
from tests.conftest import Trained, settings_from
from tests.server import Server, running_service

# `make soak` sets RELIABILITY_SOAK=1: many more fuzz examples and a longer load.
SOAK = os.environ.get("RELIABILITY_SOAK") == "1"


def private_state(trained: Trained, where: Path) -> dict[str, str]:
    """The trained env on a copy of its state dir (re-applied, so Feast writes into the copy): what
    these tests push and feed back does not change what other tests see."""
    state = where / "state"
    shutil.copytree(trained.env["NBO_STATE_DIR"], state)
    env = trained.env | {"NBO_STATE_DIR": str(state)}
    settings = settings_from(env)
    apply_repo(open_store(settings), settings)
    return env


@pytest.fixture(scope="session")
def served(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`nbo serve` (one worker, default rate limit) on a private copy of the trained state; its log in a file."""
    where = tmp_path_factory.mktemp("served")
    with running_service(private_state(trained, where), log_path=where / "serve.log") as server:
        yield server


@pytest.fixture(scope="session")
def active_customers(bank_dir: Path) -> list[str]:
    """Customers with a credit row in the bank's last month (they have every feature)."""
    credit = read_table(bank_dir, "credit")
    return sorted(credit.loc[credit["month"] == credit["month"].max(), "customer_id"].unique())[:200]
