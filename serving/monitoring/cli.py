"""`nbo monitor`: how the served models behave on today's customers (drift, realised outcomes)."""

from __future__ import annotations

import click


@click.group("monitor")
def monitor_group() -> None:
    """Drift of served scores and inputs, and realised outcomes, read from the audit store."""


from serving.monitoring.drift_cli import drift  # noqa: E402 - each command attached after the group
from serving.monitoring.outcomes_cli import backfill_command, outcomes  # noqa: E402 - attached below

monitor_group.add_command(drift)
monitor_group.add_command(outcomes)
monitor_group.add_command(backfill_command)
