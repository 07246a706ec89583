"""Control group and measured lift, on a simulated campaign through the real service.

The app runs with NBO_SERVICE__CONTROL_SHARE=0.3 and an audit database of its own. It serves offers
to 400 open customers with marketing consent; each offer is shown, and accepted with a chance
built from the synthetic bank's hidden truth (`truth/traits.parquet` of the generated bank):

    p = min(1, ACCEPT_SCALE × the customer's monthly intent onset for the product)

(`sources.synthetic.behaviour.intent_onset`, the probability the generator draws needs from, at the
customer's age today), times PLANTED_FACTOR for personalised decisions (capped at 1). The planted lift is the
expected difference the report estimates: the mean of p over the personalised arm's shown offers
less its mean over the control group's (in value: the mean of p × the offer's value). With no
planted lift every offer is accepted with the same chance (the mean p), so the arms differ only by
chance and the `significant` flag must stay off.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.audit.store import decisions, feedback, sqlite_url
from serving.reports.campaign import campaign_effect, load_tickets
from sources.io import read_table
from sources.synthetic.behaviour import age_years, intent_onset
from tests.conftest import settings_from
from tests.http.conftest import consenting_active
from tests.http.test_wording_zh_pages import problems, visible_texts

CUSTOMERS = 400
K = 3
ACCEPT_SCALE = 20.0  # a monthly onset of 0.46% (the default offers' mean) → a 9% chance of accepting
PLANTED_FACTOR = 2.0  # personalised offers are accepted twice as often as their propensity says
SEEDS = range(1, 21)  # beside seed 0 (through HTTP), for the coverage and false-alarm rates


@dataclass(frozen=True)
class Offer:
    decision_id: str
    customer_id: str
    variant: str
    personalised: bool
    product_id: str


@pytest.fixture(scope="module")
def client(trained, tmp_path_factory) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("control")
    env = trained.env | {"NBO_SERVICE__CONTROL_SHARE": "0.3", "NBO_SERVICE__AUDIT_URL": sqlite_url(tmp / "audit.db")}
    with TestClient(create_app(settings_from(env)), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def customers(bank_dir) -> list[str]:
    return consenting_active(bank_dir, CUSTOMERS)


@pytest.fixture(scope="module")
def propensity(generated_bank, oneid_dir) -> pd.DataFrame:
    """The true monthly intent onset, OneID customer (index) × product, from the generator's truth."""
    links = pd.read_parquet(oneid_dir / "links.parquet", columns=["system", "record_id", "customer_id"])
    truth = pd.read_parquet(generated_bank / "truth" / "source_records.parquet")
    person = links.merge(truth, on=["system", "record_id"], suffixes=("", "_true"))
    person = person.groupby("customer_id")["customer_id_true"].agg(lambda s: s.mode().iloc[0])
    traits = pd.read_parquet(generated_bank / "truth" / "traits.parquet")
    born = read_table(generated_bank, "customers").set_index("customer_id")["birth_date"]
    products = list(read_table(generated_bank, "products")["product_id"])
    today = pd.Timestamp(datetime.now(UTC).date())
    onset = intent_onset(traits, age_years(born.loc[traits["customer_id"]], today), products)
    by_true_id = pd.DataFrame(onset, index=traits["customer_id"], columns=products)
    return by_true_id.loc[person.to_numpy()].set_axis(person.index)


@pytest.fixture(scope="module")
def offers(client, trained, customers) -> list[Offer]:
    """One offers request per customer, as the app asks for them."""
    app = {"X-API-Key": trained.keys["app"]}
    out = []
    for customer in customers:
        response = client.get(f"/v1/customers/{customer}/offers", params={"k": K, "channel": "app"}, headers=app)
        assert response.status_code == 200, response.text
        body = response.json()
        out += [Offer(body["decision_id"], customer, body["variant"], body["personalised"], o["product_id"])
                for o in body["offers"]]
    return out


