"""`nbo data generate`: determinism, the planted label rates and learnable signals."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from sources.io import read_table
from sources.labels import adoption_labels, as_of_timestamp, delinquency_labels
from tests.conftest import run_json


def _checksums(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.parquet"))}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    args = ("data", "generate", "--customers", 400, "--months", 14, "--end-month", "2026-09")
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        run_json(*args, "--seed", seed, "--out", tmp_path / name)
    a, b, c = (_checksums(tmp_path / n) for n in "abc")
    # nine canonical tables (customer_history, payments, account_events too), truth/traits and truth/fraud;
    # six extracts and eight keyed files in sources/, truth/source_records
    assert len(a) == 26 and "truth/source_records.parquet" in a and "sources/branch_crm.parquet" in a
    assert "customer_history.parquet" in a and "sources/core_banking_customer_history.parquet" in a
    assert a == b
    fixed = {"products.parquet", "sources/core_banking_products.parquet"}  # the catalogue is fixed, not drawn
    assert all(a[f] == c[f] for f in fixed)
    assert all(a[f] != c[f] for f in a if f not in fixed)
    run_json(*args, "--seed", 3, "--no-extracts", "--out", tmp_path / "d")
    d = _checksums(tmp_path / "d")
    assert d == {f: a[f] for f in d} and len(d) == 11  # the same bank without the extracts


def test_default_size_has_the_designed_label_rates_and_is_valid(tmp_path: Path) -> None:
    out = tmp_path / "bank20k"
    result = run_json("data", "generate", "--customers", 20_000, "--months", 24, "--seed", 42, "--out", out)
    rates = result["label_rates"]
    assert 0.05 <= rates["churn_rate_90d"] <= 0.10
    assert 0.03 <= rates["delinquency_rate_12m"] <= 0.08
    assert 0.01 <= rates["adoption_rate_monthly"] <= 0.04
    assert result["rows"]["customers"] == 20_000
    fraud = result["payment_fraud"]  # about 0.1 % of transfers, every scheme planted
    assert 0.0007 <= fraud["fraud_share"] <= 0.0013 and set(fraud["by_scheme"]) == {
        "account_takeover", "mule", "elder_scam"}
    report = run_json("data", "validate", out)
    assert report["ok"] and report["violation_count"] == 0


def test_blocks_are_deterministic_contiguous_independent_and_valid(tmp_path: Path) -> None:
    from tests.conftest import run_cli

    args = ("data", "generate", "--customers", 2_100, "--months", 14, "--seed", 5, "--end-month", "2026-09",
            "--block-customers", 700, "--json")
    runs = [run_cli(*args, "--out", tmp_path / name) for name in "ab"]
    assert "block 3/3: customers 1,401–2,100" in runs[0].stderr
    a, b = (json.loads(run.stdout) for run in runs)
    assert _checksums(tmp_path / "a") == _checksums(tmp_path / "b")
    assert a["label_rates"] == b["label_rates"] and a["rows"]["customers"] == 2_100
    customers = read_table(tmp_path / "a", "customers")
    assert customers["customer_id"].tolist() == [f"C{i:08d}" for i in range(1, 2_101)]
    traits = pd.read_parquet(tmp_path / "a" / "truth" / "traits.parquet")
    assert traits["customer_id"].tolist() == customers["customer_id"].tolist()
    events = read_table(tmp_path / "a", "events")
    assert (events["event_id"].to_numpy() == np.arange(len(events))).all()
    phones = customers["phone"].to_numpy().reshape(3, 700)
    assert (phones[0] != phones[1]).any() and (phones[1] != phones[2]).any()  # each block its own draws
    report = run_json("data", "validate", tmp_path / "a")
    assert report["ok"] and report["violation_count"] == 0


def test_truth_is_kept_apart_from_the_canonical_tables(generated_bank: Path) -> None:
    assert sorted(p.name for p in generated_bank.glob("*.parquet")) == [
        "account_events.parquet", "credit.parquet", "customer_history.parquet", "customers.parquet",
        "events.parquet", "holdings.parquet", "payments.parquet", "products.parquet", "transactions.parquet"]
    traits = pd.read_parquet(generated_bank / "truth" / "traits.parquet")
    customers = read_table(generated_bank, "customers")
    assert set(traits["customer_id"]) == set(customers["customer_id"])
    assert "life_stage" not in customers and "financial_stress" not in customers


def test_realistic_imperfections_are_present(generated_bank: Path) -> None:
    customers = read_table(generated_bank, "customers")
    events = read_table(generated_bank, "events")
    assert 0.03 < customers["income_monthly"].isna().mean() < 0.15
    assert customers["close_date"].notna().sum() > 0
    first_month = read_table(generated_bank, "transactions")["month"].min()
    assert (customers["join_date"] > first_month).sum() > 0
    keys = ["customer_id", "event_time", "event_type", "topic", "product_id", "channel"]
    assert events.duplicated(subset=keys).sum() > 0


def test_delinquency_is_learnable_from_utilization_and_missed_payments(generated_bank: Path) -> None:
    credit = read_table(generated_bank, "credit")
    first = credit["month"].min()
    frames = []
    for as_of in pd.date_range(first + pd.DateOffset(months=6), first + pd.DateOffset(months=12), freq="MS"):
        labels = delinquency_labels(credit, as_of)
        seen = credit[(credit["month"] < as_of) & (credit["month"] >= as_of - pd.DateOffset(months=12))]
        last = seen[seen["month"] == as_of - pd.DateOffset(months=1)].set_index("customer_id")
        labels["utilization"] = labels["customer_id"].map(last["utilization"])
        labels["missed_12m"] = labels["customer_id"].map(seen.groupby("customer_id")["missed_payments"].sum())
        frames.append(labels)
    data = pd.concat(frames)
    x, y = data[["utilization", "missed_12m"]].to_numpy(), data["delinquency"].to_numpy()
    train = data["as_of"] < first + pd.DateOffset(months=10)
    model = LogisticRegression().fit(x[train], y[train])
    auc = roc_auc_score(y[~train], model.predict_proba(x[~train])[:, 1])
    assert auc > 0.7, auc


def test_mortgage_page_views_come_before_mortgage_uptake(generated_bank: Path) -> None:
    holdings = read_table(generated_bank, "holdings")
    products = read_table(generated_bank, "products")
    events = read_table(generated_bank, "events")
    views = events[(events["event_type"] == "page_view") & (events["topic"] == "mortgage")]
    view_month = views["event_time"].dt.tz_localize(None).dt.to_period("M").dt.to_timestamp()
    rows = []
    months = sorted(holdings["snapshot_date"].unique())
    for as_of in pd.date_range(months[0] + pd.Timedelta(days=1), months[-1], freq="MS"):
        labels = adoption_labels(holdings, products, as_of_timestamp(as_of))
        labels = labels[labels["product_id"] == "MORTGAGE"]
        viewers = set(views.loc[view_month == as_of - pd.DateOffset(months=1), "customer_id"])
        rows.append(labels.assign(viewed=labels["customer_id"].isin(viewers)))
    data = pd.concat(rows)
    rate = data.groupby("viewed")["adopted"].mean()
    assert data["adopted"].sum() >= 10
    assert rate[True] > 5 * rate[False], rate


@pytest.mark.parametrize("args", [
    ("--customers", 0, "--months", 12), ("--customers", 10, "--months", 1),
    ("--customers", 100_000_000, "--months", 12),  # ids are C + 8 digits
    ("--customers", 10, "--block-customers", 99),
])
def test_bad_sizes_are_refused_with_a_message(tmp_path: Path, args: tuple) -> None:
    from tests.conftest import run_cli

    proc = run_cli("data", "generate", *args, "--out", tmp_path / "x", check=False)
    assert proc.returncode == 2
    assert "Invalid value" in proc.stderr
    assert not np.any([p.suffix == ".parquet" for p in tmp_path.rglob("*")])
