"""How the synthetic bank's customers answer campaigns: planted uptake and NPS answers (issue 25).

Reads the campaign runner's `assignments.parquet` files (the sends contract's columns) and the canonical
tables of a data directory. Treated customers who were *sent* an offer take the offered product with a
per-channel probability (`responses.toml`); each planted uptake adds month-end holdings rows from the first
snapshot after the send through the last. What was drawn and planted goes to
`<truth>/campaign_effect.parquet`, the truth a quarter's measured ROI against control must recover
(`planted_effect`). Assigned customers (treated and control) answer NPS surveys whose scores fall with
the number of campaign contacts in the 30 days before; the score model is recorded in `<truth>/nps_model.json`.

Every draw comes from a generator keyed by (seed, what, campaign, customer), so results do not depend on
the order of the files or rows. A send already in the truth file is never applied again: a rerun on the
same inputs adds nothing (a no-op), and a run with new days' files applies only the new sends.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from nbo.errors import ContractViolation, InputFileError
from sources.contract import CONTACT_CHANNELS
from sources.io import table_path, to_arrow

SETTINGS_FILE = Path(__file__).with_name("responses.toml")
ASSIGNMENTS_FILE = "assignments.parquet"
EFFECT_FILE = "campaign_effect.parquet"
NPS_TRUTH_FILE = "nps_truth.parquet"
NPS_MODEL_FILE = "nps_model.json"
NPS_FILE = "nps_answers.parquet"
SEND_COLUMNS = ("send_id", "campaign_id", "campaign_version", "day", "customer_id", "arm", "segment", "status",
                "channel", "product_id", "send_at", "cost_cny", "reason", "decision_id", "task_id")
STATUSES = ("sent", "held_out", "refused", "blocked")
NPS_COLUMNS = ("answer_id", "customer_id", "answered_at", "score", "comment", "channel", "campaign_id")
EFFECT_COLUMNS = ("campaign_id", "customer_id", "day", "channel", "product_id", "drawn", "planted", "balance_cny",
                  "first_snapshot", "send_id", "arm", "assigned_day", "monthly_growth", "last_snapshot", "outcome")
# Why a sent treated customer has no planted holding (`outcome`), or `planted`.
OUTCOMES = ("planted", "not_drawn", "already_held", "no_snapshot_after_send", "closed", "planted_by_earlier_send")
COMMENTS = {  # (zh, en) by NPS band: what customers write in a survey's free-text box
    "promoter": ("客户经理很专业，推荐的产品适合我。", "My relationship manager knows what suits me.",
                 "手机银行用起来很方便。", "The app is easy and quick."),
    "passive": ("还可以，收益再高一点就好了。", "Fine, though the rates could be better.",
                "服务一般，没有特别的感觉。", "Nothing special either way."),
    "detractor": ("推销信息太多了，有点打扰。", "Too many marketing messages.",
                  "电话太频繁，希望少联系我。", "Please stop calling me so often."),
}


@dataclass(frozen=True)
class ResponseSettings:
    """The planted effect and the NPS score model (`responses.toml`)."""

    uptake: dict[str, float]
    share_of_existing: float = 0.15
    income_months: float = 3.0
    credit_income_months: float = 1.0
    fallback_cny: float = 10_000.0
    sigma: float = 0.6
    max_monthly_growth: float = 0.02
    answer_share: float = 0.15
    delay_days: tuple[int, int] = (1, 14)
    contact_window_days: int = 30
    base_mean: float = 8.2
    drop_per_contact: float = 0.9
    max_contacts: int = 4
    sd: float = 1.8
    comment_share: float = 0.3


def load_settings(path: Path | None = None) -> ResponseSettings:
    """Read the settings TOML (default: `responses.toml` beside this module); errors name the file and key."""
    path = Path(path or SETTINGS_FILE)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputFileError(f"{path}: cannot read the settings ({err.strerror or err})") from err
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputFileError(f"{path}: not a valid TOML file ({err})") from err
    uptake = raw.get("uptake", {})
    missing = [c for c in CONTACT_CHANNELS if c not in uptake]
    unknown = [c for c in uptake if c not in CONTACT_CHANNELS]
    if missing or unknown:
        raise ContractViolation(f"{path}: [uptake] must give every contact channel ({', '.join(CONTACT_CHANNELS)}); "
                                + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"))
    bad = [c for c, p in uptake.items() if not isinstance(p, int | float) or not 0 <= p <= 1]
    if bad:
        raise ContractViolation(f"{path}: [uptake] {bad[0]} must be a probability between 0 and 1")
    values: dict[str, Any] = {**raw.get("balance", {}), **raw.get("nps", {})}
    known = set(ResponseSettings.__dataclass_fields__) - {"uptake"}
    if unknown_keys := sorted(set(values) - known):
        raise ContractViolation(f"{path}: unknown key {unknown_keys[0]!r}")
    if "delay_days" in values:
        lo, hi = values["delay_days"]
        if not 0 <= lo <= hi:
            raise ContractViolation(f"{path}: [nps] delay_days must be [low, high] with 0 <= low <= high")
        values["delay_days"] = (int(lo), int(hi))
    return ResponseSettings(uptake={c: float(uptake[c]) for c in CONTACT_CHANNELS}, **values)


def read_assignments(root: Path) -> pd.DataFrame:
    """Every `assignments.parquet` under `root` (recursively), validated, one row per send_id.

    A file that cannot be read: InputFileError (exit 3); a missing column or a bad value:
    ContractViolation (exit 2) naming the file, row (1-based) and column."""
    root = Path(root)
    if not root.is_dir():
        raise InputFileError(f"{root}: no such assignments directory")
    files = sorted(root.rglob(ASSIGNMENTS_FILE))
    if not files:
        raise InputFileError(f"{root}: no {ASSIGNMENTS_FILE} under this directory")
    frames = [_read_one(path) for path in files]
    out = pd.concat(frames, ignore_index=True).drop_duplicates("send_id")
    return out.sort_values(["day", "campaign_id", "customer_id", "send_id"], kind="stable").reset_index(drop=True)


def _read_one(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        raise InputFileError(f"{path}: cannot read the parquet file ({err})") from err
    problems = [{"file": str(path), "row": None, "column": c, "message": "missing column"}
                for c in SEND_COLUMNS if c not in df.columns]
    if not problems:
        problems = _value_problems(path, df)
    if problems:
        first = problems[0]
        where = f"column {first['column']}" + (f" row {first['row']}" if first["row"] is not None else "")
        for p in problems:
            p["text"] = f"{p['file']} column {p['column']}" + (f" row {p['row']}" if p["row"] else "") \
                + f": {p['message']}"
        raise ContractViolation(f"{path}: {where}: {first['message']}"
                                + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""), problems)
    df = df[list(SEND_COLUMNS)].copy()
    df["day"] = _naive(pd.to_datetime(df["day"])).dt.normalize()
    df["send_at"] = pd.to_datetime(df["send_at"], utc=True)
    df["cost_cny"] = df["cost_cny"].astype(float)
    return df


def _value_problems(path: Path, df: pd.DataFrame) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def bad(mask: pd.Series, column: str, message: str) -> None:
        found.extend({"file": str(path), "row": int(i) + 1, "column": column, "message": message}
                     for i in np.flatnonzero(mask.to_numpy(dtype=bool))[:100])

    for column in ("send_id", "campaign_id", "customer_id", "arm", "day"):
        bad(df[column].isna(), column, "missing value")
    bad(~df["status"].isin(STATUSES), "status", f"not one of {', '.join(STATUSES)}")
    sent = df["status"].eq("sent")
    bad(sent & ~df["channel"].isin(CONTACT_CHANNELS), "channel",
        f"a sent row's channel must be one of {', '.join(CONTACT_CHANNELS)}")
    bad(sent & df["product_id"].isna(), "product_id", "a sent row has no product")
    bad(sent & df["send_at"].isna(), "send_at", "a sent row has no send time")
    bad(df["status"].eq("held_out") & df["arm"].ne("control"), "arm", "held_out rows belong to the control arm")
    for column in ("day", "send_at"):
        try:
            pd.to_datetime(df[column], utc=column == "send_at")
        except (ValueError, TypeError):
            found.append({"file": str(path), "row": None, "column": column, "message": "not a date/time"})
    return found


def _naive(s: pd.Series) -> pd.Series:
    return s.dt.tz_convert("UTC").dt.tz_localize(None) if s.dt.tz is not None else s


def _key(seed: int, *parts: object) -> int:
    """A 64-bit key from the seed and the parts: the same parts give the same key in any run or order."""
    text = "|".join([str(seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def _uniform(seed: int, *parts: object) -> float:
    return _key(seed, *parts) / 2.0**64


def plant_uptake(assignments: pd.DataFrame, customers: pd.DataFrame, products: pd.DataFrame,
                 holdings: pd.DataFrame, settings: ResponseSettings, seed: int,
                 applied: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw uptake for every treated `sent` row not in `applied` (send ids); return (truth rows, new holdings).

    A drawn customer already holding the product at the first snapshot after the send, closed by then, or
    with no snapshot after the send gets no holding; where two sends of the same product reach one customer
    the earlier plants. Holdings rows are added for every snapshot from the first after the send through
    the last (before the customer's close date), except snapshots at which the product is already held."""
    first_day = assignments.groupby(["campaign_id", "customer_id"])["day"].min().rename("assigned_day")
    sent = assignments[assignments["status"].eq("sent") & assignments["arm"].ne("control")
                       & ~assignments["send_id"].isin(applied)]
    sent = sent.sort_values(["send_at", "campaign_id", "customer_id"], kind="stable")
    sent = sent.drop_duplicates(["campaign_id", "customer_id"]).join(first_day, on=["campaign_id", "customer_id"])
    snapshots = pd.DatetimeIndex(sorted(holdings["snapshot_date"].unique()))
    truth = pd.DataFrame({
        "campaign_id": sent["campaign_id"].to_numpy(), "customer_id": sent["customer_id"].to_numpy(),
        "day": sent["day"].to_numpy(), "channel": sent["channel"].to_numpy(),
        "product_id": sent["product_id"].to_numpy(), "send_id": sent["send_id"].to_numpy(),
        "arm": sent["arm"].to_numpy(), "assigned_day": sent["assigned_day"].to_numpy(),
        "send_at": sent["send_at"].to_numpy()})
    truth["drawn"] = np.array([_uniform(seed, "uptake", c, k) < settings.uptake[ch] for c, k, ch in
                               zip(truth["campaign_id"], truth["customer_id"], truth["channel"], strict=True)],
                              dtype=bool)
    send_naive = _naive(pd.Series(pd.to_datetime(truth["send_at"], utc=True)))
    after = snapshots.searchsorted(send_naive.to_numpy(), side="right")
    truth["first_snapshot"] = pd.Series([snapshots[i] if i < len(snapshots) else pd.NaT for i in after],
                                        dtype="datetime64[ns]")
    held = holdings[["customer_id", "product_id", "snapshot_date"]].assign(held=True)
    truth = truth.merge(held.rename(columns={"snapshot_date": "first_snapshot"}),
                        on=["customer_id", "product_id", "first_snapshot"], how="left")
    truth["held"] = truth["held"].astype("boolean").fillna(False).astype(bool)
    close = customers.set_index("customer_id")["close_date"]
    closed = truth["customer_id"].map(close)
    truth["outcome"] = np.select(
        [np.asarray(c, dtype=bool) for c in (~truth["drawn"], truth["first_snapshot"].isna(),
                                             closed.notna() & (closed <= truth["first_snapshot"]), truth["held"])],
        ["not_drawn", "no_snapshot_after_send", "closed", "already_held"], "planted")
    earlier = truth["outcome"].eq("planted") & truth.duplicated(["customer_id", "product_id"])
    truth.loc[earlier, "outcome"] = "planted_by_earlier_send"
    truth["planted"] = truth["outcome"].eq("planted")
    truth = _draw_balances(truth, customers, products, holdings, settings, seed)
    rows = _holding_rows(truth[truth["planted"]], closed[truth["planted"]], snapshots, held)
    last = rows.groupby("send_id")["snapshot_date"].max()
    truth["last_snapshot"] = truth["send_id"].map(last).astype("datetime64[ns]")
    truth["day"] = pd.to_datetime(truth["day"])
    truth["assigned_day"] = pd.to_datetime(truth["assigned_day"])
    return truth[list(EFFECT_COLUMNS)], rows.drop(columns="send_id")


