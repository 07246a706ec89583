"""A campaign's audience: the customers of one feature month its segment and tag rule select.

The segment is matched as `nbo segments report` tags customers (the same rules, the same frame
code): an RFM segment or lifecycle stage by equality, an intent tag by membership. Customers the
segment rules exclude (closed accounts) are never in an audience.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from features.segments.report import needed_columns, read_monthly_features
from features.segments.rules import SegmentRules, parse_condition
from features.tables import CUSTOMER_KEY, EVENT_TIMESTAMP
from serving.campaigns.spec import CampaignSpec


def audience_mask(spec: CampaignSpec, features: pd.DataFrame, tags: pd.DataFrame) -> np.ndarray:
    """Which rows of `features` (with their `SegmentRules.tag_frame` tags) the campaign's audience holds."""
    chosen = tags["rfm_segment"].notna().to_numpy()  # excluded customers have no segment
    segment = spec.audience.segment
    if segment is not None:
        by_kind = (tags["rfm_segment"] == segment) | (tags["lifecycle_stage"] == segment)
        by_intent = tags["intent_tags"].map(lambda held: segment in held)
        chosen &= (by_kind | by_intent).to_numpy()
    for text in spec.audience.rule:
        chosen &= parse_condition(text).holds(features)
    return chosen


def features_for(specs: Sequence[CampaignSpec], rules: SegmentRules, offline_dir: Path) -> pd.DataFrame:
    """The latest feature month of every customer, with the columns the rules and the campaigns read."""
    columns = needed_columns(rules) | {parse_condition(c).feature for s in specs for c in s.audience.rule}
    return read_monthly_features(offline_dir, columns, months=1)


def audience_sizes(specs: Sequence[CampaignSpec], rules: SegmentRules,
                   features: pd.DataFrame) -> tuple[str | None, dict[str, int]]:
    """The feature month (ISO date, None without rows) and each campaign's audience size in it."""
    if features.empty:
        return None, {s.id: 0 for s in specs}
    tags = rules.tag_frame(features)
    as_of = pd.Timestamp(features[EVENT_TIMESTAMP].max()).date().isoformat()
    return as_of, {s.id: int(audience_mask(s, features, tags).sum()) for s in specs}


def audience_ids(spec: CampaignSpec, rules: SegmentRules, features: pd.DataFrame) -> list[str]:
    """The customer ids of the campaign's audience in `features` (one month), sorted."""
    mask = audience_mask(spec, features, rules.tag_frame(features))
    return sorted(features.loc[mask, CUSTOMER_KEY].astype(str))
