"""A build done a block of customers at a time writes the same feature tables as a one-block build."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.build.monthly import MANIFEST, build_feature_tables
from features.tables import ALL_TABLES
from sources.io import read_table, table_path, write_table
from tests.conftest import BANK_CUSTOMERS

BLOCK = 800  # the session bank's customers (2,000 people, about 2,250 OneID customers) in 3 blocks
ONE_BLOCK = 10 * BANK_CUSTOMERS  # every customer in one block


def _assert_same_build(one: Path, blocks: Path) -> None:
    """Same files, rows, row order, dtypes and values; same manifest but for where it was written."""
    for table in ALL_TABLES:
        expected, got = (pd.read_parquet(d / table.file_name) for d in (one, blocks))
        assert len(expected) > 0, table.name
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, check_exact=True, obj=table.name)
    expected, got = ({k: v for k, v in json.loads((d / MANIFEST).read_text(encoding="utf-8")).items()
                      if k != "out_dir"} for d in (one, blocks))
    assert got == expected
    assert sorted(p.name for p in blocks.iterdir()) == sorted(p.name for p in one.iterdir())


def test_a_build_in_blocks_writes_the_one_block_tables(bank_dir, tmp_path, caplog):
    build_feature_tables(bank_dir, tmp_path / "one", block_customers=ONE_BLOCK)
    caplog.clear()  # only the block build's progress (the root level may already be INFO)
    with caplog.at_level(logging.INFO, logger="features.build.monthly"):
        built = build_feature_tables(bank_dir, tmp_path / "blocks", block_customers=BLOCK)
    progress = [r for r in caplog.records if r.getMessage() == "feature_block_built"]
    assert [(r.block, r.blocks) for r in progress] == [(1, 3), (2, 3), (3, 3)]
    assert built.rows == {t.name: pq.read_metadata(tmp_path / "one" / t.file_name).num_rows for t in ALL_TABLES}
    _assert_same_build(tmp_path / "one", tmp_path / "blocks")


def test_blocks_follow_the_customers_table_and_keep_intents_of_unknown_customers(bank_dir, tmp_path):
    bank = tmp_path / "bank"
    shutil.copytree(bank_dir, bank)
    customers = read_table(bank_dir, "customers")
    unknown = customers["customer_id"].iloc[10:60]  # their events, holdings, ... stay in the other tables
    kept = customers[~customers["customer_id"].isin(unknown)].sample(frac=1.0, random_state=3)
    write_table(bank, "customers", kept)
    build_feature_tables(bank, tmp_path / "one", block_customers=ONE_BLOCK)
    build_feature_tables(bank, tmp_path / "blocks", block_customers=BLOCK)
    _assert_same_build(tmp_path / "one", tmp_path / "blocks")
    intents = pd.read_parquet(tmp_path / "blocks" / "customer_intent_realtime.parquet")
    assert intents["customer_id"].isin(unknown).any()


def test_a_failed_build_leaves_the_last_build_in_place(bank_dir, tmp_path):
    bank, out = tmp_path / "bank", tmp_path / "features"
    shutil.copytree(bank_dir, bank)
    build_feature_tables(bank, out, block_customers=BLOCK)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    table_path(bank, "credit").write_bytes(b"not parquet")
    with pytest.raises(Exception, match="(?i)parquet"):
        build_feature_tables(bank, out, block_customers=BLOCK)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
