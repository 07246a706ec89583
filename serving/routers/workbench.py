"""The RM workbench: server-rendered pages behind the rm role, in zh-CN and English; the risk role
signs in too and sees the model monitoring page and the payment alert queue only.

A browser signs in once with an rm or risk API key and then carries a signed session cookie
(`serving/workbench/session.py`). Every route but the login form and the static files
redirects to the login form without a valid session; a risk session gets 403 on the rm's pages
(customers, search, campaigns: customer data and offers are the RM's business) and its home
redirects to the monitoring page. No script runs on the page: forms, links
and `<img>` charts only, under the service's `default-src 'self'` CSP.
"""

from __future__ import annotations

import logging
import math
import pathlib
import re
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError

from models.registry import CHURN, DELINQUENCY
from nbo.errors import ContractViolation, Forbidden, NboError
from serving.audit.store import CONTACT_OUTCOMES
from serving.campaigns.result_views import nps_view, roi_table
from serving.deps import RequestIdDep, payment_service_of, runtime_of
from serving.payments.ledger import OUTCOMES
from serving.reports.campaign import campaign_effect, page_period, trend_chart
from serving.routers.campaign_results import nps_store
from serving.routers.params import CustomerId
from serving.schemas import FeedbackRequest, PaymentIdPattern, ProductIdPattern
from serving.security.keys import ID_LEN
from serving.security.ratelimit import SignInLimiter
from serving.workbench.charts import decode, encode, render
from serving.workbench.contacts import log_contact
from serving.workbench.data import WorkbenchDataCache
from serving.workbench.home import home_alerts
from serving.workbench.i18n import HTML_LANG, labels
from serving.workbench.monitoring import model_label, monitoring_view
from serving.workbench.monitoring_reports import ReportCache, compute_reports
from serving.workbench.page import PageContext, build_customer_page
from serving.workbench.session import COOKIE, LIFETIME_S, Session, issue, load_secret, verify

log = logging.getLogger(__name__)
WEB = pathlib.Path(__file__).resolve().parents[1] / "workbench" / "web"
STATIC = {"workbench.css": "text/css"}
MAX_FORM_BYTES = 8192  # a 500-character note in Chinese is 4,500 bytes urlencoded (emoji: 6,000)
TASKS_LISTED = 20  # open RM tasks on the search page, soonest due first
RM, RISK = "rm", "risk"
WORKBENCH_ROLES = (RM, RISK)
MONITORING = "/workbench/monitoring"
Lang = Annotated[Literal["zh", "en"], Query(description="zh (简体中文) or en")]


def _warm(cache: WorkbenchDataCache) -> None:
    try:
        cache.get()
    except Exception as err:  # noqa: BLE001 - the first page load reports it instead
        log.warning("workbench_data_unavailable", extra={"error_type": type(err).__name__, "error": str(err)})


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Session secret, sign-in limit and workbench data (read in the background) for this process."""
    settings = app.state.settings
    app.state.workbench_secret = load_secret(settings.state_dir)
    app.state.sign_in_failures = SignInLimiter()
    app.state.workbench_templates = _templates()
    app.state.workbench_data = WorkbenchDataCache(settings)
    app.state.monitoring_reports = ReportCache()
    threading.Thread(target=_warm, args=(app.state.workbench_data,), name="nbo-workbench-data", daemon=True).start()
    yield


def _templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(WEB / "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined)
    env.filters["pct"] = lambda v, digits=1: "–" if v is None else f"{100 * float(v):.{digits}f}%"
    return Jinja2Templates(env=env)


def session_of(request: Request) -> Session | None:
    """The request's valid rm or risk session, if it carries one."""
    state = request.app.state
    cookie, hashes = request.cookies.get(COOKIE), state.keys.hashes()
    return next((s for role in WORKBENCH_ROLES if (s := verify(state.workbench_secret, cookie, hashes, role))), None)


