"""Campaigns as people look at them: each with its audience size in the latest feature month.

The one place the CLI (`nbo campaigns list|show`), the API and the workbench get campaigns from.
Sizes are a scan of one feature month, so a process keeps them for `ttl_s` seconds per set of
campaign versions (a new or changed campaign is counted at once).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from features.segments.rules import SegmentRules
from nbo.errors import InputFileError
from serving.campaigns.audience import audience_sizes, features_for
from serving.campaigns.spec import CampaignSpec
from serving.campaigns.store import CampaignStore

SIZES_TTL_S = 60.0


class CampaignBoard:
    """A campaign store with the segment rules and feature tables that size each audience."""

    def __init__(self, store: CampaignStore, rules: SegmentRules, offline_dir: Path, ttl_s: float = SIZES_TTL_S):
        self.store, self.rules, self.offline_dir, self.ttl_s = store, rules, offline_dir, ttl_s
        self._lock = threading.Lock()
        self._cached: tuple[float, tuple[tuple[str, int], ...], str | None, dict[str, int | None]] | None = None

    def overview(self) -> dict[str, Any]:
        """`audience_as_of` (the feature month, None without feature tables) and every campaign with
        its `audience_size`."""
        campaigns = self.store.list()
        as_of, sizes = self._sizes(campaigns)
        return {"audience_as_of": as_of, "campaigns": [c | {"audience_size": sizes.get(c["id"])} for c in campaigns]}

    def one(self, campaign_id: str) -> dict[str, Any]:
        """One campaign with its history, `audience_size` and `audience_as_of` (CampaignNotFound if none)."""
        campaign = self.store.get(campaign_id)
        as_of, sizes = self._sizes([campaign])
        return campaign | {"audience_size": sizes.get(campaign_id), "audience_as_of": as_of}

    def _sizes(self, campaigns: list[dict[str, Any]]) -> tuple[str | None, dict[str, int | None]]:
        key = tuple(sorted((c["id"], c["version"]) for c in campaigns))
        with self._lock:
            cached = self._cached
            if cached is not None and time.monotonic() - cached[0] < self.ttl_s and set(key) <= set(cached[1]):
                return cached[2], cached[3]
        specs = [CampaignSpec.model_validate(c["definition"]) for c in campaigns]
        try:
            as_of, counted = audience_sizes(specs, self.rules, features_for(specs, self.rules, self.offline_dir))
        except InputFileError:  # no feature tables yet: no sizes, not an error
            as_of, counted = None, {}
        sizes: dict[str, int | None] = dict(counted)
        with self._lock:
            self._cached = (time.monotonic(), key, as_of, sizes)
        return as_of, sizes
