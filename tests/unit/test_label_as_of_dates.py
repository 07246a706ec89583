"""Which as-of dates a bank's months can label: each label needs only its own horizon after T."""

from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd
import pytest

from features.training_set import label_rows
from nbo.errors import ContractViolation
from nbo.settings import Settings, StoreSettings
from sources.io import read_table, write_table
from sources.synthetic.catalogue import build_products
from training.datasets import label_as_of_dates, load_training_set
from training.splits import AS_OF

MONTHS = pd.date_range("2025-01-01", "2025-03-01", freq="MS")  # three months of data
CANONICAL: dict[str, object] = {"source": "canonical"}


def _bank(data_dir: Path, months: pd.DatetimeIndex) -> None:
    """One customer saving every month, who takes up a bond fund in the last month."""
    write_table(data_dir, "products", build_products())
    holdings = [("C00000001", "DEP_SAVINGS", m + pd.offsets.MonthEnd(0)) for m in months]
    holdings.append(("C00000001", "FUND_BOND", months[-1] + pd.offsets.MonthEnd(0)))
    write_table(data_dir, "holdings", pd.DataFrame(
        [{"customer_id": c, "product_id": p, "snapshot_date": d, "balance": 1_000.0} for c, p, d in holdings]))
    write_table(data_dir, "transactions", pd.DataFrame({
        "customer_id": "C00000001", "month": months, "inflow": 1.0, "outflow": 1.0, "outflow_other_banks": 0.0,
        "txn_count": 1, "card_spend": 0.0, "salary_credit": 0.0}))


def test_adoption_is_labelled_at_every_as_of_date_whose_month_end_is_in_the_data(tmp_path: Path) -> None:
    _bank(tmp_path, MONTHS)
    as_of = label_as_of_dates(tmp_path, "adoption", CANONICAL)
    assert as_of == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-03-01")]
    rows = label_rows(tmp_path, "adoption", as_of).set_index(["event_timestamp", "product_id"])["adopted"]
    assert bool(rows[(pd.Timestamp("2025-03-01", tz="UTC"), "FUND_BOND")])
    assert not rows.xs(pd.Timestamp("2025-02-01", tz="UTC")).any()


@pytest.mark.parametrize(("label", "months_after"), [("churn", 2), ("delinquency", 11)])
def test_churn_and_delinquency_keep_their_horizons(tmp_path: Path, label: str, months_after: int) -> None:
    months = pd.date_range("2024-01-01", "2025-02-01", freq="MS")  # 14 months
    _bank(tmp_path, months)
    assert label_as_of_dates(tmp_path, label, CANONICAL) == list(months[1:len(months) - months_after])


def test_a_history_too_short_for_the_horizon_is_a_clear_error_naming_what_it_needs(tmp_path: Path) -> None:
    months = pd.date_range("2025-01-01", "2025-12-01", freq="MS")  # 12 months: too few for delinquency
    _bank(tmp_path, months)
    with pytest.raises(ContractViolation, match=r"delinquency: .* 13 months in all; .* holds 12 month"):
        label_as_of_dates(tmp_path, "delinquency", CANONICAL)


def _first_months(bank_dir: Path, out: Path, months: int, customers: int = 150) -> pd.DatetimeIndex:
    """The session bank's first `customers` customers and first `months` data months, written to `out`."""
    tables = {t: read_table(bank_dir, t) for t in ("customers", "products", "holdings", "events", "transactions", "credit")}
    kept = pd.DatetimeIndex(sorted(tables["transactions"]["month"].unique()))[:months]
    end = kept[-1] + pd.DateOffset(months=1)
    ids = set(tables["customers"]["customer_id"].iloc[:customers])
    keep = {"holdings": tables["holdings"]["snapshot_date"] < end, "transactions": tables["transactions"]["month"] < end,
            "credit": tables["credit"]["month"] < end, "events": tables["events"]["event_time"] < end.tz_localize("UTC")}
    for name, frame in tables.items():
        rows = keep.get(name, pd.Series(True, frame.index))
        if "customer_id" in frame:
            rows &= frame["customer_id"].isin(ids)
        write_table(out, name, frame[rows].reset_index(drop=True))
    return kept


def test_the_adoption_training_set_needs_only_the_as_of_months_own_month_end(bank_dir: Path, tmp_path: Path) -> None:
    """Four data months: every month after the first is an as-of date, the one two months before the
    data ends included (an 11-month horizon would leave none)."""
    months = _first_months(bank_dir, tmp_path / "bank", 4)
    settings = Settings(data_dir=tmp_path / "bank", state_dir=tmp_path / "state",
                        stores=StoreSettings(feast_project=f"nbo_adopt_{uuid.uuid4().hex[:8]}"))
    built = load_training_set(settings, "adoption", tmp_path / "bank")
    assert sorted(built.frame[AS_OF].unique()) == list(months[1:])
    assert built.frame["adopted"].any()
