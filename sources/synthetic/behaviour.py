"""How hidden traits turn into needs: monthly intent onset by customer and product."""

from __future__ import annotations

import numpy as np
import pandas as pd

# Scales the whole matrix so that monthly adoption lands at ~2–3 % of active customers.
_ONSET_SCALE = 0.0135


def age_years(birth: pd.Series, at: pd.Timestamp) -> np.ndarray:
    """Age in whole-ish years at a date."""
    return ((at - pd.DatetimeIndex(birth)).days / 365.25).to_numpy()


def intent_onset(traits: pd.DataFrame, age: np.ndarray, product_ids: list[str]) -> np.ndarray:
    """Return an n × P matrix: the monthly probability that a need for p starts showing."""
    stage = traits["life_stage"].to_numpy()
    wealth = traits["wealth_cny"].rank(pct=True).to_numpy()
    risk = traits["risk_appetite"].to_numpy()
    digital = traits["digital_engagement"].to_numpy()
    stress = traits["financial_stress"].to_numpy()
    abroad = traits["plans_study_abroad"].to_numpy()
    family = stage == "family"
    older = np.isin(stage, ("pre_retirement", "retired"))
    young = np.isin(stage, ("student", "young_professional"))
    prime_age = (age >= 27) & (age <= 45)
    affinity = {
        "DEP_SAVINGS": np.zeros(len(stage)),
        "DEP_TIME_1Y": (1 - risk) * (0.4 + 0.8 * older) * (0.3 + wealth),
        "WM_STABLE": (0.3 + wealth) * (1 - abs(risk - 0.35)) * (0.5 + 0.5 * older),
        "WM_GROWTH": wealth**2 * risk * 1.4,
        "FUND_BOND": (0.2 + wealth) * (1 - abs(risk - 0.4)) * 0.7,
        "FUND_BALANCED": wealth * risk * 1.1,
        "FUND_EQUITY": wealth**1.5 * risk**1.5 * 2.2,
        "FUND_TECH": wealth**1.5 * risk**2 * digital * 2.6,
        "GOLD_ACCUM": wealth * (1 - abs(risk - 0.5)) * 0.6,
        "INS_HEALTH": (0.3 + 1.2 * family + 0.4 * older) * 0.6,
        "INS_LIFE": (1.5 * family + 0.3 * young) * (0.3 + wealth) * 0.8,
        "INS_ANNUITY": (1.8 * (stage == "pre_retirement") + 0.4 * family) * (0.3 + wealth) * 0.7,
        "CC_CLASSIC": (1.3 * young + 0.5 * family) * (0.6 + digital) * 0.7,
        "CC_PLATINUM": wealth**2 * (0.5 + digital) * 1.2,
        "LOAN_PERSONAL": (0.3 + stress) * (0.8 * young + 0.6 * family) * 0.9,
        "LOAN_STUDY": abroad * 3.0,
        "MORTGAGE": family * prime_age * (0.4 + wealth) * 2.6,
        "FX_ACCOUNT": abroad * 3.2 + 0.25 * wealth * digital,
    }
    return _ONSET_SCALE * np.column_stack([affinity[p] for p in product_ids])


def churn_hazard(traits: pd.DataFrame, tenure_years: np.ndarray) -> np.ndarray:
    """Return each customer's monthly probability of starting to leave the bank."""
    digital = traits["digital_engagement"].to_numpy()
    stress = traits["financial_stress"].to_numpy()
    new = tenure_years < 2
    return 0.031 * (1.5 - digital) * (0.7 + 1.2 * stress) * np.where(new, 1.5, 1.0)


def missed_payment_probability(
    utilization: np.ndarray, in_shock: np.ndarray, missed_12m: np.ndarray, stress: np.ndarray
) -> np.ndarray:
    """Monthly probability of missing a payment: monotone in every argument."""
    logit = -8.3 + 4.4 * utilization + 1.8 * in_shock + 1.2 * np.minimum(missed_12m, 3) + 1.2 * stress
    return 1 / (1 + np.exp(-logit))
