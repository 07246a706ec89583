"""`nbo data import`: public datasets become valid canonical tables whose labels match the source.

The real files are read in place from ../shared/data; corrupted copies (of a file's first rows,
or of the whole file for the encoding case) go to tmp_path only.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sources.io import read_table
from sources.labels import as_of_timestamp, churn_labels, delinquency_labels, monthly_activity
from tests.conftest import run_cli, run_json

# source: (folder in ../shared/data, file, customers, sha256 from the folder's README)
SOURCES = {
    "churn-modelling": ("Churn_Modelling", "Churn_Modelling.csv", 10_000,
                        "ee2a5c9d8daf3aed0d91c4d883a84ebb77d271447bebc0f0c80aafb0f288ceab"),
    "uci-credit-card": ("UCI_Credit_Card", "UCI_Credit_Card.csv", 30_000,
                        "a0f0ab49d6326671d6cd83be5c88dcf18007025fe9a53ecd699119c871176ca1"),
    "zimnat": ("zimnat_insurance_recommendation", "Train.csv", 29_132,
               "88925bcf27a5c158524d30f74d218428b0d1d5aba33cb4208a3865a4ddf3a7e6"),
    "santander": ("santander_sample", "trainsubset.csv", 9_999,
                  "4b3a49ecf26ee185a3055f06b565e7f8947568d7b4e0767ce64c8b0f815c5a0e"),
}
TABLES = ("customers", "products", "holdings", "events", "transactions", "credit")
UCI_LABEL = "default.payment.next.month"


@pytest.fixture(scope="module")
def imported(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every dataset imported from its folder, then validated, through the CLI (runs in parallel).

    Returns source → (out dir, `import --json` result, `validate --json` result).
    """
    root = tmp_path_factory.mktemp("public")
    with ThreadPoolExecutor(max_workers=min(len(SOURCES), os.cpu_count() or 1)) as pool:
        imports = {s: pool.submit(run_json, "data", "import", s, shared_data / folder, "--out", root / s)
                   for s, (folder, *_) in SOURCES.items()}
        results = {s: job.result() for s, job in imports.items()}
        reports = {s: pool.submit(run_json, "data", "validate", root / s) for s in SOURCES}
        return {s: (root / s, results[s], reports[s].result()) for s in SOURCES}


def _source(shared_data: Path, source: str) -> pd.DataFrame:
    folder, file, *_ = SOURCES[source]
    return pd.read_csv(shared_data / folder / file)


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: read_table(out, t) for t in TABLES}


@pytest.mark.parametrize("source", SOURCES)
def test_import_writes_six_valid_tables_and_the_source_meta(imported: dict, source: str) -> None:
    out, result, report = imported[source]
    customers, sha256 = SOURCES[source][2], SOURCES[source][3]
    assert result["rows"]["customers"] == customers
    assert set(result["rows"]) == set(TABLES)
    meta = json.loads((out / "source.json").read_text(encoding="utf-8"))
    assert meta["source"] == source and meta["sha256"] == sha256 and meta["rows"] == customers
    assert meta["mapping"] and meta["filled_defaults"]
    assert report["ok"] and report["violation_count"] == 0 and report["rows"] == result["rows"]