@pytest.fixture(scope="module")
def worth(client) -> dict[str, float]:
    """Each product's value when accepted, as the report values it (margin rate × reference ticket)."""
    records = client.app.state.runtime.recommender("champion").scorer.catalogue.records
    tickets = load_tickets().by_category_cny
    return {p: float(a["margin_rate"]) * tickets[str(a["category"])] for p, a in records.items()}


def chances(offers: list[Offer], propensity: pd.DataFrame, factor: float | None) -> np.ndarray:
    """Each offer's chance of acceptance: the truth × `factor` when personalised; None: no lift at all."""
    base = np.minimum(1.0, ACCEPT_SCALE * np.array([propensity.at[o.customer_id, o.product_id] for o in offers]))
    if factor is None:
        return np.full(len(offers), base.mean())
    return np.minimum(1.0, base * np.array([factor if o.personalised else 1.0 for o in offers]))


def planted(offers: list[Offer], p: np.ndarray, worth: dict[str, float]) -> tuple[float, float]:
    """The expected lift in acceptance rate and in value per shown offer, personalised − control."""
    control = np.array([o.variant == "control" for o in offers])
    value = p * np.array([worth[o.product_id] for o in offers])
    return p[~control].mean() - p[control].mean(), value[~control].mean() - value[control].mean()


def covers(interval: list[float] | None, value: float) -> bool:
    return interval is not None and interval[0] <= value <= interval[1]


def test_control_customers_get_the_default_and_are_audited_as_control(client, trained, offers) -> None:
    audit = client.app.state.audit
    variants = {o.customer_id: o.variant for o in offers}
    held_out = sorted(c for c, v in variants.items() if v == "control")
    assert 0.2 < len(held_out) / len(variants) < 0.4, len(held_out)  # 0.3 of the customers, by hash
    assert {o.variant for o in offers} == {"champion", "control"}
    assert all(o.personalised == (o.variant != "control") for o in offers)  # all of them gave consent
    defaults = set(client.app.state.offer_policy.levers.default_products)
    assert {o.product_id for o in offers if o.variant == "control"} <= defaults
    assert {o.product_id for o in offers if o.variant != "control"} - defaults  # personalised reach further
    with audit.engine.connect() as conn:
        audited = dict(conn.execute(sa.select(decisions.c.customer_id, decisions.c.variant)
                                    .where(decisions.c.kind == "offers")).all())
    assert {c: audited[c] for c in variants} == variants
    # risk answers are no treatment: a control customer's churn score is the champion's, audited so
    rm = {"X-API-Key": trained.keys["rm"]}
    churn = client.get(f"/v1/customers/{held_out[0]}/churn", headers=rm)
    assert churn.status_code == 200, churn.text
    with audit.engine.connect() as conn:
        variant = conn.execute(sa.select(decisions.c.variant)
                               .where(decisions.c.decision_id == churn.json()["decision_id"])).scalar_one()
    assert variant == "champion"


def test_the_measured_lift_covers_the_planted_lift(client, trained, offers, propensity, worth,
                                                   record_property) -> None:
    """Seed 0 through HTTP: every offer shown, accepted by its planted chance; the report's intervals
    (GET /v1/campaigns/effect) cover the planted lift in acceptance and in value."""
    app, rm = {"X-API-Key": trained.keys["app"]}, {"X-API-Key": trained.keys["rm"]}
    p = chances(offers, propensity, PLANTED_FACTOR)
    accepted = np.random.default_rng(0).random(len(offers)) < p
    for offer, taken in zip(offers, accepted, strict=True):
        for outcome in ("shown", "accepted") if taken else ("shown",):
            response = client.post(f"/v1/offers/{offer.decision_id}/feedback",
                                   json={"product_id": offer.product_id, "outcome": outcome}, headers=app)
            assert response.status_code == 201, response.text
    lift = client.get("/v1/campaigns/effect", headers=rm).json()["control_lift"]
    control = np.array([o.variant == "control" for o in offers])
    assert lift["acceptance"]["personalised"] == pytest.approx(accepted[~control].mean())
    assert lift["acceptance"]["control"] == pytest.approx(accepted[control].mean())
    acceptance_lift, value_lift = planted(offers, p, worth)
    record_property("lift", f"planted {acceptance_lift:.4f} (value {value_lift:.2f} CNY); measured {lift}")
    assert acceptance_lift > 0.02  # a lift worth measuring
    assert covers(lift["acceptance"]["lift_ci95"], acceptance_lift), (acceptance_lift, lift["acceptance"])
    assert covers(lift["value"]["lift_ci95"], value_lift), (value_lift, lift["value"])


