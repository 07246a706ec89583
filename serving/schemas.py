"""HTTP request and response models (frozen, no extra fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.online.push import EVENT_TIME_WINDOW, is_in_event_window
from models.explain.lang import Lang

# Identifiers are ASCII: `\d` would also match Unicode digits (C０００００００１, Arabic-Indic digits).
CustomerIdPattern = r"^(?:C[0-9]{8}|O[0-9]{10})$"  # a canonical id, or a OneID id (identity/)
ProductIdPattern = r"^[A-Z0-9][A-Z0-9_]{1,31}$"
# in-app placements (not a contact), then the contact policy's channels (the caller sends the answer out)
Channel = Literal["app", "web", "branch", "rm", "phone", "app_push", "sms", "rm_call", "wechat"]
MAX_BATCH = 10_000
SECURITY_EVENTS = ("password_change", "device_bound", "credit_received")  # and login: the payment counters' events
DeviceIdPattern = r"^[A-Za-z0-9_.:-]{1,64}$"
CityPattern = r"^[^\x00-\x1f\x7f]+$"  # any name, in any script, without control characters
MAX_AMOUNT = 1e9  # largest payment or credit accepted (CNY)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(Frozen):
    code: str = Field(examples=["intent_mortgage_views_30d"])
    text: str = Field(examples=["viewed mortgage pages 6 times in the last 30 days"])


class AppOffer(Frozen):
    """An offer as the app shows it: what it is and why, never the terms it was ranked on."""

    product_id: str = Field(examples=["MORTGAGE"])
    rank: int = Field(ge=1, description="1 = the best offer")
    name: str
    category: str
    reasons: list[Reason]


class RmOffer(AppOffer):
    """An offer with the terms of the arbitration (rm only)."""

    score: float = Field(description="Expected value: P(adopt) × margin × lever")
    p_adopt: float = Field(ge=0, le=1)

    def for_app(self) -> AppOffer:
        """The offer as the app may see it: never the arbitration's terms (score, P(adopt)), from which
        score ÷ P(adopt) ÷ margin gives the lever, and with it the customer's churn risk."""
        return AppOffer(product_id=self.product_id, rank=self.rank, name=self.name, category=self.category,
                        reasons=self.reasons)


class Blocked(Frozen):
    product_id: str
    rule_id: str = Field(examples=["risk_match"])
    message: str


class ContactOutcome(Frozen):
    """The contact policy's verdict on an answer sent out on a contact channel."""

    allowed: bool
    channel: Literal["app_push", "sms", "rm_call", "wechat"]
    reason: str | None = Field(default=None, examples=["cap_week", "quiet_hours", "no_consent_sms",
                                                       "suppressed_dismissals", "cap_month"])
    message: str | None = None


class OfferDecision(Frozen):
    """What every offers answer carries."""

    decision_id: str
    customer_id: str
    personalised: bool = Field(description="False: the non-personalised default is served, because the "
                                           "customer gave no marketing consent (PIPL art. 24) or is in the "
                                           "control group")
    variant: Literal["champion", "challenger", "control"] = Field(
        description="control: the customer is held out on the non-personalised default (NBO_SERVICE__CONTROL_SHARE)")
    model_versions: dict[str, str]
    ruleset_version: str
    contact: ContactOutcome | None = Field(default=None, description=(
        "With channel=app_push, sms, rm_call or wechat only: the contact policy's verdict; when it refuses, "
        "offers is empty"))


class AppOfferList(OfferDecision):
    """The app's answer: offers without score or P(adopt), no blocked products."""

    offers: list[AppOffer]
    blocked: None = Field(default=None, description="Always null: blocked products are for the rm only")


class RmOfferList(OfferDecision):
    """The rm's answer: offers with score and P(adopt); blocked products on request."""

    offers: list[RmOffer]
    blocked: list[Blocked] | None = Field(default=None, description="With include_blocked=true only")

    def for_app(self) -> AppOfferList:
        """The app's answer to the same decision: its offers `for_app`, no blocked products."""
        return AppOfferList(decision_id=self.decision_id, customer_id=self.customer_id,
                            personalised=self.personalised, variant=self.variant,
                            model_versions=self.model_versions, ruleset_version=self.ruleset_version,
                            offers=[o.for_app() for o in self.offers], contact=self.contact)


