"""The control group's split and the lift over control: `variant_for` on 100,000 ids, the Welch
interval against scipy on raw values, the campaign report's `control_lift` on a real SQLite audit
against the same statistics worked out from the raw offers, and bad shares refused by the settings
(`nbo serve` reads them first: exit 2 with the message, no traceback)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st

from evaluation.means import Sample, welch_difference
from evaluation.proportions import difference_interval, two_proportion_z_test
from nbo.errors import ConfigError
from nbo.settings import load_settings
from serving.audit.store import AuditStore, sqlite_url
from serving.decisions.variants import variant_for
from serving.reports.campaign import campaign_effect, load_tickets

IDS = [f"O{i:010d}" for i in range(100_000)]


@pytest.fixture(scope="module")
def split() -> dict[str, set[str]]:
    """Each variant's ids with 20% challenger and 30% control."""
    out: dict[str, set[str]] = {"champion": set(), "challenger": set(), "control": set()}
    for customer in IDS:
        out[variant_for(customer, 0.2, 0.3)].add(customer)
    return out


def test_shares_are_met_within_four_standard_errors(split: dict[str, set[str]]) -> None:
    for variant, share in {"challenger": 0.2, "control": 0.3, "champion": 0.5}.items():
        tolerance = 4 * math.sqrt(share * (1 - share) / len(IDS))
        assert abs(len(split[variant]) / len(IDS) - share) < tolerance, variant


def test_the_split_is_stable_and_the_groups_disjoint(split: dict[str, set[str]]) -> None:
    assert all(variant_for(c, 0.2, 0.3) == "control" for c in sorted(split["control"])[:1000])
    assert sum(map(len, split.values())) == len(IDS)
    assert not split["control"] & split["challenger"]
    # moving one share moves no customer of the other group
    assert {c for c in IDS if variant_for(c, 0.2) == "challenger"} == split["challenger"]
    assert {c for c in IDS if variant_for(c, 0.0, 0.3) == "control"} == split["control"]
    # with no control share, nobody is held out (the default keeps today's split)
    assert {variant_for(c, 0.2, 0.0) for c in IDS[:2000]} == {"champion", "challenger"}


@pytest.mark.parametrize(("challenger", "control"), [(0.8, 0.3), (-0.1, 0.0), (0.0, 1.2)])
def test_impossible_shares_are_a_value_error(challenger: float, control: float) -> None:
    with pytest.raises(ValueError, match="add up to at most 1"):
        variant_for("O0000000001", challenger, control)


def test_shares_above_one_are_a_clear_error_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBO_SERVICE__CHALLENGER_SHARE", "0.8")
    monkeypatch.setenv("NBO_SERVICE__CONTROL_SHARE", "0.3")
    with pytest.raises(ConfigError, match=r"challenger_share \(0.8\) \+ control_share \(0.3\) must not exceed 1"):
        load_settings()
    monkeypatch.setenv("NBO_SERVICE__CONTROL_SHARE", "0.2")
    assert load_settings().service.control_share == 0.2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_welch_interval_and_p_value_match_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = np.where(rng.random(300) < 0.2, rng.choice([50.0, 400.0], 300), 0.0)
    b = np.where(rng.random(140) < 0.1, rng.choice([50.0, 400.0], 140), 0.0)
    ours = welch_difference(Sample(len(a), a.sum(), (a * a).sum()), Sample(len(b), b.sum(), (b * b).sum()))
    theirs = st.ttest_ind(a, b, equal_var=False)
    assert ours is not None
    assert ours.difference == pytest.approx(a.mean() - b.mean())
    assert ours.interval == pytest.approx(tuple(theirs.confidence_interval(0.95)), rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9)
    assert ours.df == pytest.approx(theirs.df, rel=1e-9)


def test_welch_is_undefined_without_spread_or_values() -> None:
    assert welch_difference(Sample(10, 0.0, 0.0), Sample(5, 0.0, 0.0)) is None
    assert welch_difference(Sample(1, 3.0, 9.0), Sample(5, 1.0, 1.0)) is None
    with pytest.raises(ValueError, match="level"):
        welch_difference(Sample(3, 1.0, 1.0), Sample(3, 2.0, 2.0), level=1.0)


