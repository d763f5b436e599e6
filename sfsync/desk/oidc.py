"""Salesforce as the desk's identity provider: OAuth 2.0 web-server flow with PKCE, OpenID Connect.

1. ``start``: a random ``state`` (bound to the browser by a login cookie), a ``nonce`` and a PKCE verifier are
   kept server-side; the browser goes to ``{login_url}/services/oauth2/authorize`` with the state, the nonce
   and the verifier's S256 challenge.
2. ``finish`` (the callback): the state must be one this desk issued, to this browser, minutes ago, and is
   used up at once, so a replayed or forged callback is refused. The code is exchanged at
   ``/services/oauth2/token`` with the consumer secret and the verifier; the ID token's signature is
   checked against the org's keys (``/id/keys``, RS256), then ``iss``, ``aud``, ``exp``/``iat``, ``nonce``
   and ``at_hash``; ``/services/oauth2/userinfo`` names the user, and must agree with the token's subject.

The caller then reads the user's permission set assignments to give a role. The user's access token is used
for the userinfo call only and then dropped: the desk reads the org with its own integration user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
import requests

from sfsync.config import DeskLoginSettings
from sfsync.errors import SfsyncError

__all__ = ["LOGIN_COOKIE", "LoginRefusedError", "SalesforceIdentity", "SalesforceLogin"]

LOGIN_COOKIE = "sfsync_desk_login"
_IDENTITY_URL = re.compile(r"/id/(00D[A-Za-z0-9]{12,16})/(005[A-Za-z0-9]{12,15})$")
_MAX_PENDING = 10_000
_JWKS_REFRESH_SECONDS = 60.0


class LoginRefusedError(SfsyncError):
    """The Salesforce login did not prove who the user is; the message is safe to show."""


@dataclass(frozen=True)
class SalesforceIdentity:
    user_id: str
    org_id: str
    username: str
    name: str


@dataclass(frozen=True)
class _Pending:
    browser: str  # SHA-256 of the login cookie's value
    nonce: str
    verifier: str
    started: float
    next: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _printable(text: str) -> str:
    """Text from the callback's query, safe for a log line (no control characters)."""
    return "".join(c if c.isprintable() else " " for c in text)


