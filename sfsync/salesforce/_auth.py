"""Logging in, per ``settings.auth``: simple-salesforce's login flows (jwt, password, client credentials),
the OAuth refresh-token grant, and an org the Salesforce CLI (``sf``) has already authorised."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import jwt
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from sfsync.config import AuthMode, SalesforceSettings
from sfsync.errors import AuthenticationError, ConfigError, ErrorContext

from ._errors import TransientError, translate


@dataclass(frozen=True)
class Credentials:
    """A session: the bearer token and the instance's base URL (``https://host[:port]``)."""

    access_token: str
    instance_url: str

    def __repr__(self) -> str:
        return f"Credentials(access_token='**********', instance_url={self.instance_url!r})"


def check_credentials(settings: SalesforceSettings) -> None:
    missing = settings.missing_credentials()
    if missing:
        env = ", ".join(f"SFSYNC_SALESFORCE__{name.upper()}" for name in missing if " " not in name)
        raise ConfigError(
            f"salesforce auth = {settings.auth.value!r} needs: {', '.join(missing)}"
            + (f" (set {env} or the matching *_file setting)" if env else ""),
            ErrorContext(extra={"missing": missing}),
        )


def _my_domain(settings: SalesforceSettings) -> str:
    """The My Domain prefix for client credentials: from ``domain``, else from ``instance_url``."""
    if settings.domain not in ("login", "test"):
        return settings.domain
    host = urlparse(settings.instance_url or "").hostname or ""
    if host.endswith(".salesforce.com"):
        return host.removesuffix(".salesforce.com")
    raise ConfigError(
        "client_credentials auth needs a My Domain: set salesforce.domain (e.g. 'acme.my') "
        "or an instance_url ending in .salesforce.com",
        ErrorContext(field_name="domain"),
    )


def _secret(settings: SalesforceSettings, name: str) -> str:
    value = getattr(settings, name)
    if value is None:  # check_credentials ran first; this is a guard for direct callers
        raise ConfigError(f"salesforce.{name} is not set")
    return str(value.get_secret_value())


def _scrub(text: str | None, settings: SalesforceSettings) -> str | None:
    """Remove any configured secret from a message Salesforce echoed back."""
    if text is None:
        return None
    for name in settings.secret_fields():
        value = getattr(settings, name)
        if value is not None and value.get_secret_value():
            text = text.replace(value.get_secret_value(), "**********")
    return text


