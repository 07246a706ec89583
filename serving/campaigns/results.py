"""What a campaign achieved against its control group: outcomes per assigned customer, ROI, per channel,
per segment and per A/B variant, with 95% intervals. DataFrames in, dicts out; nothing is typed in.

Inputs: the campaign's rows of the sends frame (`serving/campaigns/sends.py: CampaignSends.frame()`,
columns as in the issue-25 contract), the bank's canonical `holdings` (month-end snapshots) and
`products` (`margin`: the annual margin rate) of the data directory, and the campaign's spec.

A customer is *assigned* on their first row's day D, in that row's arm. Over the window (default 60
days), from the month-end snapshots:
- converted: holds one of the campaign's products (every product for a content-only campaign) at a
  snapshot in (D, D + window] that they did not hold at the last snapshot on or before D;
- value (CNY a year): Σ balance × margin of those newly held products, each at the last snapshot of
  the window that holds it;
- balance growth (CNY): total balance at the last snapshot ≤ D + window minus at the last ≤ D.
A customer is matured when the holdings' last snapshot is on or after D + window; the comparisons use
matured customers only and count the others apart (`unmatured`).

ROI is intention to treat: the treated arm (every assigned customer not in control, sent or not)
against control. Conversion: difference of rates with a Newcombe hybrid score 95% interval; value and
balance growth per customer: Welch t 95% intervals. Incremental value = value difference × treated n
(its interval likewise); cost = Σ cost_cny of the matured treated customers; ROI = (incremental value
− cost) / cost, its interval from the incremental value's. Per channel compares the customers sent on
a channel with the whole control group: who could be reached on a channel is self-selected (consent,
an RM, an app), so a channel's lift is descriptive, not causal. Per segment splits both arms by the
segment of the assignment row: unbiased. A/B compares the variants (assigned by a stable hash,
`assign_arm`) with each other: each against the first variant. Groups too small for an interval give
None, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from scipy import stats

from evaluation.means import Sample, welch_difference
from evaluation.proportions import difference_interval, wilson_interval
from serving.campaigns.assignment import MAIN
from serving.campaigns.spec import CampaignSpec
from serving.decisions.variants import CONTROL

DEFAULT_WINDOW_DAYS = 60
SENT, HELD_OUT = "sent", "held_out"
OUTCOME_COLUMNS = ("customer_id", "day", "arm", "segment", "status", "channel", "cost_cny", "matured", "converted",
                   "value_cny", "balance_growth_cny")
METHOD = ("intention to treat, matured customers only: treated (every non-control assigned customer) − control; "
          "conversion with a Newcombe hybrid score 95% interval, value and balance growth per customer with "
          "Welch t 95% intervals; incremental value = value difference × treated n; ROI = (incremental value − "
          "cost) / cost")
Interval = tuple[float, float] | None


def assignments(sends: pd.DataFrame) -> pd.DataFrame:
    """One row per assigned customer: day and arm of their first row, segment of that row, status `sent`
    when any row is sent (else the last row's status), the channel sent on and the summed cost."""
    if sends.empty:
        return pd.DataFrame(columns=["customer_id", "day", "arm", "segment", "status", "channel", "cost_cny"])
    rows = sends.assign(day=pd.to_datetime(sends["day"]).dt.normalize()).sort_values(["customer_id", "day"],
                                                                                     kind="stable")
    grouped = rows.groupby("customer_id", sort=True)
    first, last = grouped.first(), grouped.last()
    sent = rows[rows["status"] == SENT].drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame({"day": first["day"], "arm": first["arm"].astype(str),
                        "segment": grouped["segment"].agg(lambda s: s.iloc[0]),
                        "status": last["status"].astype(str), "channel": None,
                        "cost_cny": grouped["cost_cny"].sum().astype(float)})
    out.loc[sent.index, "status"] = SENT
    out["channel"] = sent["channel"].reindex(out.index).astype(object).where(lambda c: c.notna(), None)
    return out.reset_index()


def outcomes(sends: pd.DataFrame, holdings: pd.DataFrame, margins: Mapping[str, float],
             products: Iterable[str] | None, window_days: int = DEFAULT_WINDOW_DAYS) -> pd.DataFrame:
    """Outcome of every assigned customer (columns OUTCOME_COLUMNS) from their month-end holdings.

    `margins`: product id → annual margin rate; `products`: the campaign's products (None or empty:
    every product)."""
    people = assignments(sends)
    if people.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    window = pd.Timedelta(days=window_days)
    snapshots = pd.DatetimeIndex(sorted(pd.to_datetime(holdings["snapshot_date"]).dt.normalize().unique()))
    last_snapshot = snapshots.max() if len(snapshots) else pd.NaT
    people["end"] = people["day"] + window
    people["matured"] = bool(len(snapshots)) & (people["end"] <= last_snapshot)
    people["base"] = _last_on_or_before(snapshots, people["day"])
    people["close"] = _last_on_or_before(snapshots, people["end"])
    held = holdings[holdings["customer_id"].isin(people["customer_id"])].assign(
        snapshot_date=lambda h: pd.to_datetime(h["snapshot_date"]).dt.normalize())
    held = held.merge(people[["customer_id", "day", "end", "base", "close"]], on="customer_id")
    before = held[held["snapshot_date"] == held["base"]]
    wanted = set(products or ())
    inside = held[(held["snapshot_date"] > held["day"]) & (held["snapshot_date"] <= held["end"])]
    if wanted:
        inside = inside[inside["product_id"].isin(wanted)]
    known = before[["customer_id", "product_id"]].assign(known=True)
    new = inside.merge(known, on=["customer_id", "product_id"], how="left")
    new = new[new["known"].isna()].sort_values("snapshot_date").drop_duplicates(["customer_id", "product_id"],
                                                                                 keep="last")
    new = new.assign(value=new["balance"] * new["product_id"].map(margins).fillna(0.0).astype(float))
    value = new.groupby("customer_id")["value"].sum()
    start = before.groupby("customer_id")["balance"].sum()
    finish = held[held["snapshot_date"] == held["close"]].groupby("customer_id")["balance"].sum()
    ids = people["customer_id"]
    people["converted"] = ids.isin(set(new["customer_id"])).to_numpy()
    people["value_cny"] = ids.map(value).fillna(0.0).to_numpy(float)
    people["balance_growth_cny"] = (ids.map(finish).fillna(0.0) - ids.map(start).fillna(0.0)).to_numpy(float)
    return people[list(OUTCOME_COLUMNS)].reset_index(drop=True)


def _last_on_or_before(snapshots: pd.DatetimeIndex, days: pd.Series) -> pd.Series:
    if not len(snapshots):
        return pd.Series(pd.NaT, index=days.index)
    where = snapshots.searchsorted(days.to_numpy(), side="right") - 1
    return pd.Series([snapshots[i] if i >= 0 else pd.NaT for i in where], index=days.index, dtype="datetime64[ns]")


def _sample(values: pd.Series) -> Sample:
    v = values.astype(float)
    return Sample(int(len(v)), float(v.sum()), float((v * v).sum()))


def mean_interval(sample: Sample, level: float = 0.95) -> Interval:
    """Student t interval of a mean; None with fewer than 2 values."""
    if sample.n < 2:
        return None
    half = float(stats.t.ppf(0.5 + level / 2, sample.n - 1)) * math.sqrt(sample.variance / sample.n)
    return sample.mean - half, sample.mean + half


def _arm(frame: pd.DataFrame) -> dict[str, Any]:
    """Size, conversions, conversion rate and means with their intervals of one group of customers."""
    n, x = len(frame), int(frame["converted"].sum())
    value, growth = _sample(frame["value_cny"]), _sample(frame["balance_growth_cny"])
    return {"n": n, "converted": x, "conversion_rate": x / n if n else None, "conversion_ci95": wilson_interval(x, n),
            "value_per_customer_cny": value.mean if n else None, "value_ci95": mean_interval(value),
            "growth_per_customer_cny": growth.mean if n else None, "growth_ci95": mean_interval(growth),
            "cost_cny": float(frame["cost_cny"].sum())}


def _scaled(interval: Interval, factor: float) -> Interval:
    return None if interval is None else (interval[0] * factor, interval[1] * factor)


def compare(treated: pd.DataFrame, control: pd.DataFrame) -> dict[str, Any]:
    """Treated − control on matured customers: conversion, value and growth per customer, incremental
    value, cost and ROI, each with its 95% interval (None when a group is too small)."""
    a, b = _arm(treated), _arm(control)
    n1, n2 = a["n"], b["n"]
    value = welch_difference(_sample(treated["value_cny"]), _sample(control["value_cny"])) if n1 and n2 else None
    growth = (welch_difference(_sample(treated["balance_growth_cny"]), _sample(control["balance_growth_cny"]))
              if n1 and n2 else None)
    value_diff = a["value_per_customer_cny"] - b["value_per_customer_cny"] if n1 and n2 else None
    incremental = value_diff * n1 if value_diff is not None else None
    incremental_ci = _scaled(value.interval, n1) if value else None
    cost = a["cost_cny"]
    roi = (incremental - cost) / cost if incremental is not None and cost > 0 else None
    roi_ci = None if incremental_ci is None or cost <= 0 else ((incremental_ci[0] - cost) / cost,
                                                               (incremental_ci[1] - cost) / cost)
    return {"treated": a, "control": b,
            "conversion_difference": a["conversion_rate"] - b["conversion_rate"] if n1 and n2 else None,
            "conversion_difference_ci95": difference_interval(a["converted"], n1, b["converted"], n2),
            "value_difference_cny": value_diff, "value_difference_ci95": value.interval if value else None,
            "growth_difference_cny": (a["growth_per_customer_cny"] - b["growth_per_customer_cny"]
                                      if n1 and n2 else None),
            "growth_difference_ci95": growth.interval if growth else None,
            "incremental_value_cny": incremental, "incremental_value_ci95": incremental_ci,
            "cost_cny": cost, "roi": roi, "roi_ci95": roi_ci}


def variant_names(spec: CampaignSpec | None, arms: Iterable[str]) -> list[str]:
    """The treated arms: every variant of the spec in its order (seen or not), else MAIN when seen; then
    any other arm seen, sorted."""
    seen = {a for a in arms if a != CONTROL}
    declared = [v.name for v in spec.variants] if spec and spec.variants else [MAIN] if MAIN in seen else []
    return declared + sorted(seen - set(declared))


def ab_results(matured: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """Each variant's acceptance and value per customer, and its difference from the first variant."""
    if len(names) < 2:
        return []
    first = matured[matured["arm"] == names[0]]
    rows = []
    for name in names:
        group = matured[matured["arm"] == name]
        row = {"variant": name, **_arm(group)}
        if name != names[0]:
            diff = compare(group, first)
            row |= {"versus": names[0], "conversion_difference": diff["conversion_difference"],
                    "conversion_difference_ci95": diff["conversion_difference_ci95"],
                    "value_difference_cny": diff["value_difference_cny"],
                    "value_difference_ci95": diff["value_difference_ci95"]}
        rows.append(row)
    return rows


def campaign_results(spec: CampaignSpec, sends: pd.DataFrame, holdings: pd.DataFrame, margins: Mapping[str, float],
                     window_days: int = DEFAULT_WINDOW_DAYS) -> dict[str, Any]:
    """The whole results view of one campaign (its rows of the sends frame)."""
    rows = sends[sends["campaign_id"] == spec.id] if "campaign_id" in sends else sends
    people = outcomes(rows, holdings, margins, spec.offer.products, window_days)
    matured = people[people["matured"].astype(bool)]
    treated, control = matured[matured["arm"] != CONTROL], matured[matured["arm"] == CONTROL]
    snapshots = pd.to_datetime(holdings["snapshot_date"]) if len(holdings) else pd.Series(dtype="datetime64[ns]")
    days = people.groupby("day").agg(assigned=("customer_id", "size"), matured=("matured", "all")).reset_index()
    channels = sorted(str(c) for c in treated["channel"].dropna().unique())
    segments = sorted(str(s) for s in matured["segment"].dropna().unique())
    return {
        "campaign_id": spec.id, "window_days": window_days, "method": METHOD,
        "holdings_until": snapshots.max().date().isoformat() if len(snapshots) else None,
        "assigned": len(people), "matured": len(matured), "unmatured": len(people) - len(matured),
        "sent": int((people["status"] == SENT).sum()), "cost_cny": float(people["cost_cny"].sum()),
        "days": [{"day": d.day.date().isoformat(), "assigned": int(d.assigned), "matured": bool(d.matured)}
                 for d in days.itertuples()],
        "roi": compare(treated, control),
        "by_channel": [{"channel": c, **compare(treated[treated["channel"] == c], control)} for c in channels],
        "by_segment": [{"segment": s, **compare(treated[treated["segment"] == s], control[control["segment"] == s])}
                       for s in segments],
        "ab": ab_results(matured, variant_names(spec, people["arm"])),
    }


def roi_row(results: Mapping[str, Any]) -> dict[str, Any]:
    """One campaign's line of the ROI table: cost, incremental value and ROI with intervals, maturity."""
    r = results["roi"]
    return {"campaign_id": results["campaign_id"], "assigned": results["assigned"], "matured": results["matured"],
            "unmatured": results["unmatured"], "cost_cny": results["cost_cny"],
            "incremental_value_cny": r["incremental_value_cny"], "incremental_value_ci95": r["incremental_value_ci95"],
            "roi": r["roi"], "roi_ci95": r["roi_ci95"], "all_matured": results["unmatured"] == 0}


def margins_of(products: pd.DataFrame) -> dict[str, float]:
    """product id → annual margin rate, from the canonical products table."""
    return {str(p): float(m) for p, m in zip(products["product_id"], products["margin"], strict=True)}


__all__ = ["DEFAULT_WINDOW_DAYS", "ab_results", "assignments", "campaign_results", "compare", "margins_of",
           "mean_interval", "outcomes", "roi_row", "variant_names"]
