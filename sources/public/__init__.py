"""Adapters that turn public datasets into canonical tables.

A one-row-per-customer table goes through `nbo data import snapshot` (`sources/snapshot.py`);
`mappings/` holds that command's mapping files for Churn_Modelling and UCI credit card, which keep
every source column (the unmapped ones as extra attributes). The adapters stay for what a snapshot
cannot say: UCI's six observed months as six canonical credit months, Churn_Modelling's products as
holdings and its active members as logins, and Zimnat's and Santander's product flags as holdings
(recommender data, with no label column).

Each adapter takes the dataset's file (or its folder) and returns a `PublicImport`; a malformed
input raises `ContractViolation` naming file, row and column. `source.json` (the meta) says how
every source column was mapped, what was filled in and what was lost.

UCI Bank Marketing (`bank_marketing/`) has no adapter, because it does not map cleanly:
- A row is one phone contact, not a customer. It has no client id, so a client called in
  several campaigns would become several customers.
- The call date has a day and a month but no year. The canonical timeline, and the as-of date
  that every label is relative to, would have to be invented.
- Its label `y` (term deposit taken after the call) and the call attributes (`contact`,
  `duration`, `campaign`, `pdays`, `previous`, `poutcome`, the five macro indicators) have no
  canonical columns. Only a few demographics and two loan flags would survive.
It is better used directly as a propensity test bed, with `duration` dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sources.public.churn_modelling import import_churn_modelling
from sources.public.result import PublicImport
from sources.public.santander import import_santander
from sources.public.uci_credit_card import import_uci_credit_card
from sources.public.zimnat import import_zimnat

__all__ = ["ADAPTERS", "PublicImport"]

ADAPTERS: dict[str, Callable[[Path], PublicImport]] = {
    "churn-modelling": import_churn_modelling,
    "uci-credit-card": import_uci_credit_card,
    "zimnat": import_zimnat,
    "santander": import_santander,
}
