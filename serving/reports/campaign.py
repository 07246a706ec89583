"""Campaign effect, read from the audit: the funnel shown → clicked → accepted overall and by
product, channel and segment; champion vs challenger acceptance with 95% intervals; the value of
accepted offers; and the trend by ISO week.

Counting is `serving/reports/challenger.py`'s: an offer is a distinct (decision, product) pair,
shown when it has any feedback, clicked or accepted when that outcome is among its feedback. Only
decisions that carry offers (kinds `offers` and `trigger`) count, selected and grouped by their
creation time (UTC, `since` ≤ created_at < `until`). The database joins and counts; one row per
group comes back. A decision without a `channel` or `rfm_segment` in its payload counts as
"unknown".

Value of an accepted offer = the product's margin_rate × its category's reference ticket
(`serving/reports/campaign.toml`); a product missing from the catalogue is worth 0.

Lift over control (`control_lift`, None unless both arms have shown offers): the personalised arm
(variants champion and challenger, every decision of theirs, the customers without consent too: the
arms are compared as assigned) against the control group (variant `control`, held out on the
non-personalised default). Acceptance: the difference of rates with a Newcombe hybrid score 95%
interval and a pooled two-proportion z-test. Value per shown offer (0 unless accepted, else the value
above): the difference of means with a Welch t 95% interval. `significant`: the interval excludes 0.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from evaluation.means import Sample, welch_difference
from evaluation.proportions import difference_interval, two_proportion_z_test, wilson_interval
from nbo.errors import ContractViolation
from serving.audit.store import AuditStore, decisions, feedback
from serving.decisions.variants import CONTROL
from serving.reports.challenger import VARIANTS
from serving.workbench.charts import Lines, Series

OFFER_KINDS = ("offers", "trigger")
UNKNOWN = "unknown"
DIMENSIONS = ("product", "channel", "segment", "variant", "week")
STAGES = ("shown", "clicked", "accepted")
PAIRS = "variant_product"  # counts by variant and product, keyed "variant:product", for the lift's value
PERSONALISED = ("champion", "challenger")
TICKETS_FILE = Path(__file__).with_name("campaign.toml")
Counts = tuple[int, int, int]  # shown, clicked, accepted
Catalogue = Mapping[str, Mapping[str, object]]


@dataclass(frozen=True)
class Tickets:
    """The reference ticket of each product category (CNY), and the file's version."""

    version: str
    by_category_cny: dict[str, float]


def load_tickets(path: Path = TICKETS_FILE) -> Tickets:
    """Read the tickets file; a malformed one is a clear error, never a silent default."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        tickets = Tickets(str(raw["version"]), {str(k): float(v) for k, v in raw["ticket_cny"].items()})
    except (OSError, KeyError, TypeError, ValueError, AttributeError, tomllib.TOMLDecodeError) as err:
        raise ContractViolation(f"{path}: invalid tickets file: {err}") from err
    if any(v < 0 or not math.isfinite(v) for v in tickets.by_category_cny.values()):
        raise ContractViolation(f"{path}: tickets must be finite and not negative")
    return tickets


def _payload_text(dialect: str, key: str) -> sa.ColumnElement[Any]:
    """The payload's top-level `key` as text, "unknown" when absent or null."""
    if dialect == "postgresql":
        value: sa.ColumnElement[Any] = sa.cast(decisions.c.payload, JSONB)[key].astext
    else:
        value = sa.func.json_extract(decisions.c.payload, f"$.{key}")
    return sa.func.coalesce(value, UNKNOWN)


def _week_start(dialect: str) -> sa.ColumnElement[Any]:
    """The Monday that starts the decision's ISO week (UTC), as YYYY-MM-DD."""
    if dialect == "postgresql":
        monday = sa.func.date_trunc("week", sa.func.timezone("UTC", decisions.c.created_at))
        return sa.func.to_char(monday, "YYYY-MM-DD")
    return sa.func.date(decisions.c.created_at, "weekday 0", "-6 days")  # next Sunday (or today), back 6 days


