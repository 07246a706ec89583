"""Who may read risk scores: the code, the OpenAPI schema and the README say the same (DESIGN §8:
the single delinquency score for risk and rm, the batch for risk only, churn for rm)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT

CUSTOMER = "O0000000042"
ROLES = ("app", "rm", "risk", "admin", "payments")
# (method, OpenAPI path, request path, JSON body)
RISK_ROUTES = [
    ("get", "/v1/customers/{customer_id}/delinquency", f"/v1/customers/{CUSTOMER}/delinquency", None),
    ("post", "/v1/delinquency/batch", "/v1/delinquency/batch", {"customer_ids": [CUSTOMER]}),
    ("get", "/v1/customers/{customer_id}/churn", f"/v1/customers/{CUSTOMER}/churn", None),
]


@pytest.mark.parametrize(("role", "status"), [("app", 403), ("rm", 200), ("risk", 200), ("admin", 403)])
def test_the_delinquency_score_is_for_risk_and_rm(app_client, as_role, role: str, status: int) -> None:
    response = app_client.get(f"/v1/customers/{CUSTOMER}/delinquency", headers=as_role(role))
    assert response.status_code == status, response.text
    if status == 200:
        assert 0 <= response.json()["pd"] <= 1
    else:
        assert role in response.json()["detail"]


@pytest.mark.parametrize(("role", "status"), [("app", 403), ("rm", 403), ("risk", 200), ("admin", 403)])
def test_the_delinquency_batch_is_for_risk_only(app_client, as_role, role: str, status: int) -> None:
    response = app_client.post("/v1/delinquency/batch", json={"customer_ids": [CUSTOMER]}, headers=as_role(role))
    assert response.status_code == status, response.text
    if status == 200:
        assert [s["customer_id"] for s in response.json()["scores"]] == [CUSTOMER]
    else:
        assert role in response.json()["detail"]


def _readme_roles(method: str, path: str) -> set[str]:
    """The roles of the README's endpoint table row for this operation."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = path.replace("{customer_id}", "{id}")
    row = re.search(rf"^\| `{method.upper()} {re.escape(shown)}[^`]*` \| ([^|]+) \|", readme, re.MULTILINE)
    assert row, f"no README row for {method.upper()} {shown}"
    return {r.strip() for r in row.group(1).split(",")}


@pytest.mark.parametrize(("method", "path", "url", "body"), RISK_ROUTES)
def test_the_openapi_schema_and_the_readme_name_the_roles_the_code_lets_in(app_client, as_role, method, path,
                                                                          url, body) -> None:
    admitted = {role for role in ROLES
                if app_client.request(method.upper(), url, json=body, headers=as_role(role)).status_code != 403}
    description = app_client.get("/openapi.json").json()["paths"][path][method]["description"]
    documented = re.search(r"Roles: ([a-z, ]+)", description)
    assert documented, description
    assert {r.strip() for r in documented.group(1).split(",")} == admitted
    assert _readme_roles(method, path) == admitted
