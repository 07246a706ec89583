"""Champion/challenger comparison: audited offer decisions joined with their feedback.

For each variant that served offer decisions (`champion`, `challenger`):

- `decisions`: audited offer decisions (kind `offers`) created since `since`;
- `offers_shown`: distinct (decision, product) pairs with any feedback: an offer clicked, accepted
  or dismissed was shown, so every outcome counts it once;
- `clicked`, `accepted`, `dismissed`: distinct (decision, product) pairs with that outcome;
- `acceptance_rate`: accepted / offers_shown, with its 95% Wilson score interval.

The comparison is a two-sided two-proportion z-test (pooled) of the challenger's acceptance rate
against the champion's. Feedback on non-offer decisions (e.g. churn scores) is ignored.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evaluation.proportions import two_proportion_z_test, wilson_interval
from serving.audit.store import AuditStore, decisions, feedback

VARIANTS = ("champion", "challenger")


@dataclass(frozen=True)
class VariantOutcome:
    """What one variant's offers achieved."""

    variant: str
    decisions: int
    offers_shown: int
    clicked: int
    accepted: int
    dismissed: int
    acceptance_rate: float | None
    acceptance_ci95: tuple[float, float] | None


def _outcome(variant: str, n_decisions: int, pairs: dict[tuple[str, str], set[str]]) -> VariantOutcome:
    shown = len(pairs)
    counts = {o: sum(1 for outcomes in pairs.values() if o in outcomes) for o in ("clicked", "accepted", "dismissed")}
    rate = counts["accepted"] / shown if shown else None
    return VariantOutcome(variant, n_decisions, shown, counts["clicked"], counts["accepted"], counts["dismissed"],
                          rate, wilson_interval(counts["accepted"], shown))


def challenger_report(store: AuditStore, since: datetime | None = None) -> dict[str, Any]:
    """Acceptance per variant and the challenger-vs-champion test, from the audit store."""
    offer_decisions = decisions.c.kind == "offers"
    if since is not None:
        offer_decisions = sa.and_(offer_decisions, decisions.c.created_at >= since)
    count_query = (sa.select(decisions.c.variant, sa.func.count()).where(offer_decisions)
                   .group_by(decisions.c.variant))
    feedback_query = (sa.select(decisions.c.variant, feedback.c.decision_id, feedback.c.product_id,
                                feedback.c.outcome)
                      .join(decisions, decisions.c.decision_id == feedback.c.decision_id).where(offer_decisions))
    with store.engine.connect() as conn:
        n_decisions = {variant: int(n) for variant, n in conn.execute(count_query)}
        pairs: dict[str, dict[tuple[str, str], set[str]]] = {}
        for variant, decision_id, product_id, outcome in conn.execute(feedback_query):
            pairs.setdefault(variant, {}).setdefault((decision_id, product_id), set()).add(outcome)
    variants = [v for v in VARIANTS if v in n_decisions] + sorted(set(n_decisions) - set(VARIANTS))
    outcomes = {v: _outcome(v, n_decisions[v], pairs.get(v, {})) for v in variants}
    comparison = None
    if "champion" in outcomes and "challenger" in outcomes:
        champion, challenger = outcomes["champion"], outcomes["challenger"]
        test = two_proportion_z_test(challenger.accepted, challenger.offers_shown,
                                     champion.accepted, champion.offers_shown)
        comparison = {
            "difference": (challenger.acceptance_rate - champion.acceptance_rate
                           if challenger.acceptance_rate is not None and champion.acceptance_rate is not None
                           else None),
            "z": test[0] if test else None,
            "p_value": test[1] if test else None,
            "test": "two-sided two-proportion z-test (pooled), challenger vs champion acceptance rate",
        }
    return {
        "since": since.isoformat() if since else None,
        "variants": {v: {k: (list(x) if isinstance(x, tuple) else x) for k, x in asdict(o).items() if k != "variant"}
                     for v, o in outcomes.items()},
        "comparison": comparison,
    }


def report_text(report: dict[str, Any]) -> str:
    """The report as a small table for people."""
    head = f"{'variant':<11} {'decisions':>9} {'shown':>7} {'clicked':>7} {'accepted':>8} {'rate':>7}  95% CI"
    lines = [f"offer decisions since {report['since'] or 'the beginning'}", head]
    for variant, o in report["variants"].items():
        rate = "-" if o["acceptance_rate"] is None else f"{o['acceptance_rate']:.1%}"
        ci = "-" if o["acceptance_ci95"] is None else f"{o['acceptance_ci95'][0]:.1%}-{o['acceptance_ci95'][1]:.1%}"
        lines.append(f"{variant:<11} {o['decisions']:>9} {o['offers_shown']:>7} {o['clicked']:>7} "
                     f"{o['accepted']:>8} {rate:>7}  {ci}")
    if not report["variants"]:
        lines.append("(no offer decisions)")
    c = report["comparison"]
    if c is None:
        lines.append("no comparison: both a champion and a challenger must have served decisions")
    elif c["p_value"] is None:
        lines.append("no comparison yet: not enough feedback on both variants")
    else:
        lines.append(f"challenger - champion: {c['difference']:+.1%} (z = {c['z']:.2f}, p = {c['p_value']:.3g}, "
                     "two-proportion z-test)")
    return "\n".join(lines)
