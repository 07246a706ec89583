"""Month-by-month simulation of the synthetic bank.

Each month, in a fixed order of random draws (so a seed fixes every byte):
joiners arrive → some customers start to leave → needs show as intent (page views, searches,
clicks) → intent from earlier months turns into uptake → money moves → credit is repaid or
missed. The month's rows are handed to a sink as they are made, so memory does not grow with
the number of months.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sources.synthetic import behaviour
from sources.synthetic.catalogue import product_topics
from sources.synthetic.events import EventMonth, draw_events

_DORMANT_BALANCE_CNY = 500.0
_CREDIT_LIMIT_X_INCOME = {"CC_CLASSIC": 3.0, "CC_PLATINUM": 8.0, "LOAN_PERSONAL": 6.0,
                          "LOAN_STUDY": 12.0, "MORTGAGE": 60.0}
_LOAN_TERM_MONTHS = {"LOAN_PERSONAL": 36, "LOAN_STUDY": 60, "MORTGAGE": 240}
_INVEST_SHARE = {"deposit": 0.25, "wealth": 0.3, "fund": 0.15, "gold": 0.05, "insurance": 0.02, "fx": 0.05}


@dataclass
class MonthRows:
    """The canonical rows one simulated month produced."""

    holdings: pd.DataFrame
    transactions: pd.DataFrame
    credit: pd.DataFrame
    events: EventMonth


class BankSimulation:
    """State of every customer, advanced one month at a time."""

    def __init__(self, rng: np.random.Generator, customers: pd.DataFrame, traits: pd.DataFrame,
                 products: pd.DataFrame, topics: list[str], months: pd.DatetimeIndex):
        self.rng, self.months, self.topics = rng, months, topics
        self.product_topics = product_topics()
        self.customers, self.traits, self.products = customers, traits, products
        self.ids = customers["customer_id"].to_numpy()
        n, p = len(customers), len(products)
        self.n, self.p = n, p
        self.pid = products["product_id"].tolist()
        self.col = {name: j for j, name in enumerate(self.pid)}
        self.category = products["category"].to_numpy()
        self.is_credit = products["is_credit"].to_numpy()
        self.income = traits["income_cny"].to_numpy()
        self.wealth = traits["wealth_cny"].to_numpy()
        self.stress = traits["financial_stress"].to_numpy()
        self.digital = traits["digital_engagement"].to_numpy()
        self.stage = traits["life_stage"].to_numpy()
        self.join_month = self._month_index(customers["join_date"])
        self.held = np.zeros((n, p), dtype=bool)
        self.balance = np.zeros((n, p))
        self.original = np.zeros((n, p))
        self.intent = np.zeros((n, p), dtype=np.int8)
        self.leaving = np.full(n, -1, dtype=np.int8)
        self.closed = np.zeros(n, dtype=bool)
        self.dormant = np.zeros(n, dtype=bool)
        self.shock = np.zeros(n, dtype=np.int8)
        self.missed_hist = np.zeros((12, n), dtype=np.int8)
        self.dpd = np.zeros(n, dtype=np.int64)
        self.revolving = np.clip(rng.beta(2, 5, n) + 0.3 * self.stress, 0, 1)
        self.close_date = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        self.exit_kind = np.full(n, "", dtype=object)
        self.onset_month = np.full(n, -1)
        self.last_invest = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
        self.shown = np.full(n, -1)

    def _month_index(self, dates: pd.Series) -> np.ndarray:
        start = self.months[0]
        d = pd.DatetimeIndex(dates)
        return ((d.year - start.year) * 12 + (d.month - start.month)).to_numpy()

    def _age_at(self, month: pd.Timestamp) -> np.ndarray:
        return behaviour.age_years(self.customers["birth_date"], month)

    def _suitable(self, age: np.ndarray) -> np.ndarray:
        """What the bank would sell: risk level within tolerance, age range, no arrears for credit."""
        tol = self.customers["risk_tolerance"].str[1].astype(int).to_numpy()
        level = self.products["risk_level"].str[1].astype(int).to_numpy()
        ok = level[None, :] <= tol[:, None]
        ok &= ~((age[:, None] >= 65) & (level[None, :] >= 4))
        ok &= (age[:, None] >= self.products["min_age"].to_numpy()) & (age[:, None] <= self.products["max_age"].to_numpy())
        ok &= ~(self.is_credit[None, :] & ((self.dpd > 0) | (self.missed_hist.sum(0) > 0))[:, None])
        return ok

    def seed_holdings(self) -> None:
        """Give customers who joined before the history its starting products."""
        age = self._age_at(self.months[0])
        onset = behaviour.intent_onset(self.traits, age, self.pid)
        present = self.join_month < 0
        tenure = np.clip(-self.join_month, 0, 180)[:, None]
        start = self.rng.random((self.n, self.p)) < np.minimum(0.85, onset * tenure * 0.5)
        start &= self._suitable(age) & present[:, None]
        self.held[present, self.col["DEP_SAVINGS"]] = True
        self.held |= start
        for j in np.flatnonzero(self.held.any(0)):
            self._open(np.flatnonzero(self.held[:, j]), j, fresh=False)

    def _open(self, who: np.ndarray, j: int, fresh: bool) -> None:
        pid, cat = self.pid[j], self.category[j]
        self.held[who, j] = True
        if pid in _CREDIT_LIMIT_X_INCOME:
            amount = np.maximum(5_000, self.income[who] * _CREDIT_LIMIT_X_INCOME[pid])
            self.original[who, j] = amount
            if pid in _LOAN_TERM_MONTHS:
                used = 1.0 if fresh else self.rng.random(len(who))
                self.balance[who, j] = amount * used
        else:
            share = _INVEST_SHARE.get(cat, 0.1)
            self.balance[who, j] = self.wealth[who] * share * self.rng.uniform(0.5, 1.5, len(who))

    def step(self, t: int, on_rows: Callable[[MonthRows], None]) -> None:
        """Advance every customer through month `t` and hand its rows to `on_rows`."""
        month = self.months[t]
        age = self._age_at(month)
        joined = self.join_month == t
        self.held[joined, self.col["DEP_SAVINGS"]] = True
        self._open(np.flatnonzero(joined), self.col["DEP_SAVINGS"], fresh=True)
        open_now = (self.join_month <= t) & ~self.closed
        active = open_now & ~self.dormant
        self._start_leaving(t, active)
        adopted = self._adopt(month, age, active)
        self._start_intents(age, active)
        exited = self._exit(month, active)
        cash = self._move_money(active & ~exited, open_now & ~exited)
        credit = self._credit(month, active & ~exited)
        events = draw_events(self, month, active & ~exited, adopted)
        holdings = self._holdings_rows(month, open_now & ~exited)
        on_rows(MonthRows(holdings, self._transactions_rows(month, open_now & ~exited, cash), credit, events))

    def _start_leaving(self, t: int, active: np.ndarray) -> None:
        tenure = (t - self.join_month) / 12
        start = active & (self.leaving < 0) & (self.rng.random(self.n) < behaviour.churn_hazard(self.traits, tenure))
        self.leaving[start] = self.rng.integers(2, 4, start.sum())
        self.onset_month[start] = t
        self.intent[start] = 0

    def _start_intents(self, age: np.ndarray, active: np.ndarray) -> None:
        onset = behaviour.intent_onset(self.traits, age, self.pid)
        eligible = active[:, None] & ~self.held & (self.intent == 0) & (self.leaving < 0)[:, None]
        start = eligible & (self.rng.random((self.n, self.p)) < onset)
        self.intent[start] = self.rng.integers(1, 3, start.sum()).astype(np.int8)

    def _adopt(self, month: pd.Timestamp, age: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Customers whose intent started earlier take the product up this month (or drop it)."""
        draw = self.rng.random((self.n, self.p))
        ripe = (self.intent > 0) & active[:, None]
        suitable = self._suitable(age)
        adopt = ripe & suitable & (draw < 0.55)
        spontaneous = active[:, None] & ~self.held & suitable & (self.intent == 0) & (draw > 0.99985)
        adopt |= spontaneous
        adopt &= ~self.held
        self.intent[ripe] -= 1
        self.intent[adopt] = 0
        for j in np.flatnonzero(adopt.any(0)):
            self._open(np.flatnonzero(adopt[:, j]), j, fresh=True)
        invest = adopt[:, np.isin(self.category, ("wealth", "fund", "gold"))].any(1)
        self.last_invest[invest] = np.datetime64(month + pd.Timedelta(days=14))
        return adopt

    def _exit(self, month: pd.Timestamp, active: np.ndarray) -> np.ndarray:
        """Customers at the end of leaving close the relationship or go dormant."""
        leaving = active & (self.leaving > 0)
        self.leaving[leaving] -= 1
        self.balance[leaving] *= 0.55
        done = active & (self.leaving == 0)
        self.leaving[done] = -1
        closes = done & (self.rng.random(self.n) < 0.6)
        goes_dormant = done & ~closes
        day = self.rng.integers(0, month.days_in_month, self.n)
        self.close_date[closes] = (month + pd.to_timedelta(day[closes], unit="D")).to_numpy()
        self.closed |= closes
        self.exit_kind[closes], self.exit_kind[goes_dormant] = "closed", "dormant"
        self.dormant |= goes_dormant
        keep = self.col["DEP_SAVINGS"]
        others = np.ones(self.p, dtype=bool)
        others[keep] = False
        self.held[np.ix_(goes_dormant, others)] = False
        self.balance[goes_dormant, keep] = self.rng.uniform(0, _DORMANT_BALANCE_CNY, goes_dormant.sum())
        self.held[closes] = False
        self.balance[closes] = 0
        return closes

    def _move_money(self, active: np.ndarray, open_now: np.ndarray) -> dict[str, np.ndarray]:
        rng, n = self.rng, self.n
        new_shock = active & (self.shock == 0) & (rng.random(n) < 0.004 + 0.03 * self.stress)
        self.shock[new_shock] = rng.integers(2, 7, new_shock.sum())
        in_shock = self.shock > 0
        earns = ~np.isin(self.stage, ("student",))
        salary = np.where(active & earns & ~in_shock, self.income, 0.0)
        other_in = np.where(active, self.income * rng.exponential(0.15, n), 0.0)
        inflow = salary + other_in
        spend_rate = rng.uniform(0.7, 0.98, n)
        outflow = np.where(in_shock, 0.85 * self.income, inflow * spend_rate) * active
        leaving = self.leaving > 0
        save = self.col["DEP_SAVINGS"]
        to_other = outflow * 0.04 + np.where(leaving, 0.5 * self.balance[:, save], 0.0)
        to_other *= active
        self.balance[:, save] = np.maximum(0, self.balance[:, save] + inflow - outflow - to_other)
        growth = 1 + self.products["expected_yield"].to_numpy() / 12
        self.balance[:, ~self.is_credit] *= growth[~self.is_credit] * rng.normal(1, 0.01, (n, 1))
        self.shock[in_shock] -= 1
        txn_rate = np.where(leaving, 0.4, 1.0) * (3 + 12 * self.digital)
        return {"inflow": inflow, "outflow": outflow + to_other, "to_other": to_other,
                "salary": salary, "txn": rng.poisson(txn_rate) * active, "in_shock": in_shock,
                "open": open_now}

    def _credit(self, month: pd.Timestamp, active: np.ndarray) -> pd.DataFrame:
        rng, n = self.rng, self.n
        cards = [self.col[c] for c in ("CC_CLASSIC", "CC_PLATINUM")]
        loans = [self.col[c] for c in _LOAN_TERM_MONTHS]
        has_card = self.held[:, cards].any(1)
        in_shock = self.shock > 0
        self.revolving = np.clip(self.revolving + rng.normal(-0.01, 0.06, n) + 0.07 * in_shock, 0, 1.2)
        for j in cards:
            self.balance[:, j] = np.where(self.held[:, j], self.original[:, j] * self.revolving, 0)
        limit = (self.original * self.held)[:, cards + loans].sum(1)
        owed = (self.balance * self.held)[:, cards + loans].sum(1)
        exposed = active & (limit > 0) & self.held[:, cards + loans].any(1)
        util = np.where(limit > 0, owed / np.maximum(limit, 1), 0.0)
        revolving_util = np.where(has_card, self.revolving, util)
        p_miss = behaviour.missed_payment_probability(revolving_util, in_shock, self.missed_hist.sum(0), self.stress)
        missed = exposed & (rng.random(n) < p_miss)
        self.dpd = np.where(missed, np.minimum(self.dpd + 30, 180), 0) * exposed
        self.missed_hist = np.roll(self.missed_hist, 1, axis=0)
        self.missed_hist[0] = missed
        for j in loans:
            paying = self.held[:, j] & ~missed
            self.balance[paying, j] = np.maximum(0, self.balance[paying, j] - self.original[paying, j] / _LOAN_TERM_MONTHS[self.pid[j]])
        payment = np.where(missed, 0.0, 0.08 * owed + 0.02 * self.income) * exposed
        idx = np.flatnonzero(exposed)
        return pd.DataFrame({
            "customer_id": self.ids[idx], "month": month,
            "credit_limit": np.round(limit[idx], 2), "balance": np.round(owed[idx], 2),
            "utilization": np.round(revolving_util[idx], 4), "payment_amount": np.round(payment[idx], 2),
            "days_past_due": self.dpd[idx], "missed_payments": missed[idx].astype(np.int64),
        })

    def _holdings_rows(self, month: pd.Timestamp, open_now: np.ndarray) -> pd.DataFrame:
        rows, cols = np.nonzero(self.held & open_now[:, None])
        return pd.DataFrame({
            "customer_id": self.ids[rows], "product_id": np.array(self.pid)[cols],
            "snapshot_date": month + pd.offsets.MonthEnd(0),
            "balance": np.round(np.maximum(self.balance[rows, cols], 0), 2),
        })

    def _transactions_rows(self, month: pd.Timestamp, open_now: np.ndarray, cash: dict[str, np.ndarray]) -> pd.DataFrame:
        cards = [self.col[c] for c in ("CC_CLASSIC", "CC_PLATINUM")]
        card_spend = np.where(self.held[:, cards].any(1), 0.25 * cash["outflow"], 0.0)
        idx = np.flatnonzero(open_now)
        return pd.DataFrame({
            "customer_id": self.ids[idx], "month": month,
            "inflow": np.round(cash["inflow"][idx], 2), "outflow": np.round(cash["outflow"][idx], 2),
            "outflow_other_banks": np.round(cash["to_other"][idx], 2),
            "txn_count": cash["txn"][idx].astype(np.int64), "card_spend": np.round(card_spend[idx], 2),
            "salary_credit": np.round(cash["salary"][idx], 2),
        })
