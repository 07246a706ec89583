"""HTTP request and response models (frozen, no extra fields)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from features.push import MAX_CLOCK_SKEW

CustomerIdPattern = r"^C\d{8}$"
Lang = Literal["zh", "en"]
Channel = Literal["app", "web", "branch", "rm", "phone"]
MAX_BATCH = 10_000


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reason(Frozen):
    code: str = Field(examples=["intent_mortgage_views_30d"])
    text: str = Field(examples=["viewed mortgage pages 6 times in the last 30 days"])


class Offer(Frozen):
    product_id: str = Field(examples=["MORTGAGE"])
    rank: int = Field(ge=1)
    score: float = Field(description="Expected value: P(adopt) × margin × lever")
    p_adopt: float = Field(ge=0, le=1)
    name: str
    category: str
    reasons: list[Reason]


class Blocked(Frozen):
    product_id: str
    rule_id: str = Field(examples=["risk_match"])
    message: str


class OfferList(Frozen):
    decision_id: str
    customer_id: str
    personalised: bool = Field(description="False: the customer gave no marketing consent, so the "
                                           "non-personalised default is served (PIPL art. 24)")
    variant: Literal["champion", "challenger"]
    model_versions: dict[str, str]
    ruleset_version: str
    offers: list[Offer]
    blocked: list[Blocked] | None = Field(default=None, description="rm with include_blocked=true only")


class Freshness(Frozen):
    is_fresh: bool
    stale_features: list[str]
    oldest_feature_at: datetime | None


class ChurnScore(Frozen):
    decision_id: str
    customer_id: str
    model_version: str
    probability: float = Field(ge=0, le=1)
    band: str
    reasons: list[Reason]
    action: Reason


class DelinquencyScore(Frozen):
    decision_id: str
    customer_id: str
    model_version: str
    pd: float = Field(ge=0, le=1, description="Calibrated probability of 30+ DPD within 12 months")
    score: int = Field(description="Scorecard points: 600 at odds 50:1, 20 points to double the odds")
    band: str
    reason_codes: list[Reason] = Field(max_length=4)
    freshness: Freshness


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


class IntentEvent(Frozen):
    customer_id: str = Field(pattern=CustomerIdPattern)
    event_type: Literal["page_view", "search"]
    topic: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40, examples=["mortgage"])
    event_time: datetime | None = Field(default=None, description="UTC (a time without a zone is taken as "
                                                                  "UTC); defaults to when it is received")

    @field_validator("event_time")
    @classmethod
    def _utc_and_not_in_future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError(f"event_time {value.isoformat()} is in the future")
        return value


class EventBatch(Frozen):
    events: Annotated[list[IntentEvent], Field(min_length=1, max_length=1000)]


class EventAck(Frozen):
    accepted: int
    customers: int


class CustomerProfile(Frozen):
    customer_id: str
    features: dict[str, object] = Field(description="Feature name → value, from the online store")
    feature_timestamps: dict[str, datetime | None]
    freshness: Freshness


class ModelInfo(Frozen):
    name: str
    alias: str
    version: str
    run_id: str
    trained_at: datetime | None
    metrics: dict[str, float]


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
