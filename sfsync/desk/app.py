"""The desk's web application (Starlette, Jinja2 templates, served by uvicorn).

Security, in one place: server-side sessions behind a random HttpOnly, SameSite=Strict cookie that expire
after ``[desk] session_minutes`` idle; a CSRF token per session checked on every POST; login failures
limited per user and per address; Jinja2 autoescaping for everything the partner wrote; ``Cache-Control:
no-store`` and a strict Content-Security-Policy on every response; registration numbers (not customer data)
in URLs; decrypted values only in page bodies, never in logs, URLs or the audit trail.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as ASGIScope

from sfsync.config import LoginMode, Settings
from sfsync.crypto import Keyring
from sfsync.desk.audit import AuditLog, audit_key
from sfsync.desk.fields import DisplayField, FieldReader
from sfsync.desk.oidc import LOGIN_COOKIE, LoginRefusedError, SalesforceLogin
from sfsync.desk.org import (
    ACCOUNT,
    DEAL,
    ConcurrentDecisionError,
    Decision,
    DeskOrg,
    PendingRegistration,
    RegistrationDeletedError,
    RegistrationKind,
    SeenRecord,
)
from sfsync.desk.reports import build_report
from sfsync.desk.scope import Scope, scope_for
from sfsync.desk.sla import Calendars
from sfsync.desk.triage import triage
from sfsync.desk.users import Role, User, UserStore
from sfsync.errors import LockHeldError, SfsyncError
from sfsync.mapping import MappingSet
from sfsync.text.time import utc_now

__all__ = ["DeskApp", "create_app"]

log = logging.getLogger("sfsync.desk")

SESSION_COOKIE = "sfsync_desk"
_TEMPLATES = Path(__file__).parent / "templates"
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}
# Fields whose absence means the partner must be asked before a decision.
_NEEDED = {
    "End_Customer_Name__c": "customer name",
    "Customer_Name__c": "customer name",
    "Customer_Contact_Name__c": "contact name",
}
_SEEN_PER_SESSION = 1000
_NOT_FOUND = "not in Salesforce (deleted, never synced, or not yours to see)"
_REACHABLE = ("Customer_Contact_Email__c", "Customer_Contact_Phone__c")


@dataclass
class Session:
    user: User
    csrf: str
    last_seen: float
    flash: list[tuple[str, str]] = field(default_factory=list)
    # (kind, number) -> the version of the record this session's page showed (the decision's precondition)
    seen: dict[tuple[str, str], SeenRecord] = field(default_factory=dict)


class LoginLimiter:
    """At most ``attempts`` failed logins per key (user name, client address) in a sliding window."""

    def __init__(self, attempts: int, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._attempts = attempts
        self._window = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0] > self._window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        with self._lock:
            return any(len(self._recent(key)) >= self._attempts for key in keys)

    def fail(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._recent(key).append(self._clock())

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


class DeskApp:
    """The desk's state and request handlers; ``app`` is the ASGI application."""

    def __init__(
        self,
        settings: Settings,
        *,
        org: DeskOrg,
        keyring: Keyring,
        mappings: MappingSet,
        cookie_secure: bool,
        now: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        http: requests.Session | None = None,
    ) -> None:
        self.settings = settings
        self.desk = settings.desk
        self.org = org
        self.users = UserStore(settings.desk.users)
        self.audit = AuditLog(settings.desk.audit_log, audit_key(keyring))
        self.readers = {kind.name: FieldReader(mappings, kind.sobject, keyring) for kind in (DEAL, ACCOUNT)}
        self.calendars = Calendars(settings.desk)
        self.calendar = self.calendars.default
        self.cookie_secure = cookie_secure
        self.now = now
        self.monotonic = monotonic
        self.sessions: dict[str, Session] = {}
        self._sessions_lock = threading.Lock()
        self._deadlines: dict[tuple[str, str, datetime, str], datetime] = {}
        self.limiter = LoginLimiter(settings.desk.login_attempts, settings.desk.login_window_seconds, monotonic)
        self.sso: SalesforceLogin | None = (
            SalesforceLogin(settings.desk.login, monotonic=monotonic, http=http)
            if settings.desk.login.mode is LoginMode.SALESFORCE
            else None
        )
        self.templates = Environment(
            loader=FileSystemLoader(str(_TEMPLATES)), autoescape=select_autoescape(["html"]), auto_reload=False
        )
        routes = [
            Route("/", self.queue, methods=["GET"]),
            Route("/login", self.login_form, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/oauth/start", self.oauth_start, methods=["GET"]),
            Route("/oauth/callback", self.oauth_callback, methods=["GET"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/audit", self.audit_page, methods=["GET"]),
            Route("/reports", self.reports_page, methods=["GET"]),
        ]
        for kind in (DEAL, ACCOUNT):
            routes.append(Route(kind.path + "/{number}", self._page_for(kind), methods=["GET"]))
            routes.append(Route(kind.path + "/{number}/decision", self._decide_for(kind), methods=["POST"]))
        self.app = _SecurityHeaders(Starlette(routes=routes, lifespan=self._lifespan))

    def _page_for(self, kind: RegistrationKind) -> Callable[[Request], Any]:
        async def page(request: Request) -> Response:
            return await self.registration(request, kind)

        return page

    def _decide_for(self, kind: RegistrationKind) -> Callable[[Request], Any]:
        async def decide(request: Request) -> Response:
            return await self.decide(request, kind)

        return decide

    @asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            self.org.close()

    # ------------------------------------------------------------------ plumbing
    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def _session(self, request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        with self._sessions_lock:
            session = self.sessions.get(token)
            if session is None:
                return None
            if self.monotonic() - session.last_seen > self.desk.session_minutes * 60:
                del self.sessions[token]
                return None
            session.last_seen = self.monotonic()
            return session

    def _to_login(self, request: Request, message: str) -> Response:
        response = self.render(
            "login.html", status_code=401, message=message, next=request.url.path, sso=self.sso is not None
        )
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _forbidden(self, session: Session, message: str) -> HTMLResponse:
        return self.render("error.html", status_code=403, session=session, title="Not allowed", message=message)

    async def _form(self, request: Request, session: Session) -> dict[str, str] | None:
        """The posted form when its CSRF token is this session's; None otherwise."""
        form = await request.form()
        values = {key: value for key, value in form.items() if isinstance(value, str)}
        token = values.get("csrf", "")
        if not hmac.compare_digest(token.encode(), session.csrf.encode()):
            return None
        return values

    # ------------------------------------------------------------------ login
    def _login_page(self, message: str | None, next_path: str = "/", status_code: int = 200) -> HTMLResponse:
        return self.render(
            "login.html",
            status_code=status_code,
            message=message,
            next=next_path,
            sso=self.sso is not None,
        )

    async def login_form(self, request: Request) -> Response:
        return self._login_page(None)

    def _open_session(self, user: User, target: str) -> Response:
        token = secrets.token_urlsafe(32)
        with self._sessions_lock:
            self.sessions[token] = Session(user=user, csrf=secrets.token_urlsafe(32), last_seen=self.monotonic())
        detail = f"via {user.via}" + (f"; scope {user.scope.describe()}" if user.scope.limited else "")
        self.audit.append(user=user.name, role=user.role.value, action="login", detail=detail)
        if not target.startswith("/") or target.startswith("//") or target.startswith("/oauth/"):
            target = "/"  # no open redirect
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=self.cookie_secure,
            path="/",
        )
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if self.sso is not None:
            return self._login_page("This desk logs users in with Salesforce.", status_code=400)
        name = str(form.get("username", ""))[:80]
        password = str(form.get("password", ""))[:1024]
        address = request.client.host if request.client else "unknown"
        keys = (f"user:{name}", f"addr:{address}")
        if self.limiter.blocked(*keys):
            log.warning("desk login refused: too many failures")
            return self._login_page("Too many failed logins; wait a few minutes.", status_code=429)
        user = self.users.authenticate(name, password)
        if user is None:
            self.limiter.fail(*keys)
            return self._login_page("Unknown user or wrong password.", status_code=401)
        self.limiter.reset(f"user:{name}")
        user = replace(user, scope=scope_for(self.desk, user.name))
        return self._open_session(user, str(form.get("next", "/")))

    async def oauth_start(self, request: Request) -> Response:
        """Off to Salesforce's login page; a login cookie binds the coming callback to this browser."""
        if self.sso is None:
            return self._login_page("This desk has no Salesforce login.", status_code=404)
        address = request.client.host if request.client else "unknown"
        if self.limiter.blocked(f"addr:{address}"):
            return self._login_page("Too many failed logins; wait a few minutes.", status_code=429)
        try:
            browser, location = self.sso.start(request.query_params.get("next", "/")[:200])
        except LoginRefusedError as exc:
            return self._login_page(str(exc), status_code=503)
        response = RedirectResponse(location, status_code=303)
        # Lax, not Strict: the cookie must come back on the top-level redirect from Salesforce.
        response.set_cookie(
            LOGIN_COOKIE,
            browser,
            max_age=int(self.desk.login.login_minutes * 60),
            httponly=True,
            samesite="lax",
            secure=self.cookie_secure,
            path="/oauth/",
        )
        return response

    async def oauth_callback(self, request: Request) -> Response:
        if self.sso is None:
            return self._login_page("This desk has no Salesforce login.", status_code=404)
        address = request.client.host if request.client else "unknown"
        if self.limiter.blocked(f"addr:{address}"):
            return self._login_page("Too many failed logins; wait a few minutes.", status_code=429)
        params = {key: value[:4096] for key, value in request.query_params.items()}
        try:
            identity, target = await _in_thread(self.sso.finish, request.cookies.get(LOGIN_COOKIE), params)
        except LoginRefusedError as exc:
            self.limiter.fail(f"addr:{address}")
            log.warning("desk Salesforce login refused: %s", exc)
            response = self._login_page(f"Login refused: {exc}", status_code=401)
            response.delete_cookie(LOGIN_COOKIE, path="/oauth/")
            return response
        login = self.desk.login
        if login.org_id is not None and identity.org_id[:15] != login.org_id[:15]:
            # Salesforce vouches for users of every org; only the desk's own org's users may come in.
            self.limiter.fail(f"addr:{address}")
            self.audit.append(
                user=identity.username, role="none", action="login-refused", detail="via salesforce; another org"
            )
            response = self._login_page(
                "Your Salesforce user belongs to another org than this desk's.", status_code=403
            )
            response.delete_cookie(LOGIN_COOKIE, path="/oauth/")
            return response
        try:
            assigned = await _in_thread(self.org.permission_sets, identity.user_id)
        except SfsyncError as exc:
            return self._login_page(f"Salesforce could not say what you may do: {exc}", status_code=502)
        if login.manager_permission_set in assigned:
            role = Role.MANAGER
        elif login.auditor_permission_set in assigned:
            role = Role.AUDITOR
        else:
            self.audit.append(
                user=identity.username,
                role="none",
                action="login-refused",
                detail="via salesforce; no desk permission set",
            )
            response = self._login_page(
                f"Your Salesforce user holds neither {login.manager_permission_set} nor "
                f"{login.auditor_permission_set}: the desk shows you nothing.",
                status_code=403,
            )
            response.delete_cookie(LOGIN_COOKIE, path="/oauth/")
            return response
        self.limiter.reset(f"addr:{address}")
        user = User(identity.username, role, scope_for(self.desk, identity.username), via="salesforce")
        opened = self._open_session(user, target)
        opened.delete_cookie(LOGIN_COOKIE, path="/oauth/")
        return opened

    async def logout(self, request: Request) -> Response:
        session = self._session(request)
        if session is not None and await self._form(request, session) is not None:
            with self._sessions_lock:
                self.sessions.pop(request.cookies.get(SESSION_COOKIE, ""), None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ queue
    def _deadline(self, reg: PendingRegistration) -> datetime:
        """When ``reg`` breaches under its partner region's calendar; fixed once submitted, so cached."""
        key = (reg.kind, reg.number, reg.submitted_at, reg.partner_region)
        found = self._deadlines.get(key)
        if found is None:
            calendar = self.calendars.for_region(reg.partner_region)
            found = calendar.deadline(reg.submitted_at, calendar.breach_hours)
            if len(self._deadlines) > 200_000:
                self._deadlines.clear()
            self._deadlines[key] = found
        return found

    def warm(self) -> int:
        """Read the queue and compute every pending registration's deadline now, not on the first page."""
        rows = self.org.pending()
        for reg in rows:
            self._deadline(reg)
        return len(rows)

    async def queue(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request, "Please log in.")
        params = request.query_params
        partner, tier, line = params.get("partner", ""), params.get("tier", ""), params.get("product_line", "")
        region, kind = params.get("region", ""), params.get("kind", "")
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        try:
            rows = await _in_thread(self.org.pending)
        except SfsyncError as exc:
            return self.render(
                "error.html", status_code=502, session=session, title="Salesforce unavailable", message=str(exc)
            )
        now = self.now()
        scope = session.user.scope
        every = [r for r in rows if scope.allows(r.partner_number, r.partner_region)] if scope.limited else rows
        rows = [
            r
            for r in every
            if (not partner or r.partner_name == partner)
            and (not tier or r.tier == tier)
            and (not line or line in r.product_lines)
            and (not region or r.partner_region == region)
            and (not kind or r.kind == kind)
        ]
        # Most urgent first: the instant each registration breaches under its partner region's calendar.
        # Within one calendar that is the order of submission; deadlines are computed once per registration.
        rows = sorted(rows, key=lambda r: (self._deadline(r), r.submitted_at, r.number))
        size = self.desk.page_size
        pages = max(1, math.ceil(len(rows) / size))
        page = min(page, pages)
        shown = [
            (self.calendars.status(r.partner_region, r.submitted_at, now), r)
            for r in rows[(page - 1) * size : page * size]
        ]
        return self.render(
            "queue.html",
            session=session,
            rows=shown,
            total=len(rows),
            page=page,
            pages=pages,
            partner=partner,
            tier=tier,
            product_line=line,
            region=region,
            kind=kind,
            kinds=sorted({r.kind for r in every}),
            regions=sorted({r.partner_region for r in every if r.partner_region}),
            partners=sorted({r.partner_name for r in every}),
            tiers=sorted({r.tier for r in every}),
            product_lines=sorted({pl for r in every for pl in r.product_lines}),
        )

    # ------------------------------------------------------------------ registration
    def _not_found(self, session: Session, kind: RegistrationKind, number: str) -> HTMLResponse:
        return self.render(
            "error.html",
            status_code=404,
            session=session,
            title="Registration not found",
            message=f"{kind.label} {number} is {_NOT_FOUND}.",
        )

    def _out_of_scope(self, session: Session, kind: RegistrationKind, number: str, action: str) -> HTMLResponse:
        """A scoped user reaching past the scope: told "not found" (existence is not confirmed), audited."""
        self.audit.append(
            user=session.user.name,
            role=session.user.role.value,
            action=action,
            registration=number,
            detail=f"{kind.name} registration outside the user's scope ({session.user.scope.describe()})",
        )
        return self._not_found(session, kind, number)

    async def registration(self, request: Request, kind: RegistrationKind = DEAL) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request, "Your session has expired; please log in again.")
        number = request.path_params["number"]
        try:
            view = await _in_thread(self._registration_view, session, number, kind)
        except RegistrationDeletedError:
            return self._not_found(session, kind, number)
        if view is None:
            return self._out_of_scope(session, kind, number, "view-refused")
        flash, session.flash = session.flash, []
        return self.render("registration.html", session=session, flash=flash, **view)

    def _registration_view(self, session: Session, number: str, kind: RegistrationKind) -> dict[str, Any] | None:
        record = self.org.registration(number, kind)
        scope = session.user.scope
        if scope.limited and not scope.allows(record.partner_number, record.partner_region):
            return None
        decrypt = session.user.role.reads_plaintext
        shown = self.readers[kind.name].read(record.fields, number, decrypt=decrypt)
        if decrypt:
            opened = [f.api_name for f in shown if f.encrypted and f.value is not None]
            # Accounted for before the page leaves the server: a failed append shows no plaintext.
            self.audit.append(
                user=session.user.name,
                role=session.user.role.value,
                action="view",
                registration=number,
                detail=("" if kind is DEAL else "account registration; ") + "fields: " + ",".join(opened),
            )
        if len(session.seen) >= _SEEN_PER_SESSION:
            session.seen.pop(next(iter(session.seen)))  # the oldest page: deciding on it asks to reopen it
        session.seen[(kind.name, number)] = SeenRecord(str(record.fields.get("Id")), record.modstamp, record.status)
        conflicts = self.org.conflicts(number)
        result = None
        sla = None
        if record.pending is not None:
            # The amount is encrypted: eligibility reads the decrypted value (None when it cannot be read).
            reg = replace(record.pending, amount=_amount(shown))
            sla = self.calendars.status(reg.partner_region, reg.submitted_at, self.now())
            by_name = {f.api_name: f for f in shown}
            missing = [
                label
                for api, label in _NEEDED.items()
                if api in by_name
                and by_name[api].value is None
                and by_name[api].problem is None
                and not by_name[api].hidden
            ]
            reachable = [by_name[api] for api in _REACHABLE if api in by_name]
            if reachable and decrypt and all(f.value is None and f.problem is None for f in reachable):
                missing.append("contact email or phone")
            unreadable = [f.label for f in shown if f.problem is not None]
            open_count = self.org.open_registrations(reg.partner_id, self._today()) if reg.partner_id else 0
            result = triage(
                self.desk,
                reg,
                open_registrations=open_count,
                conflicts=conflicts,
                missing_information=missing,
                unreadable=unreadable,
                requested_term=_requested_term(record.fields) if kind is ACCOUNT else None,
            )
        partner = record.partner
        return {
            "number": number,
            "kind": kind,
            "record": record,
            "fields": shown,
            "decrypted": decrypt,
            "partner_name": partner.get("Name") or "(no partner)",
            "tier": partner.get("Partner_Tier__c") or "(no tier)",
            "partner_region": record.partner_region,
            "triage": result,
            "conflicts": conflicts,
            "sla": sla,
            "reasons": self.desk.reject_reasons,
            "protection_days": self.desk.protection_days,
            "max_protection_days": self.desk.max_protection_days,
        }

    def _today(self) -> date:
        return self.now().date()

    # ------------------------------------------------------------------ decide
    async def decide(self, request: Request, kind: RegistrationKind = DEAL) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request, "Your session has expired; nothing was decided. Please log in again.")
        if not session.user.role.decides:
            return self._forbidden(session, f"A {session.user.role.value} cannot decide registrations.")
        form = await self._form(request, session)
        if form is None:
            return self._forbidden(session, "The form was stale or forged (CSRF token mismatch); nothing was decided.")
        number = request.path_params["number"]
        page = f"{kind.path}/{quote(number, safe='')}"
        decision, problem = self._decision_from(form)
        if decision is None:
            session.flash.append(("error", problem))
            return RedirectResponse(page, status_code=303)
        seen = session.seen.get((kind.name, number))
        if seen is None:
            # Never opened in this session (or refused as out of scope): nothing to decide on.
            if session.user.scope.limited and not await _in_thread(self._in_scope, session.user.scope, number, kind):
                return self._out_of_scope(session, kind, number, "decision-refused")
            session.flash.append(("error", "Open the registration before deciding on it; nothing was written."))
            return RedirectResponse(page, status_code=303)
        try:
            if hmac.compare_digest(seen.modstamp.encode(), form.get("modstamp", "").encode()):
                outcome = await _in_thread(self.org.decide, number, seen, decision, today=self._today(), kind=kind)
            else:
                # The form is older than the last page this session saw: the record changed in between.
                outcome = await _in_thread(self.org.repeated, number, decision, today=self._today(), kind=kind)
        except ConcurrentDecisionError as exc:
            self.audit.append(
                user=session.user.name,
                role=session.user.role.value,
                action="decision-refused",
                registration=number,
                detail=f"{decision.action}: changed by someone else",
            )
            session.flash.append(("error", str(exc)))
            return RedirectResponse(page, status_code=303)
        except RegistrationDeletedError:
            return self._not_found(session, kind, number)
        except LockHeldError as exc:
            # The local org file is busy (a sync is working on it): nothing was written; the manager retries.
            session.flash.append(("error", str(exc)))
            return RedirectResponse(page, status_code=303)
        if outcome.written:
            detail = f"status {outcome.status}"
            if kind is ACCOUNT:
                detail = "account registration; " + detail
            if decision.reason:
                detail += f", reason {decision.reason}"
            if decision.action in ("approve", "extend"):
                detail += f", protection {decision.protection_days} days"
                if decision.action == "extend":
                    detail += " more"
            self.audit.append(
                user=session.user.name,
                role=session.user.role.value,
                action=f"decision:{decision.action}",
                registration=number,
                detail=detail,
            )
            done = "protection extended" if decision.action == "extend" else outcome.status
            session.flash.append(("ok", f"{number}: {done} — written to Salesforce."))
        else:
            session.flash.append(("ok", f"{number}: this decision was already recorded; nothing written again."))
        return RedirectResponse(page, status_code=303)

    def _decision_from(self, form: dict[str, str]) -> tuple[Decision | None, str]:
        action = form.get("action", "")
        text = form.get("text", "").strip()[:900]
        if action == "approve":
            try:
                days = int(form.get("protection_days", str(self.desk.protection_days)))
            except ValueError:
                return None, "The protection window must be a whole number of days."
            if not 1 <= days <= self.desk.max_protection_days:
                return None, f"The protection window must be 1 to {self.desk.max_protection_days} days."
            return Decision("approve", text=text, protection_days=days), ""
        if action == "reject":
            reason = form.get("reason", "")
            if reason not in self.desk.reject_reasons:
                return None, "Choose a rejection reason from the list."
            return Decision("reject", reason=reason, text=text), ""
        if action == "extend":
            try:
                days = int(form.get("extend_days", ""))
                base = date.fromisoformat(form.get("protection_end", ""))
                start = date.fromisoformat(form.get("protection_start", ""))
            except ValueError:
                return None, "An extension needs a whole number of days on a registration with a protection window."
            if days < 1 or (base + timedelta(days=days) - start).days > self.desk.max_protection_days:
                return None, f"Protection may last at most {self.desk.max_protection_days} days in all."
            return Decision("extend", protection_days=days, extend_from=base), ""
        if action == "request_info":
            if not text:
                return None, "Say what information the partner should provide."
            return Decision("request_info", text=text), ""
        return None, "Unknown decision."

    # ------------------------------------------------------------------ scope helpers
    def _in_scope(self, scope: Scope, number: str, kind: RegistrationKind) -> bool:
        try:
            record = self.org.registration(number, kind)
        except RegistrationDeletedError:
            return False
        return scope.allows(record.partner_number, record.partner_region)

    def _numbers_in_scope(self, scope: Scope) -> set[str] | None:
        """Registration numbers a scoped user may see; None for an unlimited user (everything)."""
        if not scope.limited:
            return None
        return {
            number
            for number, (partner, region) in self.org.registration_partners().items()
            if scope.allows(partner, region)
        }

    # ------------------------------------------------------------------ reports
    async def reports_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request, "Please log in.")
        if session.user.role is Role.REP:
            return self._forbidden(session, "Reports are for the channel team and auditors.")
        report = await _in_thread(
            build_report,
            self.org,
            self.calendars,
            due_hours=self.desk.due_hours,
            breach_hours=self.desk.breach_hours,
            scope=session.user.scope,
        )
        return self.render(
            "reports.html",
            session=session,
            report=report,
            due_hours=self.desk.due_hours,
            breach_hours=self.desk.breach_hours,
        )

    # ------------------------------------------------------------------ audit
    async def audit_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return self._to_login(request, "Please log in.")
        if session.user.role is not Role.AUDITOR:
            return self._forbidden(session, "Only auditors read the audit trail.")
        user = request.query_params.get("user") or None
        registration = request.query_params.get("registration") or None
        entries = self.audit.entries(user=user, registration=registration)
        visible = await _in_thread(self._numbers_in_scope, session.user.scope)
        if visible is not None:
            # A scoped auditor reads entries on registrations in scope, and entries on none (logins).
            entries = [e for e in entries if not e.registration or e.registration in visible]
        entries = entries[-500:]
        checked, problems = self.audit.verify()
        return self.render(
            "audit.html",
            session=session,
            entries=entries,
            checked=checked,
            problems=problems,
            user=user or "",
            registration=registration or "",
        )


def _requested_term(fields: dict[str, Any]) -> tuple[date, date] | None:
    try:
        start = date.fromisoformat(str(fields.get("Requested_Term_Start__c")))
        end = date.fromisoformat(str(fields.get("Requested_Term_End__c")))
    except ValueError:
        return None
    return start, end


def _amount(shown: list[DisplayField]) -> Decimal | None:
    for item in shown:
        if item.api_name == "Amount__c" and item.value is not None:
            try:
                return Decimal(item.value)
            except InvalidOperation:
                return None
    return None


class _SecurityHeaders:
    """ASGI wrapper adding the security headers to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: ASGIScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)


async def _in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Org calls block (HTTP, file I/O): run them off the event loop."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args, **kwargs)


def create_app(
    settings: Settings,
    *,
    cookie_secure: bool | None = None,
    org: DeskOrg | None = None,
    keyring: Keyring | None = None,
    mappings: MappingSet | None = None,
    now: Callable[[], datetime] = utc_now,
    monotonic: Callable[[], float] = time.monotonic,
    http: requests.Session | None = None,
) -> DeskApp:
    """The desk for ``settings``: its org, keyring and mappings (each may be passed in by tests)."""
    from sfsync.crypto import load_keyring
    from sfsync.mapping import load_mappings

    keyring = keyring if keyring is not None else load_keyring(settings)
    mappings = mappings if mappings is not None else load_mappings(settings.mappings.paths)
    org = org if org is not None else DeskOrg(settings)
    secure = settings.desk.cookie_secure if cookie_secure is None else cookie_secure
    return DeskApp(
        settings,
        org=org,
        keyring=keyring,
        mappings=mappings,
        cookie_secure=bool(secure),
        now=now,
        monotonic=monotonic,
        http=http,
    )


def is_loopback(host: str) -> bool:
    return host in {"::1", "localhost"} or host.startswith("127.")
