"""Records to OneID customers: clusters of matched records, manual decisions applied, ids kept stable.

`assign_ids` is the one place ids are given out:
- Clusters are the connected components of the scored pairs at or above the threshold, after the
  manual decisions (`identity.decisions`) are replayed in the order they were made; a decision
  always wins over the matcher and is replayed on every run:
  - a merge ties together every record the two customers held when it was made;
  - a split cuts the record off every matcher pair and out of every earlier merge, and, when it
    names a customer, ties it to the records that customer held.
- A cluster keeps the previous id most of its records held (ties: the oldest id, the smallest
  number). When two existing customers merge, the id held by more of the cluster's records
  survives (ties: the older one) and the other becomes an alias of it. An id whose records all
  went to other customers becomes an alias of the customer that got most of them. New clusters get
  fresh ids above every id ever given out (links, aliases, decisions): an id is never reused.
- Each record keeps the strongest pair that tied it to its cluster: its probability and evidence
  (a decision's pair has probability 1.0 and evidence `merge:D…` or `split:D…`, and wins ties).
  A record alone in its cluster has probability NaN; its evidence is empty, or `split:D…` when a
  decision put it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from nbo.errors import ContractViolation

LINK_COLUMNS = ["system", "record_id", "customer_id", "match_probability", "evidence"]
ALIAS_COLUMNS = ["alias_id", "customer_id", "merged_at", "reason"]
PAIR_COLUMNS = ["system_l", "record_id_l", "system_r", "record_id_r", "match_probability", "evidence"]
ID_PATTERN = re.compile(r"^O\d{10}$")
SEP = ":"  # record key: SYSTEM:RECORD_ID (system names hold no colon; record ids may)


@dataclass(frozen=True)
class Assignment:
    """Who each record is (links) and which retired ids now point to whom (aliases, all so far)."""

    links: pd.DataFrame
    aliases: pd.DataFrame


def format_id(number: int) -> str:
    """The OneID id for a number: `O` and 10 digits."""
    return f"O{number:010d}"


def record_key(system: str, record_id: str) -> str:
    """One record's key, `SYSTEM:RECORD_ID`, as decisions store it."""
    return f"{system}{SEP}{record_id}"


def split_key(key: str) -> tuple[str, str]:
    """`SYSTEM:RECORD_ID` back to (system, record_id); ValueError without a colon."""
    system, sep, record_id = key.partition(SEP)
    if not sep or not system or not record_id:
        raise ValueError(f"{key!r} is not SYSTEM:RECORD_ID")
    return system, record_id


def assign_ids(records: pd.DataFrame, pairs: pd.DataFrame, threshold: float,
               previous: pd.DataFrame | None = None, decisions: pd.DataFrame | None = None, *,
               aliases: pd.DataFrame | None = None, now: datetime | None = None) -> Assignment:
    """Give every record a OneID customer id (see the module docstring for the rules).

    `records` holds `system, record_id` (unique); `pairs` the scored pairs; `previous` the last
    links; `decisions` every manual decision so far; `aliases` the aliases so far (kept, re-pointed
    when their customer becomes an alias, and counted so no id is reused); `now` stamps new aliases.
    """
    now = now or datetime.now(UTC)
    if not len(records):
        return Assignment(pd.DataFrame({c: pd.Series(dtype=float if c == "match_probability" else object)
                                        for c in LINK_COLUMNS}),
                          _aliases(pd.DataFrame(columns=LINK_COLUMNS), np.array([], dtype=object), aliases,
                                   decisions, now))
    keys = _keys(records["system"], records["record_id"])
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0]
        raise ContractViolation(f"records: {dup} appears more than once")
    index = pd.Index(keys)
    edges = _matcher_edges(pairs, threshold, index)
    cut, manual = _replay(decisions, index)
    edges = edges[~(edges["l"].isin(cut) | edges["r"].isin(cut))]
    edges = pd.concat([edges, manual], ignore_index=True)

    n = len(index)
    graph = coo_matrix((np.ones(len(edges)), (edges["l"].to_numpy(), edges["r"].to_numpy())), shape=(n, n))
    _, cluster = connected_components(graph, directed=False)

    old = _previous_ids(previous, index)
    names = _name_clusters(cluster, old, _high_water(previous, aliases, decisions))
    strongest = _strongest(edges, n)
    singleton = np.bincount(cluster, minlength=cluster.max(initial=-1) + 1)[cluster] == 1
    probability = np.where(singleton, np.nan, strongest["p"])
    evidence = np.where(singleton, "", strongest["evidence"])
    for node, decision_id in cut.items():
        if singleton[node]:
            evidence[node] = f"split:{decision_id}"
    links = pd.DataFrame({
        "system": records["system"].astype(str).to_numpy(),
        "record_id": records["record_id"].astype(str).to_numpy(),
        "customer_id": names[cluster],
        "match_probability": probability.astype(float),
        "evidence": evidence.astype(object),
    })
    return Assignment(links, _aliases(links, old, aliases, decisions, now))


