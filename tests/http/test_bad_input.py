"""Bad input never gets a 500: every DESIGN §8 endpoint answers wrong keys, roles, parameters and
bodies with a 4xx problem+json that says what is wrong."""

from __future__ import annotations

import pytest

CUSTOMER = "O0000000042"
UNKNOWN = "C99999999"
DECISION = "0" * 32
ROLES = ("app", "rm", "risk", "admin", "payments")

# (method, path, json body, roles allowed) for every endpoint of DESIGN §8 that needs a key.
ENDPOINTS = [
    ("GET", f"/v1/customers/{CUSTOMER}/offers", None, {"app", "rm"}),
    ("GET", f"/v1/customers/{CUSTOMER}/churn", None, {"rm"}),
    ("GET", f"/v1/customers/{CUSTOMER}/delinquency", None, {"risk", "rm"}),
    ("POST", "/v1/delinquency/batch", {"customer_ids": [CUSTOMER]}, {"risk"}),
    ("GET", f"/v1/customers/{CUSTOMER}/profile", None, {"rm"}),
    ("POST", "/v1/events", {"events": [{"customer_id": CUSTOMER, "event_type": "search", "topic": "fund"}]},
     {"app"}),
    ("POST", f"/v1/offers/{DECISION}/feedback", {"product_id": "FUND_BOND", "outcome": "shown"}, {"app", "rm"}),
    ("GET", "/v1/models", None, set(ROLES)),
    ("POST", "/v1/admin/reload", None, {"admin"}),
    ("POST", "/v1/payments/score", {"payment_id": "P-1", "customer_id": CUSTOMER, "amount": 10.0, "currency": "CNY",
                                    "payee_id": "PAYEE-1", "channel": "app", "device_id": "D-1", "city": "上海",
                                    "time": "2026-12-01T10:00:00+08:00"}, {"payments"}),
    ("GET", "/v1/payments/alerts", None, {"risk"}),
    ("POST", "/v1/payments/alerts/P-1", {"outcome": "released"}, {"risk"}),
]
POSTS = [(path, role) for method, path, _, roles in ENDPOINTS if method == "POST" for role in sorted(roles)[:1]]


def _assert_problem(response, status: int | tuple[int, ...], *words: str) -> dict:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"], body
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def _call(client, method: str, path: str, headers: dict[str, str], **kwargs):
    return client.request(method, path, headers=headers, **kwargs)


# --- keys and roles ---

@pytest.mark.parametrize(("method", "path", "body"), [(m, p, b) for m, p, b, _ in ENDPOINTS])
def test_a_missing_key_is_401_on_every_endpoint(app_client, method, path, body) -> None:
    _assert_problem(_call(app_client, method, path, {}, json=body), 401, "X-API-Key")


@pytest.mark.parametrize(("method", "path", "body"), [(m, p, b) for m, p, b, _ in ENDPOINTS])
def test_an_unknown_key_is_401_on_every_endpoint(app_client, method, path, body) -> None:
    _assert_problem(_call(app_client, method, path, {"X-API-Key": "nbo_app_not-a-real-key"}, json=body), 401,
                    "unknown API key")


@pytest.mark.parametrize(("method", "path", "body", "role"),
                         [(m, p, b, r) for m, p, b, allowed in ENDPOINTS for r in ROLES if r not in allowed])
def test_a_wrong_role_is_403_on_every_endpoint(app_client, as_role, method, path, body, role) -> None:
    _assert_problem(_call(app_client, method, path, as_role(role), json=body), 403, role)


def test_a_key_that_is_not_latin1_text_is_401_not_500(app_client) -> None:
    response = app_client.get(f"/v1/customers/{CUSTOMER}/churn", headers={"X-API-Key": "ключ".encode()})
    _assert_problem(response, 401)


def test_auth_is_checked_before_the_body_is_parsed(app_client, as_role) -> None:
    """An unauthenticated or wrong-role caller learns nothing from a malformed body."""
    json_headers = {"content-type": "application/json"}
    missing = app_client.post("/v1/delinquency/batch", content=b"{nope", headers=json_headers)
    _assert_problem(missing, 401)
    wrong = app_client.post("/v1/delinquency/batch", content=b"{nope", headers=as_role("app") | json_headers)
    _assert_problem(wrong, 403)


# --- unknown things ---

@pytest.mark.parametrize(("path", "role"), [
    (f"/v1/customers/{UNKNOWN}/offers", "app"),
    (f"/v1/customers/{UNKNOWN}/offers?include_blocked=true", "rm"),
    (f"/v1/customers/{UNKNOWN}/churn", "rm"),
    (f"/v1/customers/{UNKNOWN}/delinquency", "risk"),
    (f"/v1/customers/{UNKNOWN}/profile", "rm"),
])
def test_an_unknown_customer_is_404_with_a_message(app_client, as_role, path, role) -> None:
    _assert_problem(app_client.get(path, headers=as_role(role)), 404, UNKNOWN)