def session_rm(request: Request) -> str | None:
    """The relationship manager of the request's rm session (its key's `rm_id`), if it has one."""
    session = session_of(request)
    return request.app.state.keys.rm_of(session.key_prefix) if session and session.role == RM else None


def session_role(request: Request) -> str | None:
    """The role of the request's session (rm or risk), if it has one."""
    session = session_of(request)
    return session.role if session else None


def _login_url(lang: str = "en") -> str:
    return f"/workbench/login?{urlencode({'lang': lang})}"


class SessionRoute(APIRoute):
    """A route that answers only within an rm session; without a session, a redirect to the login form;
    within a risk session, 403 (its home page: a redirect to the monitoring page)."""

    roles: tuple[str, ...] = (RM,)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            lang = request.query_params.get("lang", "en")
            lang = lang if lang in HTML_LANG else "en"
            role = session_role(request)
            if role is None:
                return RedirectResponse(_login_url(lang), status_code=303)
            if role not in self.roles:
                if request.method == "GET" and request.url.path == "/workbench":
                    return RedirectResponse(f"{MONITORING}?{urlencode({'lang': lang})}", status_code=303)
                detail = labels(lang)["payments" if self.roles == (RISK,) else "ui"][
                    "risk_only" if self.roles == (RISK,) else "risk_only_monitoring"]
                return _page(request, "error.html", lang, 403, status=403, detail=detail)
            return await handler(request)

        return guarded


class RiskRoute(SessionRoute):
    """A route for the risk team only (the payment alert queue)."""

    roles = (RISK,)


class StaffRoute(SessionRoute):
    """A route for every workbench role (rm and risk)."""

    roles = WORKBENCH_ROLES


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (SameSite=Strict already keeps our cookie off it).

    The service's `Referrer-Policy: no-referrer` makes browsers send `Origin: null` on forms, so
    `Sec-Fetch-Site` decides where it is sent; a real Origin must be ours."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site not in (None, "same-origin", "none") or (
            origin not in (None, "null") and origin != f"{request.url.scheme}://{request.url.netloc}"):
        raise Forbidden("form posted from another site")


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of an urlencoded form (the first value of each)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise ContractViolation("form too large")
    try:
        fields = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError as err:
        raise ContractViolation("too many form fields") from err
    return {k: v[0] for k, v in fields.items()}


Form = Annotated[dict[str, str], Depends(form_fields)]
public = APIRouter()
protected = APIRouter(route_class=SessionRoute)
staff = APIRouter(route_class=StaffRoute)
risk_only = APIRouter(route_class=RiskRoute)


def _switch_url(request: Request, lang: str) -> str:
    """This page in the other language."""
    query = {k: v for k, v in request.query_params.items() if k not in ("lang", "recorded")}
    return f"{request.url.path}?{urlencode(query | {'lang': 'zh' if lang == 'en' else 'en'})}"


def _currency(request: Request) -> str:
    """The served portfolio's currency: the champion models' (CNY before any is loaded)."""
    runtime = request.app.state.runtime
    served = [runtime.risk_model(name, "champion") for name in (CHURN, DELINQUENCY)
              if runtime is not None and runtime.serves(name)]
    return served[0].scorer.spec.currency if served else "CNY"


def _page(request: Request, name: str, lang: str, status: int = 200, /, **context: object) -> Response:
    base = {"t": labels(lang, _currency(request)), "lang": lang, "html_lang": HTML_LANG[lang],
            "switch_url": _switch_url(request, lang), "role": session_role(request)}
    return request.app.state.workbench_templates.TemplateResponse(request, name, base | context, status_code=status)


@public.get("/login")
def login_form(request: Request, lang: Lang = "en") -> Response:
    """The sign-in form."""
    return _page(request, "login.html", lang, error=None)


