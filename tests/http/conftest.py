"""The real app on the session's real stores and models, through FastAPI's test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
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