def login(settings: SalesforceSettings, http: requests.Session) -> Credentials:
    """Log in per ``settings.auth``; token auth only wraps the configured token.

    Raises ConfigError for missing credentials, AuthenticationError when Salesforce refuses,
    and lets ``requests`` transport errors through (the caller retries those).
    """
    check_credentials(settings)
    mode = settings.auth
    if mode is AuthMode.TOKEN:
        instance = (settings.instance_url or "").rstrip("/")
        if not urlparse(instance).scheme or not urlparse(instance).hostname:
            raise ConfigError(
                "salesforce.instance_url must be a URL such as https://acme.my.salesforce.com",
                ErrorContext(field_name="instance_url"),
            )
        return Credentials(_secret(settings, "access_token"), instance)
    if mode is AuthMode.REFRESH_TOKEN:
        return _refresh_token_login(settings, http)
    if mode is AuthMode.SF_CLI:
        return _sf_cli_login(settings)
    try:
        if mode is AuthMode.JWT:
            sf = Salesforce(
                username=settings.username,
                consumer_key=settings.consumer_key,
                privatekey=_secret(settings, "private_key"),
                domain=settings.domain,
                session=http,
                version=settings.api_version,
            )
        elif mode is AuthMode.PASSWORD:
            sf = Salesforce(
                username=settings.username,
                password=_secret(settings, "password"),
                security_token=_secret(settings, "security_token"),
                domain=settings.domain,
                session=http,
                version=settings.api_version,
            )
        else:
            sf = Salesforce(
                consumer_key=settings.consumer_key,
                consumer_secret=_secret(settings, "consumer_secret"),
                domain=_my_domain(settings),
                session=http,
                version=settings.api_version,
            )
    except SalesforceAuthenticationFailed as exc:
        if isinstance(exc.code, int) and exc.code >= 500:
            # the login server is unavailable: worth another try, unlike a refused login
            raise TransientError(
                f"Salesforce login ({mode.value}): HTTP {exc.code}", ErrorContext(http_status=exc.code)
            ) from None
        error = translate(exc, f"Salesforce login ({mode.value})")
        raise AuthenticationError(
            error.message,
            ErrorContext(status_code=error.context.status_code, sf_message=_scrub(error.context.sf_message, settings)),
        ) from None  # the chained exception would carry the request body
    except SalesforceError as exc:
        raise AuthenticationError(
            f"Salesforce login ({mode.value}) failed with HTTP {exc.status}",
            ErrorContext(http_status=int(exc.status)),
        ) from None
    except (ValueError, TypeError, jwt.exceptions.PyJWTError) as exc:
        # PyJWT refuses a key that is not a PEM RSA private key
        if mode is AuthMode.JWT:
            raise ConfigError(
                f"salesforce.private_key is not a usable RSA private key ({type(exc).__name__})",
                ErrorContext(field_name="private_key"),
            ) from None
        raise AuthenticationError(f"Salesforce login ({mode.value}) failed: unexpected answer") from None
    except (AttributeError, KeyError) as exc:
        # simple-salesforce chokes on an unexpected login answer (no instance_url, ...)
        raise AuthenticationError(
            f"Salesforce login ({mode.value}) failed: unexpected answer ({type(exc).__name__})"
        ) from None
    instance = f"https://{sf.sf_instance}"
    return Credentials(str(sf.session_id), instance)


# ---------------------------------------------------------------- OAuth refresh-token grant


def token_endpoint(settings: SalesforceSettings) -> str:
    """``https://<My Domain or login|test>.salesforce.com/services/oauth2/token``; an explicit My Domain wins,
    then ``instance_url`` (the org's own host serves the token endpoint too), then login/test."""
    if settings.domain not in ("login", "test"):
        base = f"https://{settings.domain}.salesforce.com"
    elif settings.instance_url:
        base = settings.instance_url.rstrip("/")
    else:
        base = f"https://{settings.domain}.salesforce.com"
    return f"{base}/services/oauth2/token"


def _refresh_token_login(settings: SalesforceSettings, http: requests.Session) -> Credentials:
    """POST grant_type=refresh_token (client_id, refresh_token, client_secret if configured).

    Salesforce answers ``{access_token, instance_url, id, token_type, issued_at, signature, scope}``,
    or 400 ``{error, error_description}`` (``invalid_grant``: the refresh token expired or was revoked).
    """
    form = {
        "grant_type": "refresh_token",
        "client_id": settings.consumer_key or "",
        "refresh_token": _secret(settings, "refresh_token"),
    }
    if settings.consumer_secret is not None:
        form["client_secret"] = settings.consumer_secret.get_secret_value()
    what = "Salesforce login (refresh_token)"
    # transport errors (DNS, refused, timeout) go up to the caller, which retries and names host and cause
    response = http.post(token_endpoint(settings), data=form, headers={"Accept": "application/json"})
    body = _json_or_none(response)
    if response.status_code >= 500:
        raise TransientError(f"{what}: HTTP {response.status_code}", ErrorContext(http_status=response.status_code))
    if response.status_code != 200 or not isinstance(body, dict):
        code = str(body.get("error")) if isinstance(body, dict) and body.get("error") else None
        description = body.get("error_description") if isinstance(body, dict) else None
        hint = ""
        if code == "invalid_grant":
            hint = "; the refresh token expired or was revoked: authorise the app again and store the new token"
        elif code in ("invalid_client_id", "invalid_client"):
            hint = "; check salesforce.consumer_key (and consumer_secret if the connected app requires it)"
        raise AuthenticationError(
            f"{what}: Salesforce refused the refresh token{hint}",
            ErrorContext(
                status_code=code,
                sf_message=_scrub(str(description) if description else None, settings),
                http_status=response.status_code,
            ),
        )
    token, instance = body.get("access_token"), body.get("instance_url")
    if not isinstance(token, str) or not token or not isinstance(instance, str) or not instance:
        raise AuthenticationError(f"{what}: the token endpoint's answer has no access_token or instance_url")
    return Credentials(token, instance.rstrip("/"))


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# ---------------------------------------------------------------- Salesforce CLI (sf org display)