def test_churn_labels_reproduce_exited_and_the_snapshot_survives(imported: dict, shared_data: Path) -> None:
    out, result, _ = imported["churn-modelling"]
    meta, t = result["meta"], _tables(out)
    as_of = as_of_timestamp(meta["as_of"])
    assert as_of <= pd.Timestamp.now() and meta["label_horizon_days"] == 90
    activity = monthly_activity(t["events"], t["transactions"], t["holdings"])
    labels = churn_labels(t["customers"], activity, as_of)
    src = _source(shared_data, "churn-modelling").set_index("CustomerId")
    ext = t["customers"].set_index("customer_id")["external_id"].astype(int)
    assert len(labels) == 10_000
    assert (labels["churn"].to_numpy() == src.loc[ext[labels["customer_id"]], "Exited"].to_numpy()).all()
    assert labels["churn"].mean() == pytest.approx(0.2037)

    customers = t["customers"].set_index(ext.to_numpy())
    assert np.allclose(customers["income_monthly"] * 12, src["EstimatedSalary"])
    age = (as_of - customers["birth_date"]).dt.days // 365.25
    assert (age == src["Age"]).all()
    held = t["holdings"].assign(ext=ext[t["holdings"]["customer_id"]].to_numpy())
    card = held["product_id"] == "CM_CREDIT_CARD"
    assert (held[~card].groupby("ext").size()[src.index] == src["NumOfProducts"]).all()
    assert (src.index.isin(held.loc[card, "ext"]) == (src["HasCrCard"] == 1)).all()
    balance = held[held["product_id"] == "CM_ACCOUNT"].set_index("ext")["balance"]
    assert (balance[src.index] == src["Balance"]).all()
    active = set(ext[t["events"]["customer_id"]])
    assert (src.index.isin(active) == (src["IsActiveMember"] == 1)).all()


def test_uci_months_survive_and_labels_reproduce_default(imported: dict, shared_data: Path) -> None:
    out, result, _ = imported["uci-credit-card"]
    meta, credit = result["meta"], read_table(out, "credit")
    as_of = as_of_timestamp(meta["as_of"])
    assert as_of == pd.Timestamp("2005-10-01") and meta["delinquency_horizon_months"] == 1
    src = _source(shared_data, "uci-credit-card")
    assert credit.groupby("customer_id").size().eq(7).all()
    by_month = {m: g.reset_index(drop=True) for m, g in credit.sort_values("customer_id").groupby("month")}
    april, september = by_month[pd.Timestamp("2005-04-01")], by_month[pd.Timestamp("2005-09-01")]
    assert (september["days_past_due"] == np.where(src["PAY_0"] >= 1, 30 * src["PAY_0"], 0)).all()
    assert (april["balance"] == src["BILL_AMT6"].clip(lower=0)).all()
    assert (april["payment_amount"] == src["PAY_AMT6"]).all()
    assert (by_month[as_of]["days_past_due"] >= 30).mean() == pytest.approx(0.2212)

    assert meta["delinquency_population"] == "all"
    ext = read_table(out, "customers").set_index("customer_id")["external_id"].astype(int)
    labels = delinquency_labels(credit, as_of, meta["delinquency_horizon_months"], meta["delinquency_population"])
    expected = src.set_index("ID").loc[ext[labels["customer_id"]], UCI_LABEL]
    assert len(labels) == len(src) == 30_000
    assert (labels["delinquency"].to_numpy() == (expected.to_numpy() == 1)).all()
    performing = delinquency_labels(credit, as_of, meta["delinquency_horizon_months"])
    assert len(performing) == (src["PAY_0"] < 1).sum() == meta["performing_population"]["customers"]

    holdings = read_table(out, "holdings")
    overpaid = holdings[holdings["product_id"] == "UCI_OVERPAYMENT"]
    bills = src[[f"BILL_AMT{i}" for i in range(1, 7)]]
    assert len(overpaid) == (bills < 0).to_numpy().sum() == sum(meta["negative_bills"]["counts"].values())
    assert overpaid["balance"].sum() == pytest.approx(-bills[bills < 0].sum().sum())


def test_zimnat_flags_become_holdings_at_one_month_end(imported: dict, shared_data: Path) -> None:
    out, result, _ = imported["zimnat"]
    t = _tables(out)
    src = _source(shared_data, "zimnat")
    flags = src.columns[8:]
    assert list(t["products"]["product_id"]) == list(flags)
    assert set(t["products"]["category"]) == {"insurance"}
    assert len(t["holdings"]) == src[flags].to_numpy().sum() == 66_353
    assert t["holdings"]["snapshot_date"].nunique() == 1
    assert t["customers"]["customer_id"].iloc[[0, -1]].tolist() == ["C00000001", "C00029132"]
    assert t["customers"]["join_date"].isna().sum() == 2
    assert (t["customers"]["external_id"] == src["ID"]).all()
    assert set(result["meta"]["marital_status_counts"]) >= {"M", "S", "U"}


