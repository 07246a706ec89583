"""Draw the synthetic bank's customers: hidden traits first, then what the bank observes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

LIFE_STAGES = ("student", "young_professional", "family", "pre_retirement", "retired")
_STAGE_SHARE = (0.10, 0.28, 0.32, 0.17, 0.13)
_STAGE_AGE = ((18, 25), (23, 35), (30, 51), (50, 65), (60, 86))
_STAGE_WEALTH_LOG = (8.5, 10.2, 11.0, 11.6, 11.4)  # log CNY of liquid wealth
_STAGE_INCOME = (1_500, 12_000, 16_000, 15_000, 5_000)  # median monthly income, CNY
_OCCUPATIONS = {
    "student": ("student",),
    "young_professional": ("employee", "professional", "civil_servant"),
    "family": ("employee", "professional", "self_employed", "civil_servant"),
    "pre_retirement": ("employee", "self_employed", "civil_servant"),
    "retired": ("retired",),
}
MAX_CUSTOMERS = 99_999_999  # ids are C + 8 digits (sources.contract.CUSTOMER_ID)
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红娥玲芬燕彬鹏辉宇浩然子轩梓涵一诺欣怡")


@dataclass(frozen=True)
class Population:
    """Customers as the bank sees them, and the hidden traits that drive them."""

    customers: pd.DataFrame
    traits: pd.DataFrame


def draw_population(
    rng: np.random.Generator, n: int, months: pd.DatetimeIndex, first_number: int = 1
) -> Population:
    """Draw `n` customers whose history spans `months` (month starts), numbered from `first_number`."""
    end = months[-1] + pd.offsets.MonthEnd(0)
    stage = rng.choice(len(LIFE_STAGES), size=n, p=_STAGE_SHARE)
    lo = np.array([a for a, _ in _STAGE_AGE])[stage]
    hi = np.array([b for _, b in _STAGE_AGE])[stage]
    age_days = ((lo + rng.random(n) * (hi - lo)) * 365.25).astype(int)
    birth = end.normalize() - pd.to_timedelta(age_days, unit="D")
    age = age_days / 365.25

    wealth = np.exp(np.array(_STAGE_WEALTH_LOG)[stage] + rng.normal(0, 1.0, n))
    wealth_rank = pd.Series(wealth).rank(pct=True).to_numpy()
    risk_appetite = np.clip(rng.beta(2, 2.5, n) + 0.25 * (wealth_rank - 0.5) - 0.006 * (age - 40), 0, 1)
    digital = np.clip(rng.beta(2.5, 2, n) - 0.012 * (age - 40), 0.02, 1)
    stress = np.clip(rng.beta(1.6, 5, n) + 0.2 * (wealth_rank < 0.3), 0, 1)
    study_abroad = (stage <= 1) & (rng.random(n) < np.where(stage == 0, 0.30, 0.08))

    join = _draw_join_dates(rng, n, months, birth)
    income = np.array(_STAGE_INCOME)[stage] * np.exp(rng.normal(0, 0.5, n) + 0.3 * (wealth_rank - 0.5))
    income_observed = np.where(rng.random(n) < 0.08, np.nan, np.round(income, 0))

    tolerance = np.clip(np.floor(risk_appetite * 5 + rng.normal(0, 0.45, n)), 0, 4).astype(int)
    assessed_days = (rng.random(n) * 480).astype(int)
    assessed = np.maximum(end.normalize() - pd.to_timedelta(assessed_days, unit="D"), join)

    segment = np.where(wealth_rank > 0.97, "private", np.where(wealth_rank > 0.75, "affluent", "mass"))
    channel = np.where(digital > 0.55, np.where(rng.random(n) < 0.8, "app", "web"),
                       np.where(segment != "mass", "rm", np.where(rng.random(n) < 0.7, "branch", "phone")))
    ids = customer_ids(first_number, n)

    customers = pd.DataFrame({
        "customer_id": ids,
        "external_id": None,
        "name": _draw_names(rng, n),
        "phone": _draw_phones(rng, n),
        "birth_date": birth,
        "gender": rng.choice(["F", "M"], size=n),
        "city_tier": rng.choice([1, 2, 3, 4], size=n, p=[0.25, 0.35, 0.25, 0.15]),
        "occupation": [rng_choice(rng, _OCCUPATIONS[LIFE_STAGES[s]]) for s in stage],
        "segment": segment,
        "join_date": join,
        "close_date": pd.NaT,
        "risk_tolerance": np.char.add("C", (tolerance + 1).astype(str)),
        "risk_assessed_at": assessed,
        "marketing_consent": rng.random(n) < 0.88,
        "preferred_channel": channel,
        "income_monthly": income_observed,
    })
    traits = _traits_frame(ids, stage, {"wealth_cny": np.round(wealth, 2), "income_cny": np.round(income, 2),
                                        "risk_appetite": risk_appetite, "digital_engagement": digital,
                                        "financial_stress": stress, "plans_study_abroad": study_abroad})
    return Population(customers=customers, traits=traits)


def _traits_frame(ids: np.ndarray, stage: np.ndarray, traits: dict[str, np.ndarray]) -> pd.DataFrame:
    """The hidden traits table: id, life stage, then each trait."""
    return pd.DataFrame({"customer_id": ids, "life_stage": np.array(LIFE_STAGES)[stage], **traits})


def customer_ids(first_number: int, n: int) -> np.ndarray:
    """Ids of `n` consecutive customers: C and eight digits (C00000001, the contract's pattern)."""
    if first_number < 1 or first_number + n - 1 > MAX_CUSTOMERS:
        raise ValueError(f"customer numbers must lie in 1..{MAX_CUSTOMERS:,}")
    return np.char.add("C", np.char.zfill(np.arange(first_number, first_number + n).astype(str), 8))


def rng_choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """Pick one option (a plain draw, kept in customer order for determinism)."""
    return options[int(rng.integers(len(options)))]


def _draw_join_dates(
    rng: np.random.Generator, n: int, months: pd.DatetimeIndex, birth: pd.DatetimeIndex
) -> pd.DatetimeIndex:
    """85 % joined before the history starts; the rest join during it."""
    start = months[0]
    span_days = (months[-1] + pd.offsets.MonthEnd(0) - start).days
    before = pd.to_timedelta((rng.random(n) * 15 * 365).astype(int) + 1, unit="D")
    during = pd.to_timedelta((rng.random(n) * span_days).astype(int), unit="D")
    joins_during = rng.random(n) < 0.15
    join = np.where(joins_during, (start + during).to_numpy(), (start - before).to_numpy())
    adult = (birth + pd.DateOffset(years=16)).to_numpy()
    return pd.DatetimeIndex(np.maximum(join, adult)).normalize()


def _draw_names(rng: np.random.Generator, n: int) -> np.ndarray:
    surname = np.array(_SURNAMES)[rng.integers(len(_SURNAMES), size=n)]
    first = np.array(_GIVEN)[rng.integers(len(_GIVEN), size=n)]
    second = np.array(_GIVEN)[rng.integers(len(_GIVEN), size=n)]
    two_char = rng.random(n) < 0.6
    return np.char.add(np.char.add(surname, first), np.where(two_char, second, ""))


def _draw_phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = np.array(["138", "139", "186", "135", "177"])[rng.integers(5, size=n)]
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**8, size=n).astype(str), 8))
