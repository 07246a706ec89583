"""Links measured against a truth file (system, record_id, customer_id): pairwise precision, recall
and F1 overall and per pair of systems, the exact share, and the threshold curve from the scored pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.linkage import by_system_pair, exact_share, pairwise, threshold_curve
from identity.clusters import assign_ids
from nbo.errors import InputFileError

CURVE = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFileError(f"{path}: no column {', '.join(missing)}")
    return frame


def evaluate(links_dir: Path, truth_file: Path, thresholds: tuple[float, ...] = CURVE) -> dict[str, Any]:
    """Quality of DIR/links.parquet against the truth, and the curve over `thresholds` from DIR/pairs.parquet."""
    links = _read(links_dir / "links.parquet", ["system", "record_id", "customer_id"])
    pairs = _read(links_dir / "pairs.parquet", ["system_l", "record_id_l", "system_r", "record_id_r",
                                                "match_probability", "evidence"])
    truth = _read(truth_file, ["system", "record_id", "customer_id"])
    key = links["system"] + ":" + links["record_id"]
    true = pd.Series(truth["customer_id"].to_numpy(), index=truth["system"] + ":" + truth["record_id"])
    unknown = ~key.isin(true.index)
    if unknown.any():
        raise InputFileError(f"{truth_file}: no customer for record {key[unknown].iloc[0]} "
                             f"({int(unknown.sum())} record(s) of the links are not in the truth)")
    predicted = pd.Series(links["customer_id"].to_numpy(), index=key)
    system = pd.Series(links["system"].to_numpy(), index=key)
    records = links[["system", "record_id"]]
    curve = threshold_curve(true, {t: pd.Series(assign_ids(records, pairs, t).links["customer_id"].to_numpy(),
                                                index=key) for t in thresholds})
    return {"records": len(links), "true_customers": int(true.reindex(key).nunique()),
            "predicted_customers": int(predicted.nunique()), **pairwise(predicted, true),
            "exact_share": exact_share(predicted, true),
            "by_system_pair": by_system_pair(predicted, true, system).to_dict("records"),
            "threshold_curve": curve.to_dict("records")}
