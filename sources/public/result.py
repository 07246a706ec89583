"""What an adapter returns: canonical tables and the meta that says how they were made."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sources.meta import SOURCE_META


@dataclass(frozen=True)
class PublicImport:
    """Canonical tables made from one public dataset, and what the mapping means."""

    tables: dict[str, pd.DataFrame]
    meta: dict[str, object] = field(default_factory=dict)

    def write_meta(self, out: Path) -> Path:
        """Write `source.json` beside the tables (source, checksum, as-of date, label horizons)."""
        path = Path(out) / SOURCE_META
        path.write_text(json.dumps(self.meta, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        return path