def test_feedback_on_an_unknown_decision_is_404(app_client, as_role) -> None:
    response = app_client.post(f"/v1/offers/{DECISION}/feedback", json={"product_id": "FUND_BOND", "outcome": "shown"},
                               headers=as_role("app"))
    _assert_problem(response, 404, "no decision")


def test_an_unknown_path_is_a_problem_404(app_client, as_role) -> None:
    _assert_problem(app_client.get("/v1/nothing-here", headers=as_role("rm")), 404)


def test_a_wrong_method_is_405(app_client, as_role) -> None:
    _assert_problem(app_client.delete(f"/v1/customers/{CUSTOMER}/offers", headers=as_role("app")), 405)


# --- parameters ---

@pytest.mark.parametrize(("path", "role", "words"), [
    (f"/v1/customers/{CUSTOMER}/offers?k=0", "app", ("k", "greater than or equal to 1")),
    (f"/v1/customers/{CUSTOMER}/offers?k=21", "app", ("k", "less than or equal to 20")),
    (f"/v1/customers/{CUSTOMER}/offers?k=-3", "app", ("k",)),
    (f"/v1/customers/{CUSTOMER}/offers?k=five", "app", ("k", "integer")),
    (f"/v1/customers/{CUSTOMER}/offers?k=2.5", "app", ("k",)),
    (f"/v1/customers/{CUSTOMER}/offers?lang=fr", "app", ("lang",)),
    (f"/v1/customers/{CUSTOMER}/offers?lang=", "app", ("lang",)),
    (f"/v1/customers/{CUSTOMER}/offers?channel=fax", "app", ("channel",)),
    (f"/v1/customers/{CUSTOMER}/offers?include_blocked=perhaps", "rm", ("include_blocked",)),
    (f"/v1/customers/{CUSTOMER}/churn?lang=de", "rm", ("lang",)),
    (f"/v1/customers/{CUSTOMER}/delinquency?lang=xx", "risk", ("lang",)),
    ("/v1/customers/c00000042/offers", "app", ("customer_id",)),
    ("/v1/customers/C0000004/delinquency", "risk", ("customer_id",)),
    ("/v1/customers/C000000420/profile", "rm", ("customer_id",)),
    ("/v1/customers/%27%3B--/churn", "rm", ("customer_id",)),
    ("/v1/customers/C%C3%9800042/offers", "app", ("customer_id",)),
])
def test_bad_parameters_are_422_with_a_message(app_client, as_role, path, role, words) -> None:
    _assert_problem(app_client.get(path, headers=as_role(role)), 422, *words)


def test_a_malformed_decision_id_is_422(app_client, as_role) -> None:
    response = app_client.post("/v1/offers/not-a-decision/feedback", json={"product_id": "FUND_BOND",
                                                                          "outcome": "shown"},
                               headers=as_role("app"))
    _assert_problem(response, 422, "decision_id")


# --- bodies ---

def test_a_batch_above_10000_customers_is_refused_with_a_message(app_client, as_role) -> None:
    ids = [f"C{i:08d}" for i in range(1, 10_002)]
    body = _assert_problem(app_client.post("/v1/delinquency/batch", json={"customer_ids": ids},
                                           headers=as_role("risk")), (413, 422), "10000")
    assert "customer_ids" in body["detail"]


def test_a_batch_of_exactly_10000_is_accepted_shape_wise(app_client, as_role) -> None:
    """The limit is inclusive: 10,000 unknown customers all come back in `errors`, none dropped."""
    ids = [f"C9{i:07d}" for i in range(10_000)]
    response = app_client.post("/v1/delinquency/batch", json={"customer_ids": ids}, headers=as_role("risk"))
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert len(body["scores"]) + len(body["errors"]) == 10_000


@pytest.mark.parametrize("raw", [
    b"{not json", b"", b"{\"customer_ids\": [\"C00000001\"", b"\xff\xfe\x00garbage", b"null", b"[]", b"42",
    b"\"a string\"", b"{\"customer_ids\": [\"C00000001\"]} trailing",
])
@pytest.mark.parametrize(("path", "role"), [(p, r) for p, r in POSTS if p != "/v1/admin/reload"])
def test_malformed_json_on_every_post_is_a_4xx(app_client, as_role, path, role, raw) -> None:
    response = app_client.post(path, content=raw, headers=as_role(role) | {"content-type": "application/json"})
    _assert_problem(response, (400, 422))


