"""Splink's Spark backend (`NBO_STORES__OFFLINE=spark`, pyspark in local mode) resolves the same
extracts into the same customers as the DuckDB default."""

from __future__ import annotations

import json

import pandas as pd

from evaluation.linkage import pairwise
from sources.synthetic.extracts import SOURCES_DIR, write_identity_extracts
from tests.conftest import run_cli


def _resolve(extracts, out, env):
    systems = [a for p in sorted(extracts.glob("*.parquet")) for a in ("--system", f"{p.stem}={p}")]
    return json.loads(run_cli("identity", "resolve", *systems, "--out", out, "--json", env=env).stdout)


def _ids(out) -> pd.Series:
    links = pd.read_parquet(out / "links.parquet")
    return pd.Series(links["customer_id"].to_numpy(), index=links["system"] + ":" + links["record_id"])


def test_spark_and_duckdb_find_the_same_customers(tmp_path):
    write_identity_extracts(tmp_path / "extracts", 200, seed=5)
    extracts = tmp_path / "extracts" / SOURCES_DIR
    state = str(tmp_path / "state")
    duckdb = _resolve(extracts, tmp_path / "duckdb", {"NBO_STATE_DIR": state})
    spark = _resolve(extracts, tmp_path / "spark", {"NBO_STATE_DIR": state, "NBO_STORES__OFFLINE": "spark"})
    assert (duckdb["backend"], spark["backend"]) == ("duckdb", "spark")
    assert spark["candidate_pairs_compared"] == duckdb["candidate_pairs_compared"] > 0
    agreement = pairwise(_ids(tmp_path / "spark"), _ids(tmp_path / "duckdb"))
    assert agreement["f1"] > 0.99, agreement
