"""training.fraud: the month split, the labels file's checks and thresholds at the budgets."""

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.fraud import HOLD, STEP_UP
from nbo.errors import ContractViolation, InputFileError
from training.fraud.data import positive_weight, read_labels, split_by_month
from training.fraud.fit import thresholds_at_budgets


def payments(months: list[str], per_month: int = 10) -> pd.DataFrame:
    times = [pd.Timestamp(f"{m}-15", tz="UTC") for m in months for _ in range(per_month)]
    return pd.DataFrame({"payment_id": [f"P{i}" for i in range(len(times))], "customer_id": "C1",
                         "payment_time": times, "label": [int(i % per_month == 0) for i in range(len(times))],
                         "amount": 100.0})


def test_split_trains_on_earlier_months_and_tests_on_the_last():
    split = split_by_month(payments(["2026-03", "2026-04", "2026-05", "2026-06"]))
    assert split.description()["train"]["months"] == ["2026-03", "2026-04"]
    assert split.description()["valid"]["months"] == ["2026-05"]
    assert split.description()["test"]["months"] == ["2026-06"]


def test_labels_join_the_training_part_only_and_win_over_the_bank():
    frame = payments(["2026-03", "2026-04", "2026-05"])
    labels = frame.iloc[[1, 25]].assign(label=1)  # one of March, one of May: both go to training
    split = split_by_month(frame, labels)
    assert split.labelled_rows == 2 and len(split.train) == 11
    assert split.train.set_index("payment_id").loc["P1", "label"] == 1
    assert "P25" in set(split.train["payment_id"]) and len(split.test) == 10


def test_too_few_months_or_no_fraud_is_a_contract_violation():
    with pytest.raises(ContractViolation, match="2 month"):
        split_by_month(payments(["2026-03", "2026-04"]))
    with pytest.raises(ContractViolation, match="test period"):
        split_by_month(payments(["2026-03", "2026-04", "2026-05"]).assign(
            label=lambda f: np.where(f["payment_time"].dt.month == 5, 0, f["label"])))


def test_labels_file_errors_name_row_and_column(tmp_path):
    good = pd.DataFrame({"payment_id": ["P1", "P2"], "customer_id": "C1", "payment_time": "2026-05-01T10:00:00Z",
                         "label": [1, 0], "amount": [10.0, 20.0]})
    path = tmp_path / "labels.parquet"
    good.to_parquet(path)
    assert read_labels(path, ["amount"])["label"].tolist() == [1, 0]
    good.assign(label=[1, 7]).to_parquet(path)
    with pytest.raises(InputFileError, match="row 2, column label"):
        read_labels(path, ["amount"])
    good.assign(amount=["10", "ten"]).to_parquet(path)
    with pytest.raises(InputFileError, match="row 2, column amount"):
        read_labels(path, ["amount"])
    with pytest.raises(InputFileError, match="lacks columns new_payee"):
        read_labels(path, ["amount", "new_payee"])
    with pytest.raises(InputFileError, match="no such file"):
        read_labels(tmp_path / "none.parquet", ["amount"])


def test_thresholds_leave_room_for_the_rules():
    scores = np.linspace(0, 1, 1000)  # 5 may be held, 30 stopped
    alone = thresholds_at_budgets(scores)
    assert (scores > alone.hold_above).sum() == 5 and (scores > alone.step_up_above).sum() == 30
    forced = np.zeros(1000, int)
    forced[:2] = HOLD  # the rules hold 2 low-score payments and step up 10 more
    forced[2:12] = STEP_UP
    served = thresholds_at_budgets(scores, forced)
    assert (scores > served.hold_above).sum() == 3
    assert ((scores > served.step_up_above) | (forced > 0)).sum() == 30


def test_positive_weight():
    assert positive_weight(pd.Series([1] + [0] * 99)) == pytest.approx(math.sqrt(99))
    assert positive_weight(pd.Series([1] + [0] * 9999)) == 50.0
