"""A few seconds of the load benchmark's mix (benchmarks/load.py) at a fixed rate: no errors, and
the audit holds exactly what was acknowledged. `make bench` runs the same for 60 s."""

from __future__ import annotations

from benchmarks.load import audited, run_mix, summarize
from tests.conftest import Trained
from tests.reliability.conftest import SOAK
from tests.server import Server

RATE_PER_S = 20.0
SECONDS = 60.0 if SOAK else 4.0


def test_the_mix_at_a_fixed_rate_has_no_errors_and_the_audit_equals_what_was_acknowledged(
        served: Server, trained: Trained, active_customers: list[str], record_property) -> None:
    run = run_mix(served.url, trained.keys, active_customers, RATE_PER_S, SECONDS)
    total = summarize(run, audited(served.env, run), RATE_PER_S, SECONDS)[-1]
    record_property("load", total)
    assert total["requests"] == int(RATE_PER_S * SECONDS), run.statuses
    assert total["errors"] == 0, run.statuses
    assert run.offers_acked > 0 and run.feedback_ids, run.statuses
    assert total["audit_equals_acknowledged"], total
