"""`nbo identity resolve` end to end: read and normalise the extracts, deterministic rules, the Splink
model, OneID ids, and the files in the output folder.

The output folder is the state of every run so far: `records.parquet` (normalised, hashed records),
`pairs.parquet` (every scored pair), `model.json` (the trained Splink model), `links.parquet`,
`aliases.parquet` and `report.json`. When it holds a previous run, only records whose
(system, record_id) it has not seen are compared (against the existing records and each other) with
the model trained then; a record seen before keeps its first normalised form."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from identity import model
from identity.cluster_pass import PREFIX, second_pass
from identity.clusters import assign_ids
from identity.folder import locked, write_parquet, write_text
from identity.io import RECORD_COLUMNS, Extract, read_extracts
from identity.privacy import load_or_create_key
from identity.rules import PAIR_COLUMNS, bare_on_family_phone, rule_pairs

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9
STEPS = ("read", "rules", "train", "score", "assign", "write")
FILES = ("records.parquet", "pairs.parquet", "links.parquet", "aliases.parquet", "model.json", "report.json")


def _canonical(pairs: pd.DataFrame) -> pd.DataFrame:
    """Each pair once, its smaller record first; rules and model agreeing on a pair give one row."""
    left = pairs["system_l"] + ":" + pairs["record_id_l"]
    right = pairs["system_r"] + ":" + pairs["record_id_r"]
    swap = left > right
    flipped = pairs.copy()
    for side in ("system", "record_id"):
        flipped.loc[swap, f"{side}_l"] = pairs.loc[swap, f"{side}_r"]
        flipped.loc[swap, f"{side}_r"] = pairs.loc[swap, f"{side}_l"]
    flipped = flipped.sort_values("match_probability", ascending=False, kind="stable")
    return flipped.groupby(PAIR_COLUMNS[:4], as_index=False, sort=False).agg(
        match_probability=("match_probability", "max"),
        evidence=("evidence", lambda e: ";".join(dict.fromkeys(x for x in e if x))))[PAIR_COLUMNS]


def _uid(pairs: pd.DataFrame, side: str) -> pd.Series:
    return pairs[f"system_{side}"] + ":" + pairs[f"record_id_{side}"]


def _read(out: Path, name: str) -> pd.DataFrame | None:
    path = out / name
    return pd.read_parquet(path) if path.exists() else None


def resolve(extracts: list[Extract], out: Path, state_dir: Path, threshold: float = DEFAULT_THRESHOLD,
            backend: model.Backend = "duckdb", spark_master: str = "local[2]",
            stage: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Resolve the extracts into OneID customers under `out`; the report (also written to report.json).
    `stage(name)` is told as each of STEPS starts."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        timings[step] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    key = load_or_create_key(state_dir)
    stage("read")
    incoming = read_extracts(extracts, key)
    lap("read_seconds")

    before = _read(out, "records.parquet")
    incremental = before is not None and (out / "model.json").exists()
    if incremental:
        fresh = incoming[~incoming["uid"].isin(set(before["uid"]))]
        records = pd.concat([before[list(RECORD_COLUMNS)], fresh], ignore_index=True)
        new = pd.Series(records.index >= len(before), index=records.index)
    else:
        records, new = incoming, None
    n_new = int(new.sum()) if new is not None else len(records)
    stage("rules")
    rules = rule_pairs(records, new)
    lap("rules_seconds")

    parameters, model_json = None, None
    if n_new == 0:
        scored, compared = pd.DataFrame(columns=PAIR_COLUMNS), 0
    else:
        if incremental:
            model_json = json.loads((out / "model.json").read_text())
        else:
            stage("train")
            with model.database("duckdb") as duckdb:
                model_json = model.train(duckdb, records).misc.save_model_to_json()
            lap("train_seconds")
        stage("score")
        with model.database(backend, spark_master) as db_api:
            linker = model.scorer(db_api, records, model_json)
            scored, compared = model.score(linker, db_api, records, new)
            parameters = model.parameters(linker)
        # A bare record on a family's phone matches each of the family by phone and place: it ties to nobody.
        unsure = records.loc[bare_on_family_phone(records), "uid"]
        scored = scored[~(_uid(scored, "l").isin(unsure) | _uid(scored, "r").isin(unsure))]
    lap("score_seconds")

    pairs = _canonical(pd.concat([p for p in (rules, scored) if len(p)], ignore_index=True)) \
        if len(rules) or len(scored) else pd.DataFrame(columns=PAIR_COLUMNS)
    earlier = _read(out, "pairs.parquet") if incremental else None
    earlier_second = None
    if earlier is not None:
        is_second = earlier["evidence"].str.startswith(PREFIX)
        earlier, earlier_second = earlier[~is_second], earlier[is_second]
    first_pairs = _canonical(pd.concat([earlier, pairs], ignore_index=True)) if earlier is not None else pairs
    first_pairs = first_pairs.astype({"match_probability": float})
    stage("assign")
    out.mkdir(parents=True, exist_ok=True)
    with locked(out):  # a correction waits: the decisions read here are the ones the links are written with
        decisions = _read(out, "decisions.parquet")
        second = second_pass(records, first_pairs, threshold, decisions, new)
        # The second pass's pairs stay rows of their own (a pair may also have a first-pass row with the
        # model's probability), so the threshold curve can rerun both passes.
        all_pairs = pd.concat([p for p in (first_pairs, earlier_second, second) if p is not None and len(p)],
                              ignore_index=True).drop_duplicates(["evidence", *PAIR_COLUMNS[:4]])
        all_pairs = all_pairs.astype({"match_probability": float}) if len(all_pairs) else first_pairs
        assignment = assign_ids(records[["system", "record_id"]], all_pairs, threshold,
                                previous=_read(out, "links.parquet") if incremental else None,
                                decisions=decisions,
                                aliases=_read(out, "aliases.parquet") if incremental else None)
        lap("assign_seconds")

        if parameters is None:
            parameters = json.loads((out / "report.json").read_text())["parameters"]
        report = {
            "records": len(records), "new_records": n_new,
            "records_by_system": {str(k): int(v) for k, v in records["system"].value_counts().sort_index().items()},
            "candidate_pairs_compared": compared, "pairs_kept": len(all_pairs),
            "rule_pairs": len(rules), "cluster_pass_pairs": len(second), "threshold": threshold,
            "clusters": int(assignment.links["customer_id"].nunique()),
            "aliases": len(assignment.aliases), "incremental": incremental, "backend": backend,
            "parameters": parameters, "timings": timings,
        }
        stage("write")
        write_parquet(records, out / "records.parquet")
        write_parquet(all_pairs, out / "pairs.parquet")
        write_parquet(assignment.links, out / "links.parquet")
        write_parquet(assignment.aliases, out / "aliases.parquet")
        if n_new and not incremental:
            write_text(json.dumps(model_json, indent=1), out / "model.json")
        lap("write_seconds")
        report["timings"] = timings
        write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False), out / "report.json")
        return report
