"""HTTP answers about campaigns (the request body is `CampaignSpec` itself)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.campaigns.spec import CampaignSpec

State = Literal["draft", "approved", "running", "finished"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Change(_Frozen):
    """One entry of a campaign's history."""

    action: Literal["create", "edit", "approve", "withdraw", "start", "finish"]
    from_: State | None = Field(alias="from", description="None for create")
    to: State
    version: int = Field(ge=1, description="the definition version the change applies to")
    by: str = Field(description="an rm key's RM id, else `key:` and the key's id; the CLI's `--by`")
    at: str = Field(description="ISO 8601, UTC")
    reason: str


class Campaign(_Frozen):
    """A campaign: its definition, state, who wrote and approved it, its audience size and history."""

    id: str
    state: State
    version: int = Field(ge=1)
    created_by: str
    created_at: str
    updated_at: str
    approved_by: str | None = Field(description="who approved it (None while a draft)")
    audience_size: int | None = Field(description="customers in its audience in the latest feature month "
                                                  "(None without feature tables)")
    definition: CampaignSpec
    history: list[Change]


class CampaignOne(Campaign):
    audience_as_of: str | None = Field(description="the feature month the audience was counted in")
    changed: bool | None = Field(default=None, description="POST /v1/campaigns: whether this call changed it")


class CampaignList(_Frozen):
    audience_as_of: str | None
    campaigns: list[Campaign]


class MoveRequest(_Frozen):
    """Why (recorded in the history)."""

    reason: str = Field(default="", max_length=500)
