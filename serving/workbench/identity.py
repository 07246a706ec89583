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
from nbo.settings import Settings
from serving.workbench.data import mask_phone
from sources.validation import SOURCES_DIR, sources_of

log = logging.getLogger(__name__)
NAME_COLUMNS = ("full_name", "family_name", "given_name", "nickname")
WORDS = {
    "en": {"title": "Source records (OneID)", "not_run": "OneID has not run yet: the source records are not linked.",
           "none": "No source record is linked to this customer.", "alias": "This id is now part of {customer}.",
           "system": "System", "record": "Record", "name": "Name", "phone": "Phone",
           "probability": "Match probability", "evidence": "Evidence", "alone": "on its own",
           "decisions": "Corrections", "split": "Split out", "merge": "Merge", "other": "Customer id",
           "reason": "Reason", "saved": "Correction {decision} saved.",
           "rm_note": "Corrections are audited with who, when and why."},
    "zh": {"title": "来源记录（客户统一识别）", "not_run": "客户统一识别尚未运行，各系统的来源记录尚未关联。",
           "none": "该客户暂无关联的来源记录。", "alias": "该客户号已并入 {customer}。",
           "system": "来源系统", "record": "记录号", "name": "姓名", "phone": "手机号",
           "probability": "匹配概率", "evidence": "匹配依据", "alone": "单独记录",
           "decisions": "人工修正记录", "split": "拆出", "merge": "合并", "other": "客户号",
           "reason": "原因", "saved": "修正 {decision} 已保存。",
           "rm_note": "每次修正都会记录操作人、时间和原因，以备审计。"},
}
SYSTEM_NAMES = {
    "zh": {"core_banking": "核心系统", "mobile_app": "手机银行", "online_banking": "网上银行",
           "branch_crm": "网点客户管理", "call_centre": "客服中心", "wechat": "微信银行"},
    "en": {"core_banking": "Core banking", "mobile_app": "Mobile app", "online_banking": "Online banking",
           "branch_crm": "Branch CRM", "call_centre": "Call centre", "wechat": "WeChat"},
}


FIELDS = {
    "zh": {"name": "姓名", "birth_date": "出生日期", "phone": "手机号", "id_number": "身份证号", "email": "邮箱",
           "gender": "性别", "address": "地址", "postcode": "邮编", "city": "城市"},
    "en": {"name": "name", "birth_date": "birth date", "phone": "phone", "id_number": "ID number", "email": "email",
           "gender": "gender", "address": "address", "postcode": "postcode", "city": "city"},
}
LEVELS = {
    "zh": {"exact": "一致", "swapped": "姓与名颠倒", "jw>0.92": "高度相近", "jw>0.90": "相近", "jw>0.80": "相近",
           "day-month transposed": "日与月颠倒", "one digit": "仅差一位", "year": "同一年",
           "checksum invalid": "校验位不符", "postcode": "邮编一致", "city": "同一城市"},
    "en": {"exact": "same", "swapped": "family and given swapped", "jw>0.92": "very close", "jw>0.90": "close",
           "jw>0.80": "close", "day-month transposed": "day and month swapped", "one digit": "one digit apart",
           "year": "same year", "checksum invalid": "checksum fails", "postcode": "same postcode",
           "city": "same city"},
}
EVIDENCE_WORDS = {"zh": {"rule": "{fields}一致（规则）", "merge": "人工合并（{id}）", "split": "人工拆出（{id}）",
                         "sep": "；", "and": "、", "field": "{field}{level}"},
                  "en": {"rule": "same {fields} (rule)", "merge": "merged by hand ({id})",
                         "split": "split out by hand ({id})", "sep": "; ", "and": " and ", "field": "{field} {level}"}}


def describe_evidence(evidence: str, lang: str) -> str:
    """The matcher's evidence (`name:jw>0.92;phone:exact`, `rule:id_number`, `merge:D000003`) in an RM's
    words; a part it does not know is shown as it is."""
    fields, levels, words = FIELDS[lang], LEVELS[lang], EVIDENCE_WORDS[lang]
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


class IdentityPanels:
    """Builds panels from the OneID folder and the extracts, re-reading files that changed."""

    def __init__(self, settings: Settings):
        self.folder = settings.oneid_dir
        try:
            self.sources = sources_of(settings.data_dir)
        except ValueError as err:  # the panel still lists the records, without names and phones
            log.warning("identity_sources_unknown", extra={"error": str(err)})
            self.sources = settings.data_dir / SOURCES_DIR
        self._lock = threading.Lock()
        self._cache: dict[Path, tuple[float, pd.DataFrame]] = {}

    def words(self, lang: str) -> dict[str, str]:
        """The panel's words in `lang`, system names under `system:<name>`."""
        return WORDS[lang] | {f"system:{k}": v for k, v in SYSTEM_NAMES[lang].items()}

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
                     self._decisions({r.key for r in records}, {customer_id, current}))

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

