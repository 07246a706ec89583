"""Request ids: the caller's `X-Request-ID` is echoed and audited only in a bounded, safe form."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

NEW_ID = re.compile(r"^[0-9a-f]{32}$")
CUSTOMER = "O0000000001"


def _offers(app_client: TestClient, headers: dict[str, str], request_id: str) -> tuple[str, str]:
    """(echoed request id, request id stored with the audited decision) of one offer request."""
    response = app_client.get(f"/v1/customers/{CUSTOMER}/offers", headers=headers | {"X-Request-ID": request_id})
    assert response.status_code == 200, response.text
    stored = app_client.app.state.audit.get_decision(response.json()["decision_id"]).request_id  # type: ignore[attr-defined]
    return response.headers["X-Request-ID"], stored


@pytest.mark.parametrize("sent", ["x" * 100_000, "y" * 65, "a b", "<script>", "id/../etc", "a%0d%0aSet-Cookie:x"])
def test_an_unbounded_or_unsafe_request_id_is_replaced_by_a_new_one(
        app_client: TestClient, as_role: Callable[[str | None], dict[str, str]], sent: str) -> None:
    echoed, stored = _offers(app_client, as_role("app"), sent)
    assert NEW_ID.match(echoed), echoed[:100]
    assert stored == echoed


@pytest.mark.parametrize("sent", ["a" * 64, "req-2026.12.05_0001", "O0000000001-3-abcdef01"])
def test_a_safe_request_id_of_at_most_64_characters_is_kept(
        app_client: TestClient, as_role: Callable[[str | None], dict[str, str]], sent: str) -> None:
    assert _offers(app_client, as_role("app"), sent) == (sent, sent)


def test_an_unsafe_request_id_is_replaced_on_an_error_answer_too(app_client: TestClient) -> None:
    response = app_client.get(f"/v1/customers/{CUSTOMER}/offers", headers={"X-Request-ID": "z" * 100_000})
    assert response.status_code == 401 and response.json()["title"] == "Unauthorized"
    assert NEW_ID.match(response.headers["X-Request-ID"])
