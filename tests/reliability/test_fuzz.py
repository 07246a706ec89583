"""Property-based fuzzing of the running service from its own OpenAPI schema (schemathesis).

For every role's key, and for requests that follow the schema (positive) and that break it
(negative), every operation must: never answer 5xx, answer only documented status codes and
content types, match the documented response schema, and never show the app role a risk field.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Trained
from tests.reliability.conftest import SOAK
from tests.server import Server

EXAMPLES = 300 if SOAK else 6  # per operation, role and generation mode
ROLES = ("app", "rm", "risk", "admin", "payments")
# Risk figures, and the terms of the arbitration (score ÷ p_adopt ÷ margin gives the churn lever):
# the app sees none of them.
RISK_FIELDS = frozenset({"pd", "probability", "band", "reason_codes", "churn", "delinquency", "risk_band",
                         "score", "p_adopt", "flags"})
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def risk_fields_in(body: Any) -> set[str]:
    """Every key anywhere in a JSON body that names a risk figure."""
    if isinstance(body, dict):
        return (set(body) & RISK_FIELDS).union(*(risk_fields_in(v) for v in body.values()))
    if isinstance(body, list):
        return set().union(*(risk_fields_in(v) for v in body))
    return set()


@pytest.fixture(scope="module")
def api_schema(served: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{served.url}/openapi.json")


def fuzz_operation(operation: Any, mode: schemathesis.GenerationMode, url: str, role: str, key: str,
                   tally: Counter[str], failures: list[str]) -> None:
    """Send EXAMPLES generated requests for one operation as one role; record every failure."""

    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not SOAK,
                         phases=[Phase.explicit, Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        tally["requests"] += 1
        try:
            response = case.call_and_validate(base_url=url, headers={"X-API-Key": key}, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as err:  # each failure is reported, not only the first
            failures.append(f"{role} {mode.value} {operation.label}: {type(err).__name__}: {str(err)[:400]}")
            return
        tally[f"status {response.status_code}"] += 1
        if role == "app" and "json" in response.headers.get("content-type", [""])[0]:
            leaked = risk_fields_in(response.json())
            if leaked:
                failures.append(f"app {operation.label}: risk fields {sorted(leaked)} in the answer")

    try:
        check()
    except hypothesis.errors.Unsatisfiable:  # nothing to break: an operation without parameters or body
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    except (Exception, BaseExceptionGroup) as err:  # a failure hypothesis kept; report it and go on
        failures.append(f"{role} {mode.value} {operation.label}: {type(err).__name__}: {str(err)[:600]}")


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_fuzzing_as_each_role(api_schema, served: Server, trained: Trained, role: str,
                                                        record_property) -> None:
    tally: Counter[str] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            fuzz_operation(operation, mode, served.url, role, trained.keys[role], tally, failures)
    record_property("fuzz", f"{role}: {tally['requests']} requests, {len(failures)} failures, {dict(tally)}")
    assert tally["requests"] >= len(operations) * 2
    assert failures == [], f"{len(failures)} of {tally['requests']} requests failed:\n" + "\n".join(failures[:20])
