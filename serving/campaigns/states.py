"""A campaign's states and the moves between them.

draft → approved → running → finished; an approved campaign may be withdrawn to draft (to change
it: only a draft's definition can change, and a change needs a new approval). Approval takes a
person other than every author of the definition (four eyes). Any other move is a Conflict (409).
"""

from __future__ import annotations

from nbo.errors import Conflict, Forbidden

DRAFT, APPROVED, RUNNING, FINISHED = "draft", "approved", "running", "finished"
STATES = (DRAFT, APPROVED, RUNNING, FINISHED)
# action → (from, to); `create` and `edit` write a definition and land in draft
MOVES: dict[str, tuple[str, str]] = {
    "approve": (DRAFT, APPROVED),
    "withdraw": (APPROVED, DRAFT),
    "start": (APPROVED, RUNNING),
    "finish": (RUNNING, FINISHED),
}
ACTIONS = ("create", "edit", *MOVES)


class IllegalMove(Conflict):
    """The campaign is not in the state the move starts from."""


class SelfApproval(Forbidden):
    """An author of the campaign tried to approve it."""


def target_state(campaign_id: str, action: str, state: str) -> str:
    """The state `action` leads to from `state` (IllegalMove when it does not start there)."""
    start, end = MOVES[action]
    if state != start:
        raise IllegalMove(f"campaign {campaign_id!r} is {state}: {action} takes a campaign from {start} to {end}")
    return end


def check_approver(campaign_id: str, approver: str, authors: set[str]) -> None:
    """SelfApproval when the approver wrote any version of the definition."""
    if approver in authors:
        raise SelfApproval(f"campaign {campaign_id!r}: {approver!r} wrote it and may not approve it; "
                           "approval needs another person")
