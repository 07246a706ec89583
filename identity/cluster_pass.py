"""The second, cluster-level pass. After the first (rules and model) the clusters stand for people, and a
record the first pass left (nearly) alone can be compared with a person rather than one record at a time.

- **The main holder of a phone**: a record alone, with nothing else to go by (no name, birth date or
  valid ID number: an app login, a WeChat follower), joins the cluster holding its phone in more
  records than any other. With one holder this is the rules' `phone+name, one person` with the
  cluster in place of the name (a phone whose records carry a typo or a homophone of the name still
  ties); on a family's phone, the owner's own systems hold it, a relative's only where someone typed
  the household number (a branch form, a call), so the owner holds it most. A tie ties nobody.
- **The one namesake that fits**: take a record in a cluster of at most SMALL records, and the other
  clusters holding its name (its pinyin letters, so either order). A cluster *fits* the record when
  the record contradicts nothing it holds (birth date, gender, city, postcode, valid ID number: each
  missing on one side or among the cluster's values). The record is tied to a fitting cluster (its
  first record of that name) when it is the only fitting one in the record's city, or, for a record
  alone, when it is the only other holder of the name at all. The model compares a call from another
  number with one app record at a time (the name agrees, the phone differs), not with the person, who
  may be the only one of that name in the bank or in the city. A record that fits two namesakes of
  its city ties to neither.

Pairs carry the run's threshold as their probability: they are as sure as the clusters they rest on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from identity.clusters import assign_ids
from identity.rules import PAIR_COLUMNS, name_key

PREFIX = "cluster:"  # the evidence of every pair this pass makes starts with it
NAMESAKE = "cluster:only namesake"
PHONE = "cluster:main holder of the phone"
# Attributes on which a record must not contradict the cluster it would join.
CONSISTENT = ("birth_date", "gender", "city", "postcode", "valid_id")
SMALL = 2  # a record in a cluster of at most this many records may join another
_USED = ["system", "record_id", "name_fg", "birth_date", "gender", "city", "postcode", "phone_hash", "id_hash",
         "id_valid"]


def second_pass(records: pd.DataFrame, first: pd.DataFrame, threshold: float, decisions: pd.DataFrame | None = None,
                new: pd.Series | None = None) -> pd.DataFrame:
    """The cluster pass's pairs over the clusters the first pass's `first` pairs make at `threshold`
    (with the manual `decisions`); with `new`, only pairs touching a new record."""
    clusters = assign_ids(records[["system", "record_id"]], first, threshold, decisions=decisions)
    return cluster_pairs(records, clusters.links["customer_id"].factorize()[0], threshold, new)


def cluster_pairs(records: pd.DataFrame, cluster: np.ndarray, probability: float,
                  new: pd.Series | None = None) -> pd.DataFrame:
    """Pairs (at `probability`) of both kinds. `cluster` is the first pass's cluster per record (same
    order); with `new`, only pairs touching a new record."""
    valid = records["id_valid"].astype("boolean").fillna(False).astype(bool).to_numpy()
    frame = records[_USED].reset_index(drop=True).assign(
        row=np.arange(len(records)), cluster=cluster, key=name_key(records).to_numpy(),
        valid_id=records["id_hash"].where(valid).to_numpy())
    frame["size"] = frame["cluster"].map(frame["cluster"].value_counts())
    found = pd.concat([_namesakes(frame), _phone_holder(frame)], ignore_index=True)
    ends = np.sort(np.stack([cluster[found["row"].to_numpy(dtype=int)], cluster[found["row_b"].to_numpy(dtype=int)]],
                            axis=1), axis=1)
    found = found[~pd.DataFrame(ends).duplicated().to_numpy()]  # two clusters that chose each other: one pair
    if new is not None:
        flag = new.to_numpy(dtype=bool)
        found = found[flag[found["row"].to_numpy()] | flag[found["row_b"].to_numpy()]]
    left, right = frame.loc[found["row_b"].to_numpy()], frame.loc[found["row"].to_numpy()]
    return pd.DataFrame({"system_l": left["system"].to_numpy(), "record_id_l": left["record_id"].to_numpy(),
                         "system_r": right["system"].to_numpy(), "record_id_r": right["record_id"].to_numpy(),
                         "match_probability": probability, "evidence": found["evidence"].to_numpy()})[PAIR_COLUMNS]


def _phone_holder(frame: pd.DataFrame) -> pd.DataFrame:
    """(row, row_b, evidence): bare lone records and the first record of the cluster holding their phone most."""
    bare = frame[(frame["size"] == 1) & frame["key"].isna() & frame["birth_date"].isna() & frame["valid_id"].isna()
                 & frame["phone_hash"].notna()]
    held = frame[frame["phone_hash"].notna()]
    holders = held.drop_duplicates(["phone_hash", "cluster"])[["phone_hash", "cluster", "row"]].merge(
        held.groupby(["phone_hash", "cluster"]).size().rename("records").reset_index(), on=["phone_hash", "cluster"])
    pairs = bare[["row", "cluster", "phone_hash"]].merge(holders, on="phone_hash", suffixes=("", "_b"))
    pairs = pairs[pairs["cluster"] != pairs["cluster_b"]].sort_values(["row", "records"], ascending=[True, False])
    runner_up = pairs.groupby("row")["records"].shift(-1).fillna(0)  # on each record's first row: the second most
    pairs = pairs[~pairs["row"].duplicated() & (pairs["records"] > runner_up)]
    return pairs[["row", "row_b"]].assign(evidence=PHONE)


def _namesakes(frame: pd.DataFrame) -> pd.DataFrame:
    """(row, row_b, evidence): records of small clusters and the first record of the one namesake cluster they fit."""
    named = frame[frame["key"].notna()]
    holders = named.drop_duplicates(["key", "cluster"])[["key", "cluster", "row"]]  # first holder per cluster
    small = named[named["size"] <= SMALL]
    pairs = small.merge(holders, on="key", suffixes=("", "_b"))
    pairs = pairs[pairs["cluster"] != pairs["cluster_b"]].reset_index(drop=True)
    conflict, city = _compare(pairs, frame)
    pairs["fits"], pairs["same_city"] = ~conflict, ~conflict & city
    per_record = pairs.groupby("row").agg(namesakes=("cluster_b", "size"), in_city=("same_city", "sum"))
    pairs = pairs.join(per_record, on="row")
    only = (pairs["namesakes"] == 1) & (pairs["size"] == 1) & pairs["fits"]
    pairs = pairs[(pairs["same_city"] & (pairs["in_city"] == 1)) | only]
    return pairs[["row", "row_b"]].assign(evidence=NAMESAKE)


def _compare(pairs: pd.DataFrame, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per candidate pair: whether the record contradicts its namesake cluster on any CONSISTENT
    attribute (it holds a value, the cluster holds others but not it), and whether their cities agree."""
    conflict = pd.Series(False, index=pairs.index)
    city = conflict
    for column in CONSISTENT:
        held = frame.dropna(subset=[column])
        values = pd.MultiIndex.from_arrays([held["cluster"], held[column].astype(str)])
        mine = pairs[column].notna().to_numpy()
        agrees = pd.MultiIndex.from_arrays([pairs["cluster_b"], pairs[column].astype(str)]).isin(values) & mine
        holds = pairs["cluster_b"].isin(held["cluster"]).to_numpy()
        conflict = conflict | pd.Series(mine & holds & ~agrees, index=pairs.index)
        if column == "city":
            city = pd.Series(agrees, index=pairs.index)
    return conflict, city