def _at_hash(access_token: str) -> str:
    """OpenID Connect's at_hash for RS256: the left half of SHA-256(access token), base64url."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


class SalesforceLogin:
    def __init__(
        self,
        settings: DeskLoginSettings,
        *,
        http: requests.Session | None = None,
        timeout: tuple[float, float] = (10.0, 30.0),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if settings.consumer_key is None or settings.consumer_secret is None or settings.callback_url is None:
            raise ValueError("Salesforce login needs consumer_key, consumer_secret and callback_url")
        self._settings = settings
        self._client_id = settings.consumer_key
        self._secret = settings.consumer_secret
        self._callback = settings.callback_url
        self._base = settings.login_url
        self._http = http or requests.Session()
        self._timeout = timeout
        self._monotonic = monotonic
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._keys_read = float("-inf")

    # ------------------------------------------------------------------ step 1
    def start(self, next_path: str) -> tuple[str, str]:
        """(login cookie value, authorize URL) for a browser about to log in."""
        browser = secrets.token_urlsafe(32)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters: within PKCE's 43-128
        challenge = _b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        now = self._monotonic()
        with self._lock:
            self._expire(now)
            if len(self._pending) >= _MAX_PENDING:
                raise LoginRefusedError("too many logins in progress; try again in a few minutes")
            self._pending[state] = _Pending(_digest(browser), nonce, verifier, now, next_path)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._client_id,
                "redirect_uri": self._callback,
                "scope": "openid id",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "prompt": "login",
            }
        )
        return browser, f"{self._base}/services/oauth2/authorize?{query}"

    def _expire(self, now: float) -> None:
        limit = self._settings.login_minutes * 60
        for state in [s for s, p in self._pending.items() if now - p.started > limit]:
            del self._pending[state]

    # ------------------------------------------------------------------ step 2
    def finish(self, browser: str | None, params: Mapping[str, str]) -> tuple[SalesforceIdentity, str]:
        """The identity the callback proves, and where the user was going; LoginRefusedError otherwise."""
        state = params.get("state", "")
        with self._lock:
            self._expire(self._monotonic())
            pending = self._pending.pop(state, None) if state else None  # used up: a replay finds nothing
        if pending is None:
            raise LoginRefusedError("this login link is unknown, used already or expired; log in again")
        if browser is None or not hmac.compare_digest(_digest(browser), pending.browser):
            raise LoginRefusedError("this login was started in another browser; log in again")
        if params.get("error"):
            error = _printable(params.get("error", ""))[:100]
            description = _printable(params.get("error_description", ""))[:300]
            raise LoginRefusedError(f"Salesforce refused the login: {error} ({description})")
        code = params.get("code", "")
        if not code:
            raise LoginRefusedError("Salesforce sent no authorization code")
        tokens = self._exchange(code, pending.verifier)
        claims = self._validate_id_token(tokens, pending.nonce)
        match = _IDENTITY_URL.search(str(claims.get("sub", "")))
        if match is None:
            raise LoginRefusedError("the ID token names no Salesforce user")
        org_id, user_id = match.groups()
        info = self._userinfo(str(tokens["access_token"]))
        if str(info.get("user_id", "")) != user_id or str(info.get("sub", "")) != str(claims["sub"]):
            raise LoginRefusedError("Salesforce's user information does not match the ID token")
        username = str(info.get("preferred_username") or "")
        if not username:
            raise LoginRefusedError("Salesforce's user information has no username")
        identity = SalesforceIdentity(user_id, org_id, username, str(info.get("name") or username))
        return identity, pending.next

    def _post_token(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = self._http.post(f"{self._base}/services/oauth2/token", data=form, timeout=self._timeout)
        except requests.RequestException as exc:
            raise LoginRefusedError(f"Salesforce could not be reached ({type(exc).__name__}); try again") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = str(body.get("error", f"HTTP {response.status_code}")) if isinstance(body, dict) else ""
            description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
            raise LoginRefusedError(f"Salesforce refused the login: {error[:100]} ({description[:300]})")
        return body

    def _exchange(self, code: str, verifier: str) -> dict[str, Any]:
        body = self._post_token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self._client_id,
                "client_secret": self._secret.get_secret_value(),
                "redirect_uri": self._callback,
                "code_verifier": verifier,
            }
        )
        if not isinstance(body.get("id_token"), str) or not isinstance(body.get("access_token"), str):
            raise LoginRefusedError("Salesforce returned no ID token (is the openid scope allowed for the app?)")
        return body

    def _key(self, kid: str) -> Any:
        key = self._keys.get(kid)
        if key is None and self._monotonic() - self._keys_read >= _JWKS_REFRESH_SECONDS:
            self._keys_read = self._monotonic()
            try:
                response = self._http.get(f"{self._base}/id/keys", timeout=self._timeout)
                keys = response.json().get("keys", []) if response.status_code == 200 else []
            except (requests.RequestException, ValueError, AttributeError):
                keys = []
            fresh: dict[str, Any] = {}
            for item in keys:
                if isinstance(item, dict) and item.get("kty") == "RSA" and isinstance(item.get("kid"), str):
                    try:
                        fresh[item["kid"]] = jwt.PyJWK(item, algorithm="RS256").key
                    except jwt.PyJWTError:
                        continue
            if fresh:
                self._keys = fresh
            key = self._keys.get(kid)
        if key is None:
            raise LoginRefusedError("the ID token is signed with a key the org does not publish")
        return key

    def _validate_id_token(self, tokens: Mapping[str, Any], nonce: str) -> dict[str, Any]:
        id_token = str(tokens["id_token"])
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise LoginRefusedError("the ID token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise LoginRefusedError("the ID token is not signed with RS256")
        key = self._key(str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=["RS256"],
                audience=self._client_id,
                issuer=self._base,
                leeway=self._settings.clock_skew_seconds,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
            )
        except jwt.InvalidSignatureError:
            raise LoginRefusedError("the ID token's signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise LoginRefusedError("the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise LoginRefusedError("the ID token was issued to another application") from None
        except jwt.InvalidIssuerError:
            raise LoginRefusedError("the ID token was issued by another login server") from None
        except jwt.PyJWTError as exc:
            raise LoginRefusedError(f"the ID token is not valid ({type(exc).__name__})") from None
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise LoginRefusedError("the ID token answers another login (nonce mismatch)")
        at_hash = claims.get("at_hash")
        if at_hash is not None and not hmac.compare_digest(str(at_hash), _at_hash(str(tokens["access_token"]))):
            raise LoginRefusedError("the ID token does not belong to this access token (at_hash mismatch)")
        return claims

    def _userinfo(self, access_token: str) -> dict[str, Any]:
        try:
            response = self._http.get(
                f"{self._base}/services/oauth2/userinfo",
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self._timeout,
            )
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError):
            body = None
        if not isinstance(body, dict):
            raise LoginRefusedError("Salesforce did not say who the user is (userinfo)")
        return body
