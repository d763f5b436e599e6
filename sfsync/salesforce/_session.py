"""The HTTP session: (connect, read) timeouts on every request, and the CA bundle.

simple-salesforce sends its requests without a timeout, so a stuck socket would hang a sync
forever. Mounting an adapter that fills in the timeout covers every request made through the
session — ours and the ones simple-salesforce makes itself (logins).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import requests
from requests.adapters import HTTPAdapter

from sfsync.config import SalesforceSettings

Timeout = tuple[float, float]


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
        if timeout is None:
            timeout = self.timeout
        if self.verify is not None:
            # requests lets REQUESTS_CA_BUNDLE override session.verify; the configured bundle wins.
            verify = self.verify
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


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