class Freshness(Frozen):
    is_fresh: bool
    stale_features: list[str]
    oldest_feature_at: datetime | None


class InputFlag(Frozen):
    """A value the model did not see in development: a category it never saw (read as missing, never
    a reason) or a number beyond the development range (`bound`: the end it passes)."""

    feature: str = Field(examples=["occupation"])
    value: str | float | None = Field(examples=["astronaut"])
    why: Literal["unseen_category", "below_range", "above_range"]
    bound: float | None = None


class ChurnScore(Frozen):
    decision_id: str
    customer_id: str
    model_version: str
    probability: float = Field(ge=0, le=1)
    band: str
    reasons: list[Reason]
    action: Reason
    flags: list[InputFlag] = Field(description="Values the model did not see in development")


class DelinquencyScore(Frozen):
    decision_id: str
    customer_id: str
    model_version: str
    pd: float = Field(ge=0, le=1, description="Calibrated probability of 30+ DPD within 12 months")
    score: int = Field(description="Scorecard points: 600 at odds 50:1, 20 points to double the odds")
    band: str
    reason_codes: list[Reason] = Field(max_length=4)
    freshness: Freshness
    flags: list[InputFlag] = Field(description="Values the model did not see in development")


class DelinquencyBatchRequest(Frozen):
    customer_ids: Annotated[list[Annotated[str, Field(pattern=CustomerIdPattern)]],
                            Field(min_length=1, max_length=MAX_BATCH)]
    lang: Lang = "en"


class BatchError(Frozen):
    customer_id: str
    status: int
    detail: str


class DelinquencyBatch(Frozen):
    request_id: str
    scores: list[DelinquencyScore]
    errors: list[BatchError]


class FeedbackRequest(Frozen):
    product_id: str = Field(pattern=r"^[A-Z0-9][A-Z0-9_]{1,31}$")
    outcome: Literal["shown", "clicked", "accepted", "dismissed"]


class FeedbackAck(Frozen):
    feedback_id: str
    decision_id: str
    product_id: str
    outcome: str


class ContactRequest(Frozen):
    """A call the RM logs; checked by `serving/workbench/contacts.py` (the workbench form's checks)."""

    outcome: str = Field(examples=["declined"], description="reached, not_reached, interested or declined")
    note: str | None = Field(default=None, examples=["想了解一年期定期，下周再约"], description="At most 500 characters")
    product_id: str | None = Field(default=None, examples=["DEP_TIME_1Y"], description="The product discussed; a "
                                   "declined product is not offered again for 30 days")


class ContactAck(Frozen):
    contact_id: str
    customer_id: str
    outcome: str
    product_id: str | None
    created_at: datetime


