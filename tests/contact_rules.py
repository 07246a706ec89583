"""The contact policy re-checked by plain counting: every recorded contact against the policy's settings
(no quiet hour, weekly or monthly cap per channel broken; consent to every channel used). Shared by
the contact sweep and the simulated campaign quarter."""

from __future__ import annotations

import pandas as pd

from features.online.reader import OnlineReader
from serving.audit.contact_ledger import ContactLedger
from serving.decisions.contact_policy import ContactSettings, consent_of


def recorded_contacts(ledger: ContactLedger, policy: ContactSettings) -> pd.DataFrame:
    """Every contact the ledger holds under this policy version, with local time, ISO week and month."""
    contacts = pd.DataFrame(ledger.all_contacts())
    contacts = contacts[contacts["policy_version"] == policy.version]  # not the tests' variants of it
    local = pd.to_datetime(contacts["contacted_at"], utc=True).dt.tz_convert(policy.timezone)
    return contacts.assign(local=local, week=local.dt.to_period("W-SUN").astype(str),
                           month=local.dt.to_period("M").astype(str))


def assert_contacts_keep_policy(contacts: pd.DataFrame, policy: ContactSettings, reader: OnlineReader) -> None:
    """Fail naming the rows when any contact fell in quiet hours, broke a cap or lacked consent."""
    for channel, rows in contacts.groupby("channel"):
        rule = policy.channels[channel]
        clock = rows["local"].dt.strftime("%H:%M")
        start_at, end_at = f"{rule.quiet_start:%H:%M}", f"{rule.quiet_end:%H:%M}"
        quiet = (clock >= start_at) | (clock < end_at) if start_at > end_at else (clock >= start_at) & (clock < end_at)
        assert not quiet.any(), rows[quiet]
        per_week = rows.groupby(["customer_id", "week"]).size()
        assert per_week.max() <= rule.per_week, per_week[per_week > rule.per_week]
        per_month = rows.groupby(["customer_id", "month"]).size()
        assert per_month.max() <= rule.per_month, per_month[per_month > rule.per_month]
    for customer_id, channel in set(zip(contacts["customer_id"], contacts["channel"], strict=True)):
        assert consent_of(reader.read_customer(customer_id).values)[channel], (customer_id, channel)
