"""What campaigns achieved and what customers say: a campaign's results against its control group, and
NPS answers (taken in, summarised). The paths sit beside `serving/routers/campaigns.py`'s: the
results are `/v1/campaigns/{id}/results`, which no route there matches."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from serving.campaigns.result_views import nps_view, results_view
from serving.campaigns.results import DEFAULT_WINDOW_DAYS
from serving.nps.answers import NpsAnswer
from serving.nps.store import NpsStore
from serving.reports.campaign import utc_period
from serving.routers.campaigns import CampaignKey, Moment
from serving.schemas import ERRORS, Problem
from serving.security.auth import Role, require_role

router = APIRouter(prefix="/v1", tags=["campaign results"], responses=ERRORS)
READERS = Depends(require_role(Role.RM, Role.ADMIN))
MAX_ANSWERS = 1000


def nps_store(request: Request) -> NpsStore:
    """The service's NPS store (opened on the audit database at start)."""
    state = request.app.state
    if getattr(state, "nps_store", None) is None:
        state.nps_store = NpsStore(state.audit.engine)
    return state.nps_store


@router.get("/campaigns/{campaign_id}/results", dependencies=[READERS],
            responses={404: {"model": Problem, "description": "No campaign with this id"}})
def campaign_results(request: Request, campaign_id: CampaignKey,
                     window_days: Annotated[int, Query(ge=1, le=365)] = DEFAULT_WINDOW_DAYS) -> dict[str, Any]:
    """A campaign's results, intention to treat, from the bank's month-end holdings over `window_days`
    after each customer's assignment: the treated arm against control (conversion, value and balance
    growth per customer, incremental value, cost and ROI, each with a 95% interval), per channel (sent
    customers against the whole control: self-selected by consent, descriptive), per segment (both arms
    split: unbiased) and per A/B variant (each against the first). Customers whose window the holdings
    do not cover yet are counted in `unmatured` and left out; `days` says which assignment days are matured."""
    state = request.app.state
    return results_view(state.campaign_board, state.audit.engine, state.settings.data_dir, campaign_id, window_days)


@router.post("/nps", dependencies=[Depends(require_role(Role.APP, Role.RM, Role.ADMIN))],
             responses={409: {"model": Problem, "description": "An answer id is stored with other content"}})
def add_nps(request: Request,
            answers: Annotated[list[NpsAnswer], Body(min_length=1, max_length=MAX_ANSWERS)]) -> dict[str, int]:
    """Store NPS answers (1 to 1,000 per call), idempotently by `answer_id`: `added` new ones, `unchanged`
    ones already stored with the same content. 409, nothing stored, when an id is stored (or sent twice)
    with other content; 422 naming the field for a score outside 0-10, an unknown channel, a time in the
    future, a comment over 500 characters ..."""
    return nps_store(request).add(answers)


@router.get("/nps/summary", dependencies=[READERS])
def nps_summary(request: Request, since: Moment = None, until: Moment = None) -> dict[str, Any]:
    """NPS (% promoters 9-10 − % detractors 0-6, in points) of the answers given in [since, until), with a
    95% interval (normal approximation to the mean of the +1/0/−1 score): overall, by RFM segment (the
    campaign's when the answer names one, else the latest feature month's), by channel and by month."""
    since, until = utc_period(since, until)
    state = request.app.state
    return nps_view(nps_store(request), state.campaign_board, state.audit.engine, since, until)