# `sf` starts a Node.js process and may refresh the org's token: give it more than one HTTP read.
_SF_CLI_TIMEOUT_SECONDS = 60.0


def _sf_cli_login(settings: SalesforceSettings) -> Credentials:
    """Reuse an org the user authorised with the Salesforce CLI: ``sf org display --target-org ALIAS --json``
    prints ``{"status": 0, "result": {"accessToken", "instanceUrl", ...}}`` (and refreshes the token if needed)."""
    from ._session import remaining_budget

    alias = settings.target_org or ""
    executable = shutil.which(settings.sf_executable)
    if executable is None:
        raise ConfigError(
            f'auth = "sf-cli" needs the Salesforce CLI, but {settings.sf_executable!r} is not on PATH; install it '
            "(npm install -g @salesforce/cli) or set salesforce.sf_executable, or choose another auth mode",
            ErrorContext(field_name="sf_executable"),
        )
    command = [executable, "org", "display", "--target-org", alias, "--json"]
    remaining = remaining_budget()
    timeout = _SF_CLI_TIMEOUT_SECONDS if remaining is None else max(0.1, min(_SF_CLI_TIMEOUT_SECONDS, remaining))
    what = f"Salesforce login (sf-cli, target org {alias!r})"
    try:
        # stdout carries the access token: it is parsed here and never logged or put into an error
        finished = subprocess.run(  # noqa: S603 (a fixed argument list, no shell)
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise TransientError(f"{what}: `sf org display` did not finish within {timeout:.0f}s") from None
    except OSError as exc:
        raise ConfigError(f"{what}: cannot run {executable}: {exc.strerror}") from None
    answer = _sf_json(finished.stdout)
    result = answer.get("result") if isinstance(answer, dict) else None
    if finished.returncode != 0 or not isinstance(result, dict):
        name = str(answer.get("name") or "") if isinstance(answer, dict) else ""
        message = str(answer.get("message") or "") if isinstance(answer, dict) else ""
        if not message:
            message = (finished.stderr or "").strip().splitlines()[-1:][0] if (finished.stderr or "").strip() else ""
        raise AuthenticationError(
            f"{what}: the Salesforce CLI has no usable authorisation for this org; authorise it with "
            f"`sf org login web --alias {alias}` (or check the alias with `sf org list`)",
            ErrorContext(status_code=name or f"EXIT_{finished.returncode}", sf_message=message[:300] or None),
        )
    token, instance = result.get("accessToken"), result.get("instanceUrl")
    if not isinstance(token, str) or not token or not isinstance(instance, str) or not instance:
        raise AuthenticationError(
            f"{what}: `sf org display` gave no access token or instance URL; the authorisation may have expired: "
            f"run `sf org login web --alias {alias}`"
        )
    return Credentials(token, instance.rstrip("/"))


def _sf_json(stdout: str) -> Any:
    """The JSON object ``sf --json`` printed (a warning line before it, as older CLIs print, is skipped)."""
    text = stdout or ""
    start = text.find("{")
    if start < 0:
        return None
    try:
        return json.loads(text[start:])
    except ValueError:
        return None
