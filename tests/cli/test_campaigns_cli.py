"""`nbo campaigns load|list|show|approve|finish` as a user runs them: the example files, audience sizes
as the segment report counts them, bad files refused naming the file and every field (exit 2, nothing
stored), approval by the author refused (exit 4), an illegal move refused (exit 2).

Each `nbo` process costs seconds of imports, so this runs few of them; the unit tests cover every
bad input and move in-process, the HTTP tests the whole life of a campaign."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from features.build.monthly import offline_dir
from features.segments.report import needed_columns, read_monthly_features, segment_report
from features.segments.rules import load_segment_rules
from nbo.databases import audit_engine
from serving.audit.store import sqlite_url
from serving.campaigns.store import CampaignStore
from tests.conftest import ROOT, FeatureState, run_cli, run_json, settings_from

EXAMPLES = sorted((ROOT / "config" / "campaigns").glob("*.toml"))


@pytest.fixture
def env(feature_state: FeatureState, bank_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The session's bank and features, with an audit database of the test's own."""
    return feature_state.env["embedded"] | {"NBO_DATA_DIR": str(bank_dir),
                                            "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}


def test_examples_load_once_list_with_audience_sizes_and_need_another_approver(env: dict[str, str]) -> None:
    loaded = run_json("campaigns", "load", *EXAMPLES, "--by", "RM001", "--reason", "Q1 plan", env=env)
    assert [(c["state"], c["version"], c["changed"]) for c in loaded["campaigns"]] == [("draft", 1, True)] * 3
    again = run_json("campaigns", "load", *EXAMPLES, "--by", "RM001", env=env)
    assert not any(c["changed"] for c in again["campaigns"])  # `make demo` run twice changes nothing

    listed = run_json("campaigns", "list", env=env)
    sizes = {c["id"]: c["audience_size"] for c in listed["campaigns"]}
    rules = load_segment_rules()
    features = read_monthly_features(offline_dir(settings_from(env)), needed_columns(rules) | {"aum_cny"}, 1)
    latest = segment_report(rules, features)["months"][-1]  # what `nbo segments report` counts
    assert listed["audience_as_of"] == latest["as_of"]
    assert sizes["new-customer-onboarding"] == latest["rfm_segment"]["new"] > 0  # a segment alone
    assert sizes["fund-promotion-ab"] == latest["intent_tags"]["wealth_interest"] > 0  # an intent tag
    dormant_with_money = (rules.tag_frame(features)["rfm_segment"] == "dormant") & (features["aum_cny"] >= 1000)
    assert sizes["dormant-reactivation"] == int(dormant_with_money.sum()) > 0  # a segment and a rule

    refused = run_cli("campaigns", "approve", "fund-promotion-ab", "--by", "RM001", "--json", env=env, check=False)
    assert refused.returncode == 4 and json.loads(refused.stdout)["error"] == "SelfApproval"
    assert "'RM001' wrote it and may not approve it" in refused.stderr
    run_cli("campaigns", "approve", "fund-promotion-ab", "--by", "RM002", "--reason", "costs checked", env=env)
    early = run_cli("campaigns", "finish", "fund-promotion-ab", "--by", "RM002", env=env, check=False)
    assert early.returncode == 2 and "is approved: finish takes a campaign from running to finished" in early.stderr
    text = run_cli("campaigns", "show", "fund-promotion-ab", env=env).stdout
    assert f"audience   wealth_interest: {sizes['fund-promotion-ab']} customers as of {latest['as_of']}" in text
    assert "create   — → draft by RM001: Q1 plan" in text and "approve  draft → approved by RM002: costs checked" in text
    assert "variant    B 0.5 at 20:00" in text


def test_bad_files_are_refused_naming_file_and_every_field(env: dict[str, str], tmp_path: Path) -> None:
    good = EXAMPLES[0].read_text(encoding="utf-8")
    shape = good.replace('"rm_call"]', '"fax"]').replace("sms = 0.05", "sms = -0.05") \
        .replace("control_share = 0.1", "control_share = 1.5").replace("end = 2027-02-26", "end = 2026-12-01")
    names = good.replace('segment = "dormant"', 'segment = "sleepy"').replace('"WM_STABLE"', '"WM_NOPE"')
    cases = {"shape.toml": (shape, ["channels.2: Input should be 'app_push', 'sms', 'rm_call' or 'wechat'",
                                    "budget.cost_per_contact_cny.sms: Input should be greater than or equal to 0",
                                    "control_share: Input should be less than 1",
                                    "schedule: end 2026-12-01 is before start 2027-01-04"]),
             "names.toml": (names, ["audience.segment: unknown segment 'sleepy'",
                                    "offer.products.1: unknown product 'WM_NOPE'"])}
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        proc = run_cli("campaigns", "load", EXAMPLES[1], path, "--by", "RM001", "--json", env=env, check=False)
        assert proc.returncode == 2, (name, proc.stderr)
        body = json.loads(proc.stdout)
        assert body["error"] == "ContractViolation" and body["violation_count"] == len(expected)
        for words in expected:
            assert words in body["message"] and f"{path}: {words}" in proc.stderr, (name, words, proc.stderr)
    engine = audit_engine(env["NBO_SERVICE__AUDIT_URL"])
    assert CampaignStore(engine).list() == []  # the good file beside a bad one was not stored either
    engine.dispose()
