"""The offline replay: point in time, labels and the profile, on the session bank."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.payments.counters import COUNTER_FEATURES, PROFILE_FEATURES
from features.payments.replay import FRAME_COLUMNS, payment_frame
from sources.io import read_table, table_path, write_table


@pytest.fixture(scope="module")
def frame(generated_bank: Path) -> pd.DataFrame:
    return payment_frame(generated_bank)


def test_a_payment_never_sees_itself_or_anything_later(generated_bank: Path, frame: pd.DataFrame,
                                                       tmp_path: Path) -> None:
    """Replaying the bank cut just after a payment gives that payment the same features: nothing later
    (payments or events) reached it. The cut payment's own amount and payee are changed, and it still
    must not count itself."""
    fraud = frame[frame["label"] == 1]
    cut = fraud["payment_time"].iloc[len(fraud) // 2]
    short = tmp_path / "short"
    short.mkdir()
    for table in ("customers", "customer_history"):
        shutil.copy(table_path(generated_bank, table), table_path(short, table))
    shutil.copytree(generated_bank / "truth", short / "truth")
    payments = read_table(generated_bank, "payments")
    events = read_table(generated_bank, "account_events")
    write_table(short, "payments", payments[payments["payment_time"] <= cut])
    write_table(short, "account_events", events[events["event_time"] <= cut])
    again = payment_frame(short).set_index("payment_id")
    before = frame[frame["payment_time"] <= cut].set_index("payment_id")
    assert len(again) == len(before) > 1000
    pd.testing.assert_frame_equal(again, before)
    # the payment's own values show in its row; its counters are those of the items before it
    last = before.iloc[-1]
    assert last["amount"] == payments.set_index("payment_id").loc[last.name, "amount"]
    earlier = payments[(payments["customer_id"] == last["customer_id"]) & (payments["payment_time"] < cut)]
    window = earlier[earlier["payment_time"] > cut - pd.Timedelta(days=1)]
    assert last["payments_1d"] == len(window) and last["payments_seen"] == len(earlier)


def test_frame_has_the_contract_columns_labels_and_the_warm_up_left_out(generated_bank: Path,
                                                                       frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert set(COUNTER_FEATURES) | set(PROFILE_FEATURES) <= set(frame.columns)
    assert frame["payment_time"].is_monotonic_increasing and frame["payment_id"].is_unique
    payments = read_table(generated_bank, "payments")
    first_month = payments["payment_time"].min().tz_localize(None).to_period("M")
    assert (frame["payment_time"].dt.tz_localize(None).dt.to_period("M") > first_month).all()
    truth = pd.read_parquet(generated_bank / "truth" / "fraud.parquet")
    assert frame["label"].sum() == len(truth) and set(frame.loc[frame["label"] == 1, "payment_id"]) == set(
        truth["payment_id"])
    assert frame["scheme"].isna().equals(frame["label"] == 0)
    assert (frame["age_years"].dropna() - frame["age"].dropna()).abs().le(1).all()  # month end vs the day
    takeover = frame[frame["scheme"] == "account_takeover"]
    assert takeover["hours_since_password_change"].max() < 7 and takeover["new_device"].all()


def test_the_assembled_bank_replays_with_the_generated_truth(generated_bank: Path, bank_dir: Path,
                                                              frame: pd.DataFrame) -> None:
    assembled = payment_frame(bank_dir, truth=generated_bank / "truth" / "fraud.parquet")
    assert len(assembled) == len(frame) and assembled["label"].sum() == frame["label"].sum()
    by_id = assembled.set_index("payment_id")
    same = frame.set_index("payment_id").loc[by_id.index]
    features = list(COUNTER_FEATURES)
    # OneID brought each person's items together (a false merge of two people would mix their counters)
    assert (by_id[features] == same[features]).all(axis=1).mean() > 0.99
    assert by_id["customer_id"].str.startswith("O").all()
