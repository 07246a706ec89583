"""The model monitoring page's view: score drift (PSI by month, the most shifted inputs), realised
performance (ROC AUC by score month beside development), the alias history and the lift of
personalised offers over the control group, as workbench charts and table rows.

Who sees what (README "Model monitoring page"):
- **risk** (risk team, model owners): everything on this page, and no other workbench page.
- **rm**: the same page at the aggregate level: every model's score PSI and verdict, its realised
  AUC, the lift over control, and the churn and recommender models' inputs and change details.
  The credit-risk model's inputs (which facts the credit model reads and how they moved) and the
  who/why/forced of its changes are withheld: they are credit policy and model-risk findings, the
  risk team's business. An RM already reads each customer's delinquency band, so knowing whether
  that score is stable tells them how far to trust it, and reveals nothing about any customer.
- **app**: never signs in to the workbench.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from evaluation.drift import ACT, INVESTIGATE
from models.registry import DELINQUENCY, split_name
from serving.workbench.charts import Bars, Lines, Series
from serving.workbench.i18n import Labels
from sources.portfolio import DEMO

RISK_ONLY_MODELS = (DELINQUENCY,)  # base names whose inputs and change details the rm role does not see
WORST_FEATURES = 5
MAX_MODEL_LINES = 10  # a Lines chart holds 12 series: room for the two thresholds
HISTORY_ROWS = 50
HISTORY_POINTS = 60
MAX_MONTHS = 24  # months on a chart (its spec travels in the chart's URL)
DIGITS = 4  # an index or AUC on a chart, rounded
FULL = "risk"  # the role that sees everything on the page


def model_label(name: str, words: Labels) -> str:
    """A registered model name in words (`nbo-churn.acme` → "Churn (portfolio acme)")."""
    base, portfolio = split_name(name)
    label = words["monitoring"].get(f"model_{base.removeprefix('nbo-')}", base)
    return label if portfolio == DEMO else f"{label} ({words['monitoring']['portfolio']} {portfolio})"


def _risk_only(name: str) -> bool:
    return split_name(name)[0] in RISK_ONLY_MODELS


def psi_chart(drift: Mapping[str, Any], words: Labels) -> Lines | None:
    """Each model version's score PSI by month with the 0.10 and 0.25 lines (None without entries)."""
    entries = drift["models"]
    if not entries:
        return None
    months = sorted({e["month"] for e in entries})[-MAX_MONTHS:]
    lines: dict[tuple[str, str], dict[str, float]] = {}
    for e in sorted(entries, key=lambda e: e["month"]):
        lines.setdefault((e["model"], str(e["version"])), {})[e["month"]] = round(float(e["score"]["psi"]), DIGITS)
    shown = [k for k in lines if max(lines[k]) >= months[0]]
    newest = sorted(shown, key=lambda k: max(lines[k]))[-MAX_MODEL_LINES:]  # the versions served most recently
    w = words["monitoring"]
    series = [Series(name=f"{model_label(model, words)} v{version}",
                     values=[lines[(model, version)].get(m) for m in months]) for model, version in newest]
    series += [Series(name=w["threshold_investigate"], values=[INVESTIGATE] * len(months)),
               Series(name=w["threshold_act"], values=[ACT] * len(months))]
    return Lines(title=w["drift_chart"], axis=w["psi"], lang=words.lang, x_labels=months, series=series)


def worst_features(drift: Mapping[str, Any], role: str, n: int = WORST_FEATURES) -> list[dict[str, Any]]:
    """For each model version, its latest month's `n` inputs with the highest CSI (`withheld` and no
    features for the credit model's when `role` sees aggregates only)."""
    latest: dict[tuple[str, str], Mapping[str, Any]] = {}
    for e in drift["models"]:
        key = (e["model"], str(e["version"]))
        if key not in latest or e["month"] > latest[key]["month"]:
            latest[key] = e
    out = []
    for (model, version), e in sorted(latest.items()):
        withheld = role != FULL and _risk_only(model)
        top = [] if withheld else sorted(e["features"], key=lambda f: -f["csi"])[:n]
        out.append({"model": model, "version": version, "month": e["month"], "features": top, "withheld": withheld})
    return out


