"""The synthetic bank's payments and account events: ordinary behaviour, planted fraud, OneID assembly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sources.io import read_table
from sources.synthetic.payment_tables import FRAUD_FILE

LOCAL = "Asia/Shanghai"


def _truth(bank: Path) -> pd.DataFrame:
    return pd.read_parquet(bank / "truth" / FRAUD_FILE)


def test_ordinary_customers_pay_regular_payees_by_day_from_their_own_device(generated_bank: Path) -> None:
    payments = read_table(generated_bank, "payments")
    genuine = payments[~payments["payment_id"].isin(_truth(generated_bank)["payment_id"])]
    hours = genuine["payment_time"].dt.tz_convert(LOCAL).dt.hour
    assert (hours < 6).mean() < 0.02                                # few genuine payments at night
    assert 0.03 < genuine["first_to_payee"].mean() < 0.12           # mostly regular payees
    per_customer = genuine.groupby("customer_id")["payee_id"].nunique()
    assert 2 <= per_customer.median() <= 8
    online = genuine[genuine["channel"].isin(["app", "web"])]
    assert online["device_id"].notna().all() and genuine.loc[genuine["channel"] == "branch", "device_id"].isna().all()
    devices = online.groupby("customer_id")["device_id"].nunique()
    assert (devices <= 3).mean() > 0.97
    customers = read_table(generated_bank, "customers").set_index("customer_id")
    age = (payments["payment_time"].max().tz_localize(None) - customers["birth_date"]).dt.days / 365.25
    old = genuine["customer_id"].map(age) >= 65
    branch_or_phone = genuine["channel"].isin(["branch", "phone"])
    assert branch_or_phone[old].mean() > branch_or_phone[~old].mean() + 0.1  # older customers use them more


def test_planted_fraud_follows_each_scheme(generated_bank: Path) -> None:
    payments = read_table(generated_bank, "payments").set_index("payment_id")
    events = read_table(generated_bank, "account_events")
    truth = _truth(generated_bank)
    assert set(truth["scheme"]) == {"account_takeover", "mule", "elder_scam"}
    assert 0.0005 < len(truth) / len(payments) < 0.002              # about 0.1 % of transfers
    fraud = payments.loc[truth["payment_id"]].assign(scheme=truth["scheme"].to_numpy(),
                                                     start=truth["scheme_start"].to_numpy())
    first_of_case = fraud.groupby(truth["case_id"].to_numpy()).head(1)
    assert first_of_case["first_to_payee"].all()                    # every case opens with a new payee
    ato = fraud[fraud["scheme"] == "account_takeover"]
    assert (ato["payment_time"].dt.tz_convert(LOCAL).dt.hour < 6).mean() > 0.5
    resets = events[events["event_type"] == "password_change"].groupby("customer_id")["event_time"].apply(list)
    for customer, at in zip(ato["customer_id"], ato["payment_time"], strict=True):
        assert any(at - pd.Timedelta(hours=7) < t < at for t in resets[customer])  # reset just before
    customers = read_table(generated_bank, "customers").set_index("customer_id")
    elder = fraud[fraud["scheme"] == "elder_scam"]
    end = payments["payment_time"].max().tz_localize(None)  # ages are taken at the end of the payments
    assert ((end - elder["customer_id"].map(customers["birth_date"])).dt.days / 365.25 >= 65).all()
    assert (elder["payment_time"].dt.tz_convert(LOCAL).dt.hour.between(9, 17)).all()
    mule = fraud[fraud["scheme"] == "mule"]
    credits = events[(events["event_type"] == "credit_received") & events["customer_id"].isin(mule["customer_id"])]
    before = credits.merge(mule.groupby("customer_id")["payment_time"].min().rename("out"), on="customer_id")
    inbound = before[(before["event_time"] < before["out"]) & (before["event_time"] > before["out"] - pd.Timedelta(days=3))]
    assert inbound.groupby("customer_id").size().min() >= 8         # many small credits, then out
    assert fraud["payment_time"].min() >= payments["payment_time"].min() + pd.Timedelta(days=28)  # after warm-up


def test_assembly_re_keys_payments_to_oneid_customers(generated_bank: Path, bank_dir: Path) -> None:
    payments = read_table(bank_dir, "payments")
    events = read_table(bank_dir, "account_events")
    assert len(payments) == len(read_table(generated_bank, "payments"))
    assert len(events) == len(read_table(generated_bank, "account_events"))
    customers = set(read_table(bank_dir, "customers")["customer_id"])
    assert payments["customer_id"].str.fullmatch(r"O[0-9]{10}").all() and set(payments["customer_id"]) <= customers
    # one person's payments and security events land on the same OneID customer
    truth = _truth(generated_bank)
    original = read_table(generated_bank, "payments").set_index("payment_id")["customer_id"]
    assembled = payments.set_index("payment_id")["customer_id"]
    pairs = pd.DataFrame({"c": original.loc[truth["payment_id"]].to_numpy(),
                          "o": assembled.loc[truth["payment_id"]].to_numpy()})
    assert (pairs.groupby("c")["o"].nunique() == 1).all()
