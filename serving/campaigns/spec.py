"""A campaign as its author writes it: the TOML file's shape and the API's JSON body, one pydantic model.

Checks here need nothing but the campaign itself (types, ranges, dates in order, shares adding up,
a cost for every channel); `serving/campaigns/checks.py` holds it against the bank (segments,
features, products). Channel names are the contact policy's: app_push, sms, rm_call, wechat.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sources.contract import CONTACT_CHANNELS

Channel = Literal["app_push", "sms", "rm_call", "wechat"]
CHANNELS: tuple[Channel, ...] = CONTACT_CHANNELS  # the contract's, spelt out above for the schema
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")
CampaignId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
                                  description="lower-case letters, digits, _ or -, at most 64; not `effect`")]
ClockTime = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="HH:MM, Asia/Shanghai")]
Message = Annotated[str, Field(min_length=1, max_length=500)]
SHARE_TOLERANCE = 1e-9


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Audience(_Part):
    """A segment (RFM segment, lifecycle stage or intent tag id of `features/segments/segments.toml`),
    a tag rule (conditions `feature operator value`, all of which must hold), or both."""

    segment: str | None = Field(default=None, max_length=64)
    rule: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _some(self) -> Audience:
        if self.segment is None and not self.rule:
            raise ValueError("give a segment, a rule or both")
        return self


class Offer(_Part):
    """Catalogue products to offer and/or a content key, with the default message."""

    products: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=30)
    content: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    message_zh: Message | None = None
    message_en: Message | None = None

    @model_validator(mode="after")
    def _some(self) -> Offer:
        if not self.products and self.content is None:
            raise ValueError("give products, a content key or both")
        if (self.message_zh is None) != (self.message_en is None):
            raise ValueError("a message needs both message_zh and message_en")
        return self


class Schedule(_Part):
    """From `start` to `end` (both included), on `send_days` at `send_time` (Asia/Shanghai)."""

    start: date
    end: date
    send_days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS), min_length=1)
    send_time: ClockTime = "10:00"

    @model_validator(mode="after")
    def _ordered(self) -> Schedule:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Budget(_Part):
    """The most the campaign may spend, and what one contact costs on each channel, in CNY."""

    total_cny: float = Field(ge=0, allow_inf_nan=False)
    cost_per_contact_cny: dict[Channel, Annotated[float, Field(ge=0, allow_inf_nan=False)]]


class Variant(_Part):
    """One arm of an A/B test: its share of the treated customers and what it changes (the message,
    the send time or both)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
    share: float = Field(gt=0, le=1, allow_inf_nan=False)
    message_zh: Message | None = None
    message_en: Message | None = None
    send_time: ClockTime | None = None

    @model_validator(mode="after")
    def _changes(self) -> Variant:
        if (self.message_zh is None) != (self.message_en is None):
            raise ValueError("a message needs both message_zh and message_en")
        if self.message_zh is None and self.send_time is None:
            raise ValueError("a variant changes the message (message_zh and message_en), the send_time or both")
        return self


class CampaignSpec(_Part):
    """A whole campaign definition, as in `config/campaigns/*.toml` and the body of `POST /v1/campaigns`."""

    id: CampaignId
    name_zh: str = Field(min_length=1, max_length=80)
    name_en: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=1000)
    audience: Audience
    offer: Offer
    channels: list[Channel] = Field(min_length=1, max_length=len(CHANNELS))
    schedule: Schedule
    budget: Budget
    control_share: float = Field(default=0.0, ge=0, lt=1, allow_inf_nan=False)
    variants: list[Variant] = Field(default_factory=list, max_length=10)

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "effect":
            raise ValueError("`effect` is taken by GET /v1/campaigns/effect")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"channels: {self.channels} names a channel twice")
        costs = self.budget.cost_per_contact_cny
        if missing := [c for c in self.channels if c not in costs]:
            raise ValueError(f"budget.cost_per_contact_cny: no cost for channel(s) {', '.join(missing)}")
        if extra := [c for c in costs if c not in self.channels]:
            raise ValueError(f"budget.cost_per_contact_cny: cost for channel(s) {', '.join(extra)} "
                             "the campaign does not use")
        _check_variants(self.variants)
        return self


def _check_variants(variants: list[Variant]) -> None:
    if not variants:
        return
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variants: names must be unique, got {names}")
    if len(variants) < 2:
        raise ValueError("variants: an A/B test needs at least two variants (or none)")
    total = math.fsum(v.share for v in variants)
    if abs(total - 1) > SHARE_TOLERANCE:
        raise ValueError(f"variants: shares add up to {total:g}, not 1")
