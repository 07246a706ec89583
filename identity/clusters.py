"""TEMPORARY stand-in for helper "oneid"'s `identity.clusters` (same interface): connected components
of the pairs at or above the threshold; a cluster keeps the smallest previous id among its records.
Replaced by the real module when main has it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

LINK_COLUMNS = ["system", "record_id", "customer_id", "match_probability", "evidence"]
ALIAS_COLUMNS = ["alias_id", "customer_id", "merged_at", "reason"]


@dataclass(frozen=True)
class Assignment:
    """Who each record is (links) and which retired ids now point to whom (aliases)."""

    links: pd.DataFrame
    aliases: pd.DataFrame


def assign_ids(records: pd.DataFrame, pairs: pd.DataFrame, threshold: float,
               previous: pd.DataFrame | None = None, decisions: pd.DataFrame | None = None, *,  # noqa: ARG001
               aliases: pd.DataFrame | None = None, now: datetime | None = None) -> Assignment:
    """Connected components of the pairs at or above `threshold`, ids kept from `previous`."""
    keys = pd.Index(records["system"].astype(str) + ":" + records["record_id"].astype(str))
    kept = pairs[pairs["match_probability"] >= threshold]
    left = keys.get_indexer(kept["system_l"] + ":" + kept["record_id_l"])
    right = keys.get_indexer(kept["system_r"] + ":" + kept["record_id_r"])
    graph = coo_matrix((np.ones(len(kept)), (left, right)), shape=(len(keys), len(keys)))
    _, cluster = connected_components(graph, directed=False)
    old = pd.Series("", index=keys, dtype=object)
    if previous is not None:
        prev = pd.Series(previous["customer_id"].to_numpy(), index=previous["system"] + ":" + previous["record_id"])
        old.loc[prev.index.intersection(keys)] = prev
    frame = pd.DataFrame({"cluster": cluster, "old": old.to_numpy()})
    names = frame[frame["old"] != ""].groupby("cluster")["old"].min()
    top = max([int(c[1:]) for c in frame["old"] if c] + [0])
    fresh = [c for c in pd.unique(cluster) if c not in names.index]
    names = pd.concat([names, pd.Series([f"O{top + 1 + i:010d}" for i in range(len(fresh))], index=fresh)])
    best = pd.concat([kept.assign(node=left), kept.assign(node=right)]).sort_values("match_probability")
    best = best.drop_duplicates("node", keep="last").set_index("node")
    links = pd.DataFrame({"system": records["system"].to_numpy(), "record_id": records["record_id"].to_numpy(),
                          "customer_id": names.loc[cluster].to_numpy(),
                          "match_probability": best["match_probability"].reindex(range(len(keys))).to_numpy(),
                          "evidence": best["evidence"].reindex(range(len(keys))).fillna("").to_numpy()})
    gone = frame[(frame["old"] != "") & ~frame["old"].isin(set(links["customer_id"]))].drop_duplicates("old")
    new_aliases = pd.DataFrame({"alias_id": gone["old"].to_numpy(),
                                "customer_id": names.loc[gone["cluster"]].to_numpy(),
                                "merged_at": pd.Timestamp(now or datetime.now(UTC)), "reason": "matcher"})
    return Assignment(links, pd.concat([aliases, new_aliases], ignore_index=True) if aliases is not None
                      else new_aliases)
