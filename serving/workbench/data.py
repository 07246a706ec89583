"""What the RM workbench reads besides the online store: who the customers are (name, phone) for
search, their month-end balances over time and their most recent events.

Names and phones live only in the canonical customers table (never in Feast: they are not
features), balances over time in the offline store's month-end table, events in the canonical
events table. All three are read once into memory (a page must not scan parquet) and read again
when a file changes.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.build.monthly import offline_dir
from features.tables import BALANCES
from nbo.errors import ModelUnavailable
from nbo.settings import Settings
from sources.contract import CATEGORIES
from sources.io import table_path

EVENTS_PER_CUSTOMER = 10
SEARCH_LIMIT = 20
BALANCE_COLUMNS = ("aum_cny", *(f"{c}_balance_cny" for c in CATEGORIES))
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
        ends = np.r_[starts[1:], len(ids)]
        self.bounds = {str(ids[s]): (int(s), int(e)) for s, e in zip(starts, ends, strict=True)}

    def of(self, customer_id: str) -> pd.DataFrame:
        start, end = self.bounds.get(customer_id, (0, 0))
        return self.frame.iloc[start:end].drop(columns="customer_id")


class WorkbenchData:
    """Customers, balance history and recent events in memory, for search and the 360° page."""

    def __init__(self, customers: pd.DataFrame, balances: pd.DataFrame, events: pd.DataFrame):
        self.customers = customers.set_index("customer_id", drop=False)
        self._ids = customers["customer_id"].to_numpy(dtype=str)
        self._names = customers["name"].fillna("").to_numpy(dtype=str)
        self._phones = customers["phone"].fillna("").to_numpy(dtype=str)
        self._balances = _Slices(balances)
        self._events = _Slices(events)

    @classmethod
    def load(cls, data_dir: Path, balances_file: Path) -> WorkbenchData:
        """Read the three tables (customers, month-end balances, the last events of each customer)."""
        customers = pq.read_table(table_path(data_dir, "customers"), columns=[
            "customer_id", "name", "phone", "gender", "birth_date", "join_date", "close_date", "segment",
            "occupation"]).to_pandas()
        balances = (pq.read_table(balances_file, columns=["customer_id", "event_timestamp", *BALANCE_COLUMNS])
                    .to_pandas().sort_values(["customer_id", "event_timestamp"], kind="stable"))
        events = pq.read_table(table_path(data_dir, "events"), columns=[
            "customer_id", "event_time", "event_type", "topic", "product_id", "channel"]).to_pandas()
        events = (events.sort_values("event_time", kind="stable").groupby("customer_id", sort=False)
                  .tail(EVENTS_PER_CUSTOMER).sort_values(["customer_id", "event_time"], ascending=[True, False]))
        return cls(customers, balances, events)

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

    def recent_events(self, customer_id: str) -> list[dict[str, object]]:
        """The customer's last events, newest first."""
        return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
                for row in self._events.of(customer_id).to_dict("records")]


def _day(value: object) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()


class WorkbenchDataCache:
    """One `WorkbenchData` per process, loaded on first use and again when a source file changes."""

    def __init__(self, settings: Settings):
        self.files = (table_path(settings.data_dir, "customers"), offline_dir(settings) / BALANCES.file_name,
                      table_path(settings.data_dir, "events"))
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
