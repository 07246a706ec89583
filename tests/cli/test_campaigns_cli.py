"""`nbo campaigns load|list|show|approve|start|finish|withdraw` as a user runs them: the example files,
audience sizes as the segment report counts them, bad files refused naming the file and field (exit 2),
approval by the author refused (exit 4), illegal moves refused (exit 2), unknown campaigns (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from features.build.monthly import offline_dir
from features.segments.report import needed_columns, read_monthly_features, segment_report
from features.segments.rules import load_segment_rules
from serving.audit.store import sqlite_url
from tests.conftest import ROOT, FeatureState, run_cli, run_json, settings_from

EXAMPLES = sorted((ROOT / "config" / "campaigns").glob("*.toml"))


@pytest.fixture
def env(feature_state: FeatureState, bank_dir: Path, tmp_path: Path) -> dict[str, str]:
    """The session's bank and features, with an audit database of the test's own."""
    return feature_state.env["embedded"] | {"NBO_DATA_DIR": str(bank_dir),
                                            "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp_path / "audit.db")}


def test_examples_load_once_list_with_audience_sizes_and_go_through_their_states(env: dict[str, str]) -> None:
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
    early = run_cli("campaigns", "finish", "fund-promotion-ab", "--by", "RM002", env=env, check=False)
    assert early.returncode == 2 and "is draft: finish takes a campaign from running to finished" in early.stderr
    for action, by in (("approve", "RM002"), ("start", "RM001"), ("finish", "RM001")):
        run_cli("campaigns", action, "fund-promotion-ab", "--by", by, "--reason", f"{action} it", env=env)
    shown = run_json("campaigns", "show", "fund-promotion-ab", env=env)
    assert (shown["state"], shown["approved_by"], shown["audience_size"]) == ("finished", "RM002", sizes["fund-promotion-ab"])
    assert [(h["action"], h["from"], h["to"], h["by"]) for h in shown["history"]] == [
        ("create", None, "draft", "RM001"), ("approve", "draft", "approved", "RM002"),
        ("start", "approved", "running", "RM001"), ("finish", "running", "finished", "RM001")]
    text = run_cli("campaigns", "show", "fund-promotion-ab", env=env).stdout
    assert "approve  draft → approved by RM002: approve it" in text and "variant    B 0.5 at 20:00" in text


def test_bad_files_are_refused_naming_file_and_field(env: dict[str, str], tmp_path: Path) -> None:
    good = EXAMPLES[0].read_text(encoding="utf-8")
    cases = {
        "segment.toml": (good.replace('segment = "dormant"', 'segment = "sleepy"'), "audience.segment: unknown segment 'sleepy'"),
        "channel.toml": (good.replace('"rm_call"]', '"fax"]'), "channels.2: Input should be"),
        "product.toml": (good.replace('"WM_STABLE"', '"WM_NOPE"'), "offer.products.1: unknown product 'WM_NOPE'"),
        "cost.toml": (good.replace("sms = 0.05", "sms = -0.05"), "budget.cost_per_contact_cny.sms: Input should be greater than or equal to 0"),
        "control.toml": (good.replace("control_share = 0.1", "control_share = 1.5"), "control_share: Input should be less than 1"),
        "dates.toml": (good.replace("end = 2027-02-26", "end = 2026-12-01"), "schedule: end 2026-12-01 is before start 2027-01-04"),
    }
    for name, (text, words) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        proc = run_cli("campaigns", "load", EXAMPLES[1], path, "--by", "RM001", "--json", env=env, check=False)
        assert proc.returncode == 2, (name, proc.stderr)
        body = json.loads(proc.stdout)
        assert body["error"] == "ContractViolation" and f"{path}: invalid campaign: " in body["message"]
        assert words in body["message"] and f"{path}: {words}" in proc.stderr, (name, body)
    assert run_json("campaigns", "list", env=env)["campaigns"] == []  # nothing stored when any file is bad
    missing = run_cli("campaigns", "load", tmp_path / "none.toml", "--by", "RM001", env=env, check=False)
    unknown = run_cli("campaigns", "show", "nope", env=env, check=False)
    no_user = run_cli("campaigns", "load", EXAMPLES[0], "--by", "key:abc", env=env, check=False)
    assert (missing.returncode, unknown.returncode, no_user.returncode) == (3, 3, 2)
    assert "no campaign 'nope'" in unknown.stderr and "--by" in no_user.stderr
