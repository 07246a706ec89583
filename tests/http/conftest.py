"""The real app on the session's real stores and models, through FastAPI's test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from sources.io import read_table
from tests.conftest import Trained, settings_from


@pytest.fixture(scope="session")
def app_client(trained: Trained) -> Iterator[TestClient]:
    with TestClient(create_app(settings_from(trained.env)), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def as_role(app_client: TestClient, trained: Trained) -> Callable[[str | None], dict[str, str]]:
    """Headers for a role (`None`: no key at all)."""
    return lambda role: {} if role is None else {"X-API-Key": trained.keys[role]}


@pytest.fixture(scope="module")
def session_cookie(app_client: TestClient, trained: Trained) -> Iterator[dict[str, str]]:
    """An RM's workbench session (the `Cookie` header), without leaving the cookie in the shared client."""
    response = app_client.post("/workbench/login", data={"key": trained.keys["rm"], "lang": "en"},
                               follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = response.cookies["nbo_workbench"]
    app_client.cookies.clear()
    yield {"Cookie": f"nbo_workbench={cookie}"}


def consenting_active(bank_dir: Path, limit: int) -> list[str]:
    """The first `limit` open customers with marketing consent, active in the bank's last month (a
    campaign's audience: they get personalised offers)."""
    frame = read_table(bank_dir, "customers")
    credit = read_table(bank_dir, "credit")
    active = set(credit.loc[credit["month"] == credit["month"].max(), "customer_id"])
    chosen = frame[frame["marketing_consent"] & frame["close_date"].isna() & frame["customer_id"].isin(active)]
    return sorted(chosen["customer_id"])[:limit]
