"""The HTTP session: (connect, read) timeouts on every request, a per-call time budget, and the CA bundle.

simple-salesforce sends its requests without a timeout, so a stuck socket would hang a sync
forever. Mounting an adapter that fills in the timeout covers every request made through the
session — ours and the ones simple-salesforce makes itself (logins).

A timeout alone does not bound a call: three attempts of a 120 s read timeout plus backoff run
past a 300 s ``max_retry_seconds``. So a logical call (all its attempts, logins included) runs
inside :func:`call_budget`, and the adapter caps each request's connect and read timeouts by
what is left of that budget. In-flight time then counts against the budget, not just the sleeps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import requests
from requests.adapters import HTTPAdapter

from sfsync.config import SalesforceSettings

Timeout = tuple[float, float]

# The monotonic time by which the current logical call must be over (None: no budget running).
_deadline: ContextVar[float | None] = ContextVar("sfsync_call_deadline", default=None)

# Below this, a request cannot complete; sending it would only turn the budget's end into noise.
_MINIMUM_ATTEMPT_SECONDS = 0.05


class BudgetSpentError(requests.exceptions.Timeout):
    """The call's time budget ran out before this request could be sent."""


@contextmanager
def call_budget(seconds: float) -> Iterator[float]:
    """Bound every request sent inside to ``seconds`` in total; yields the deadline (monotonic).

    Nested budgets (a re-login inside a call) never extend the outer one.
    """
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    if outer is not None:
        deadline = min(deadline, outer)
    token = _deadline.set(deadline)
    try:
        yield deadline
    finally:
        _deadline.reset(token)


def remaining_budget() -> float | None:
    """Seconds left in the running call budget, or None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def capped_timeout(timeout: Timeout, remaining: float | None) -> Timeout:
    """(connect, read) each no longer than ``remaining`` seconds."""
    if remaining is None:
        return timeout
    return (min(timeout[0], remaining), min(timeout[1], remaining))


class TimeoutAdapter(HTTPAdapter):
    """An adapter that never lets a request go out without a timeout, and pins ``verify``."""

    def __init__(self, timeout: Timeout, verify: str | None = None) -> None:
        super().__init__()
        self.timeout = timeout
        self.verify = verify

    def send(  # HTTPAdapter.send's signature
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        effective = _as_pair(timeout, self.timeout)
        remaining = remaining_budget()
        if remaining is not None and remaining < _MINIMUM_ATTEMPT_SECONDS:
            raise BudgetSpentError("the call's time budget (salesforce.max_retry_seconds) is spent", request=request)
        effective = capped_timeout(effective, remaining)
        if self.verify is not None:
            # requests lets REQUESTS_CA_BUNDLE override session.verify; the configured bundle wins.
            verify = self.verify
        return super().send(request, stream=stream, timeout=effective, verify=verify, cert=cert, proxies=proxies)


def _as_pair(timeout: float | tuple[float, float] | tuple[float, None] | None, default: Timeout) -> Timeout:
    if timeout is None:
        return default
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (float(connect), float(read) if read is not None else default[1])
    return (float(timeout), float(timeout))


def ca_bundle(settings: SalesforceSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """settings.ca_bundle, else REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, else None (certifi's bundle)."""
    env = os.environ if environ is None else environ
    if settings.ca_bundle is not None:
        return str(settings.ca_bundle)
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None


def build_session(settings: SalesforceSettings, session: requests.Session | None = None) -> requests.Session:
    """Return ``session`` (or a new one) with the timeout adapter mounted for http and https."""
    http = session if session is not None else requests.Session()
    timeout: Timeout = (settings.connect_timeout, settings.read_timeout)
    verify = ca_bundle(settings)
    adapter = TimeoutAdapter(timeout, verify)
    http.mount("https://", adapter)
    http.mount("http://", adapter)
    if verify is not None:
        http.verify = verify
    return http


def request_timeout(settings: SalesforceSettings) -> Timeout:
    return (settings.connect_timeout, settings.read_timeout)
