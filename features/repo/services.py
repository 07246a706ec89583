"""Feast feature services: the versioned feature sets each consumer reads."""

from __future__ import annotations

from feast import FeatureService, FeatureView

from features.tables import (
    BALANCES,
    CREDIT,
    CUSTOMER_TABLES,
    ENGAGEMENT,
    INTENT_REALTIME,
    PRODUCT_ATTRIBUTES,
    PROFILE,
    RFM,
)
from sources.contract import CONTACT_CHANNELS
from sources.extensions import EVENTS_TABLE, EXTRAS_TABLE, METRICS_TABLE

SERVICE_VIEWS: dict[str, tuple[str, ...]] = {
    "customer_360_v1": (*(t.name for t in CUSTOMER_TABLES), INTENT_REALTIME.name),
    "ranker_v1": (*(t.name for t in CUSTOMER_TABLES), INTENT_REALTIME.name, PRODUCT_ATTRIBUTES.name),
    "churn_v1": (PROFILE.name, BALANCES.name, RFM.name, ENGAGEMENT.name),
    "delinquency_v1": (PROFILE.name, BALANCES.name, RFM.name, CREDIT.name),
}
# What only customer_360_v1 serves, by view: dates for the rules' exact-date arithmetic (age in
# completed years, the assessment's age at decision time). Point-in-time (the assessment date too:
# the build reads the customer_history version valid at each as-of instant, or the customers table's
# from its snapshot date on), but models have age_years and risk_assessment_age_days, and a raw date
# string would be a near-unique category.
# Consent per contact channel is for the contact policy only: the models keep the features they had.
NOT_MODEL_FEATURES = {PROFILE.name: ("birth_date", "risk_assessed_at", *(f"has_{c}_consent" for c in CONTACT_CHANNELS))}
_DESCRIPTIONS = {
    "customer_360_v1": "The RM workbench's 360° profile: every customer feature, real-time intent included.",
    "ranker_v1": "Recommender: customer features, real-time intent and product attributes.",
    "churn_v1": "Churn model: profile, balances, RFM and engagement.",
    "delinquency_v1": "Delinquency model: profile, balances, RFM and credit behaviour.",
}


# Services that also serve a data directory's extension views (extensions.json), when it declares them.
EXTRAS_SERVICES = ("customer_360_v1", "churn_v1", "delinquency_v1")


def feature_services(views: dict[str, FeatureView]) -> list[FeatureService]:
    """Every feature service, over the given views (the extension views, where built, in EXTRAS_SERVICES)."""
    extras = tuple(name for name in (EXTRAS_TABLE, EVENTS_TABLE, METRICS_TABLE) if name in views)
    return [FeatureService(name=name, features=[_projection(views[v], name)
                                                for v in (*names, *(extras if name in EXTRAS_SERVICES else ()))],
                           description=_DESCRIPTIONS[name])
            for name, names in SERVICE_VIEWS.items()]


def _projection(view: FeatureView, service: str) -> FeatureView:
    """The view, less what models must not use in every service but the RM's 360° profile."""
    dropped = () if service == "customer_360_v1" else NOT_MODEL_FEATURES.get(view.name, ())
    return view[[f.name for f in view.features if f.name not in dropped]] if dropped else view
