"""`nbo monitor drift`: PSI of served risk scores and CSI of their inputs by model version and month."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings

WORST_SHOWN = 3  # features named per line of the table


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(
            f"{value[:40]!r} is not a date: give YYYY-MM-DD, e.g. 2026-11-01"
        ) from None


def report_text(report: dict[str, Any]) -> str:
    """The report as a table: model, version, month, n, score PSI, verdict and the worst features."""
    lines = [
        f"{'model':<26} {'version':>7} {'month':<7} {'n':>7} {'score PSI':>9}  {'verdict':<11} worst features"
    ]
    for entry in report["models"]:
        worst = ", ".join(
            f"{f['feature']} {f['csi']:.2f} ({f['verdict']})"
            for f in entry["features"][:WORST_SHOWN]
        )
        lines.append(
            f"{entry['model']:<26} {entry['version']:>7} {entry['month']:<7} {entry['n']:>7} "
            f"{entry['score']['psi']:>9.3f}  {entry['verdict']:<11} {worst}"
        )
    lines += [
        f"{e['model']:<26} {e['version']:>7} {e['month']:<7} {e['n']:>7}  {e['message']}"
        for e in report["unreferenced"]
    ]
    if len(lines) == 1:
        lines.append(
            "no churn or delinquency decisions in the audit"
            + (f" since {report['since']}" if report["since"] else "")
        )
    return "\n".join([*lines, "", f"rule: {report['rule']}"])


@click.command("drift")
@click.option(
    "--since",
    callback=_since,
    metavar="YYYY-MM-DD",
    help="Only decisions made on or after this day (UTC), e.g. 2026-11-01.",
)
@json_option
@handles_errors
def drift(since: date | None, as_json: bool) -> None:
    """PSI of the churn and delinquency scores and CSI of each input feature, per registered model
    version and month of the audited decisions, against the development sample logged with the
    version; verdict stable / investigate / act (README "Drift on served traffic").

    Reads the audit store the service writes (NBO_SERVICE__AUDIT_URL, else PostgreSQL in the scale profile,
    else SQLite in the state directory) and the references from the MLflow store."""
    from serving.audit.store import AuditStore
    from serving.monitoring.drift import drift_report

    settings = load_settings()
    store = AuditStore(settings.audit_url)
    try:
        report = drift_report(settings, store, since)
    finally:
        store.close()
    emit(report, as_json, report_text)
