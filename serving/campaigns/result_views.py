"""The glue between the stores and the results/NPS arithmetic, for the API, the workbench and the CLI.

Sends come from `serving.campaigns.sends.CampaignSends.frame`; holdings and products from the data
directory.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from nbo.errors import InputFileError
from serving.campaigns.audience import features_for
from serving.campaigns.board import CampaignBoard
from serving.campaigns.results import DEFAULT_WINDOW_DAYS, campaign_results, margins_of, roi_row
from serving.campaigns.sends import CampaignSends
from serving.campaigns.spec import CampaignSpec
from serving.nps.store import NpsStore
from serving.nps.summary import nps_summary
from sources.io import read_table

HOLDING_COLUMNS = ("customer_id", "product_id", "snapshot_date", "balance")


def _bank(data_dir: Path, customers: list[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """Holdings of these customers and every product's margin rate."""
    margins = margins_of(read_table(data_dir, "products"))
    if not customers:
        return pd.DataFrame(columns=list(HOLDING_COLUMNS)), margins
    return read_table(data_dir, "holdings", customer_ids=customers), margins


def results_view(board: CampaignBoard, engine: Engine, data_dir: Path, campaign_id: str,
                 window_days: int = DEFAULT_WINDOW_DAYS) -> dict[str, Any]:
    """`campaign_results` of one stored campaign (CampaignNotFound if none)."""
    stored = board.store.get(campaign_id)
    spec = CampaignSpec.model_validate(stored["definition"])
    sends = CampaignSends(engine).frame(campaign_id)
    holdings, margins = _bank(data_dir, sorted(set(sends["customer_id"].astype(str))))
    return campaign_results(spec, sends, holdings, margins, window_days) | {
        "state": stored["state"], "name_zh": spec.name_zh, "name_en": spec.name_en}


def roi_table(board: CampaignBoard, engine: Engine, data_dir: Path,
              window_days: int = DEFAULT_WINDOW_DAYS) -> list[dict[str, Any]]:
    """One ROI row per stored campaign that has sends."""
    sends = CampaignSends(engine).frame()
    if sends.empty:
        return []
    holdings, margins = _bank(data_dir, sorted(set(sends["customer_id"].astype(str))))
    rows = []
    for stored in board.store.list():
        mine = sends[sends["campaign_id"] == stored["id"]]
        if mine.empty:
            continue
        spec = CampaignSpec.model_validate(stored["definition"])
        rows.append(roi_row(campaign_results(spec, mine, holdings, margins, window_days))
                    | {"name_zh": spec.name_zh, "name_en": spec.name_en, "state": stored["state"]})
    return rows


def latest_segments(board: CampaignBoard) -> dict[str, str]:
    """customer id → RFM segment in the latest feature month ({} without feature tables)."""
    try:
        features = features_for([], board.rules, board.offline_dir)
    except InputFileError:
        return {}
    if features.empty:
        return {}
    tags = board.rules.tag_frame(features)
    chosen = tags["rfm_segment"].notna()
    return dict(zip(features.loc[chosen, "customer_id"].astype(str), tags.loc[chosen, "rfm_segment"], strict=True))


def nps_view(store: NpsStore, board: CampaignBoard, engine: Engine, since: datetime | None = None,
             until: datetime | None = None) -> dict[str, Any]:
    """`nps_summary` of the answers given in [since, until), segments from the sends frame or the
    latest feature month."""
    answers = store.frame(since, until)
    from_sends: dict[tuple[str, str], str] = {}
    latest: dict[str, str] = {}
    if not answers.empty:
        sends = CampaignSends(engine).frame()
        if not sends.empty:
            first = sends.sort_values("day", kind="stable").drop_duplicates(["campaign_id", "customer_id"])
            first = first[first["segment"].notna()]
            from_sends = dict(zip(zip(first["campaign_id"], first["customer_id"], strict=True), first["segment"],
                                  strict=True))
        latest = latest_segments(board)
    return {"since": since, "until": until} | nps_summary(answers, latest, from_sends)
