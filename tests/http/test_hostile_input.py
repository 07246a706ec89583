"""Hostile input to the workbench and the API: a 4xx that says what is wrong, never a 500.

Workbench chart specs with non-finite, huge or deeply nested values, a bad `recorded` notice, and
customer ids written with Unicode digits (ids are ASCII everywhere)."""

from __future__ import annotations

import base64
import json

import pytest

CUSTOMER = "O0000000042"
FULLWIDTH = "C０００００００１"  # fullwidth digits: `\d` matches them
ARABIC_INDIC = "C٠٠٠٠٠٠٤٢"  # Arabic-Indic digits
CHART_OK = {"kind": "bars", "title": "t", "labels": ["a", "b"], "values": [1.0, -0.5]}


def _spec(text: str) -> str:
    """A spec as the page writes it: base64url of the JSON text, unpadded."""
    return base64.urlsafe_b64encode(text.encode("utf-8")).rstrip(b"=").decode("ascii")


def _lines(values: str) -> str:
    """A line chart whose one series is the raw JSON array `values` (Python's json writes NaN, Infinity)."""
    return f'{{"kind":"lines","title":"t","x_labels":["2026-01","2026-02"],"series":[{{"name":"s","values":{values}}}]}}'


def _bars(values: str) -> str:
    return f'{{"kind":"bars","title":"t","labels":["a","b"],"values":{values}}}'


def _assert_problem(response, status: int, *words: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status, body
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def test_a_valid_chart_spec_draws_an_svg(app_client, session_cookie) -> None:
    response = app_client.get("/workbench/chart.svg", params={"spec": _spec(json.dumps(CHART_OK))},
                              headers=session_cookie)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("image/svg+xml") and b"<svg" in response.content


@pytest.mark.parametrize("spec_json", [
    pytest.param(_bars("[Infinity, 1]"), id="bars-infinity"),
    pytest.param(_bars("[-Infinity, 1]"), id="bars-minus-infinity"),
    pytest.param(_bars("[1e308, -1e308]"), id="bars-1e308"),
    pytest.param(_bars("[NaN, 1]"), id="bars-nan"),
    pytest.param(_lines("[Infinity, 1]"), id="lines-infinity"),
    pytest.param(_lines("[-Infinity, 1]"), id="lines-minus-infinity"),
    pytest.param(_lines("[1e308, -1e308]"), id="lines-plus-minus-1e308"),
    pytest.param(_lines("[1e308, 1e308]"), id="lines-1e308"),
    pytest.param(_lines("[NaN, NaN]"), id="lines-all-nan"),
    pytest.param("[" * 2000 + "]" * 2000, id="nested-arrays"),
    pytest.param('{"":' * 1100 + "1" + "}" * 1100, id="nested-objects"),
    pytest.param(_lines("[" * 1500 + "]" * 1500), id="nested-in-series"),
])
def test_a_hostile_chart_spec_is_a_422_problem(app_client, session_cookie, spec_json: str) -> None:
    response = app_client.get("/workbench/chart.svg", params={"spec": _spec(spec_json)}, headers=session_cookie)
    _assert_problem(response, 422, "not a chart spec")


@pytest.mark.parametrize("params", [
    pytest.param({"narrow": "maybe", "spec": _spec(json.dumps(CHART_OK))}, id="narrow-not-a-boolean"),
    pytest.param({"spec": "x" * 9000}, id="spec-too-long"),
    pytest.param({"spec": "%%%"}, id="spec-not-base64"),
    pytest.param({}, id="no-spec"),
])
def test_bad_chart_parameters_are_a_422_problem(app_client, session_cookie, params: dict[str, str]) -> None:
    _assert_problem(app_client.get("/workbench/chart.svg", params=params, headers=session_cookie), 422)


@pytest.mark.parametrize("recorded", ["nocolon", ":", "FUND_BOND:", ":accepted", "FUND_BOND:maybe",
                                      "FUND_BOND:accepted:extra", "<b>x</b>:accepted"])
def test_a_malformed_recorded_notice_is_ignored(app_client, session_cookie, recorded: str) -> None:
    response = app_client.get(f"/workbench/customers/{CUSTOMER}", params={"lang": "en", "recorded": recorded},
                              headers=session_cookie)
    assert response.status_code == 200, response.text[:500]
    assert 'id="feedback-notice"' not in response.text
    assert 'id="offers"' in response.text


def test_a_well_formed_recorded_notice_is_shown(app_client, session_cookie) -> None:
    response = app_client.get(f"/workbench/customers/{CUSTOMER}",
                              params={"lang": "en", "recorded": "FUND_BOND:accepted"}, headers=session_cookie)
    assert response.status_code == 200, response.text[:500]
    assert 'id="feedback-notice"' in response.text


# --- identifiers are ASCII ---

@pytest.mark.parametrize("customer_id", [FULLWIDTH, ARABIC_INDIC, "C0000004２"])
@pytest.mark.parametrize(("role", "path"), [
    ("app", "/v1/customers/{}/offers"),
    ("rm", "/v1/customers/{}/churn"),
    ("rm", "/v1/customers/{}/delinquency"),
    ("risk", "/v1/customers/{}/delinquency"),
    ("rm", "/v1/customers/{}/profile"),
])
def test_a_customer_id_with_non_ascii_digits_is_a_422_problem(app_client, as_role, role, path,
                                                              customer_id) -> None:
    response = app_client.get(path.format(customer_id), headers=as_role(role))
    body = _assert_problem(response, 422, "customer_id")
    assert "C[0-9]{8}" in body["detail"]


@pytest.mark.parametrize("customer_id", [FULLWIDTH, ARABIC_INDIC])
def test_a_batch_with_non_ascii_digits_is_a_422_problem(app_client, as_role, customer_id) -> None:
    response = app_client.post("/v1/delinquency/batch", json={"customer_ids": [CUSTOMER, customer_id]},
                               headers=as_role("risk"))
    _assert_problem(response, 422, "customer_ids")


@pytest.mark.parametrize("customer_id", [FULLWIDTH, ARABIC_INDIC])
def test_an_event_with_non_ascii_digits_is_a_422_problem(app_client, as_role, customer_id) -> None:
    response = app_client.post("/v1/events", json={"events": [{"customer_id": customer_id, "event_type": "login"}]},
                               headers=as_role("app"))
    _assert_problem(response, 422, "customer_id")


@pytest.mark.parametrize("customer_id", [FULLWIDTH, ARABIC_INDIC])
def test_a_workbench_page_with_non_ascii_digits_is_a_422(app_client, session_cookie, customer_id) -> None:
    response = app_client.get(f"/workbench/customers/{customer_id}", headers=session_cookie)
    _assert_problem(response, 422, "customer_id")
