"""Which relationship manager owns which OneID customer.

`nbo data assemble` writes `rm_assignments.parquet` (`customer_id, rm_id`, one row per customer, `rm_id`
missing when no record names one) beside the canonical tables, from the golden records' `rm_id`
(survivorship in `survivorship.toml`: the branch CRM, then core banking). The canonical contract has no
such column, so data without OneID (a public dataset, the generator's own tables) has no owners.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from identity.golden import OWNER

OWNERS_FILE = "rm_assignments.parquet"


def write_owners(out: Path, customers: pd.DataFrame) -> Path:
    """Write customer_id → rm_id of the golden records into `out`."""
    path = Path(out) / OWNERS_FILE
    customers[["customer_id", OWNER]].astype({OWNER: object}).to_parquet(path, index=False, compression="zstd")
    return path


def load_owners(data_dir: Path) -> pd.Series:
    """customer_id → rm_id (None: no RM) of a data directory; empty when it has no assignments."""
    path = Path(data_dir) / OWNERS_FILE
    if not path.is_file():
        return pd.Series(dtype=object, name=OWNER)
    frame = pd.read_parquet(path, columns=["customer_id", OWNER])
    return frame.set_index("customer_id")[OWNER].astype(object).where(frame[OWNER].notna().to_numpy(), None)
