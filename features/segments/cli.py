"""`nbo segments ...`: segment sizes and transitions month over month."""

from __future__ import annotations

from pathlib import Path

import click

from features.build.monthly import offline_dir
from features.segments.report import (
    needed_columns,
    read_monthly_features,
    report_text,
    segment_report,
)
from features.segments.rules import DEFAULT_RULES, load_segment_rules
from nbo.console import emit, handles_errors, json_option, lang_option, steps
from nbo.settings import load_settings


@click.group("segments")
def segments_group() -> None:
    """Customer tags and segments (rules in features/segments/segments.toml)."""


@segments_group.command("report")
@click.option("--months", type=click.IntRange(1, 120), default=6, show_default=True,
              help="How many of the latest as-of months to tag and compare.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_RULES,
              show_default=True, help="The segment rules file.")
@lang_option("Language of segment names in the text report.")
@json_option
@handles_errors
def report(months: int, rules_path: Path, lang: str, as_json: bool) -> None:
    """Segment, lifecycle-stage and intent-tag sizes per month and the transitions between months,
    from the feature tables `nbo features build` wrote."""
    rules = load_segment_rules(rules_path)
    with steps("segment report", ["read features", "tag and compare"]) as bar:
        features = read_monthly_features(offline_dir(load_settings()), needed_columns(rules), months)
        bar.stage("tag and compare")
        result = segment_report(rules, features)
    emit(result, as_json, lambda r: report_text(r, rules.names(lang)))
