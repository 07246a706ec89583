"""What a risk model records of its inputs at training: origins, one-value groups, development ranges.

The origins join each feature's canonical columns (`features.lineage`) with the data directory's
`source.json` lineage (`columns`: which source column was mapped onto which canonical column, and
the extra attributes); the groups and ranges are read off the development sample (the train and
validation parts: what the model was fitted and calibrated on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from features.lineage import canonical_columns, is_direct
from models.explain.inputs import FeatureOrigin, InputProfile
from models.risk import RiskScorer
from training.datasets import TrainingSet

SOURCE_ROLES = ("mapped", "extra")  # the lineage roles whose target holds the source column's values
EXTRAS_TABLE = "customer_extras."  # an extra attribute's column, also written `extra.<name>`


def source_columns(meta: Mapping[str, object]) -> dict[str, tuple[str, ...]]:
    """Canonical column → the source columns mapped onto it, in the lineage's order (empty without one)."""
    found: dict[str, list[str]] = {}
    for entry in meta.get("columns") or []:  # type: ignore[union-attr]
        target = entry.get("target")
        if entry.get("role") in SOURCE_ROLES and target:
            target = "extra." + target.removeprefix(EXTRAS_TABLE) if target.startswith(EXTRAS_TABLE) else target
            found.setdefault(target, []).append(str(entry["source"]))
    return {column: tuple(sources) for column, sources in found.items()}


def feature_origins(features: Sequence[str], meta: Mapping[str, object]) -> dict[str, FeatureOrigin]:
    """Each feature's canonical columns and the source columns behind them."""
    mapped = source_columns(meta)
    origins = {}
    for feature in features:
        columns = canonical_columns(feature)
        sources = tuple(dict.fromkeys(s for c in columns for s in mapped.get(c, ())))
        origins[feature] = FeatureOrigin(columns, sources, is_direct(feature))
    return origins


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return np.array_equal(a.to_numpy(float, na_value=np.nan), b.to_numpy(float, na_value=np.nan), equal_nan=True)
    return bool((a.astype("string").fillna("\0") == b.astype("string").fillna("\0")).all())


def one_value_groups(origins: Mapping[str, FeatureOrigin], development: pd.DataFrame) -> tuple[tuple[str, ...], ...]:
    """Features that read one source value: computed from a common source column, or from a common
    canonical column and equal on every development row (the 12-month and last-month counts of a
    one-month snapshot). Groups of two or more, members in feature order."""
    features = list(origins)
    parent = {f: f for f in features}

    def root(f: str) -> str:
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    for i, a in enumerate(features):
        for b in features[i + 1:]:
            shared_source = set(origins[a].sources) & set(origins[b].sources)
            shared_column = set(origins[a].columns) & set(origins[b].columns)
            if shared_source or (shared_column and _same_values(development[a], development[b])):
                parent[root(b)] = root(a)
    groups: dict[str, list[str]] = {}
    for f in features:
        groups.setdefault(root(f), []).append(f)
    return tuple(tuple(g) for g in groups.values() if len(g) > 1)


def development_bounds(features: Sequence[str], categorical: Sequence[str],
                       development: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Each number feature's minimum and maximum on the development sample (none when all missing).

    Min and max, not a robust bound: beyond them a tree model reads every value as the end it saw,
    so a value there is one the model cannot tell apart from that end."""
    bounds = {}
    for name in features:
        if name in categorical:
            continue
        values = pd.to_numeric(development[name], errors="raise").to_numpy(float, na_value=np.nan)
        if not np.isnan(values).all():
            bounds[name] = (float(np.nanmin(values)), float(np.nanmax(values)))
    return bounds


def input_profile(features: Sequence[str], categorical: Sequence[str], development: pd.DataFrame,
                  meta: Mapping[str, object]) -> InputProfile:
    """The `InputProfile` a model's spec stores."""
    origins = feature_origins(features, meta)
    return InputProfile(origins, one_value_groups(origins, development),
                        development_bounds(features, categorical, development))


def with_inputs(scorer: RiskScorer, data: TrainingSet, development: pd.DataFrame) -> RiskScorer:
    """The scorer with its spec's `inputs` recorded (the portfolio's currency is recorded beside it
    by the portfolio step of the run)."""
    profile = input_profile(data.features, data.categorical, development, data.source)
    return RiskScorer(scorer.booster, replace(scorer.spec, inputs=profile), scorer.num_threads)
