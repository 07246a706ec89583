"""Hold a campaign against the bank: is its segment one of the rules', its tag rule on known
features, every product in the catalogue? Also turns pydantic's errors into ContractViolations
that name the field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from features.segments.rules import SegmentRules, load_segment_rules, parse_condition
from nbo.errors import ContractViolation, InputFileError
from nbo.settings import Settings
from serving.campaigns.spec import CampaignSpec
from sources.io import read_table, table_path


@dataclass(frozen=True)
class BankTerms:
    """What a campaign may name: the segment rules in force and the catalogue's product ids."""

    segments: SegmentRules
    products: frozenset[str]

    def segment_ids(self) -> list[str]:
        return [*self.segments.names("en")]


def bank_terms(settings: Settings) -> BankTerms:
    """The segment rules in force and the product ids of NBO_DATA_DIR's catalogue."""
    products = table_path(settings.data_dir, "products")
    if not products.exists():
        raise InputFileError(f"{products}: no product catalogue to check campaigns against (set NBO_DATA_DIR)")
    return BankTerms(load_segment_rules(), frozenset(read_table(settings.data_dir, "products")["product_id"]))


def parse_spec(raw: Mapping[str, Any], where: str) -> CampaignSpec:
    """The campaign of `raw` (a parsed file or body); ContractViolation listing every bad field."""
    try:
        return CampaignSpec.model_validate(raw)
    except ValidationError as err:
        violations: list[dict[str, object]] = [{"field": ".".join(str(p) for p in e["loc"]) or "campaign",
                       "message": e["msg"].removeprefix("Value error, ")} for e in err.errors()]
        raise _violation(where, violations) from err


def check_against_bank(spec: CampaignSpec, terms: BankTerms, where: str) -> None:
    """ContractViolation listing every name the bank does not know (segment, rule feature, product)."""
    violations: list[dict[str, object]] = []
    if spec.audience.segment is not None and spec.audience.segment not in terms.segment_ids():
        violations.append({"field": "audience.segment",
                           "message": f"unknown segment {spec.audience.segment!r} (known: "
                                      f"{', '.join(terms.segment_ids())})"})
    for i, condition in enumerate(spec.audience.rule):
        try:
            parse_condition(condition)
        except ValueError as err:
            violations.append({"field": f"audience.rule.{i}", "message": str(err)})
    for i, product in enumerate(spec.offer.products):
        if product not in terms.products:
            violations.append({"field": f"offer.products.{i}",
                               "message": f"unknown product {product!r}: not in the catalogue"})
    if violations:
        raise _violation(where, violations)


def checked_spec(raw: Mapping[str, Any], terms: BankTerms, where: str) -> CampaignSpec:
    """`parse_spec` then `check_against_bank`."""
    spec = parse_spec(raw, where)
    check_against_bank(spec, terms, where)
    return spec


def _violation(where: str, violations: list[dict[str, object]]) -> ContractViolation:
    for v in violations:
        v["text"] = f"{where}: {v['field']}: {v['message']}"
    text = "; ".join(f"{v['field']}: {v['message']}" for v in violations)
    return ContractViolation(f"{where}: invalid campaign: {text}", violations)
