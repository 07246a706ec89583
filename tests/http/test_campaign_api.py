"""GET /v1/campaigns/effect: the rm role's campaign numbers, through the real app and audit.

The session's audit is shared with other tests, so numbers are checked as deltas around what
this test posts.
"""

from __future__ import annotations

import pytest

from sources.io import read_table

EFFECT = "/v1/campaigns/effect"


@pytest.fixture(scope="module")
def customer_id(bank_dir) -> str:
    """An open customer with marketing consent (so personalised offers), the first by id."""
    people = read_table(bank_dir, "customers")
    return str(people.loc[people["marketing_consent"] & people["close_date"].isna(), "customer_id"].min())


@pytest.mark.parametrize(("role", "status"), [("rm", 200), ("app", 403), ("risk", 403), ("admin", 403), (None, 401)])
def test_only_the_rm_role_reads_the_campaign_effect(app_client, as_role, role: str | None, status: int) -> None:
    response = app_client.get(EFFECT, headers=as_role(role))
    assert response.status_code == status, response.text
    if status == 200:
        body = response.json()
        assert set(body) >= {"funnel", "by_product", "by_channel", "by_segment", "variants", "comparison",
                             "value_cny", "weeks", "tickets_version"}
    else:
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("query", "words"), [
    ({"since": "last tuesday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"since": "2026-02-01", "until": "2026-01-01"}, "since must be before until"),
    ({"since": "0001-01-01T00:00:00+23:59"}, "out of range"),
])
def test_bad_dates_are_422_with_a_message(app_client, as_role, query: dict[str, str], words: str) -> None:
    response = app_client.get(EFFECT, params=query, headers=as_role("rm"))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert words in response.json()["detail"]


def test_posted_feedback_moves_the_numbers_by_exactly_what_was_posted(app_client, as_role, customer_id) -> None:
    before = app_client.get(EFFECT, headers=as_role("rm")).json()
    offers = app_client.get(f"/v1/customers/{customer_id}/offers", params={"channel": "phone"},
                            headers=as_role("app")).json()
    product = offers["offers"][0]["product_id"]
    for outcome in ("shown", "clicked", "accepted"):
        posted = app_client.post(f"/v1/offers/{offers['decision_id']}/feedback",
                                 json={"product_id": product, "outcome": outcome}, headers=as_role("app"))
        assert posted.status_code == 201, posted.text
    after = app_client.get(EFFECT, headers=as_role("rm")).json()

    def counts(effect: dict, rows: str | None = None, key: str = "", value: str = "") -> tuple[int, int, int]:
        row = effect["funnel"] if rows is None else next((r for r in effect[rows] if r[key] == value),
                                                         {"shown": 0, "clicked": 0, "accepted": 0})
        return row["shown"], row["clicked"], row["accepted"]

    for where in [(), ("by_product", "product_id", product), ("by_channel", "channel", "phone")]:
        assert [a - b for a, b in zip(counts(after, *where), counts(before, *where), strict=True)] == [1, 1, 1], where
    variant = offers["variant"]
    assert after["variants"][variant]["accepted"] == before["variants"].get(variant, {"accepted": 0})["accepted"] + 1
    row = next(r for r in after["by_product"] if r["product_id"] == product)
    assert after["value_cny"] - before["value_cny"] == pytest.approx(row["value_per_accepted_cny"])
    assert row["value_per_accepted_cny"] > 0 and row["name_en"] != product
    this_week = app_client.get(EFFECT, params={"since": after["weeks"][-1]["week_start"]}, headers=as_role("rm"))
    assert this_week.json()["funnel"]["accepted"] >= 1
    future = app_client.get(EFFECT, params={"since": "2999-01-01T00:00:00+08:00"}, headers=as_role("rm")).json()
    assert (future["funnel"]["shown"], future["by_product"], future["variants"], future["weeks"]) == (0, [], {}, [])
