"""`nbo monitor outcomes`: realised AUC, KS and calibration of audited scores; `nbo monitor backfill`:
audit the scores of a past month, so that their outcomes can be read once they mature."""

from __future__ import annotations

from typing import Any

import click

from nbo.console import emit, handles_errors, json_option
from nbo.settings import load_settings


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def outcomes_text(report: dict[str, Any]) -> str:
    """The report as a table per model: one line per score month, then its calibration by band."""
    if not report["models"]:
        return "no audited churn or delinquency scores (score some, or `nbo monitor backfill` a past month)"
    lines = []
    for m in report["models"]:
        dev = m["development"]
        lines += [f"{m['model']} (portfolio {m['portfolio']}, outcome: {m['outcome']})",
                  f"  development (v{m['version']}, test holdout): roc_auc {_figure(dev['roc_auc'])}  "
                  f"ks {_figure(dev['ks'])}",
                  f"  {'month':<8} {'scored':>7} {'n':>7} {'positives':>9} {'roc_auc':>8} {'ks':>6}  calibration by band"]
        for month in m["months"]:
            bands = "  ".join(f"{b['band']} {b['predicted']:.3f}/{b['observed']:.3f}" for b in month["bands"])
            lines.append(f"  {month['month']:<8} {month['scored']:>7} {month['n']:>7} "
                         f"{month['positives'] if month['matured'] else '-':>9} {_figure(month['roc_auc']):>8} "
                         f"{_figure(month['ks']):>6}  {bands if month['matured'] else 'not matured'}")
    lines.append("calibration: band mean predicted/observed rate")
    return "\n".join(lines)


@click.command("outcomes")
@json_option
@handles_errors
def outcomes(as_json: bool) -> None:
    """Realised ROC AUC, KS and calibration by band of the audited churn and delinquency scores, by
    score month, beside each model version's development figures; months whose outcome window the
    data does not yet cover are shown as not matured.

    Reads the audit store (NBO_SERVICE__AUDIT_URL, else the state directory's), the outcomes from the
    canonical tables of NBO_DATA_DIR and the development figures from MLflow."""
    from serving.audit.store import AuditStore
    from serving.monitoring.outcomes import outcomes_report

    settings = load_settings()
    audit = AuditStore(settings.audit_url)
    try:
        report = outcomes_report(settings, audit)
    finally:
        audit.close()
    emit(report, as_json, outcomes_text)


@click.command("backfill")
@click.option("--model", "kind", type=click.Choice(["churn", "delinquency"]), required=True,
              help="The risk model whose champion scores the month.")
@click.option("--month", required=True, metavar="YYYY-MM", help="The month to score as of (its first day).")
@json_option
@handles_errors
def backfill_command(kind: str, month: str, as_json: bool) -> None:
    """Score every customer the bank had at the start of MONTH with the champion, from that month's
    point-in-time features, and audit the scores as made at that instant (for outcome monitoring)."""
    from serving.audit.store import AuditStore
    from serving.monitoring.backfill import backfill

    settings = load_settings()
    audit = AuditStore(settings.audit_url)
    try:
        result = backfill(settings, audit, kind, month)
    finally:
        audit.close()
    emit(result, as_json, lambda r: f"{r['model']} v{r['version']}: {r['decisions']} scores of {r['month']} "
                                    f"audited at {r['created_at']}")