def auc_chart(outcomes: Mapping[str, Any], words: Labels) -> Lines | None:
    """Each model's realised ROC AUC by score month beside its development AUC (None until an
    outcome has matured)."""
    months = sorted({m["month"] for model in outcomes["models"] for m in model["months"]
                     if m["matured"] and m["roc_auc"] is not None})[-MAX_MONTHS:]
    if not months:
        return None
    w, series = words["monitoring"], []
    for model in outcomes["models"]:
        by_month = {m["month"]: round(float(m["roc_auc"]), DIGITS) for m in model["months"]
                    if m["matured"] and m["roc_auc"] is not None}
        if all(by_month.get(m) is None for m in months):
            continue
        label = model_label(model["model"], words)
        series.append(Series(name=label, values=[by_month.get(m) for m in months]))
        if (development := model["development"]["roc_auc"]) is not None:
            series.append(Series(name=w["development_series"].format(model=label),
                                 values=[round(float(development), DIGITS)] * len(months)))
    return Lines(title=w["auc_chart"], axis=w["roc_auc"], lang=words.lang, x_labels=months, series=series[:12])


def _version_number(version: object) -> float | None:
    try:
        return float(str(version))
    except ValueError:
        return None


def _moved(entry: Mapping[str, Any]) -> bool:
    """Whether the entry moved its alias (a promotion decision that kept the champion did not)."""
    return entry["evidence"].get("promoted", True) is not False


def history_chart(entries: list[Mapping[str, Any]], words: Labels) -> Lines | None:
    """Each model's champion version after each champion change, oldest first (None without any)."""
    changes = sorted((e for e in entries if e["alias"] == "champion" and _moved(e)), key=lambda e: e["at"])
    changes = changes[-HISTORY_POINTS:]
    if not changes:
        return None
    models = sorted({e["model"] for e in changes})[:12]
    held: dict[str, float | None] = dict.fromkeys(models)
    rows: list[list[float | None]] = []
    for e in changes:
        if e["model"] in held:
            held[e["model"]] = _version_number(e["version"])
        rows.append([held[m] for m in models])
    w = words["monitoring"]
    return Lines(title=w["history_chart"], axis=w["version"], lang=words.lang,
                 x_labels=[e["at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M") for e in changes],
                 series=[Series(name=model_label(m, words), values=[r[i] for r in rows])
                         for i, m in enumerate(models)])


def history_rows(entries: list[Mapping[str, Any]], role: str, limit: int = HISTORY_ROWS) -> list[dict[str, Any]]:
    """The newest `limit` alias changes, each with the i18n key of its action (`kept`: a promotion
    decision that kept the champion); for the credit model, without who, why and forced when `role`
    sees aggregates only (`withheld`)."""
    return [dict(e) | {"withheld": role != FULL and _risk_only(e["model"]),
                       "action_key": e["action"] if _moved(e) else "kept"} for e in entries[:limit]]


def lift_chart(lift: Mapping[str, Any] | None, words: Labels) -> Bars | None:
    """Acceptance rate of personalised offers beside the control group's (None without a control group)."""
    if lift is None:
        return None
    w, acceptance = words["monitoring"], lift["acceptance"]
    return Bars(title=w["lift_chart"], axis=w["acceptance"], lang=words.lang,
                labels=[w["personalised"], w["control"]],
                values=[float(acceptance["personalised"]), float(acceptance["control"])])


def monitoring_view(reports: Mapping[str, Any], role: str, words: Labels) -> dict[str, Any]:
    """What the page shows to `role` (rm or risk): each section's chart (None: the section is empty)
    and its rows."""
    drift, outcomes, history, lift = (reports[k] for k in ("drift", "outcomes", "history", "control_lift"))
    return {"drift": {"chart": psi_chart(drift, words), "rows": drift["models"], "rule": drift["rule"],
                      "worst": worst_features(drift, role)},
            "outcomes": {"chart": auc_chart(outcomes, words), "models": outcomes["models"]},
            "history": {"chart": history_chart(history, words), "rows": history_rows(history, role)},
            "lift": {"chart": lift_chart(lift, words), "figures": lift}}
