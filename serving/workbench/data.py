"""What the RM workbench reads besides the online store: who the customers are (name, phone) for
search, their month-end balances over time, their most recent events and when their term
products mature.

Names and phones live only in the canonical customers table (never in Feast: they are not
features), balances over time in the offline store's month-end table, events in the canonical
events table, term products in the canonical holdings. All are read once into memory (a page must
not scan parquet) and read again when a file changes.

Maturities are derived: the canonical contract has no maturity or term column, so a term product
(TERM_MONTHS: the 1-year time deposit) is taken to start at the first month end of its latest
unbroken run in the holdings and to renew every term; its maturity is the next anniversary.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.build.monthly import offline_dir
from features.tables import BALANCES
from nbo.errors import ModelUnavailable
from nbo.settings import Settings
from serving.decisions.suitability import add_months
from sources.contract import CATEGORIES
from sources.io import table_path

EVENTS_PER_CUSTOMER = 10
SEARCH_LIMIT = 20
BALANCE_COLUMNS = ("aum_cny", *(f"{c}_balance_cny" for c in CATEGORIES))
TERM_MONTHS = {"DEP_TIME_1Y": 12}  # term products of the catalogue and their terms
_ID_FRAGMENT = re.compile(r"^[Cc]?[0-9]+$")  # ASCII digits: int() reads any Unicode digit


@dataclass(frozen=True)
class Match:
    """One search hit."""

    customer_id: str
    name: str | None
    phone_masked: str | None
    segment: str


def mask_phone(phone: str | None) -> str | None:
    """The phone with its middle digits hidden (138****0114), as banks print it."""
    if not phone or len(phone) < 8:
        return phone
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


class _Slices:
    """Rows of a frame sorted by customer, found by customer id in O(1)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame.reset_index(drop=True)
        ids = self.frame["customer_id"].to_numpy(dtype=str)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], dtype=int)
        ends = np.r_[starts[1:], len(ids)] if len(ids) else starts
        self.bounds = {str(ids[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}

    def of(self, customer_id: str) -> pd.DataFrame:
        start, end = self.bounds.get(customer_id, (0, 0))
        return self.frame.iloc[start:end].drop(columns="customer_id")


class WorkbenchData:
    """Customers, balance history and recent events in memory, for search and the 360° page."""

    def __init__(self, customers: pd.DataFrame, balances: pd.DataFrame, events: pd.DataFrame,
                 terms: dict[str, list[tuple[str, date]]] | None = None):
        self.terms = terms or {}
        self.customers = customers.set_index("customer_id", drop=False)
        self._ids = customers["customer_id"].to_numpy(dtype=str)
        self._names = customers["name"].fillna("").to_numpy(dtype=str)
        self._phones = customers["phone"].fillna("").to_numpy(dtype=str)
        self._balances = _Slices(balances)
        self._events = _Slices(events)

    @classmethod
    def load(cls, data_dir: Path, balances_file: Path) -> WorkbenchData:
        """Read customers, month-end balances, the last events of each customer and the term holdings."""
        customers = pq.read_table(table_path(data_dir, "customers"), columns=[
            "customer_id", "name", "phone", "gender", "birth_date", "join_date", "close_date", "segment",
            "occupation"]).to_pandas()
        balances = (pq.read_table(balances_file, columns=["customer_id", "event_timestamp", *BALANCE_COLUMNS])
                    .to_pandas().sort_values(["customer_id", "event_timestamp"], kind="stable"))
        events = pq.read_table(table_path(data_dir, "events"), columns=[
            "customer_id", "event_time", "event_type", "topic", "product_id", "channel"]).to_pandas()
        events = (events.sort_values("event_time", kind="stable").groupby("customer_id", sort=False)
                  .tail(EVENTS_PER_CUSTOMER).sort_values(["customer_id", "event_time"], ascending=[True, False]))
        holdings = pq.read_table(table_path(data_dir, "holdings"), columns=["customer_id", "product_id", "snapshot_date"],
                                 filters=[("product_id", "in", list(TERM_MONTHS))]).to_pandas()
        return cls(customers, balances, events, term_starts(holdings))

    def search(self, query: str, limit: int = SEARCH_LIMIT) -> list[Match]:
        """Customers whose id, name or phone contains `query` (an id fragment matches ids and phones)."""
        query = query.strip()
        if not query:
            return []
        if _ID_FRAGMENT.match(query):
            digits = query.lstrip("Cc")
            hit = np.char.find(self._ids, digits) >= 0
            if query[0] not in "Cc":
                hit |= np.char.find(self._phones, digits) >= 0
        else:
            hit = np.char.find(self._names, query) >= 0
        rows = self.customers.iloc[np.flatnonzero(hit)[:limit]]
        return [Match(str(r.customer_id), r.name, mask_phone(r.phone), str(r.segment)) for r in rows.itertuples()]

    def identity(self, customer_id: str) -> dict[str, object]:
        """Name, phone (masked), gender, dates and occupation from the customers table ({} if absent)."""
        if customer_id not in self.customers.index:
            return {}
        row = self.customers.loc[customer_id]
        return {"name": row["name"], "phone": mask_phone(row["phone"]), "gender": row["gender"],
                "occupation": row["occupation"], **{c: _day(row[c]) for c in ("birth_date", "join_date", "close_date")}}

    def balances(self, customer_id: str) -> pd.DataFrame:
        """Month-end AUM and balances by category, oldest first (empty if none)."""
        return self._balances.of(customer_id)

    def maturities(self, customer_id: str, today: date) -> list[tuple[str, date]]:
        """(product, next maturity on or after `today`) of each term product the customer holds."""
        out = []
        for product, start in self.terms.get(customer_id, []):
            term, n = TERM_MONTHS[product], 1
            while (due := add_months(start, term * n)) < today:
                n += 1
            out.append((product, due))
        return out

    def recent_events(self, customer_id: str) -> list[dict[str, object]]:
        """The customer's last events, newest first."""
        return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                for row in self._events.of(customer_id).to_dict("records")]


def term_starts(holdings: pd.DataFrame) -> dict[str, list[tuple[str, date]]]:
    """Customer → (product, start) of the unbroken run of month ends that reaches the latest snapshot."""
    if holdings.empty:
        return {}
    latest = holdings["snapshot_date"].max()
    h = holdings.sort_values(["customer_id", "product_id", "snapshot_date"], kind="stable")
    month = h["snapshot_date"].dt.year * 12 + h["snapshot_date"].dt.month
    same = (h["customer_id"] == h["customer_id"].shift()) & (h["product_id"] == h["product_id"].shift())
    run = (~(same & (month - month.shift() == 1))).cumsum()
    runs = h.groupby(run).agg(customer_id=("customer_id", "first"), product_id=("product_id", "first"),
                              start=("snapshot_date", "min"), end=("snapshot_date", "max"))
    out: dict[str, list[tuple[str, date]]] = {}
    for r in runs[runs["end"] == latest].itertuples():
        out.setdefault(str(r.customer_id), []).append((str(r.product_id), pd.Timestamp(r.start).date()))
    return out


def _day(value: object) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


class WorkbenchDataCache:
    """One `WorkbenchData` per process, loaded on first use and again when a source file changes."""

    def __init__(self, settings: Settings):
        self.files = (table_path(settings.data_dir, "customers"), offline_dir(settings) / BALANCES.file_name,
                      table_path(settings.data_dir, "events"), table_path(settings.data_dir, "holdings"))
        self._lock = threading.Lock()
        self._stamp: tuple[float, ...] | None = None
        self._data: WorkbenchData | None = None

    def get(self) -> WorkbenchData:
        """The data as of the files' current modification times."""
        missing = [str(f) for f in self.files if not f.exists()]
        if missing:
            raise ModelUnavailable(f"the workbench reads {', '.join(missing)}: run `nbo data generate` and "
                                   "`nbo features build`")
        stamp = tuple(f.stat().st_mtime for f in self.files)
        with self._lock:
            if self._data is None or stamp != self._stamp:
                self._data = WorkbenchData.load(self.files[0].parent, self.files[1])
                self._stamp = stamp
            return self._data