def _draw_balances(truth: pd.DataFrame, customers: pd.DataFrame, products: pd.DataFrame, holdings: pd.DataFrame,
                   settings: ResponseSettings, seed: int) -> pd.DataFrame:
    """The planted holding's first balance and monthly growth, from the product's minimum and the customer's
    wealth (non-credit balance at the last snapshot on or before the send, else income)."""
    truth = truth.copy()
    truth["balance_cny"] = np.nan
    truth["monthly_growth"] = np.nan
    planted = truth[truth["planted"]]
    if planted.empty:
        return truth
    product = products.set_index("product_id")
    credit = product["is_credit"].astype(bool)
    mine = holdings[holdings["customer_id"].isin(planted["customer_id"])
                    & ~holdings["product_id"].map(credit).fillna(False).astype(bool)]
    wealth = mine.groupby(["customer_id", "snapshot_date"])["balance"].sum()
    income = customers.set_index("customer_id")["income_monthly"]
    wealthy = set(wealth.index.get_level_values(0))
    for i, row in planted.iterrows():
        send_day = pd.Timestamp(row["send_at"]).tz_convert("UTC").tz_localize(None)
        existing = 0.0
        if not credit.get(row["product_id"], False) and row["customer_id"] in wealthy:
            series = wealth.loc[row["customer_id"]]
            series = series[series.index <= send_day]
            existing = float(series.iloc[-1]) if len(series) else 0.0
        monthly = income.get(row["customer_id"], np.nan)
        months = settings.credit_income_months if credit.get(row["product_id"], False) else settings.income_months
        centre = (settings.share_of_existing * existing if existing > 0
                  else months * monthly if pd.notna(monthly) and monthly > 0
                  else settings.fallback_cny)
        floor = float(product.at[row["product_id"], "min_amount"]) if row["product_id"] in product.index else 0.0
        rng = np.random.default_rng(_key(seed, "balance", row["campaign_id"], row["customer_id"]))
        balance = max(floor, centre) * float(np.exp(rng.normal(0.0, settings.sigma) - settings.sigma**2 / 2))
        truth.at[i, "balance_cny"] = round(max(balance, floor), 2)
        truth.at[i, "monthly_growth"] = round(float(rng.uniform(0.0, settings.max_monthly_growth)), 6)
    return truth


