"""HTTP bodies and answers of /v1/leads."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reasons(_Frozen):
    zh: list[str]
    en: list[str]


class Lead(_Frozen):
    """A lead for a relationship manager."""

    lead_id: str
    customer_id: str
    product_id: str
    category: str
    score: float = Field(ge=0, le=1, description="intent and propensity blended (see score_version)")
    score_version: str = Field(description="the blend that scored it: default-<leads.toml version> or fit-N-<outcomes>")
    rm_id: str | None = Field(description="the RM who works it; None: no RM had capacity and the skill")
    assigned_because: Literal["own_rm", "most_spare_capacity", "no_rm_with_capacity_and_skill"]
    status: Literal["open", "contacted", "won", "lost", "expired"]
    week: str = Field(description="ISO week, e.g. 2026-W49")
    reasons: Reasons
    created_at: str | None
    outcome_at: str | None
    outcome_by: str | None
    note: str | None
    source: Literal["model", "campaign"]


class LeadList(_Frozen):
    leads: list[Lead]


class OutcomeRequest(_Frozen):
    """An outcome: open → contacted → won | lost."""

    outcome: Literal["contacted", "won", "lost"]
    note: str | None = Field(default=None, max_length=500)