@public.post("/login", dependencies=[Depends(same_origin)])
def login(request: Request, form: Form) -> Response:
    """Check the pasted key: an rm or risk key gets a session cookie (risk: on the monitoring page),
    anything else the form again (401/403).

    After SIGN_IN_FAILURES failures within a minute, the client's address gets 429 and
    `Retry-After` for every sign-in until the oldest failure is a minute old."""
    lang = form.get("lang") if form.get("lang") in HTML_LANG else "en"
    failures, address = request.app.state.sign_in_failures, request.client.host if request.client else ""
    if wait_s := failures.wait_s(address):
        response = _page(request, "login.html", lang, 429, error="login_too_many")
        response.headers["Retry-After"] = str(math.ceil(wait_s))
        return response
    key = form.get("key", "").strip()
    role = request.app.state.keys.role_for(key) if key else None
    if role not in WORKBENCH_ROLES:
        failures.fail(address)
        log.warning("workbench_sign_in_failed", extra={"role": role})
        status, error = (401, "login_unknown_key") if role is None else (403, "login_wrong_role")
        return _page(request, "login.html", lang, status, error=error)
    home = "/workbench" if role == RM else MONITORING
    response = RedirectResponse(f"{home}?{urlencode({'lang': lang})}", status_code=303)
    response.set_cookie(COOKIE, issue(request.app.state.workbench_secret, role, key), max_age=LIFETIME_S,
                        path="/workbench", httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@public.post("/logout", dependencies=[Depends(same_origin)])
def logout(lang: Lang = "en") -> Response:
    """End the session."""
    response = RedirectResponse(_login_url(lang), status_code=303)
    response.delete_cookie(COOKIE, path="/workbench", httponly=True, samesite="strict")
    return response


@public.get("/static/{name}")
def static(name: str) -> Response:
    """The page's stylesheet (only the files listed in STATIC)."""
    if name not in STATIC:
        return Response(status_code=404)
    return FileResponse(WEB / "static" / name, media_type=STATIC[name], headers={"Cache-Control": "max-age=300"})


@protected.get("")
def search(request: Request, lang: Lang = "en", q: Annotated[str, Query(max_length=40)] = "") -> Response:
    """Customer search by id, name or phone fragment."""
    state = request.app.state
    tasks = state.trigger_store.open_tasks(limit=TASKS_LISTED)
    alerts = [] if q.strip() else home_alerts(state.trigger_store, state.trigger_rules, state.audit, lang,
                                              TASKS_LISTED)  # the home page's; a search shows its results
    listed = {r["customer_id"] for r in [*tasks, *alerts]}
    try:
        data = state.workbench_data.get() if q.strip() or listed else None
    except NboError as err:
        return _page(request, "error.html", lang, err.status, status=err.status, detail=str(err), q=q)
    names = {cid: data.identity(cid).get("name") for cid in listed} if data else {}
    return _page(request, "search.html", lang, q=q, matches=data.search(q) if data and q.strip() else None,
                 tasks=tasks, alerts=alerts, names=names)


@protected.get("/customers/{customer_id}")
def customer(request: Request, customer_id: CustomerId, request_id: RequestIdDep, lang: Lang = "en",
             recorded: Annotated[str | None, Query(max_length=80)] = None,
             logged: Annotated[str | None, Query(max_length=20)] = None) -> Response:
    """One customer's page: alerts, next best action, offers and blocked products, churn and credit
    risk, the profile, contact history and the call log form."""
    state = request.app.state
    try:
        ctx = PageContext(runtime_of(request), state.audit, state.offer_policy, state.risk_policy,
                          state.workbench_data.get(), state.trigger_store)
        page = build_customer_page(ctx, customer_id, lang, request_id)
    except NboError as err:
        return _page(request, "error.html", lang, err.status, status=err.status, detail=str(err))
    return _page(request, "customer.html", lang, c=page, recorded=recorded_notice(recorded),
                 logged=logged if logged in CONTACT_OUTCOMES else None, rm_id=session_rm(request))


def recorded_notice(recorded: str | None) -> tuple[str, str] | None:
    """The (product, outcome) of `?recorded=PRODUCT:OUTCOME` that the feedback form redirects with;
    anything else is no notice (the parameter only echoes a form post, so a bad one is ignored)."""
    product, _, outcome = (recorded or "").partition(":")
    if re.fullmatch(ProductIdPattern, product) and outcome in ("accepted", "dismissed"):
        return product, outcome
    return None


@protected.post("/customers/{customer_id}/feedback", dependencies=[Depends(same_origin)])
def feedback(request: Request, customer_id: CustomerId, form: Form) -> Response:
    """Record the customer's answer to an offer on the audited decision that showed it."""
    try:
        body = FeedbackRequest(product_id=form.get("product_id", ""), outcome=form.get("outcome", ""))
    except ValidationError as err:
        raise ContractViolation(f"invalid feedback: {err.error_count()} field(s)") from err
    if body.outcome not in ("accepted", "dismissed"):
        raise ContractViolation("the workbench records accepted or dismissed")
    audit = request.app.state.audit
    decision = audit.get_decision(form.get("decision_id", ""))
    if decision.kind != "offers" or decision.customer_id != customer_id:
        raise ContractViolation(f"decision {decision.decision_id} is not an offer to {customer_id}")
    audit.record_feedback(decision.decision_id, body.product_id, body.outcome)
    lang = form.get("lang") if form.get("lang") in HTML_LANG else "en"
    query = urlencode({"lang": lang, "recorded": f"{body.product_id}:{body.outcome}"})
    return RedirectResponse(f"/workbench/customers/{customer_id}?{query}", status_code=303)


@protected.post("/customers/{customer_id}/contacts", dependencies=[Depends(same_origin)])
def log_call(request: Request, customer_id: CustomerId, form: Form) -> Response:
    """Log a call with the customer and its outcome in the audit (a declined product is not
    offered again for `decline_days`: the suitability rule `declined`)."""
    session = session_of(request)
    log_contact(runtime_of(request), request.app.state.audit, customer_id, form.get("outcome", ""), form.get("note"),
                form.get("product_id"), session.key_prefix if session else RM)
    lang = form.get("lang") if form.get("lang") in HTML_LANG else "en"
    query = urlencode({"lang": lang, "logged": form["outcome"]})
    return RedirectResponse(f"/workbench/customers/{customer_id}?{query}#history", status_code=303)


@protected.get("/campaigns")
def campaigns(request: Request, lang: Lang = "en", start: Annotated[str, Query(alias="from", max_length=10)] = "",
              end: Annotated[str, Query(alias="to", max_length=10)] = "") -> Response:
    """Campaign effect from the audit: the offer funnel by product, channel and segment, champion vs
    challenger, the value of accepted offers and the weekly trend (`from`/`to`: days, both included)."""
    try:
        catalogue = runtime_of(request).recommender("champion").scorer.catalogue.records
        effect = campaign_effect(request.app.state.audit, catalogue, *page_period(start, end))
    except NboError as err:
        return _page(request, "error.html", lang, err.status, status=err.status, detail=str(err))
    words = labels(lang)["campaign"]
    trend = encode(trend_chart(effect, words["trend_chart"], words)) if effect["weeks"] else ""
    nps, roi = _nps_and_roi(request, effect["since"], effect["until"])
    return _page(request, "campaigns.html", lang, e=effect, trend=trend, start=start, end=end, nps=nps, roi=roi,
                 segment_names=request.app.state.offer_policy.segments.names(lang))


def _nps_and_roi(request: Request, since: Any, until: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The campaigns page's NPS (answers in the period; None when it cannot be read) and its ROI table (one
    row per campaign with sends; empty when it cannot be read): the funnel still shows either way."""
    state = request.app.state
    nps: dict[str, Any] | None = None
    roi: list[dict[str, Any]] = []
    try:
        nps = nps_view(nps_store(request), state.campaign_board, state.audit.engine, since, until)
    except NboError as err:
        log.warning("nps_unavailable", extra={"error_type": type(err).__name__, "error": str(err)})
    try:
        roi = roi_table(state.campaign_board, state.audit.engine, state.settings.data_dir)
    except NboError as err:
        log.warning("campaign_roi_unavailable", extra={"error_type": type(err).__name__, "error": str(err)})
    return nps, roi


@protected.get("/campaigns/list")
def campaign_list(request: Request, lang: Lang = "en") -> Response:
    """Every campaign (`nbo campaigns list`): audience and its size, channels, dates, budget, state,
    author, approver and history."""
    return _page(request, "campaign_list.html", lang, b=request.app.state.campaign_board.overview(),
                 segment_names=request.app.state.offer_policy.segments.names(lang))


@staff.get("/monitoring")
def monitoring(request: Request, lang: Lang = "en") -> Response:
    """Model monitoring for the risk team and model owners (rm and risk roles): score PSI by month, the
    most shifted inputs, realised AUC by score month, the alias history and the lift over control;
    the rm role sees aggregates (see `serving/workbench/monitoring.py` for who sees what)."""
    state = request.app.state
    try:
        reports, computed_at = state.monitoring_reports.get(lambda: compute_reports(
            state.settings, state.audit, runtime_of(request).recommender("champion").scorer.catalogue.records))
    except NboError as err:
        return _page(request, "error.html", lang, err.status, status=err.status, detail=str(err))
    words = labels(lang)
    view = monitoring_view(reports, session_role(request) or RM, words)
    charts = {name: encode(section["chart"]) for name, section in view.items() if section["chart"] is not None}
    names = {e["model"] for e in reports["drift"]["models"]} | {o["model"] for o in reports["outcomes"]["models"]}
    names |= {h["model"] for h in reports["history"]}
    return _page(request, "monitoring.html", lang, m=view, charts=charts, computed_at=computed_at,
                 labels_of={n: model_label(n, words) for n in names})


@risk_only.get("/payments/alerts")
def payment_alerts(request: Request, lang: Lang = "en",
                   decided: Annotated[str | None, Query(max_length=100)] = None) -> Response:
    """The alert queue: held payments with their reasons and the customer's recent activity, and the
    risk team's two buttons (confirmed fraud, release)."""
    queue = payment_service_of(request).open_alerts()
    payment_id, _, outcome = (decided or "").partition(":")
    notice = (payment_id, outcome) if re.fullmatch(PaymentIdPattern, payment_id) and outcome in OUTCOMES else None
    return _page(request, "payment_alerts.html", lang, alerts=[a.model_dump(mode="json") for a in queue.alerts],
                 decided=notice)


@risk_only.post("/payments/alerts/{payment_id}", dependencies=[Depends(same_origin)])
def decide_payment(request: Request, payment_id: Annotated[str, Path(pattern=PaymentIdPattern)],
                   form: Form) -> Response:
    """Record the risk team's outcome of a held payment (audited with the session's key id)."""
    outcome = form.get("outcome", "")
    if outcome not in OUTCOMES:
        raise ContractViolation(f"outcome must be one of {', '.join(OUTCOMES)}")
    session = session_of(request)
    request.app.state.payment_ledger.decide(payment_id, outcome, f"{RISK} key {session.key_prefix[:ID_LEN]}"
                                            if session else RISK)
    lang = form.get("lang") or request.query_params.get("lang", "en")
    query = urlencode({"lang": lang if lang in HTML_LANG else "en", "decided": f"{payment_id}:{outcome}"})
    return RedirectResponse(f"/workbench/payments/alerts?{query}", status_code=303)


@staff.get("/chart.svg")
def chart(spec: Annotated[str, Query(max_length=8000)], narrow: bool = False) -> Response:
    """A chart of the page as SVG, drawn from the spec in its URL (`narrow`: for a phone)."""
    return Response(render(decode(spec), narrow), media_type="image/svg+xml",
                    headers={"Cache-Control": "private, max-age=3600"})


router = APIRouter(include_in_schema=False, lifespan=lifespan)
router.include_router(public, prefix="/workbench")
router.include_router(protected, prefix="/workbench")
router.include_router(staff, prefix="/workbench")
router.include_router(risk_only, prefix="/workbench")
