"""Shadow vs champion on the same requests, from the audit: every decision the champion answered
while a shadow was set carries the shadow's scores (`serving.decisions.shadow`).

Per shadow model (registered name), over decisions answered by the champion variant since `since`:

- risk models: `n` pairs of scores (the answer's `probability` or `pd` and the shadow's), their rank
  agreement (Spearman, Kendall tau-b), both distributions (mean, quantiles), the share of customers
  put in the same band and the band cross-table (champion band → shadow band → n);
- the recommender: `n` personalised decisions, how often the shadow's top offer differs, the mean
  overlap of the two top-k lists (shared products / the longer list), rank agreement and
  distributions of the top offer's score, and which top offers each would have made (product → n).
  Customers given the non-personalised default are counted apart (`not_personalised`): the shadow
  would give them the same default. Both apply the same suitability rules: the shadow blocks what
  the champion blocks.

Decisions whose shadow failed are counted in `errors` and left out of the comparison.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from evaluation.agreement import distribution, label_agreement, rank_agreement
from models.registry import split_name
from serving.audit.store import AuditStore, decisions

RISK_SCORE = {"churn": "probability", "delinquency": "pd"}
OFFER_KINDS = ("offers", "trigger")


def _pairs(store: AuditStore, since: datetime | None) -> dict[str, dict[str, Any]]:
    """Shadow name → its kind, versions and the (answer, shadow entry) pairs of champion decisions."""
    where = sa.and_(decisions.c.variant == "champion", decisions.c.payload.like('%"shadow":{%'))
    if since is not None:
        where = sa.and_(where, decisions.c.created_at >= since)
    query = sa.select(decisions.c.kind, decisions.c.model_versions, decisions.c.payload).where(where)
    found: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for kind, versions, text in conn.execute(query):
            payload = json.loads(text)
            served = {name: v["version"] for name, v in json.loads(versions).items()}
            for name, entry in (payload.get("shadow") or {}).items():
                model = found.setdefault(name, {"kind": "recommender" if kind in OFFER_KINDS else kind,
                                                "pairs": [], "shadow_versions": set(), "champion_versions": set()})
                model["shadow_versions"].add(entry.get("version"))
                model["champion_versions"].add(served.get(name))
                model["pairs"].append((payload["answer"], entry))
    return found


def _risk(kind: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    key = RISK_SCORE[kind]
    good = [(answer, entry) for answer, entry in pairs if "error" not in entry]
    champion, shadow = [a[key] for a, _ in good], [e[key] for _, e in good]
    return {"n": len(good), "errors": len(pairs) - len(good), "score": key,
            "rank_agreement": rank_agreement(champion, shadow),
            "champion": distribution(champion), "shadow": distribution(shadow),
            "band_agreement": label_agreement([a["band"] for a, _ in good], [e["band"] for _, e in good])}


def _recommender(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    good = [(answer, entry) for answer, entry in pairs if "error" not in entry]
    compared = [(a["offers"], e["offers"]) for a, e in good if a.get("personalised") and a["offers"] and e["offers"]]
    overlap = [len({o["product_id"] for o in c} & {o["product_id"] for o in s}) / max(len(c), len(s))
               for c, s in compared]
    champion_top = [c[0]["score"] for c, _ in compared]
    shadow_top = [s[0]["score"] for _, s in compared]
    return {"n": len(compared), "errors": len(pairs) - len(good),
            "not_personalised": sum(not a.get("personalised") for a, _ in good),
            "top_offer_differs": (sum(c[0]["product_id"] != s[0]["product_id"] for c, s in compared) / len(compared)
                                  if compared else None),
            "top_k_overlap": sum(overlap) / len(overlap) if overlap else None,
            "rank_agreement": rank_agreement(champion_top, shadow_top),
            "champion": distribution(champion_top), "shadow": distribution(shadow_top),
            "champion_top_offers": dict(Counter(c[0]["product_id"] for c, _ in compared).most_common()),
            "shadow_top_offers": dict(Counter(s[0]["product_id"] for _, s in compared).most_common())}


def shadow_report(audit: AuditStore, since: datetime | None = None) -> dict[str, Any]:
    """The comparison of each shadow with the champion on the requests both scored (see the module)."""
    models = []
    for name, found in sorted(_pairs(audit, since).items()):
        kind = found["kind"]
        figures = _recommender(found["pairs"]) if kind == "recommender" else _risk(kind, found["pairs"])
        models.append({"model": name, "portfolio": split_name(name)[1], "kind": kind,
                       "champion_versions": sorted(v for v in found["champion_versions"] if v),
                       "shadow_versions": sorted(v for v in found["shadow_versions"] if v)} | figures)
    return {"since": since.isoformat() if since else None, "models": models}


def _number(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def report_text(report: dict[str, Any]) -> str:
    """The report for people: one block per shadow model."""
    lines = [f"shadow vs champion on the same requests, since {report['since'] or 'the beginning'}"]
    if not report["models"]:
        lines.append("(no decision carries a shadow's scores: set one with nbo promote MODEL --version V "
                     "--alias shadow, then reload the service)")
    for m in report["models"]:
        agreement = m["rank_agreement"]
        lines.append(f"{m['model']}: shadow v{', v'.join(m['shadow_versions'])} vs champion "
                     f"v{', v'.join(m['champion_versions'])}: {m['n']} requests, {m['errors']} shadow errors")
        lines.append(f"  rank agreement: Spearman {_number(agreement['spearman'])}, "
                     f"Kendall {_number(agreement['kendall'])}")
        for side in ("champion", "shadow"):
            d = m[side]
            quantiles = "  ".join(f"q{float(q) * 100:g} {_number(v, '.4f')}" for q, v in d["quantiles"].items())
            lines.append(f"  {side:<8} mean {_number(d['mean'], '.4f')}  {quantiles}")
        if m["kind"] == "recommender":
            lines.append(f"  top offer differs: {_number(m['top_offer_differs'], '.1%')}; top-k overlap "
                         f"{_number(m['top_k_overlap'], '.1%')}; {m['not_personalised']} default (not personalised)")
            lines.append("  shadow's top offers: " + ", ".join(f"{p} {n}" for p, n in m["shadow_top_offers"].items()))
        else:
            lines.append(f"  same band: {_number(m['band_agreement']['share'], '.1%')}")
    return "\n".join(lines)
