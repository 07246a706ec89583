"""What an adapter returns: canonical tables and the meta that says how they were made."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sources.extensions import Extensions, write_extensions
from sources.meta import SOURCE_META


@dataclass(frozen=True)
class PublicImport:
    """Canonical tables made from one public dataset, the source columns the contract has no place
    for (`customer_extras`, declared in `extensions`), and what the mapping means."""

    tables: dict[str, pd.DataFrame]
    meta: dict[str, object] = field(default_factory=dict)
    extensions: Extensions = field(default_factory=Extensions)
    extras: pd.DataFrame | None = None

    def write_meta(self, out: Path) -> Path:
        """Write `source.json` beside the tables (source, checksum, as-of date, label horizons)."""
        path = Path(out) / SOURCE_META
        path.write_text(json.dumps(self.meta, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        return path

    def write_extensions(self, out: Path) -> None:
        """Write `extensions.json` and `customer_extras.parquet` when the dataset has extra columns."""
        if self.extras is not None:
            write_extensions(Path(out), self.extensions, self.extras)