class CustomerEvent(Frozen):
    customer_id: str = Field(pattern=CustomerIdPattern)
    event_type: Literal["page_view", "search", "login", "account_opened", *SECURITY_EVENTS] = Field(
        description="page_view and search carry a topic and go into the feature store as real-time intent; "
                    "login (with device_id and city), password_change, device_bound (with device_id) and "
                    "credit_received (with amount) update the customer's payment counters")
    topic: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$", max_length=40, examples=["mortgage"])
    device_id: str | None = Field(default=None, pattern=DeviceIdPattern, description="login, device_bound")
    city: str | None = Field(default=None, min_length=1, max_length=40, pattern=CityPattern,
                             description="login: where the customer signed in")
    amount: float | None = Field(default=None, gt=0, le=MAX_AMOUNT, allow_inf_nan=False,
                                 description="credit_received: the inbound payment's amount")
    event_time: datetime | None = Field(default=None, description="UTC (a time without a zone is taken as "
                                                                  "UTC), from 2000-01-01 to 5 minutes from now; "
                                                                  "defaults to when it is received")
    event_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
                                 description="The sender's id: a replayed event is recognised and counted once. "
                                             "Without it, an event with an event_time is identified by its fields")

    @field_validator("event_time")
    @classmethod
    def _utc_and_in_window(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if not is_in_event_window(value):
            raise ValueError(f"{EVENT_TIME_WINDOW} (got {value.isoformat()})")
        return value

    @model_validator(mode="after")
    def _topic_for_intent(self) -> CustomerEvent:
        if self.event_type in ("page_view", "search") and self.topic is None:
            raise ValueError(f"a {self.event_type} event needs a topic")
        if self.event_type == "device_bound" and self.device_id is None:
            raise ValueError("a device_bound event needs a device_id")
        if (self.event_type == "credit_received") != (self.amount is not None):
            raise ValueError("amount is for a credit_received event, which needs one")
        if self.event_type not in ("login", "device_bound") and self.device_id is not None:
            raise ValueError(f"a {self.event_type} event has no device_id")
        if self.event_type != "login" and self.city is not None:
            raise ValueError(f"a {self.event_type} event has no city")
        return self


class EventBatch(Frozen):
    events: Annotated[list[CustomerEvent], Field(min_length=1, max_length=1000)]


class TriggerAction(Frozen):
    trigger_id: str
    customer_id: str
    occasion: str
    status: Literal["sent", "suppressed", "skipped", "deferred"]
    reason: str | None = Field(description="Why it was not sent, when that says nothing about risk "
                                           "(no_marketing_consent, account_closed, customer_not_found, "
                                           "holds_<categories>); null when a suitability rule stopped it "
                                           "(rm and admin see the rule in the audit)")
    action: Literal["offer", "content", "rm_task"]
    decision_id: str | None
    offers: list[AppOffer]
    task_id: str | None


class EventAck(Frozen):
    accepted: int = Field(description="Events in the batch, all stored")
    customers: int
    new: int = Field(description="Events not seen before (the rest are replays, counted once)")
    actions: list[TriggerAction] = Field(description="Triggers the events fired, with their next-best-actions")


class SegmentTags(Frozen):
    version: str
    rfm_segment: str | None
    lifecycle_stage: str | None
    clv_cny: float | None
    intent_tags: list[str]


class CustomerProfile(Frozen):
    customer_id: str
    features: dict[str, object] = Field(description="Feature name → value, from the online store")
    feature_timestamps: dict[str, datetime | None]
    freshness: Freshness
    tags: SegmentTags = Field(description="Segment, lifecycle stage, lifetime value and intent tags "
                                          "(rules: features/segments/segments.toml)")
    open_tasks: int = Field(description="Open RM tasks the triggers gave for this customer")


class Problem(Frozen):
    """RFC 9457 problem details (every error response)."""

    model_config = ConfigDict(frozen=True, extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str


ERRORS = {
    401: {"model": Problem, "description": "No API key, or an unknown one"},
    403: {"model": Problem, "description": "The key's role may not call this endpoint"},
    404: {"model": Problem, "description": "Unknown customer or decision"},
    422: {"model": Problem, "description": "Invalid request (the detail names the field)"},
    503: {"model": Problem, "description": "A model or store is not available"},
}


class Funnel(Frozen):
    """Offers as distinct (decision, product) pairs: shown = any feedback, then clicked, accepted."""

    shown: int = Field(ge=0)
    clicked: int = Field(ge=0)
    accepted: int = Field(ge=0)
    click_rate: float | None = Field(description="clicked / shown")
    acceptance_rate: float | None = Field(description="accepted / shown")


class ProductEffect(Funnel):
    product_id: str
    name_en: str
    name_zh: str
    category: str | None = Field(description="None: the product is not in the champion's catalogue")
    value_per_accepted_cny: float = Field(description="margin_rate × the category's reference ticket")
    value_cny: float


class ChannelEffect(Funnel):
    channel: str = Field(examples=["app", "unknown"])


class SegmentEffect(Funnel):
    segment: str = Field(description="RFM segment at decision time; unknown when not recorded")


class VariantEffect(Funnel):
    acceptance_ci95: tuple[float, float] = Field(description="Wilson score interval")


class VariantComparison(Frozen):
    difference: float = Field(description="challenger − champion acceptance rate")
    difference_ci95: tuple[float, float] = Field(description="Newcombe hybrid score interval")
    z: float | None
    p_value: float | None = Field(description="two-sided two-proportion z-test (pooled)")
    test: str


class WeekEffect(Funnel):
    week: str = Field(examples=["2026-W05"], description="ISO week of the decisions (UTC)")
    week_start: str = Field(examples=["2026-01-26"])


class AcceptanceLift(Frozen):
    personalised: float = Field(description="acceptance rate of the personalised arm (champion + challenger)")
    control: float = Field(description="acceptance rate of the control group")
    lift: float = Field(description="personalised − control")
    lift_ci95: tuple[float, float] = Field(description="Newcombe hybrid score interval")
    p_value: float | None = Field(description="two-sided two-proportion z-test (pooled); None: nothing accepted")
    significant: bool = Field(description="the interval excludes 0")


class ValueLift(Frozen):
    personalised_per_offer_cny: float = Field(description="value per shown offer (0 unless accepted)")
    control_per_offer_cny: float
    lift_cny: float = Field(description="personalised − control")
    lift_ci95: tuple[float, float] | None = Field(description="Welch t interval; None: no spread or < 2 offers")
    significant: bool = Field(description="the interval excludes 0")


class ControlLift(Frozen):
    acceptance: AcceptanceLift
    value: ValueLift
    test: str


class CampaignEffect(Frozen):
    since: datetime | None
    until: datetime | None
    tickets_version: str = Field(description="Version of the reference tickets (serving/reports/campaign.toml)")
    funnel: Funnel
    value_cny: float = Field(description="Value of the accepted offers: Σ margin_rate × reference ticket")
    by_product: list[ProductEffect]
    by_channel: list[ChannelEffect]
    by_segment: list[SegmentEffect]
    variants: dict[str, VariantEffect]
    comparison: VariantComparison | None = Field(description="None unless both variants have feedback")
    weeks: list[WeekEffect]
    control_lift: ControlLift | None = Field(description="Personalised offers against the control group "
                                             "(NBO_SERVICE__CONTROL_SHARE); None unless both have feedback")


PaymentIdPattern = r"^[A-Za-z0-9_.:-]{1,64}$"


class PaymentRequest(Frozen):
    """One outbound transfer, as the payment system sends it before executing it."""

    payment_id: str = Field(pattern=PaymentIdPattern, examples=["P20261207-000123"])
    customer_id: str = Field(pattern=CustomerIdPattern)
    amount: float = Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, strict=True, examples=[25000.0])
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["CNY"])
    payee_id: str = Field(pattern=PaymentIdPattern, examples=["PAYEE-88231"])
    channel: Literal["app", "web", "branch", "phone"]
    device_id: str | None = Field(default=None, pattern=DeviceIdPattern, description="null at a branch")
    city: str = Field(min_length=1, max_length=40, pattern=CityPattern, examples=["上海"])
    time: datetime = Field(description="ISO 8601 with a UTC offset (stored in UTC), from 2000-01-01 to 5 minutes "
                                       "from now")

    @field_validator("time")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("time needs a UTC offset (e.g. 2026-12-07T02:13:00+08:00)")
        value = value.astimezone(UTC)
        if not is_in_event_window(value):
            raise ValueError(f"{EVENT_TIME_WINDOW} (got {value.isoformat()})")
        return value


