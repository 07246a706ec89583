"""`source.json`: what an imported data directory says about itself (source, portfolio, currency,
as-of and snapshot dates, label, column lineage). nbo's own data has none."""

from __future__ import annotations

import json
from pathlib import Path

from nbo.errors import InputFileError

SOURCE_META = "source.json"


def read_meta(data_dir: Path) -> dict[str, object]:
    """The data directory's `source.json` as a dict; {} when it has none.

    Raises:
        InputFileError: the file is not readable JSON, or not a JSON object.
    """
    path = Path(data_dir) / SOURCE_META
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputFileError(f"{path}: not a readable JSON file: {err}") from None
    if not isinstance(meta, dict):
        raise InputFileError(f"{path}: not a JSON object")
    return meta
