"""The shadow stage: the version behind alias `shadow` scores every decision beside the answer, and
never answers.

Its scores go into the decision's audit payload under `"shadow"`: `{registered name: {"version", ...}}`
with `probability` (churn) or `pd` and `score` (delinquency) and `band` for a risk model, and the
offers it would have made (product, P(adopt), score; suitability is the same rules, so it blocks
what the answer blocks) for the recommender. It scores the features the answer read (no other
online read). A failure of the shadow never fails the request: it is logged and recorded as `error`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from features.online.reader import OnlineFeatures
from serving.decisions import suitability as rules
from serving.decisions.arbitration import Levers, choose
from serving.runtime import RiskModel, Runtime

log = logging.getLogger(__name__)


def _failed(name: str, version: str, err: Exception) -> dict[str, Any]:
    log.warning("shadow_failed", extra={"model": name, "version": version, "error_type": type(err).__name__,
                                        "error": str(err)})
    return {"version": version, "error": f"{type(err).__name__}: {err}"}


def risk_shadow(model: RiskModel | None, rows: list[Mapping[str, object]]) -> list[dict[str, Any]]:
    """For each customer's feature values, what its payload gains: `{}` without a shadow, else
    `{"shadow": {name: {"version", "probability"|"pd", ("score"), "band"}}}`."""
    if model is None:
        return [{} for _ in rows]
    name, version = model.ref.name, model.ref.version
    try:
        scores = model.scorer.score_encoded(model.scorer.encode_rows(rows), with_reasons=False)
        key = "pd" if scores.kind == "delinquency" else "probability"
        points = [None] * len(rows) if scores.points is None else scores.points.tolist()
        entries = [{"version": version, key: p, "band": str(band)} | ({} if s is None else {"score": s})
                   for p, s, band in zip(scores.probability.tolist(), points, scores.band.tolist(), strict=True)]
    except Exception as err:  # noqa: BLE001 - the shadow never fails a request
        failed = _failed(name, version, err)
        return [{"shadow": {name: failed}} for _ in rows]
    return [{"shadow": {name: entry}} for entry in entries]


def offer_shadow(runtime: Runtime, levers: Levers, features: OnlineFeatures, verdicts: dict[str, rules.Verdict],
                 churn_p: float | None, k: int, personalised: bool) -> dict[str, Any]:
    """What an offer decision's payload gains: `{}` without a shadow recommender, else
    `{"shadow": {name: {"version", "personalised", "offers": [{"product_id", "p_adopt", "score"}]}}}`:
    the k offers the shadow would have made among the same allowed candidates, arbitrated alike (none
    when the customer gets the non-personalised default, as the answer does)."""
    model = runtime.shadow_recommender()
    if model is None:
        return {}
    name, version = model.ref.name, model.ref.version
    try:
        offers: list[dict[str, Any]] = []
        if personalised:
            allowed = {p for p, v in verdicts.items() if v.allowed}
            _, chosen = choose(model.scorer, features, allowed, levers, churn_p, k)
            offers = [{"product_id": r.candidate.product_id, "p_adopt": r.candidate.p_adopt, "score": r.score}
                      for r in chosen]
        entry: dict[str, Any] = {"version": version, "personalised": personalised, "offers": offers}
    except Exception as err:  # noqa: BLE001 - the shadow never fails a request
        entry = _failed(name, version, err)
    return {"shadow": {name: entry}}