def test_santander_counts_missing_flags_and_says_it_is_one_month(imported: dict, shared_data: Path) -> None:
    out, result, _ = imported["santander"]
    meta, holdings = result["meta"], read_table(out, "holdings")
    src = _source(shared_data, "santander")
    flags = [c for c in src.columns if c.endswith("_ult1")]
    assert len(flags) == 24 and len(holdings) == src[flags].fillna(0).to_numpy().sum()
    assert meta["missing_flags"]["total"] == 22 == src[flags].isna().to_numpy().sum()
    assert meta["single_month"] is True and "not a random sample" in meta["not_for_quality_claims"]
    assert set(holdings["snapshot_date"]) == {pd.Timestamp("2015-01-31")}
    customers = read_table(out, "customers")
    assert customers["gender"].value_counts().to_dict() == {"M": 5375, "F": 4574, "U": 50}


def _corrupt(src: Path, dest: Path, cells: dict[tuple[int, str], str], drop: str) -> Path:
    """Copy the CSV's first data rows with some cells replaced (data row, column) and a column removed."""
    with src.open(newline="", encoding="utf-8") as fh:
        rows = list(itertools.islice(csv.reader(fh), CORRUPTED_ROWS + 1))
    header = rows[0]
    for (row, column), value in cells.items():
        rows[row][header.index(column)] = value
    keep = [i for i, name in enumerate(header) if name != drop]
    with dest.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[r[i] for i in keep] for r in rows])
    return dest


CORRUPTED_ROWS = 100  # the error path reads every row, so a short copy keeps the test fast
CORRUPTIONS = {
    "churn-modelling": ({(17, "Balance"): "12,5O0.10", (3, "Age"): "forty"}, "Geography"),
    "uci-credit-card": ({(17, "BILL_AMT3"): "n/a", (40, "PAY_0"): "10"}, "SEX"),
    "zimnat": ({(17, "join_date"): "31/02/2019", (5, "birth_year"): "19x0"}, "sex"),
    "santander": ({(17, "fecha_alta"): "2012-13-01", (8, "renta"): "mucho", (9, "antiguedad"): "seis"}, "segmento"),
}


@pytest.mark.parametrize("source", CORRUPTIONS)
def test_corrupted_copy_fails_naming_every_file_row_and_column(shared_data: Path, tmp_path: Path,
                                                               source: str) -> None:
    folder, file, *_ = SOURCES[source]
    cells, dropped = CORRUPTIONS[source]
    bad = _corrupt(shared_data / folder / file, tmp_path / file, cells, dropped)
    proc = run_cli("data", "import", source, bad, "--out", tmp_path / "out", "--json", check=False)
    assert proc.returncode == 2
    found = {(v["row"], v["column"]) for v in json.loads(proc.stdout)["violations"]}
    assert found == set(cells) | {(None, dropped)}
    assert all(v["file"] == str(bad) for v in json.loads(proc.stdout)["violations"])
    for row, column in cells:
        assert f"{file} row {row} column {column}: " in proc.stderr
    assert f"{file} column {dropped}: required column is missing" in proc.stderr
    assert not (tmp_path / "out" / "customers.parquet").exists()


def test_non_utf8_file_fails_naming_file_row_and_column(shared_data: Path, tmp_path: Path) -> None:
    data = (shared_data / "Churn_Modelling" / "Churn_Modelling.csv").read_bytes()
    bad = tmp_path / "Churn_Modelling.csv"
    bad.write_bytes(data.replace(b",Hargrave,", ",M\u00fcller,".encode("latin-1"), 1))
    proc = run_cli("data", "import", "churn-modelling", tmp_path, "--out", tmp_path / "out", "--json",
                   check=False)
    assert proc.returncode == 2
    body = json.loads(proc.stdout)
    assert "Churn_Modelling.csv is not UTF-8" in body["message"]
    assert [(v["row"], v["column"], v["check"]) for v in body["violations"]] == [(1, "Surname", "encoding")]
    assert "Churn_Modelling.csv row 1 column Surname: not UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr
