"""The same answers: one fixed plan of 600 requests sent to both services, answers compared.

The plan (seeded): customers of every kind (marketing consent or not, closed, young, indebted, any),
GET offers over k 1..20 × zh/en × (app, rm, rm with include_blocked), churn (rm) and delinquency
(risk) in zh and en, and the three GETs for customers that do not exist (404). Each request goes to
OLD then NEW, one at a time. Answers are compared on status, content type and body, after dropping
only the fields that differ per request (decision and request ids).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pandas as pd

VOLATILE = frozenset({"decision_id", "request_id"})  # new on every request
KINDS = ("consent", "no_consent", "closed", "young", "indebted", "any")
OFFER_ROLES = (("app", {}), ("rm", {"include_blocked": "false"}), ("rm", {"include_blocked": "true"}))
OFFER_REPEATS = 4  # 20 k × 2 languages × 3 roles × 4 = 480
RISK_CUSTOMERS = 20  # churn and delinquency: 20 customers × 2 languages each = 80
UNKNOWN_CUSTOMERS = 10  # × 4 GETs = 40 answers that must be 404
YOUNG_YEARS = 25


@dataclass(frozen=True)
class Call:
    """One request of the plan."""

    role: str
    path: str
    params: dict[str, str]
    kind: str  # the customer's kind

    def label(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.role} GET {self.path}?{query} ({self.kind})"


def customer_kinds(customers: pd.DataFrame, seed: int, per_kind: int = 40) -> dict[str, list[str]]:
    """Up to `per_kind` customers of each kind, drawn with a seeded generator."""
    end = pd.Timestamp(customers.attrs["end_month"])
    is_open = customers["close_date"].isna()
    masks = {
        "consent": is_open & customers["marketing_consent"],
        "no_consent": is_open & ~customers["marketing_consent"],
        "closed": ~is_open,
        "young": customers["birth_date"] > end - pd.DateOffset(years=YOUNG_YEARS),
        # past due in the latest month, or a credit balance in the top tenth of the positive ones
        "indebted": (customers["days_past_due"].fillna(0) > 0)
        | (customers["balance"] > customers.loc[customers["balance"] > 0, "balance"].quantile(0.9)),
        "any": pd.Series(True, index=customers.index),
    }
    rng = np.random.default_rng(seed)
    chosen = {}
    for kind in KINDS:
        ids = sorted(customers.loc[masks[kind], "customer_id"].astype(str))
        chosen[kind] = [str(c) for c in rng.choice(ids, size=min(per_kind, len(ids)), replace=False)] if ids else []
    return chosen


def request_plan(customers: pd.DataFrame, seed: int) -> list[Call]:
    """The 600 requests, in order; customers cycle through the kinds."""
    kinds = customer_kinds(customers, seed)
    pool = [(kind, kinds[kind][i]) for i in range(max(map(len, kinds.values()))) for kind in KINDS
            if i < len(kinds[kind])]
    turn = iter(pool * (1 + 600 // max(len(pool), 1)))
    calls = []
    for _ in range(OFFER_REPEATS):
        for k in range(1, 21):
            for lang in ("zh", "en"):
                for role, extra in OFFER_ROLES:
                    kind, cid = next(turn)
                    calls.append(Call(role, f"/v1/customers/{cid}/offers", {"k": str(k), "lang": lang} | extra, kind))
    for _ in range(RISK_CUSTOMERS):
        kind, cid = next(turn)
        for lang in ("zh", "en"):
            calls.append(Call("rm", f"/v1/customers/{cid}/churn", {"lang": lang}, kind))
            calls.append(Call("risk", f"/v1/customers/{cid}/delinquency", {"lang": lang}, kind))
    for i in range(UNKNOWN_CUSTOMERS):
        cid = f"C{99_999_999 - i:08d}"
        calls += [Call("app", f"/v1/customers/{cid}/offers", {"lang": "en"}, "unknown"),
                  Call("rm", f"/v1/customers/{cid}/offers", {"lang": "zh", "include_blocked": "true"}, "unknown"),
                  Call("rm", f"/v1/customers/{cid}/churn", {"lang": "zh"}, "unknown"),
                  Call("risk", f"/v1/customers/{cid}/delinquency", {"lang": "en"}, "unknown")]
    return calls


def stable(value: Any) -> Any:
    """The value without its per-request fields, at any depth."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def answer(client: httpx.Client, key: str, call: Call, i: int) -> dict[str, Any]:
    """Status, content type and the body without per-request fields."""
    response = client.get(call.path, params=call.params, headers={"X-API-Key": key, "X-Request-ID": f"ab-{i}"})
    try:
        body: Any = stable(response.json())
    except json.JSONDecodeError:
        body = response.text
    return {"status": response.status_code, "content_type": response.headers.get("content-type"), "body": body}


def first_difference(old: Any, new: Any, where: str = "") -> str:
    """Where two answers first differ, and the two values there."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if old.get(key, ...) != new.get(key, ...):
                return first_difference(old.get(key), new.get(key), f"{where}.{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            if a != b:
                return first_difference(a, b, f"{where}[{i}]")
    return f"{where or '.'}: old {json.dumps(old, ensure_ascii=False)[:200]} new {json.dumps(new, ensure_ascii=False)[:200]}"


def compare_answers(urls: dict[str, str], keys: dict[str, dict[str, str]], calls: list[Call],
                    shown: int = 10) -> dict[str, Any]:
    """Send each call to OLD then NEW; counts of identical and different answers, the first differences."""
    statuses: dict[int, int] = {}
    differences = []
    with httpx.Client(base_url=urls["old"], timeout=60) as old, httpx.Client(base_url=urls["new"], timeout=60) as new:
        for i, call in enumerate(calls):
            a = answer(old, keys["old"][call.role], call, i)
            b = answer(new, keys["new"][call.role], call, i)
            statuses[a["status"]] = statuses.get(a["status"], 0) + 1
            if a != b:
                differences.append({"request": call.label(), "old_status": a["status"], "new_status": b["status"],
                                    "first_difference": first_difference(a, b)})
    return {"requests": len(calls), "identical": len(calls) - len(differences), "different": len(differences),
            "old_statuses": {str(k): v for k, v in sorted(statuses.items())}, "first_differences": differences[:shown]}
