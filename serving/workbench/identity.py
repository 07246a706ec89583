"""The workbench's OneID panel: the source records behind a customer, their match probability and
evidence, and the manual decisions that touched them. No FastAPI in here.

Links come from the OneID folder in the settings (`NBO_IDENTITY_DIR`, default `var/identity`);
names and phones from the source-system extracts behind the data directory (those `nbo data assemble`
read, `sources.validation.sources_of`; else `DATA/sources/<system>.parquet`), shown masked.
ID numbers are never read. Both are read again when their files change.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from identity.decisions import ALIASES, DECISIONS, LINKS, load_aliases, load_decisions, load_links
from identity.owners import OWNERS_FILE, load_owners
from nbo.errors import Forbidden
from nbo.settings import Settings
from serving.workbench.data import mask_phone
from serving.workbench.i18n import labels
from sources.validation import SOURCES_DIR, sources_of

log = logging.getLogger(__name__)
NAME_COLUMNS = ("full_name", "family_name", "given_name", "nickname")


def describe_evidence(evidence: str, lang: str) -> str:
    """The matcher's evidence (`name:jw>0.92;phone:exact`, `rule:id_number`, `merge:D000003`) in an RM's
    words (the i18n groups `oneid_field`, `oneid_level`, `oneid_evidence`); a part it does not know is
    shown as it is."""
    t = labels(lang)
    fields, levels, words = t["oneid_field"], t["oneid_level"], t["oneid_evidence"]
    parts = []
    for token in filter(None, evidence.split(";")):
        kind, _, detail = token.partition(":")
        if kind == "rule":
            names = detail.split(",")[0].split("+")
            parts.append(words["rule"].format(fields=words["and"].join(fields.get(n, n) for n in names))
                         if all(n in fields for n in names) else token)
        elif kind in ("merge", "split"):
            parts.append(words[kind].format(id=detail))
        elif kind in fields and detail in levels:
            parts.append(words["field"].format(field=fields[kind], level=levels[detail]))
        else:
            parts.append(token)
    return words["sep"].join(parts)


def mask_name(name: str | None) -> str | None:
    """A name with all but its first (and, from three characters, last) character hidden: 张*明, W*** F***."""
    if not name:
        return name
    parts = name.split()
    if len(parts) > 1:
        return " ".join(p[0] + "*" * (len(p) - 1) for p in parts)
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass(frozen=True)
class SourceRecord:
    """One source record as the panel shows it (masked)."""

    system: str
    record_id: str
    key: str
    name: str | None
    phone: str | None
    probability: float | None
    evidence: str  # as the matcher wrote it (`describe_evidence` puts it in an RM's words)


@dataclass(frozen=True)
class Panel:
    """What the panel shows for one customer."""

    ran: bool
    folder: str
    customer_id: str
    survivor: str | None = None  # set when the page's id is an alias of another customer
    records: list[SourceRecord] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    owner: str | None = None  # the customer's relationship manager (`rm_assignments.parquet`)


class IdentityPanels:
    """Builds panels from the OneID folder and the extracts, re-reading files that changed."""

    def __init__(self, settings: Settings):
        self.folder = settings.oneid_dir
        self.data_dir = settings.data_dir
        try:
            self.sources = sources_of(settings.data_dir)
        except ValueError as err:  # the panel still lists the records, without names and phones
            log.warning("identity_sources_unknown", extra={"error": str(err)})
            self.sources = settings.data_dir / SOURCES_DIR
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, pd.DataFrame]] = {}

    def words(self, lang: str) -> dict[str, str]:
        """The panel's words in `lang` (i18n group `oneid`), system names under `system:<name>`."""
        t = labels(lang)
        return t["oneid"] | {f"system:{k}": v for k, v in t["oneid_system"].items()}

    @staticmethod
    def evidence(evidence: str, lang: str) -> str:
        """`describe_evidence`, for the template."""
        return describe_evidence(evidence, lang)

    def for_customer(self, customer_id: str) -> Panel:
        """The panel of `customer_id` (an alias shows the customer it became)."""
        if not (self.folder / LINKS).is_file():
            return Panel(False, str(self.folder), customer_id)
        links = self._read(self.folder / LINKS, load_links)
        aliases = self._read(self.folder / ALIASES, load_aliases)
        survivor = aliases.loc[aliases["alias_id"] == customer_id, "customer_id"]
        current = str(survivor.iloc[0]) if len(survivor) and not (links["customer_id"] == customer_id).any() \
            else customer_id
        mine = links[links["customer_id"] == current].sort_values(["system", "record_id"])
        records = [self._record(row) for row in mine.itertuples(index=False)]
        return Panel(True, str(self.folder), customer_id, current if current != customer_id else None, records,
                     self._decisions({r.key for r in records}, {customer_id, current}),
                     self._owner(current, customer_id))

    def check_owner(self, rm: str | None, customers: list[str]) -> None:
        """Forbidden unless the RM `rm` owns every one of `customers` (an alias: the customer it became)."""
        if rm is None:
            raise Forbidden("this rm key belongs to no relationship manager (`nbo keys create --role rm --rm-id "
                            "ID`), so it may not correct customers; an admin may")
        for customer_id in customers:
            panel = self.for_customer(customer_id)
            if not (panel.records or panel.survivor):
                continue  # no such customer: the correction itself says so (404)
            if panel.owner != rm:
                owner = panel.owner
                whose = f"belongs to {owner}" if owner else "has no relationship manager"
                raise Forbidden(f"customer {customer_id} {whose}: {rm} may correct only their own customers "
                                "(an admin may correct any)")

    def customer_of(self, record: str) -> str | None:
        """The customer a source record (SYSTEM:RECORD_ID) is linked to now, or None."""
        system, _, record_id = record.partition(":")
        if not (self.folder / LINKS).is_file():
            return None
        links = self._read(self.folder / LINKS, load_links)
        found = links.loc[(links["system"] == system) & (links["record_id"] == record_id), "customer_id"]
        return str(found.iloc[0]) if len(found) else None

    def _owner(self, *ids: str) -> str | None:
        owners = self._read(self.data_dir / OWNERS_FILE, load_owners)
        return next((owners[i] for i in ids if i in owners.index and owners[i] is not None), None)

    def _record(self, row: Any) -> SourceRecord:
        name, phone = self._contact(str(row.system), str(row.record_id))
        probability = None if pd.isna(row.match_probability) else float(row.match_probability)
        return SourceRecord(str(row.system), str(row.record_id), f"{row.system}:{row.record_id}", mask_name(name),
                            mask_phone(phone), probability, str(row.evidence or ""))

    def _contact(self, system: str, record_id: str) -> tuple[str | None, str | None]:
        """(name, phone) of a record from its system's extract, or Nones."""
        path = self.sources / f"{system}.parquet"
        if not path.is_file():
            return None, None
        extract = self._read(path, _contacts)
        if record_id not in extract.index:
            return None, None
        row = extract.loc[record_id]
        return row["name"], row["phone"]

    def _decisions(self, keys: set[str], ids: set[str]) -> list[dict[str, Any]]:
        decisions = self._read(self.folder / DECISIONS, load_decisions)
        touched = [set(r) & keys or set(s) & ids for r, s in zip(decisions["records"], decisions["subjects"],
                                                                  strict=True)]
        shown = decisions[[bool(t) for t in touched]]
        return [{"decision_id": d.decision_id, "kind": d.kind, "subjects": " + ".join(d.subjects), "who": d.who,
                 "when": pd.Timestamp(d.when).strftime("%Y-%m-%d %H:%M UTC"), "why": d.why}
                for d in shown.itertuples(index=False)][::-1]

    def _read(self, path: Path, reader: Any) -> pd.DataFrame:
        """`reader` of the file (or its folder) again only when the file changed."""
        mtime = path.stat().st_mtime if path.exists() else -1.0
        with self._lock:
            cached = self._cache.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
        frame = reader(path if reader is _contacts else path.parent)
        with self._lock:
            self._cache[path] = (mtime, frame)
        return frame


def _contacts(path: Path) -> pd.DataFrame:
    """record_id → name, phone of one extract (the first name column it has; no other column read)."""
    columns = set(pq.read_schema(path).names)
    wanted = [c for c in ("record_id", "phone", *NAME_COLUMNS) if c in columns]
    frame = pd.read_parquet(path, columns=wanted).astype({"record_id": str})
    if "full_name" not in frame and {"family_name", "given_name"} <= set(frame):
        frame["full_name"] = frame["family_name"].fillna("") + frame["given_name"].fillna("")
    name = next((c for c in ("full_name", "nickname") if c in frame), None)
    out = pd.DataFrame({"name": frame[name] if name else None, "phone": frame.get("phone")})
    out.index = frame["record_id"]
    return out[~out.index.duplicated()].astype(object).where(out.notna(), None)

