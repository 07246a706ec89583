"""`nbo monitor`: how the served models behave on today's customers (drift, realised outcomes)."""

from __future__ import annotations

import click

from serving.monitoring.drift_cli import drift
from serving.monitoring.outcomes_cli import backfill_command, outcomes


@click.group("monitor")
def monitor_group() -> None:
    """Drift of served scores and inputs, and realised outcomes, read from the audit store."""


monitor_group.add_command(drift)
monitor_group.add_command(outcomes)
monitor_group.add_command(backfill_command)
