"""`nbo segments report`: segment sizes per month and transitions month over month.

Reads the monthly feature tables the Feast offline store serves (one row per customer per
as-of month), tags every row with `features/segments/segments.toml` and counts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from features.segments.rules import SegmentRules
from features.tables import BALANCES, CUSTOMER_KEY, ENGAGEMENT, EVENT_TIMESTAMP, PROFILE, RFM
from nbo.errors import InputFileError

TABLES = (PROFILE, BALANCES, RFM, ENGAGEMENT)
KINDS = ("rfm_segment", "lifecycle_stage")


def needed_columns(rules: SegmentRules) -> set[str]:
    """Every feature the rules read."""
    named = {c.feature for c in rules.exclude}
    for rule in (*rules.rfm_segments, *rules.lifecycle_stages):
        named |= {c.feature for c in (*rule.all, *rule.any)}
    for tag in rules.intents:
        named |= {f"{kind}_{t}_30d" for t in tag.topics for kind in ("page_views", "searches")}
    named |= {f"{c}_balance_cny" for c in rules.clv.balance_margin} | {"card_spend_cny_30d"}
    return named


def read_monthly_features(offline_dir: Path, columns: set[str], months: int,
                          until: pd.Timestamp | None = None) -> pd.DataFrame:
    """The last `months` as-of months (up to `until`, if given) of the customer tables, one row
    per customer and month."""
    merged: pd.DataFrame | None = None
    for table in TABLES:
        path = offline_dir / table.file_name
        if not path.exists():
            raise InputFileError(f"{path}: no feature table; run `nbo features build DATA_DIR` first")
        wanted = [CUSTOMER_KEY, EVENT_TIMESTAMP, *sorted(columns & set(table.columns))]
        stamps = pq.read_table(path, columns=[EVENT_TIMESTAMP]).column(0).unique().to_pylist()
        keep = sorted(s for s in stamps if until is None or s <= until)[-months:]
        if not keep:
            raise InputFileError(f"{path}: no feature month at or before {until}")
        frame = pq.read_table(path, columns=wanted, filters=[(EVENT_TIMESTAMP, "in", keep)]).to_pandas()
        merged = frame if merged is None else merged.merge(frame, on=[CUSTOMER_KEY, EVENT_TIMESTAMP], how="outer")
    assert merged is not None
    return merged.sort_values([EVENT_TIMESTAMP, CUSTOMER_KEY], ignore_index=True)


def segment_report(rules: SegmentRules, features: pd.DataFrame) -> dict[str, Any]:
    """Sizes of every segment, stage and intent tag per month, and each month's transitions from the
    month before (`entered`: no row the month before; `left`: no row this month)."""
    tags = pd.concat([features[[CUSTOMER_KEY, EVENT_TIMESTAMP]], rules.tag_frame(features)], axis=1)
    months = sorted(tags[EVENT_TIMESTAMP].unique())
    by_month = {m: tags[tags[EVENT_TIMESTAMP] == m].set_index(CUSTOMER_KEY) for m in months}
    report: dict[str, Any] = {"rules_version": rules.version, "months": [], "transitions": []}
    for m in months:
        month = by_month[m]
        tagged = month[month["rfm_segment"].notna()]
        report["months"].append({
            "as_of": pd.Timestamp(m).date().isoformat(), "customers": len(tagged), "excluded": len(month) - len(tagged),
            **{kind: _sizes(tagged[kind], [r.id for r in _rules_of(rules, kind)]) for kind in KINDS},
            "intent_tags": _sizes(tagged["intent_tags"].explode().dropna(), [t.id for t in rules.intents]),
            "clv_cny_total": round(float(tagged["clv_cny"].sum()), 2),
        })
    for before, after in zip(months, months[1:], strict=False):
        report["transitions"].append({
            "from": pd.Timestamp(before).date().isoformat(), "to": pd.Timestamp(after).date().isoformat(),
            **{kind: _transitions(by_month[before][kind], by_month[after][kind]) for kind in KINDS}})
    return report


def _rules_of(rules: SegmentRules, kind: str) -> tuple[Any, ...]:
    return rules.rfm_segments if kind == "rfm_segment" else rules.lifecycle_stages


def _sizes(values: pd.Series, ids: list[str]) -> dict[str, int]:
    counts = Counter(values)
    return {i: int(counts.get(i, 0)) for i in ids}


def _transitions(before: pd.Series, after: pd.Series) -> dict[str, dict[str, int]]:
    """from → to → customers, over customers tagged in either month."""
    both = pd.concat([before.rename("from"), after.rename("to")], axis=1)
    both = both[both["from"].notna() | both["to"].notna()].fillna({"from": "entered", "to": "left"})
    out: dict[str, dict[str, int]] = {}
    for (source, target), n in both.groupby(["from", "to"]).size().items():
        out.setdefault(str(source), {})[str(target)] = int(n)
    return out


def report_text(report: dict[str, Any], names: dict[str, str]) -> str:
    """The latest month's sizes beside the month before, and its RFM transitions."""
    months = report["months"]
    if not months:
        return "no feature months found"
    latest, previous = months[-1], months[-2] if len(months) > 1 else None
    lines = [f"segments (rules {report['rules_version']}), as of {latest['as_of']}: "
             f"{latest['customers']} customers tagged, {latest['excluded']} excluded"]
    for kind in (*KINDS, "intent_tags"):
        lines.append(f"\n{kind:<22} {'customers':>9} {'share':>7} {'change':>7}")
        for key, n in latest[kind].items():
            change = "" if previous is None else f"{n - previous[kind][key]:+d}"
            share = n / latest["customers"] if latest["customers"] else 0
            lines.append(f"{names.get(key, key):<22} {n:>9} {share:>7.1%} {change:>7}")
    if report["transitions"]:
        last = report["transitions"][-1]
        lines.append(f"\nRFM segment transitions {last['from']} → {last['to']} (from: to n, ...)")
        for source, targets in last["rfm_segment"].items():
            moved = ", ".join(f"{t} {n}" for t, n in sorted(targets.items(), key=lambda x: -x[1]))
            lines.append(f"  {source:<15} {moved}")
    return "\n".join(lines)
