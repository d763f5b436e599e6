"""Logging in, per ``settings.auth``, through simple-salesforce's login flows."""

from __future__ import annotations

from dataclasses import dataclass
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
    for name in ("access_token", "password", "security_token", "consumer_secret", "private_key"):
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
            raise TransientError(f"Salesforce login ({mode.value}): HTTP {exc.code}",
                                 ErrorContext(http_status=exc.code)) from None
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