def pairs_from_links(links: pd.DataFrame, decisions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The customers of existing links as pairs: with the same decisions, `assign_ids` reproduces
    them at any threshold up to the one that made them. A correction applies itself with these; an
    incremental `resolve` adds the new records' pairs to them.

    Each record pairs with itself, carrying its own probability and evidence (a pair of a record
    with itself ties nothing). The other records of a customer pair with its first record that no
    split names, at the lower of the two records' probabilities (so neither record's own pair is
    outranked); records a split names get no pair (their decisions tie them)."""
    split = _split_keys(decisions)
    keys = _keys(links["system"], links["record_id"])
    frame = links.reset_index(drop=True).assign(key=keys, cut=keys.isin(split))
    frame = frame.sort_values(["customer_id", "cut", "key"], kind="stable")
    free = frame[~frame["cut"]]
    held = free[free["match_probability"].notna()]
    own = pd.DataFrame({"system_l": held["system"], "record_id_l": held["record_id"],
                        "system_r": held["system"], "record_id_r": held["record_id"],
                        "match_probability": held["match_probability"], "evidence": held["evidence"]})
    hub = free.drop_duplicates("customer_id").set_index("customer_id").loc[
        free.loc[free.duplicated("customer_id"), "customer_id"]]
    spokes = free[free.duplicated("customer_id")]
    star = pd.DataFrame({"system_l": hub["system"].to_numpy(), "record_id_l": hub["record_id"].to_numpy(),
                         "system_r": spokes["system"].to_numpy(), "record_id_r": spokes["record_id"].to_numpy(),
                         "match_probability": np.fmin(hub["match_probability"].to_numpy(dtype=float),
                                                      spokes["match_probability"].to_numpy(dtype=float)),
                         "evidence": ""})
    return pd.concat([own, star], ignore_index=True)[PAIR_COLUMNS]


def _split_keys(decisions: pd.DataFrame | None) -> set[str]:
    if decisions is None or not len(decisions):
        return set()
    return {records[0] for records in decisions.loc[decisions["kind"] == "split", "records"]}


def _keys(system: pd.Series, record_id: pd.Series) -> pd.Series:
    return system.astype(str).reset_index(drop=True) + SEP + record_id.astype(str).reset_index(drop=True)


def _matcher_edges(pairs: pd.DataFrame, threshold: float, index: pd.Index) -> pd.DataFrame:
    """Pairs at or above the threshold as node-number edges (l, r, p, evidence, manual=False)."""
    kept = pairs[pairs["match_probability"] >= threshold]
    left = index.get_indexer(_keys(kept["system_l"], kept["record_id_l"]))
    right = index.get_indexer(_keys(kept["system_r"], kept["record_id_r"]))
    unknown = (left < 0) | (right < 0)
    if unknown.any():
        row = kept.iloc[int(np.flatnonzero(unknown)[0])]
        raise ContractViolation(
            f"pairs: {record_key(row['system_l'], row['record_id_l'])} – "
            f"{record_key(row['system_r'], row['record_id_r'])} names a record not among the records")
    return pd.DataFrame({"l": left, "r": right, "p": kept["match_probability"].astype(float).to_numpy(),
                         "evidence": kept["evidence"].astype(str).to_numpy(), "manual": False})


def _replay(decisions: pd.DataFrame | None, index: pd.Index) -> tuple[dict[int, str], pd.DataFrame]:
    """Replay decisions oldest first: the records cut off the matcher (node → the split's id) and
    the manual edges (each merge or split-into group chained with probability 1.0).

    A record no longer among the records drops out of the decision; the rest of it still holds."""
    cut: dict[int, str] = {}
    groups: list[tuple[str, list[int]]] = []  # (evidence, nodes), in the order made
    if decisions is not None and len(decisions):
        for row in decisions.sort_values(["when", "decision_id"], kind="stable").itertuples(index=False):
            nodes = [int(i) for i in index.get_indexer(list(row.records)) if i >= 0]
            evidence = f"{row.kind}:{row.decision_id}"
            if row.kind == "split":
                node = nodes[0] if nodes and index[nodes[0]] == row.records[0] else None
                if node is None:
                    continue  # the split record is gone
                cut[node] = row.decision_id
                groups = [(ev, [m for m in members if m != node]) for ev, members in groups]
            groups.append((evidence, nodes))
    left: list[int] = []
    right: list[int] = []
    evidence_of: list[str] = []
    for evidence, nodes in groups:
        left += nodes[:-1]
        right += nodes[1:]
        evidence_of += [evidence] * (len(nodes) - 1)
    manual = pd.DataFrame({"l": np.array(left, dtype=np.int64), "r": np.array(right, dtype=np.int64), "p": 1.0,
                           "evidence": pd.Series(evidence_of, dtype=object), "manual": True})
    return cut, manual


def _strongest(edges: pd.DataFrame, n: int) -> pd.DataFrame:
    """Per node, the strongest edge touching it (probability, then a decision over the matcher)."""
    both = pd.concat([edges.rename(columns={"l": "node"})[["node", "p", "evidence", "manual"]],
                      edges.rename(columns={"r": "node"})[["node", "p", "evidence", "manual"]]], ignore_index=True)
    best = (both.sort_values(["p", "manual"], ascending=False, kind="stable")
            .drop_duplicates("node").set_index("node"))
    out = pd.DataFrame({"p": np.nan, "evidence": ""}, index=pd.RangeIndex(n))
    out.loc[best.index, "p"] = best["p"].to_numpy()
    out.loc[best.index, "evidence"] = best["evidence"].to_numpy()
    return out


def _previous_ids(previous: pd.DataFrame | None, index: pd.Index) -> np.ndarray:
    """The id each node held in the previous links ('' for a new record)."""
    old = np.full(len(index), "", dtype=object)
    if previous is not None and len(previous):
        where = index.get_indexer(_keys(previous["system"], previous["record_id"]))
        found = where >= 0
        old[where[found]] = previous["customer_id"].to_numpy()[found]
    return old


def _number(customer_id: str) -> int:
    return int(customer_id[1:])


def _high_water(previous: pd.DataFrame | None, aliases: pd.DataFrame | None,
                decisions: pd.DataFrame | None) -> int:
    """The largest id number ever given out, as far as links, aliases and decisions show."""
    seen: list[str] = []
    if previous is not None:
        seen += previous["customer_id"].tolist()
    if aliases is not None:
        seen += aliases["alias_id"].tolist() + aliases["customer_id"].tolist()
    if decisions is not None:
        seen += [s for subjects in decisions["subjects"] for s in subjects]
    return max((_number(s) for s in seen if isinstance(s, str) and ID_PATTERN.match(s)), default=0)


def _name_clusters(cluster: np.ndarray, old: np.ndarray, high_water: int) -> np.ndarray:
    """An id per cluster: the previous ids by most records (ties: oldest), each to one cluster; fresh above."""
    frame = pd.DataFrame({"cluster": cluster, "old": old})
    held = frame[frame["old"] != ""].value_counts().rename("count").reset_index()
    held["number"] = held["old"].map(_number)
    held = held.sort_values(["count", "number", "cluster"], ascending=[False, True, True], kind="stable")
    names = np.full(cluster.max(initial=-1) + 1, "", dtype=object)
    taken: set[str] = set()
    for c, customer_id in zip(held["cluster"].to_numpy(), held["old"].to_numpy(), strict=True):
        if not names[c] and customer_id not in taken:
            names[c] = customer_id
            taken.add(customer_id)
    unnamed = np.flatnonzero(names == "")  # clusters are numbered in node order, so this is deterministic
    names[unnamed] = [format_id(high_water + 1 + i) for i in range(len(unnamed))]
    return names


def _aliases(links: pd.DataFrame, old: np.ndarray, aliases: pd.DataFrame | None,
             decisions: pd.DataFrame | None, now: datetime) -> pd.DataFrame:
    """Every previous id that no longer names a customer becomes an alias of the customer holding
    most of its records (ties: the oldest); earlier aliases are re-pointed to where their customer went."""
    moved = pd.DataFrame({"old": old, "new": links["customer_id"].to_numpy()})
    moved = moved[(moved["old"] != "")]
    live = set(links["customer_id"])
    gone = moved[~moved["old"].isin(live)].value_counts().rename("count").reset_index()
    gone["number"] = gone["new"].map(_number)
    gone = gone.sort_values(["old", "count", "number"], ascending=[True, False, True]).drop_duplicates("old")
    merged_by = _merged_by(decisions)
    new = pd.DataFrame({"alias_id": gone["old"].to_numpy(), "customer_id": gone["new"].to_numpy(),
                        "merged_at": as_utc(now),
                        "reason": [merged_by.get(a, "matcher") for a in gone["old"]]})
    earlier = aliases[ALIAS_COLUMNS].copy() if aliases is not None and len(aliases) else None
    if earlier is None:
        return new[ALIAS_COLUMNS].reset_index(drop=True)
    target = dict(zip(new["alias_id"], new["customer_id"], strict=True))
    earlier["customer_id"] = earlier["customer_id"].map(lambda c: target.get(c, c))
    earlier = earlier[~earlier["alias_id"].isin(new["alias_id"])]
    return pd.concat([earlier, new[ALIAS_COLUMNS]], ignore_index=True)


def as_utc(moment: datetime) -> pd.Timestamp:
    """A moment as a UTC pandas timestamp (a naive one is taken as UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert("UTC") if stamp.tzinfo else stamp.tz_localize("UTC")


def _merged_by(decisions: pd.DataFrame | None) -> dict[str, str]:
    """Customer id → `decision D…` for ids a manual merge names (the latest such decision)."""
    if decisions is None or not len(decisions):
        return {}
    merges = decisions[decisions["kind"] == "merge"].sort_values(["when", "decision_id"], kind="stable")
    return {s: f"decision {d}" for d, subjects in zip(merges["decision_id"], merges["subjects"], strict=True)
            for s in subjects}