def _holding_rows(planted: pd.DataFrame, closed: pd.Series, snapshots: pd.DatetimeIndex,
                  held: pd.DataFrame) -> pd.DataFrame:
    parts = []
    for (_, row), close in zip(planted.iterrows(), closed, strict=True):
        dates = snapshots[snapshots >= row["first_snapshot"]]
        if pd.notna(close):
            dates = dates[dates < close]
        months = (dates.to_period("M") - pd.Timestamp(row["first_snapshot"]).to_period("M")).map(lambda d: d.n)
        balance = np.round(row["balance_cny"] * (1 + row["monthly_growth"]) ** np.asarray(months, dtype=float), 2)
        parts.append(pd.DataFrame({"customer_id": row["customer_id"], "product_id": row["product_id"],
                                   "snapshot_date": dates, "balance": balance, "send_id": row["send_id"]}))
    columns = ["customer_id", "product_id", "snapshot_date", "balance", "send_id"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "snapshot_date" else
                                          float if c == "balance" else object) for c in columns})
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.merge(held, on=["customer_id", "product_id", "snapshot_date"], how="left")
    rows = rows[rows["held"].isna()][columns]  # the bank's own simulation already holds it that month
    return rows.sort_values(["snapshot_date", "customer_id", "product_id"], kind="stable").reset_index(drop=True)


