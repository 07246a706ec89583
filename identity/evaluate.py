"""Links measured against a truth file (system, record_id, customer_id): pairwise precision, recall
and F1 overall and per pair of systems, the exact share, and the threshold curve from the scored pairs
(at each threshold both passes rerun: the first pass's pairs cut there, then the cluster pass)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from evaluation.linkage import by_system_pair, exact_share, pairwise, threshold_curve
from identity.cluster_pass import PREFIX, second_pass
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


def _without_identifiers(records: pd.DataFrame, key: pd.Series) -> pd.Series:
    """Per link (by key), whether its record holds none of the identifiers matching uses."""
    columns = ["name_fg", "birth_date", "phone_hash", "email_hash", "id_hash", "address"]
    blank = pd.Series(records[columns].isna().all(axis=1).to_numpy(), index=records["uid"])
    return pd.Series(blank.reindex(key.to_numpy(), fill_value=False).to_numpy(), index=key.to_numpy())


def _customers(records: pd.DataFrame, key: pd.Series, pairs: pd.DataFrame, threshold: float) -> pd.Series:
    """The customer of each record (by key) had the run used `threshold`: both passes rerun at it."""
    first = pairs[~pairs["evidence"].str.startswith(PREFIX)]
    both = pd.concat([first, second_pass(records, first, threshold)], ignore_index=True)
    ids = assign_ids(records[["system", "record_id"]], both, threshold).links
    customer = pd.Series(ids["customer_id"].to_numpy(), index=(ids["system"] + ":" + ids["record_id"]).to_numpy())
    return pd.Series(customer.reindex(key.to_numpy()).to_numpy(), index=key.to_numpy())


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
    predicted = pd.Series(links["customer_id"].to_numpy(), index=key.to_numpy())
    system = pd.Series(links["system"].to_numpy(), index=key.to_numpy())
    records = _read(links_dir / "records.parquet", ["system", "record_id", "uid"])
    curve = threshold_curve(true, {t: _customers(records, key, pairs, t) for t in thresholds})
    true = true.reindex(key.to_numpy())
    blank = _without_identifiers(records, key)
    return {"records": len(links), "true_customers": int(true.nunique()),
            "predicted_customers": int(predicted.nunique()), **pairwise(predicted, true),
            "exact_share": exact_share(predicted, true),
            # Records holding no identifier at all (no name, birth date, phone, e-mail, ID number or address)
            # cannot be linked by anyone: the best F1 there is, and the F1 over the other records.
            "records_without_identifiers": int(blank.sum()),
            "f1_ceiling": pairwise(true.where(~blank, key.to_numpy()), true)["f1"],
            "f1_records_with_identifiers": pairwise(predicted[~blank], true[~blank])["f1"],
            "by_system_pair": by_system_pair(predicted, true, system).to_dict("records"),
            "threshold_curve": curve.to_dict("records")}
