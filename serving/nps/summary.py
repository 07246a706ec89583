"""NPS = % promoters (9-10) − % detractors (0-6), in points from −100 to 100, with a 95% interval.

The interval treats each answer as +1 (promoter), 0 (passive) or −1 (detractor): NPS is 100 × their
mean, and the interval is the normal approximation to that mean (± 1.96 × the sample standard
deviation / √n), clipped to [−100, 100]; None with fewer than 2 answers. By segment (the RFM segment
the campaign's sends frame gives the customer when the answer names a campaign, else the customer's
segment in the latest feature month, else "unknown"), by channel ("unknown" without one) and by
month (UTC) of the answer."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from evaluation.means import Sample
from evaluation.proportions import Z_95

UNKNOWN = "unknown"
METHOD = ("NPS = % promoters (9-10) − % detractors (0-6); 95% interval: normal approximation to the mean of the "
          "+1/0/−1 score (sample variance), × 100")


def nps_of(scores: pd.Series) -> dict[str, Any]:
    """Counts, NPS (points) and its 95% interval of 0-10 scores."""
    n = int(len(scores))
    promoters, detractors = int((scores >= 9).sum()), int((scores <= 6).sum())
    if not n:
        return {"n": 0, "promoters": 0, "passives": 0, "detractors": 0, "nps": None, "ci95": None}
    sample = Sample(n, float(promoters - detractors), float(promoters + detractors))
    interval = None
    if n >= 2:
        half = Z_95 * math.sqrt(sample.variance / n)
        interval = (max(-100.0, 100 * (sample.mean - half)), min(100.0, 100 * (sample.mean + half)))
    return {"n": n, "promoters": promoters, "passives": n - promoters - detractors, "detractors": detractors,
            "nps": 100 * sample.mean, "ci95": interval}


def segments_of(answers: pd.DataFrame, latest: Mapping[str, str],
                from_sends: Mapping[tuple[str, str], str]) -> pd.Series:
    """Each answer's segment: the campaign's sends frame first, then the latest feature month."""
    def one(customer: str, campaign: Any) -> str:
        if isinstance(campaign, str) and (campaign, customer) in from_sends:
            return from_sends[campaign, customer]
        return latest.get(customer, UNKNOWN)

    return pd.Series([one(c, k) for c, k in zip(answers["customer_id"], answers["campaign_id"], strict=True)],
                     index=answers.index, dtype=object)


def _by(answers: pd.DataFrame, key: pd.Series, name: str) -> list[dict[str, Any]]:
    groups = answers.groupby(key.fillna(UNKNOWN), sort=True)["score"]
    return sorted(({name: str(k), **nps_of(s)} for k, s in groups), key=lambda r: (-r["n"], r[name]))


def nps_summary(answers: pd.DataFrame, latest: Mapping[str, str] | None = None,
                from_sends: Mapping[tuple[str, str], str] | None = None) -> dict[str, Any]:
    """Overall NPS, and by segment, channel and month (the answers: `NpsStore.frame()`)."""
    answers = answers.reset_index(drop=True)
    scores = answers["score"].astype(int)
    answers = answers.assign(score=scores)
    months = pd.to_datetime(answers["answered_at"], utc=True).dt.strftime("%Y-%m")
    segments = segments_of(answers, latest or {}, from_sends or {})
    return {"method": METHOD, "overall": nps_of(scores),
            "by_segment": _by(answers, segments, "segment"),
            "by_channel": _by(answers, answers["channel"].astype(object), "channel"),
            "by_month": sorted(_by(answers, months, "month"), key=lambda r: r["month"])}
