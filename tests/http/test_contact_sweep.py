"""The issue's must-show, for the triggers: a simulated week of `nbo triggers run` over every customer of
the session bank after a campaign called every customer, then every contact any path recorded in the session (this week, the HTTP tests'
offers and events) re-checked against the policy's settings by plain counting here: no channel
consent, quiet hour, weekly or monthly cap is broken, and every trigger action sent is one contact."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pandas as pd
import sqlalchemy as sa
from fastapi.testclient import TestClient

from features.build.monthly import offline_dir
from features.segments.report import read_monthly_features
from serving.decisions.contact_policy import ContactPolicy, consent_of, scheduled_moment
from serving.decisions.offers import OfferService
from serving.triggers.engine import TriggerEngine
from serving.triggers.store import fires
from tests.conftest import Trained, service_today, settings_from
from tests.contact_rules import assert_contacts_keep_policy, recorded_contacts


def test_a_simulated_week_over_every_customer_breaks_no_contact_rule(app_client: TestClient, trained: Trained) -> None:
    state = app_client.app.state
    engine = TriggerEngine(state.trigger_rules, state.trigger_store,
                           OfferService(state.runtime, state.audit, state.offer_policy))
    rules = state.trigger_rules
    columns = {"birth_date", "is_closed"} | {c.feature for t in rules.scheduled() for c in t.when.all}
    start = service_today() + timedelta(days=40)  # a week of its own, after the other tests' contacts
    customers = read_monthly_features(offline_dir(settings_from(trained.env)), columns, 1, pd.Timestamp(start, tz="UTC"))
    assert customers["customer_id"].is_unique and len(customers) > 1000  # everyone with a relationship that month
    policy = state.offer_policy.contact
    contact = ContactPolicy(policy, state.audit)
    # a campaign's RM calls to every customer on the first day, before the triggers run: their
    # rm_call triggers of that week (retention calls) meet the weekly cap
    first_call = scheduled_moment(policy, start) - timedelta(minutes=1)
    open_ids = customers.loc[~customers["is_closed"].fillna(False).astype(bool), "customer_id"]
    called = {c for c in open_ids
              if contact.contact(c, "rm_call", first_call, consent_of(state.runtime.reader.read_customer(c).values),
                                 source="campaign", ref=f"sweep-{c}").allowed}
    assert len(open_ids) / 3 < len(called) < len(open_ids)  # the others do not consent to RM calls
    fired = [f for day in range(7) for f in engine.run(start + timedelta(days=day), customers, "test-sweep")]
    sent = [f for f in fired if f.status == "sent"]
    assert sent and len(sent) < len(fired)
    capped = [f for f in fired if f.reason == "cap_week"]
    assert capped and {f.customer_id for f in capped} <= called

    contacts = recorded_contacts(contact.ledger, policy)
    assert_contacts_keep_policy(contacts, policy, state.runtime.reader)

    with state.audit.engine.connect() as conn:
        sent_ids = set(conn.execute(sa.select(fires.c.fire_id).where(fires.c.status == "sent")).scalars())
    every = pd.DataFrame(contact.ledger.all_contacts())  # under any policy version: a sent fire is one contact
    by_fire = Counter(every.loc[every["source"] == "trigger", "ref"])
    with state.audit.engine.connect() as conn:
        rows = {r.fire_id: r for r in conn.execute(fires.select().where(fires.c.status == "sent"))}
    wrong = [(f, by_fire[f], rows[f].trigger_id, rows[f].occasion_time, rows[f].fired_at) for f in sent_ids
             if by_fire[f] != 1]
    assert sent_ids and wrong == [], wrong[:5]