def _counts_query(dialect: str, since: datetime | None, until: datetime | None) -> sa.CompoundSelect:
    """(dimension, key, shown, clicked, accepted) for the total and for each of DIMENSIONS."""
    d, f = decisions.c, feedback.c
    period = [d.created_at >= since] if since else []
    period += [d.created_at < until] if until else []
    rows = (sa.select(f.decision_id, f.product_id.label("product"), f.outcome, d.variant,
                      _payload_text(dialect, "channel").label("channel"),
                      _payload_text(dialect, "rfm_segment").label("segment"), _week_start(dialect).label("week"))
            .select_from(feedback.join(decisions, d.decision_id == f.decision_id))
            .where(d.kind.in_(OFFER_KINDS), *period).subquery("feedback_rows"))
    r = rows.c
    pairs = (sa.select(r.product, r.channel, r.segment, r.variant, r.week,
                       *(sa.func.max(sa.case((r.outcome == s, 1), else_=0)).label(s) for s in STAGES[1:]))
             .group_by(r.decision_id, r.product, r.channel, r.segment, r.variant, r.week).cte("pairs"))
    p = pairs.c
    stages = (sa.func.count(), sa.func.coalesce(sa.func.sum(p.clicked), 0), sa.func.coalesce(sa.func.sum(p.accepted), 0))
    total = sa.select(sa.literal("total", sa.String), sa.literal("all", sa.String), *stages).select_from(pairs)
    by_pair = (sa.select(sa.literal(PAIRS, sa.String), sa.cast(p.variant, sa.String).concat(":").concat(p.product),
                         *stages).group_by(p.variant, p.product))
    return sa.union_all(total, by_pair, *(sa.select(sa.literal(name, sa.String), sa.cast(p[name], sa.String), *stages)
                                          .group_by(p[name]) for name in DIMENSIONS))


def _funnel(counts: Counts) -> dict[str, Any]:
    shown, clicked, accepted = counts
    return {"shown": shown, "clicked": clicked, "accepted": accepted,
            "click_rate": clicked / shown if shown else None, "acceptance_rate": accepted / shown if shown else None}


def _rows(counts: dict[str, Counts], key: str) -> list[dict[str, Any]]:
    """One funnel row per key, most shown first."""
    return [{key: k, **_funnel(c)} for k, c in sorted(counts.items(), key=lambda kc: (-kc[1][0], kc[0]))]


def _value_per_accepted(attrs: Mapping[str, object], tickets: Tickets) -> float:
    """margin_rate × the category's reference ticket (CNY); 0 without either."""
    category = str(attrs["category"]) if "category" in attrs else None
    ticket_cny = tickets.by_category_cny.get(category, 0.0) if category else 0.0
    margin_rate = attrs.get("margin_rate")
    return float(margin_rate) * ticket_cny if isinstance(margin_rate, int | float) else 0.0


def _products(counts: dict[str, Counts], catalogue: Catalogue, tickets: Tickets) -> list[dict[str, Any]]:
    rows = []
    for row in _rows(counts, "product_id"):
        attrs = catalogue.get(row["product_id"], {})
        category = str(attrs["category"]) if "category" in attrs else None
        per_offer = _value_per_accepted(attrs, tickets)
        rows.append(row | {"name_en": str(attrs.get("name_en", row["product_id"])),
                           "name_zh": str(attrs.get("name_zh", row["product_id"])), "category": category,
                           "value_per_accepted_cny": per_offer, "value_cny": per_offer * row["accepted"]})
    return rows