def test_reload_ignores_a_malformed_body(app_client, as_role) -> None:
    """POST /v1/admin/reload takes no body: whatever is sent is ignored, never a 5xx."""
    response = app_client.post("/v1/admin/reload", content=b"{not json",
                               headers=as_role("admin") | {"content-type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(("path", "role"), [(p, r) for p, r in POSTS if p != "/v1/admin/reload"])
def test_a_body_that_is_not_json_is_a_4xx(app_client, as_role, path, role) -> None:
    response = app_client.post(path, content=b"customer_ids=C00000001",
                               headers=as_role(role) | {"content-type": "application/x-www-form-urlencoded"})
    _assert_problem(response, (400, 415, 422))


@pytest.mark.parametrize(("path", "role", "body", "words"), [
    ("/v1/delinquency/batch", "risk", {"customer_ids": "O0000000001"}, ("customer_ids",)),
    ("/v1/delinquency/batch", "risk", {"customer_ids": [1, 2]}, ("customer_ids",)),
    ("/v1/delinquency/batch", "risk", {"customer_ids": [None]}, ("customer_ids",)),
    ("/v1/delinquency/batch", "risk", {"customer_ids": {"O0000000001": 1}}, ("customer_ids",)),
    ("/v1/delinquency/batch", "risk", {"customers": ["O0000000001"]}, ("customer",)),
    ("/v1/delinquency/batch", "risk", {"customer_ids": ["O0000000001"], "lang": 3}, ("lang",)),
    ("/v1/delinquency/batch", "risk", {"customer_ids": ["O0000000001"], "extra": True}, ("extra",)),
    ("/v1/events", "app", {"events": "page_view"}, ("events",)),
    ("/v1/events", "app", {"events": []}, ("events",)),
    ("/v1/events", "app", {"events": [{"customer_id": CUSTOMER, "event_type": "search"}]}, ("topic",)),
    ("/v1/events", "app", {"events": [{"customer_id": 42, "event_type": "search", "topic": "fund"}]},
     ("customer_id",)),
    ("/v1/events", "app", {"events": [{"customer_id": CUSTOMER, "event_type": "search", "topic": "fund",
                                       "event_time": "yesterday"}]}, ("event_time",)),
    ("/v1/events", "app", {"events": [{"customer_id": CUSTOMER, "event_type": "search", "topic": "x" * 41}]},
     ("topic",)),
    ("/v1/events", "app", {"events": [{"customer_id": CUSTOMER, "event_type": "search", "topic": "fund"}] * 1001},
     ("events",)),
    (f"/v1/offers/{DECISION}/feedback", "app", {"product_id": 7, "outcome": "shown"}, ("product_id",)),
    (f"/v1/offers/{DECISION}/feedback", "app", {"product_id": "FUND_BOND"}, ("outcome",)),
    (f"/v1/offers/{DECISION}/feedback", "app", {"product_id": "FUND_BOND", "outcome": ["shown"]}, ("outcome",)),
    (f"/v1/offers/{DECISION}/feedback", "app", {"product_id": "fund bond", "outcome": "shown"}, ("product_id",)),
])
def test_wrong_types_in_a_body_are_422_with_a_message(app_client, as_role, path, role, body, words) -> None:
    _assert_problem(app_client.post(path, json=body, headers=as_role(role)), 422, *words)


OUTSIDER = "C09999999"  # not in the session bank: its events are refused (404) and write nothing


@pytest.mark.parametrize(("event_time", "status"), [
    ("2026-01-01T08:00:00", 404), ("2026-01-01T08:00:00+08:00", 404), ("1970-01-01T00:00:00Z", 422)])
def test_event_times_with_or_without_a_zone_are_accepted_or_refused_never_500(app_client, as_role,
                                                                              event_time, status) -> None:
    event = {"customer_id": OUTSIDER, "event_type": "page_view", "topic": "fund", "event_time": event_time}
    response = app_client.post("/v1/events", json={"events": [event]}, headers=as_role("app"))
    _assert_problem(response, status, "event_time" if status == 422 else OUTSIDER)


@pytest.mark.parametrize("event_time", ["2999-01-01T00:00:00Z", "2100-06-01T00:00:00+08:00"])
def test_an_event_in_the_future_is_refused(app_client, as_role, event_time) -> None:
    event = {"customer_id": OUTSIDER, "event_type": "page_view", "topic": "fund", "event_time": event_time}
    response = app_client.post("/v1/events", json={"events": [event]}, headers=as_role("app"))
    _assert_problem(response, 422, "event_time")