class PaymentReason(Frozen):
    code: str = Field(examples=["new_device"])
    zh: str = Field(examples=["使用新设备付款"])
    en: str = Field(examples=["paid from a device not seen before"])


class PaymentDecision(Frozen):
    """allow: execute; step_up: ask the customer to confirm (e.g. a one-time code); hold: stop and alert."""

    payment_id: str
    decision: Literal["allow", "step_up", "hold"]
    score: float | None = Field(description="The fraud model's risk score (0-1); null when the rules alone decided")
    reasons: list[PaymentReason]
    decision_id: str
    model_version: str | None = Field(description="Version of nbo-fraud@champion; null when the rules alone decided")
    rules_only: bool = Field(description="True when no fraud model is served and the plain rules decided alone")
    created_at: datetime


class AlertOutcome(Frozen):
    outcome: Literal["confirmed_fraud", "released"]


class AlertDecision(Frozen):
    payment_id: str
    outcome: Literal["confirmed_fraud", "released"]
    decided_by: str
    decided_at: datetime


class PaymentAlert(Frozen):
    payment_id: str
    customer_id: str
    held_at: datetime
    payment: dict[str, object]
    decision: PaymentDecision
    recent: list[dict[str, object]] = Field(description="The customer's recent payments and account events")


class PaymentAlerts(Frozen):
    alerts: list[PaymentAlert]