def _variants(counts: dict[str, Counts]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Each variant's funnel with its acceptance interval, and challenger − champion."""
    order = [v for v in VARIANTS if v in counts] + sorted(set(counts) - set(VARIANTS))
    variants = {v: _funnel(counts[v]) | {"acceptance_ci95": wilson_interval(counts[v][2], counts[v][0])}
                for v in order}
    if "champion" not in counts or "challenger" not in counts:
        return variants, None
    (n1, _, x1), (n2, _, x2) = counts["challenger"], counts["champion"]
    test = two_proportion_z_test(x1, n1, x2, n2)
    return variants, {"difference": x1 / n1 - x2 / n2, "difference_ci95": difference_interval(x1, n1, x2, n2),
                      "z": test[0] if test else None, "p_value": test[1] if test else None,
                      "test": "challenger − champion acceptance rate: Newcombe hybrid score 95% interval, "
                              "two-sided two-proportion z-test (pooled)"}


def _control_lift(pairs: dict[str, Counts], catalogue: Catalogue, tickets: Tickets) -> dict[str, Any] | None:
    """Personalised (champion + challenger) against control: acceptance and value per shown offer."""
    arms = {arm: Sample(0, 0.0, 0.0) for arm in ("personalised", CONTROL)}
    accepted = dict.fromkeys(arms, 0)
    for key, (shown, _, taken) in pairs.items():
        variant, product = key.split(":", 1)
        arm = "personalised" if variant in PERSONALISED else CONTROL if variant == CONTROL else None
        if arm is None:
            continue
        value = _value_per_accepted(catalogue.get(product, {}), tickets)
        s = arms[arm]
        arms[arm] = Sample(s.n + shown, s.total + taken * value, s.squares + taken * value * value)
        accepted[arm] += taken
    (n1, x1), (n2, x2) = ((arms[a].n, accepted[a]) for a in ("personalised", CONTROL))
    if n1 == 0 or n2 == 0:
        return None
    interval = difference_interval(x1, n1, x2, n2)
    test = two_proportion_z_test(x1, n1, x2, n2)
    value = welch_difference(arms["personalised"], arms[CONTROL])
    return {"acceptance": {"personalised": x1 / n1, "control": x2 / n2, "lift": x1 / n1 - x2 / n2,
                           "lift_ci95": interval, "p_value": test[1] if test else None,
                           "significant": interval is not None and (interval[0] > 0 or interval[1] < 0)},
            "value": {"personalised_per_offer_cny": arms["personalised"].mean,
                      "control_per_offer_cny": arms[CONTROL].mean,
                      "lift_cny": arms["personalised"].mean - arms[CONTROL].mean,
                      "lift_ci95": value.interval if value else None,
                      "significant": value is not None and (value.interval[0] > 0 or value.interval[1] < 0)},
            "test": "personalised (champion + challenger) − control, per shown offer: acceptance rate with a "
                    "Newcombe hybrid score 95% interval and a two-sided pooled two-proportion z-test; value "
                    "(margin × ticket when accepted, else 0) with a Welch t 95% interval; significant: the "
                    "interval excludes 0"}


def _weeks(counts: dict[str, Counts]) -> list[dict[str, Any]]:
    rows = []
    for start, c in sorted(counts.items()):
        year, week, _ = date.fromisoformat(start).isocalendar()
        rows.append({"week": f"{year}-W{week:02d}", "week_start": start, **_funnel(c)})
    return rows


def page_period(start: str, end: str) -> tuple[datetime | None, datetime | None]:
    """The workbench's from/to days (YYYY-MM-DD, `end` included, blank for open) as since/until."""
    try:
        first, last = (date.fromisoformat(day) if day else None for day in (start, end))
        return (datetime.combine(first, time(), UTC) if first else None,
                datetime.combine(last + timedelta(days=1), time(), UTC) if last else None)
    except (ValueError, OverflowError) as err:
        raise ContractViolation(f"dates are YYYY-MM-DD: {err}") from err


def utc_period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """[since, until) in UTC (a moment without an offset is taken as UTC), either end open.

    Raises:
        ContractViolation: a moment out of range in UTC, or `since` not before `until`.
    """
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and since >= until:
        raise ContractViolation("since must be before until")
    return since, until


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError as err:
        raise ContractViolation(f"{moment.isoformat()} is out of range in UTC") from err


def campaign_effect(store: AuditStore, catalogue: Catalogue, since: datetime | None = None,
                    until: datetime | None = None, tickets: Tickets | None = None) -> dict[str, Any]:
    """The campaign effect of the offer decisions created in [since, until), either end open.

    Raises:
        ContractViolation: `since` is not before `until`, or the tickets file is malformed.
    """
    since, until = utc_period(since, until)
    tickets = tickets or load_tickets()
    groups: dict[str, dict[str, Counts]] = {name: {} for name in ("total", PAIRS, *DIMENSIONS)}
    with store.engine.connect() as conn:
        for dimension, key, shown, clicked, accepted in conn.execute(
                _counts_query(store.engine.dialect.name, since, until)):
            groups[dimension][str(key)] = (int(shown), int(clicked), int(accepted))
    products = _products(groups["product"], catalogue, tickets)
    variants, comparison = _variants(groups["variant"])
    return {"since": since, "until": until, "tickets_version": tickets.version,
            "funnel": _funnel(groups["total"]["all"]), "value_cny": sum(p["value_cny"] for p in products),
            "by_product": products, "by_channel": _rows(groups["channel"], "channel"),
            "by_segment": _rows(groups["segment"], "segment"), "variants": variants, "comparison": comparison,
            "weeks": _weeks(groups["week"]), "control_lift": _control_lift(groups[PAIRS], catalogue, tickets)}


def trend_chart(effect: Mapping[str, Any], title: str, stage_names: Mapping[str, str], last: int = 52) -> Lines:
    """Shown, clicked and accepted offers by week (the last `last` weeks), for the workbench."""
    weeks = effect["weeks"][-last:]
    return Lines(title=title, x_labels=[w["week"] for w in weeks],
                 series=[Series(name=stage_names[s], values=[float(w[s]) for w in weeks]) for s in STAGES])
