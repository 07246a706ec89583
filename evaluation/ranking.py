"""Pure ranking metrics for recommenders: scored candidate rows in, numbers out, no I/O.

A *list* is one group of candidate rows (one customer at one as-of date) ranked by score, highest
first; ties are broken by product id so results are deterministic. Relevance is binary (`label`).
Accuracy metrics average over lists with at least one relevant product; coverage counts every list.

- AP@k = (1 / min(|R|, k)) · Σ_{i≤k} P@i · rel_i — the `apk` of Kaggle's ml_metrics (Hamner, 2012),
  as in the Santander product-recommendation MAP@7; MAP@k is its mean.
- NDCG@k = DCG@k / IDCG@k with DCG@k = Σ_{i≤k} rel_i / log2(i + 1) (Järvelin & Kekäläinen, 2002).
- recall@k = |top-k ∩ R| / |R|; hit@k = 1 when top-k ∩ R is not empty.
- RR = 1 / rank of the first relevant product; MRR is its mean (Voorhees, TREC-8 QA, 1999).
- coverage = |∪ top-k| / |catalogue| over every list (catalogue coverage, Ge et al., RecSys 2010).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

DEFAULT_KS = (3, 5)


@dataclass(frozen=True)
class RankedLists:
    """Candidate rows sorted into ranked lists: list id, 1-based rank and relevance per row."""

    list_id: NDArray[np.int64]
    rank: NDArray[np.int64]
    label: NDArray[np.float64]
    product_id: NDArray[np.object_]

    @property
    def n_lists(self) -> int:
        return int(self.list_id.max()) + 1 if len(self.list_id) else 0


def rank_lists(frame: pd.DataFrame, score: str = "score", groups: tuple[str, ...] = ("customer_id", "as_of"),
               label: str = "label") -> RankedLists:
    """Sort candidate rows into lists by `groups`, highest `score` first (ties: product id)."""
    keys = [frame[g] for g in groups]
    list_id = pd.MultiIndex.from_arrays(keys).factorize()[0] if len(groups) > 1 else keys[0].factorize()[0]
    sorted_frame = pd.DataFrame({"list_id": list_id, "score": -frame[score].to_numpy(float),
                                 "product_id": frame["product_id"].astype(str).to_numpy(),
                                 "label": frame[label].to_numpy(float)})
    sorted_frame = sorted_frame.sort_values(["list_id", "score", "product_id"], kind="stable")
    ids = sorted_frame["list_id"].to_numpy(np.int64)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    sizes = np.diff(np.r_[starts, len(ids)])
    rank = np.arange(len(ids)) - np.repeat(starts, sizes) + 1
    return RankedLists(ids, rank, sorted_frame["label"].to_numpy(), sorted_frame["product_id"].to_numpy())


def _per_list(lists: RankedLists, values: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(np.bincount(lists.list_id, weights=values, minlength=lists.n_lists), dtype=float)


def list_metrics(lists: RankedLists, k: int) -> pd.DataFrame:
    """AP@k, NDCG@k, recall@k, hit@k and RR of every list (NaN where a list has nothing relevant)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return _list_metrics(lists, k)


def _list_metrics(lists: RankedLists, k: int) -> pd.DataFrame:
    rel, rank = lists.label, lists.rank
    n_rel = _per_list(lists, rel)
    in_top = (rank <= k) * rel
    hits_before = np.cumsum(rel) - np.repeat(np.cumsum(np.r_[0, n_rel[:-1]]), np.bincount(lists.list_id))
    ap = _per_list(lists, in_top * hits_before / rank) / np.minimum(n_rel, k)
    dcg = _per_list(lists, in_top / np.log2(rank + 1))
    discounts = np.cumsum(1 / np.log2(np.arange(2, k + 2)))
    idcg = discounts[np.clip(np.minimum(n_rel, k).astype(int) - 1, 0, k - 1)]
    first = np.full(lists.n_lists, np.inf)
    np.minimum.at(first, lists.list_id[rel > 0], rank[rel > 0])
    hits = _per_list(lists, in_top)
    frame = pd.DataFrame({f"map_at_{k}": ap, f"ndcg_at_{k}": dcg / idcg, f"recall_at_{k}": hits / n_rel,
                          f"hit_at_{k}": (hits > 0).astype(float), "mrr": 1 / first})
    frame[n_rel == 0] = np.nan
    return frame


def catalogue_coverage(lists: RankedLists, k: int, catalogue_size: int) -> float:
    """Share of the catalogue that appears in at least one list's top k."""
    shown = np.unique(lists.product_id[lists.rank <= k])
    return len(shown) / catalogue_size


def ranking_metrics(lists: RankedLists, catalogue_size: int, ks: tuple[int, ...] = DEFAULT_KS) -> dict[str, float]:
    """MAP@k, NDCG@k, recall@k, hit@k for each k, MRR, coverage (top max(ks)) and list counts."""
    per_list = pd.concat([list_metrics(lists, k) for k in ks], axis=1)
    per_list = per_list.loc[:, ~per_list.columns.duplicated()]
    result = {name: float(per_list[name].mean()) for name in per_list.columns}
    result["coverage"] = catalogue_coverage(lists, max(ks), catalogue_size)
    result["lists_evaluated"] = int(per_list["mrr"].notna().sum())
    result["lists_total"] = lists.n_lists
    return result


def compare_models(frame: pd.DataFrame, score_columns: list[str], catalogue_size: int,
                   ks: tuple[int, ...] = DEFAULT_KS, groups: tuple[str, ...] = ("row",),
                   segment: str | None = None) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """Ranking metrics of each score column on the same lists, overall and per `segment` value."""
    overall = {name: ranking_metrics(rank_lists(frame, name, groups), catalogue_size, ks) for name in score_columns}
    by_segment: dict[str, dict[str, dict[str, float]]] = {}
    if segment is not None:
        for value, part in frame.groupby(frame[segment].astype(str), sort=True):
            by_segment[str(value)] = {name: ranking_metrics(rank_lists(part, name, groups), catalogue_size, ks)
                                      for name in score_columns}
    return overall, by_segment