def nps_answers(assignments: pd.DataFrame, settings: ResponseSettings, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Survey answers of a share of assigned customers (treated and control): (answers, truth per answer).

    The expected score is `base_mean - drop_per_contact × min(contacts, max_contacts)`, contacts being the
    customer's campaign sends (any campaign) in the `contact_window_days` before the answer; one answer
    per customer and assignment day (`answer_id` from seed, customer and day)."""
    first = assignments.sort_values(["day", "campaign_id"], kind="stable").drop_duplicates(["campaign_id",
                                                                                            "customer_id"])
    first = first.drop_duplicates(["customer_id", "day"])
    sent = assignments[assignments["status"].eq("sent")]
    channel = sent.drop_duplicates(["campaign_id", "customer_id"]).set_index(["campaign_id", "customer_id"])["channel"]
    answers, truth = [], []
    lo, hi = settings.delay_days
    contact_times = {c: _naive(g["send_at"]).to_numpy() for c, g in sent.groupby("customer_id")}
    for row in first.itertuples(index=False):
        day = pd.Timestamp(row.day)
        if _uniform(seed, "nps", row.customer_id, day.date()) >= settings.answer_share:
            continue
        rng = np.random.default_rng(_key(seed, "nps-answer", row.customer_id, day.date()))
        # answered between 09:00 and 21:00 in Beijing (UTC+8), i.e. 01:00-13:00 UTC
        answered = (day + pd.Timedelta(days=int(rng.integers(lo, hi + 1)))
                    + pd.Timedelta(minutes=int(rng.integers(60, 13 * 60))))
        times = contact_times.get(row.customer_id, np.array([], dtype="datetime64[ns]"))
        window = np.datetime64(answered - pd.Timedelta(days=settings.contact_window_days))
        contacts = int(((times >= window) & (times < np.datetime64(answered))).sum())
        expected = settings.base_mean - settings.drop_per_contact * min(contacts, settings.max_contacts)
        score = int(np.clip(np.rint(rng.normal(expected, settings.sd)), 0, 10))
        comment = None
        if rng.random() < settings.comment_share:
            band = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            comment = COMMENTS[band][int(rng.integers(len(COMMENTS[band])))]
        answer_id = "nps-" + f"{_key(seed, 'nps-id', row.customer_id, day.date()):016x}"
        answers.append({"answer_id": answer_id, "customer_id": row.customer_id,
                        "answered_at": answered.tz_localize("UTC"), "score": score, "comment": comment,
                        "channel": channel.get((row.campaign_id, row.customer_id)), "campaign_id": row.campaign_id})
        truth.append({"answer_id": answer_id, "customer_id": row.customer_id, "campaign_id": row.campaign_id,
                      "arm": row.arm, "contacts_30d": contacts, "expected_score": round(expected, 4)})
    frame = pd.DataFrame(answers, columns=list(NPS_COLUMNS))
    frame["answered_at"] = pd.to_datetime(frame["answered_at"], utc=True)
    frame["score"] = frame["score"].astype("int64")
    frame = frame.sort_values(["answered_at", "answer_id"], kind="stable").reset_index(drop=True)
    truth_frame = pd.DataFrame(truth, columns=["answer_id", "customer_id", "campaign_id", "arm", "contacts_30d",
                                               "expected_score"])
    return frame, truth_frame.sort_values("answer_id").reset_index(drop=True)


def planted_effect(truth: pd.DataFrame, assignments: pd.DataFrame, products: pd.DataFrame,
                   window_days: int = 60) -> pd.DataFrame:
    """The planted effect per campaign, defined as the campaign results define ROI (intention to treat).

    `treated_n`: customers assigned to a treated arm; `planted_conversions`: those with a planted holding
    whose first snapshot falls in (assigned day, assigned day + window]; `planted_rate` = conversions /
    treated_n; `planted_value_cny` = Σ balance × margin (balance at the last snapshot within the window) /
    treated_n; `cost_cny_per_treated` = the treated arm's contact costs / treated_n. Control customers never
    get a planted holding, so these are the treated-minus-control differences the measurement should find."""
    assigned = assignments.drop_duplicates(["campaign_id", "customer_id"])
    treated_n = assigned[assigned["arm"].ne("control")].groupby("campaign_id").size()
    control_n = assigned[assigned["arm"].eq("control")].groupby("campaign_id").size()
    cost = assignments[assignments["arm"].ne("control")].groupby("campaign_id")["cost_cny"].sum()
    planted = truth[truth["planted"].astype(bool)].copy()
    end = pd.to_datetime(planted["assigned_day"]) + pd.Timedelta(days=window_days)
    planted = planted[(planted["first_snapshot"] > planted["assigned_day"]) & (planted["first_snapshot"] <= end)]
    end = end[planted.index]
    month_end = (end.dt.to_period("M").where(end.dt.is_month_end, end.dt.to_period("M") - 1)
                 .dt.to_timestamp(how="end").dt.normalize())
    last_in_window = pd.concat([month_end, planted["last_snapshot"]], axis=1).min(axis=1)
    months = (last_in_window.dt.to_period("M") - planted["first_snapshot"].dt.to_period("M")).map(lambda d: d.n)
    margin = planted["product_id"].map(products.set_index("product_id")["margin"]).fillna(0.0)
    planted["value"] = planted["balance_cny"] * (1 + planted["monthly_growth"]) ** months.astype(float) * margin
    out = pd.DataFrame({"treated_n": treated_n}).join(control_n.rename("control_n"), how="outer").fillna(0)
    out = out.join(planted.groupby("campaign_id").size().rename("planted_conversions"))
    out = out.join(planted.groupby("campaign_id")["value"].sum().rename("planted_value_total"))
    out = out.join(cost.rename("cost_total")).fillna(0)
    n = out["treated_n"].where(out["treated_n"] > 0)
    out["planted_rate"] = out["planted_conversions"] / n
    out["planted_value_cny"] = out["planted_value_total"] / n
    out["cost_cny_per_treated"] = out["cost_total"] / n
    out = out.astype({"treated_n": "int64", "control_n": "int64", "planted_conversions": "int64"})
    return out.reset_index(names="campaign_id")[
        ["campaign_id", "treated_n", "control_n", "planted_conversions", "planted_rate", "planted_value_cny",
         "cost_cny_per_treated"]]


def respond(assignments_dir: Path, data_dir: Path, truth_dir: Path, seed: int, nps_out: Path | None = None,
            settings: ResponseSettings | None = None) -> dict[str, Any]:
    """Apply the world's answer to the campaigns' sends: plant uptake in the holdings, write truth and NPS.

    Sends already recorded in `<truth_dir>/campaign_effect.parquet` are skipped (a rerun adds nothing)."""
    settings = settings or load_settings()
    data_dir, truth_dir = Path(data_dir), Path(truth_dir)
    assignments = read_assignments(assignments_dir)
    customers = _read(data_dir, "customers", ["customer_id", "close_date", "income_monthly"])
    products = _read(data_dir, "products", ["product_id", "is_credit", "min_amount", "margin"])
    holdings_path = table_path(data_dir, "holdings")
    holdings = _read(data_dir, "holdings", ["customer_id", "product_id", "snapshot_date", "balance"])
    effect_path = truth_dir / EFFECT_FILE
    previous = pd.read_parquet(effect_path) if effect_path.exists() else pd.DataFrame(columns=list(EFFECT_COLUMNS))
    applied = frozenset(previous["send_id"])
    unknown = sorted(set(assignments.loc[assignments["status"].eq("sent"), "product_id"]) - set(products["product_id"]))
    if unknown:
        raise ContractViolation(f"{assignments_dir}: column product_id: {unknown[0]!r} is not in {data_dir}'s products")
    truth, rows = plant_uptake(assignments, customers, products, holdings, settings, seed, applied)
    truth_dir.mkdir(parents=True, exist_ok=True)
    if len(truth):
        if len(rows):
            _append_holdings(holdings_path, rows)
        combined = pd.concat([previous, truth], ignore_index=True) if len(previous) else truth
        _write_atomic(pa.Table.from_pandas(combined, preserve_index=False), effect_path)
    answers, nps_truth = nps_answers(assignments, settings, seed)
    nps_path = Path(nps_out) if nps_out else truth_dir.parent / NPS_FILE
    _write_atomic(pa.Table.from_pandas(answers, preserve_index=False), nps_path)
    _write_atomic(pa.Table.from_pandas(nps_truth, preserve_index=False), truth_dir / NPS_TRUTH_FILE)
    model = {k: v for k, v in asdict(settings).items()
             if k in ("contact_window_days", "base_mean", "drop_per_contact", "max_contacts", "sd", "answer_share",
                      "delay_days")}
    (truth_dir / NPS_MODEL_FILE).write_text(json.dumps(
        model | {"formula": "score = clip(round(normal(base_mean - drop_per_contact * min(contacts, max_contacts), "
                            "sd)), 0, 10)", "seed": seed}, indent=2) + "\n", encoding="utf-8")
    all_truth = pd.concat([previous, truth], ignore_index=True) if len(previous) else truth
    effect = planted_effect(all_truth, assignments, products)
    by_channel = {ch: {"sent": int((truth["channel"] == ch).sum()), "drawn": int(truth.loc[truth["channel"] == ch,
                                                                                           "drawn"].sum()),
                       "probability": settings.uptake[ch]} for ch in CONTACT_CHANNELS}
    return {
        "assignments": Path(assignments_dir).resolve(), "data": data_dir.resolve(), "truth": effect_path.resolve(),
        "nps": nps_path.resolve(), "seed": seed, "assignment_rows": len(assignments),
        "sent_treated_new": len(truth), "already_applied": int(assignments["send_id"].isin(applied).sum()),
        "drawn": int(truth["drawn"].sum()), "planted": int(truth["planted"].sum()),
        "outcomes": {o: int((truth["outcome"] == o).sum()) for o in OUTCOMES},
        "holdings_rows_added": len(rows), "by_channel": by_channel, "nps_answers": len(answers),
        "nps_mean_score": round(float(answers["score"].mean()), 3) if len(answers) else None,
        "effect": effect.astype(object).where(effect.notna(), None).to_dict("records"),
    }


def _read(data_dir: Path, table: str, columns: list[str]) -> pd.DataFrame:
    path = table_path(data_dir, table)
    if not path.exists():
        raise InputFileError(f"{path}: no such file (the data directory needs customers, products and holdings)")
    try:
        return pd.read_parquet(path, columns=columns)
    except Exception as err:  # noqa: BLE001 - a missing column or a broken file
        raise InputFileError(f"{path}: cannot read columns {', '.join(columns)} ({err})") from err


def _append_holdings(path: Path, rows: pd.DataFrame) -> None:
    """Rewrite holdings with `rows` appended: the existing row groups copied as they are, then the new rows.

    The synthetic bank writes holdings block by block and month by month (no global sort order), so new
    rows go last, ordered by snapshot_date, customer_id and product_id. Temp file + rename: a reader sees
    the old table or the new one."""
    source = pq.ParquetFile(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with pq.ParquetWriter(tmp, source.schema_arrow, compression="zstd") as writer:
            for i in range(source.num_row_groups):
                writer.write_table(source.read_row_group(i))
            writer.write_table(to_arrow("holdings", rows).cast(source.schema_arrow))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
