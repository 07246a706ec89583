"""The noise in a bank's source-system extracts, measured against the truth (README "The synthetic bank").

    python benchmarks/extracts.py DATA_DIR

DATA_DIR is what `nbo data generate` wrote (with its sources/ and truth/). Prints one JSON object:
per system, records, share of customers present, duplicates, and per identifying column how often it
is present and how often it differs from the customer's real value.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from sources.synthetic.identities import is_valid_id
from sources.synthetic.systems import SYSTEMS

_LATIN = r"[a-zA-Zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]"


def _share(mask: pd.Series) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def system_noise(frame: pd.DataFrame, customers: pd.DataFrame) -> dict[str, float | int]:
    """Rates of one system's extract, `frame` carrying the truth's customer_id."""
    present = frame["customer_id"].nunique()
    out: dict[str, float | int] = {"records": len(frame), "customers_present": round(present / len(customers), 4),
                                   "duplicates_per_customer": round(frame["customer_id"].duplicated().sum() / present, 4)}
    real = customers.loc[frame["customer_id"]].reset_index(drop=True)
    if "full_name" in frame:
        name = frame["full_name"]
        if "family_name" in frame:  # a name held in two fields
            name = name.fillna(frame["family_name"] + frame["given_name"])
        latin = name.fillna("").str.contains(_LATIN)
        out |= {"name_present": _share(name.notna()), "name_in_pinyin": _share(latin[name.notna()]),
                "name_in_characters_not_the_legal_one": _share((name != real["name"])[name.notna() & ~latin])}
    if "phone" in frame:
        phone = frame["phone"]
        out |= {"phone_present": _share(phone.notna()),
                "phone_not_the_current_one": _share((phone != real["phone"])[phone.notna()])}
    if "id_number" in frame:
        number = frame["id_number"].dropna()
        out |= {"id_number_present": _share(frame["id_number"].notna()),
                "id_number_checksum_fails": _share(~number.map(is_valid_id))}
    if "birth_date" in frame:
        birth = frame["birth_date"]
        wrong = birth.str.replace("-", "") != real["birth_date"].dt.strftime("%Y%m%d")
        out |= {"birth_date_present": _share(birth.notna()), "birth_date_wrong": _share(wrong[birth.notna()])}
    if "device_id" in frame:
        out["devices_shared_by_two_customers"] = int((frame.groupby("device_id")["customer_id"].nunique() > 1).sum())
    if "address" in frame:
        out["homes_shared_by_two_customers"] = int((frame.groupby("address")["customer_id"].nunique() > 1).sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    data = parser.parse_args().data_dir
    customers = pd.read_parquet(data / "customers.parquet").set_index("customer_id")
    truth = pd.read_parquet(data / "truth" / "source_records.parquet")
    result = {}
    for system in SYSTEMS:
        path = data / "sources" / f"{system}.parquet"
        if path.exists():
            key = truth.loc[truth["system"] == system, ["record_id", "customer_id"]]
            frame = pd.read_parquet(path).merge(key, on="record_id", validate="one_to_one")
            result[system] = system_noise(frame, customers)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