CATALOGUE = {
    "MORTGAGE": {"category": "mortgage", "margin_rate": 0.07, "name_zh": "住房按揭贷款", "name_en": "Home mortgage"},
    "FUND_BOND": {"category": "fund", "margin_rate": 0.015, "name_zh": "债券基金", "name_en": "Bond fund"},
}
# variant → [(product, accepted)]: one decision per offer; "rules" and "manual" never count in the lift
OFFERS = {
    "champion": [("MORTGAGE", True), ("MORTGAGE", False), ("FUND_BOND", True), ("FUND_BOND", True),
                 ("FUND_BOND", False), ("FUND_BOND", False)],
    "challenger": [("MORTGAGE", True), ("FUND_BOND", False), ("FUND_BOND", False)],
    "control": [("FUND_BOND", True), ("FUND_BOND", False), ("FUND_BOND", False), ("MORTGAGE", False),
                ("FUND_BOND", False)],
    "manual": [("MORTGAGE", True)],
}


def test_control_lift_from_a_real_audit(tmp_path: Path) -> None:
    store = AuditStore(sqlite_url(tmp_path / "audit.db"))
    for variant, offers in OFFERS.items():
        for n, (product, accepted) in enumerate(offers):
            decision = store.record_decision(kind="offers", customer_id=f"O{n:010d}", request_id=f"r{n}",
                                             variant=variant, model_versions={},
                                             payload={"answer": {"offers": [{"product_id": product}]}})
            for outcome in ("shown", "clicked", "accepted") if accepted else ("shown", "shown", "dismissed"):
                store.record_feedback(decision.decision_id, product, outcome)
    tickets = load_tickets()
    lift = campaign_effect(store, CATALOGUE, tickets=tickets)["control_lift"]
    store.close()

    def values(variants: tuple[str, ...]) -> np.ndarray:
        worth = {p: float(a["margin_rate"]) * tickets.by_category_cny[str(a["category"])] for p, a in CATALOGUE.items()}
        return np.array([worth[p] if ok else 0.0 for v in variants for p, ok in OFFERS[v]])

    treated, held_out = values(("champion", "challenger")), values(("control",))
    x1, n1, x2, n2 = int((treated > 0).sum()), len(treated), int((held_out > 0).sum()), len(held_out)
    assert (x1, n1, x2, n2) == (4, 9, 1, 5)
    acceptance = lift["acceptance"]
    assert (acceptance["personalised"], acceptance["control"]) == (pytest.approx(4 / 9), pytest.approx(1 / 5))
    assert acceptance["lift_ci95"] == pytest.approx(difference_interval(x1, n1, x2, n2))
    assert acceptance["p_value"] == pytest.approx(two_proportion_z_test(x1, n1, x2, n2)[1])
    assert acceptance["significant"] is False  # 14 offers: the interval spans 0
    welch = st.ttest_ind(treated, held_out, equal_var=False)
    value = lift["value"]
    assert value["personalised_per_offer_cny"] == pytest.approx(treated.mean())
    assert value["control_per_offer_cny"] == pytest.approx(held_out.mean())
    assert value["lift_cny"] == pytest.approx(treated.mean() - held_out.mean())
    assert value["lift_ci95"] == pytest.approx(tuple(welch.confidence_interval(0.95)))
    assert value["significant"] is False


def test_no_control_group_no_lift(tmp_path: Path) -> None:
    store = AuditStore(sqlite_url(tmp_path / "audit.db"))
    decision = store.record_decision(kind="offers", customer_id="O0000000001", request_id="r", variant="champion",
                                     model_versions={}, payload={"answer": {"offers": [{"product_id": "MORTGAGE"}]}})
    store.record_feedback(decision.decision_id, "MORTGAGE", "accepted")
    assert campaign_effect(store, CATALOGUE)["control_lift"] is None
    store.close()
