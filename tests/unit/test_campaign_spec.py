"""The campaign object without a bank: file format and its checks (each naming the field), the stable
arm assignment."""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from features.segments.rules import load_segment_rules
from nbo.errors import ContractViolation
from serving.campaigns.assignment import MAIN, assign_arm
from serving.campaigns.checks import BankTerms, checked_spec
from serving.campaigns.files import read_campaign_file, read_campaign_files
from serving.campaigns.spec import CampaignSpec
from serving.decisions.variants import CONTROL
from sources.synthetic.catalogue import build_products

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "config" / "campaigns").glob("*.toml"))
TERMS = BankTerms(load_segment_rules(), frozenset(build_products()["product_id"]))


def _example(name: str = "fund-promotion-ab") -> dict[str, Any]:
    return tomllib.loads(next(p for p in EXAMPLES if p.stem == name).read_text(encoding="utf-8"))


def test_the_shipped_examples_are_valid_and_distinct() -> None:
    specs = read_campaign_files(EXAMPLES, TERMS)
    assert {s.id for s in specs} == {"dormant-reactivation", "new-customer-onboarding", "fund-promotion-ab"}
    ab = next(s for s in specs if s.variants)
    assert [v.name for v in ab.variants] == ["A", "B"] and ab.variants[1].send_time == "20:00"


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


@pytest.mark.parametrize(("path", "value", "field", "words"), [
    ("audience.segment", "sleepy", "audience.segment", "unknown segment 'sleepy'"),
    ("audience.rule", ["shoe_size > 3"], "audience.rule.0", "no customer feature 'shoe_size'"),
    ("channels", ["app_push", "fax"], "channels.1", "'app_push', 'sms', 'rm_call' or 'wechat'"),
    ("offer.products", ["FUND_BOND", "FUND_NOPE"], "offer.products.1", "unknown product 'FUND_NOPE'"),
    ("budget.cost_per_contact_cny.sms", -0.05, "budget.cost_per_contact_cny.sms", "greater than or equal to 0"),
    ("budget.total_cny", -1, "budget.total_cny", "greater than or equal to 0"),
    ("control_share", 1.0, "control_share", "less than 1"),
    ("control_share", -0.1, "control_share", "greater than or equal to 0"),
    ("schedule.end", "2027-01-01", "schedule", "is before start"),
    ("schedule.start", "2027-02-30", "schedule.start", "date"),
    ("schedule.send_time", "25:00", "schedule.send_time", "pattern"),
    ("variants.1.share", 0.4, "campaign", "variants: shares add up to 0.9, not 1"),
    ("variants.1.name", "A", "campaign", "variants: names must be unique"),
    ("budget.cost_per_contact_cny", {"app_push": 0.01}, "campaign", "no cost for channel(s) sms"),
    ("id", "effect", "id", "taken by GET /v1/campaigns/effect"),
    ("id", "Bad Id", "id", "pattern"),
])
def test_bad_campaigns_are_refused_naming_the_field(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(ContractViolation) as refused:
        checked_spec(_set(_example(), path, value), TERMS, "fund.toml")
    fields = {v["field"]: v["message"] for v in refused.value.violations}
    assert field in fields and words in fields[field], fields
    assert str(refused.value).startswith("fund.toml: invalid campaign: ") and words in str(refused.value)


def test_a_file_that_is_not_toml_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "broken.toml"
    bad.write_text('id = "x"\nname_zh = \n', encoding="utf-8")
    with pytest.raises(ContractViolation, match=r"broken.toml: not valid TOML: .*line 2"):
        read_campaign_file(bad, TERMS)


def test_two_files_with_one_id_are_refused(tmp_path: Path) -> None:
    copy = tmp_path / "copy.toml"
    copy.write_bytes(EXAMPLES[0].read_bytes())
    with pytest.raises(ContractViolation, match="is also defined in"):
        read_campaign_files([EXAMPLES[0], copy], TERMS)


def test_arms_are_stable_and_split_as_the_shares_say() -> None:
    spec = CampaignSpec.model_validate(_set(_set(_example(), "variants.0.share", 0.25), "variants.1.share", 0.75))
    customers = [f"C{n:08d}" for n in range(1, 40_001)]
    arms = [assign_arm(spec, c) for c in customers]
    assert arms == [assign_arm(spec, c) for c in customers]  # the same customer, the same arm, every time
    counts = Counter(arms)
    n, treated = len(customers), len(customers) * (1 - spec.control_share)
    for arm, expected in ((CONTROL, n * spec.control_share), ("A", treated * 0.25), ("B", treated * 0.75)):
        sd = math.sqrt(expected * (1 - expected / n))
        assert abs(counts[arm] - expected) < 4 * sd, (arm, counts[arm], expected)
    other = CampaignSpec.model_validate(_set(_example(), "id", "another-campaign"))
    same_arm = sum(assign_arm(other, c) == CONTROL for c, a in zip(customers, arms, strict=True) if a == CONTROL)
    assert same_arm < 0.3 * counts[CONTROL]  # another campaign draws its own control group (about 20 % overlap)


def test_a_campaign_without_variants_has_one_arm_besides_control() -> None:
    spec = CampaignSpec.model_validate(_example() | {"variants": []})
    assert {assign_arm(spec, f"C{n:08d}") for n in range(1, 2001)} == {CONTROL, MAIN}
    everyone = CampaignSpec.model_validate(_example() | {"variants": [], "control_share": 0.0})
    assert {assign_arm(everyone, f"C{n:08d}") for n in range(1, 2001)} == {MAIN}
