"""One `nbo serve` on the session's trained state for the reliability tests, with its log kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sources.io import read_table
from tests.conftest import Trained
from tests.server import Server, running_service

# `make soak` sets RELIABILITY_SOAK=1: many more fuzz examples and a longer load.
SOAK = os.environ.get("RELIABILITY_SOAK") == "1"


@pytest.fixture(scope="session")
def served(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`nbo serve` (one worker, default rate limit) on the trained state; its log in a file."""
    log_path: Path = tmp_path_factory.mktemp("serve-log") / "serve.log"
    with running_service(trained.env, log_path=log_path) as server:
        yield server


@pytest.fixture(scope="session")
def active_customers(bank_dir: Path) -> list[str]:
    """Customers with a credit row in the bank's last month (they have every feature)."""
    credit = read_table(bank_dir, "credit")
    return sorted(credit.loc[credit["month"] == credit["month"].max(), "customer_id"].unique())[:200]