def test_the_pages_show_the_lift_and_name_the_control_group(client, trained, offers) -> None:
    """The campaigns page's lift card (after the feedback above) and a control customer's page, in
    both languages; the zh pages pass the zh wording checks."""
    login = client.post("/workbench/login", data={"key": trained.keys["rm"], "lang": "en"}, follow_redirects=False)
    assert login.status_code == 303, login.text
    held_out = next(o.customer_id for o in offers if o.variant == "control")
    for lang in ("en", "zh"):
        campaigns = client.get("/workbench/campaigns", params={"lang": lang})
        assert campaigns.status_code == 200, campaigns.text
        assert 'id="control-lift"' in campaigns.text and 'data-lift="acceptance"' in campaigns.text
        assert 'data-lift="value"' in campaigns.text and 'id="no-control"' not in campaigns.text
        customer = client.get(f"/workbench/customers/{held_out}", params={"lang": lang})
        assert customer.status_code == 200, customer.text
        assert 'id="offers-control"' in customer.text
        if lang == "zh":
            assert not problems(visible_texts(campaigns.text) + visible_texts(customer.text))
    client.cookies.clear()


def _simulate(client, offers: list[Offer], p: np.ndarray, seed: int) -> dict:
    """The report after replacing the audit's feedback with one seeded draw (shown, accepted by p)."""
    audit = client.app.state.audit
    accepted = np.random.default_rng(seed).random(len(offers)) < p
    now = datetime.now(UTC)
    rows = [{"feedback_id": uuid.uuid4().hex, "decision_id": o.decision_id, "product_id": o.product_id,
             "outcome": outcome, "created_at": now}
            for o, taken in zip(offers, accepted, strict=True) for outcome in ("shown", "accepted")[:1 + taken]]
    with audit.engine.begin() as conn:
        conn.execute(feedback.delete())
        conn.execute(feedback.insert(), rows)
    catalogue = client.app.state.runtime.recommender("champion").scorer.catalogue.records
    return campaign_effect(audit, catalogue)["control_lift"]


def test_coverage_and_false_alarms_over_seeds(client, offers, propensity, worth, record_property) -> None:
    """20 more draws of the same campaign: the planted lift is covered about 95% of the time, and
    with no planted lift the acceptance flag is seldom on (both printed)."""
    lifted, flat = chances(offers, propensity, PLANTED_FACTOR), chances(offers, propensity, None)
    acceptance_lift, value_lift = planted(offers, lifted, worth)
    assert planted(offers, flat, worth)[0] == pytest.approx(0.0, abs=1e-12)
    try:
        with_lift = [_simulate(client, offers, lifted, seed) for seed in SEEDS]
        without = [_simulate(client, offers, flat, seed) for seed in SEEDS]
    finally:
        with client.app.state.audit.engine.begin() as conn:
            conn.execute(feedback.delete())
    covered = sum(covers(r["acceptance"]["lift_ci95"], acceptance_lift) for r in with_lift)
    value_covered = sum(covers(r["value"]["lift_ci95"], value_lift) for r in with_lift)
    found = sum(r["acceptance"]["significant"] for r in with_lift)
    alarms = sum(r["acceptance"]["significant"] for r in without)
    record_property("seeds", f"{len(SEEDS)} seeds: acceptance lift covered {covered}, value lift covered {value_covered}, found {found}, "
                    f"false alarms with no lift {alarms}")
    assert covered >= len(SEEDS) - 3 and value_covered >= len(SEEDS) - 3  # P(> 3 misses | 95%) ≈ 1.6%
    assert alarms <= 3
    assert found >= len(SEEDS) // 2  # the planted lift is large enough to be found most of the time
    assert not without[0]["acceptance"]["significant"]
