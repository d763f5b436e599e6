"""One table from (HTTP status, Salesforce ``errorCode``) to sfsync's exception classes.

simple-salesforce raises one exception class per HTTP status (``SalesforceMalformedRequest``
for 400, ``SalesforceExpiredSession`` for 401, ...). sfsync needs finer classes — a 403 can be
"retry later" (ConcurrentRequests) or "stop the run" (TotalRequests) — so every simple-salesforce
exception is translated here, at the boundary, with ``raise ... from``.
"""

from __future__ import annotations

import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from sfsync.errors import (
    ApiAllowanceExhaustedError,
    AuthenticationError,
    ErrorContext,
    RecordRejectedError,
    RetriableError,
    SalesforceApiError,
    SfsyncError,
)


class TransientError(RetriableError):
    """HTTP 5xx, timeout, connection reset, UNABLE_TO_LOCK_ROW, ConcurrentRequests: retry."""


class SessionExpiredError(AuthenticationError):
    """401 INVALID_SESSION_ID: log in again once, then retry once. Fatal if it escapes."""


# errorCode -> class. Checked before the status table: the code is the more precise signal.
_BY_CODE: dict[str, type[SfsyncError]] = {
    "INVALID_SESSION_ID": SessionExpiredError,
    "UNABLE_TO_LOCK_ROW": TransientError,
    "SERVER_UNAVAILABLE": TransientError,
    "REQUEST_RUNNING_TOO_LONG": TransientError,
    "QUERY_TIMEOUT": TransientError,
    # whole-object / whole-org problems: no record is to blame
    "NOT_FOUND": SalesforceApiError,
    "INVALID_TYPE": SalesforceApiError,
    "INSUFFICIENT_ACCESS": SalesforceApiError,
    "API_DISABLED_FOR_ORG": SalesforceApiError,
    "API_CURRENTLY_DISABLED": SalesforceApiError,
    "FUNCTIONALITY_NOT_ENABLED": SalesforceApiError,
    "INVALID_QUERY_LOCATOR": SalesforceApiError,
    "MALFORMED_QUERY": SalesforceApiError,
    "INVALID_AUTH_HEADER": AuthenticationError,
    # per record: the record goes to the dead letters, the run goes on
    "DUPLICATE_VALUE": RecordRejectedError,
    "DUPLICATE_EXTERNAL_ID": RecordRejectedError,
    "STRING_TOO_LONG": RecordRejectedError,
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": RecordRejectedError,
    "INVALID_FIELD": RecordRejectedError,
    "INVALID_FIELD_FOR_INSERT_UPDATE": RecordRejectedError,
    "MALFORMED_ID": RecordRejectedError,
    "REQUIRED_FIELD_MISSING": RecordRejectedError,
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": RecordRejectedError,
    "JSON_PARSER_ERROR": RecordRejectedError,
    "ENTITY_IS_DELETED": RecordRejectedError,
    # a conditional update (If-Unmodified-Since) on a record modified since: nothing was written
    "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK": RecordRejectedError,
}

_BY_STATUS: dict[int, type[SfsyncError]] = {
    300: RecordRejectedError,  # an upsert's external id matches several records
    400: RecordRejectedError,
    401: SessionExpiredError,
    403: SalesforceApiError,
    404: SalesforceApiError,
    405: SalesforceApiError,
    409: TransientError,  # bulk job state conflicts settle with time
    412: RecordRejectedError,  # Precondition Failed: a conditional update's record changed since
    415: SalesforceApiError,
    429: TransientError,
    500: TransientError,
    502: TransientError,
    503: TransientError,
    504: TransientError,
}


@dataclass(frozen=True)
class SalesforceFault:
    """The first error of a Salesforce error body, in one shape."""

    http_status: int
    error_code: str | None
    message: str
    fields: tuple[str, ...] = ()


def parse_error_body(http_status: int, content: Any) -> SalesforceFault:
    """Salesforce error bodies: ``[{"errorCode", "message", "fields"}]`` (REST, Bulk 2.0),
    ``{"error", "error_description"}`` (OAuth), or a list of matches for HTTP 300."""
    if isinstance(content, bytes | str):
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        try:
            content = json.loads(text)
        except ValueError:
            return SalesforceFault(http_status, None, text.strip()[:500])
    if http_status == 300:
        count = len(content) if isinstance(content, list) else None
        what = f"{count} records" if count else "several records"
        return SalesforceFault(300, "MULTIPLE_RECORDS", f"the external id matches {what}")
    first: Any = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict):
        code = first.get("errorCode") or first.get("statusCode") or first.get("error")
        message = first.get("message") or first.get("error_description") or ""
        fields = first.get("fields") or ()
        return SalesforceFault(
            http_status,
            str(code) if code else None,
            str(message),
            tuple(str(f) for f in fields) if isinstance(fields, list | tuple) else (),
        )
    return SalesforceFault(http_status, None, str(content)[:500])


def classify(fault: SalesforceFault) -> type[SfsyncError]:
    """Exception class for a Salesforce error; unknown ones fall back on the HTTP status."""
    if fault.error_code == "REQUEST_LIMIT_EXCEEDED":
        # "TotalRequests Limit exceeded." = the daily allowance is spent: stop cleanly.
        # Everything else (ConcurrentRequests, ConcurrentPerOrgLongTxn) passes with time.
        if "totalrequests" in fault.message.replace(" ", "").lower():
            return ApiAllowanceExhaustedError
        return TransientError
    if fault.http_status == 404:
        return SalesforceApiError
    if fault.error_code in _BY_CODE:
        return _BY_CODE[fault.error_code]
    if fault.http_status in _BY_STATUS:
        return _BY_STATUS[fault.http_status]
    if fault.http_status >= 500:
        return TransientError
    return SalesforceApiError


def error_for(fault: SalesforceFault, what: str, context: ErrorContext) -> SfsyncError:
    """Build the sfsync exception for ``fault``; ``what`` says which call failed."""
    cls = classify(fault)
    code = fault.error_code or f"HTTP_{fault.http_status}"
    ctx = ErrorContext(
        sobject=context.sobject,
        external_id=context.external_id,
        status_code=code,
        sf_message=fault.message or None,
        http_status=fault.http_status,
        fields=fault.fields,
        extra=dict(context.extra),
    )
    if cls is ApiAllowanceExhaustedError:
        return cls("daily API allowance exhausted (REQUEST_LIMIT_EXCEEDED: TotalRequests)", ctx)
    if cls is SessionExpiredError:
        return cls(f"{what}: session expired or invalid", ctx)
    return cls(f"{what} failed", ctx)


def translate(exc: SalesforceError, what: str, context: ErrorContext | None = None) -> SfsyncError:
    """simple-salesforce exception -> sfsync exception (the caller does ``raise ... from exc``)."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        code = str(exc.code) if exc.code is not None else None
        return AuthenticationError(
            f"{what}: Salesforce refused the login",
            ErrorContext(status_code=code, sf_message=exc.auth_message or None),
        )
    fault = parse_error_body(int(exc.status), exc.content)
    return error_for(fault, what, context or ErrorContext())


def transport_error(
    exc: requests.RequestException, what: str, context: ErrorContext, url: str | None = None
) -> SfsyncError:
    """Timeouts and connection failures are transient; anything else from requests is a bug/config.

    The message names the host and the cause (DNS, refused, TLS, timeout, reset) once; the cause's
    code goes into ``context.status_code`` (and so into dead letters and ``--json`` errors).
    """
    host = _host_of(exc, url)
    if isinstance(exc, requests.Timeout | requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        code, cause = transport_cause(exc)
        return TransientError(f"{what}: {host}: {cause}", _with_code(context, code, host))
    return SalesforceApiError(f"{what}: {host}: HTTP request could not be made ({type(exc).__name__})", context)


def transport_cause(exc: BaseException) -> tuple[str, str]:
    """(code, words) for a failed HTTP exchange: DNS, REFUSED, TLS, CONNECT_TIMEOUT, READ_TIMEOUT, RESET, ..."""
    from ._session import BudgetSpentError

    chain = _exception_chain(exc)
    if isinstance(exc, BudgetSpentError):
        return "TIMEOUT", "time budget spent (salesforce.max_retry_seconds)"
    if any(isinstance(item, socket.gaierror) for item in chain) or any(
        type(item).__name__ == "NameResolutionError" for item in chain
    ):
        return "DNS", "host name does not resolve"
    if isinstance(exc, requests.exceptions.SSLError) or any(isinstance(item, ssl.SSLError) for item in chain):
        reason = next((item for item in chain if isinstance(item, ssl.SSLError)), None)
        words = (reason.reason or reason.strerror) if reason is not None else None
        detail = f": {words}" if words else ""
        return "TLS", f"TLS handshake failed{detail}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "CONNECT_TIMEOUT", "no connection within the connect timeout"
    if isinstance(exc, requests.Timeout):
        return "READ_TIMEOUT", "connected, but no answer within the read timeout"
    if any(isinstance(item, ConnectionRefusedError) for item in chain):
        return "REFUSED", "connection refused"
    if any(isinstance(item, ConnectionResetError) for item in chain):
        return "RESET", "connection reset by the server"
    if any(type(item).__name__ in ("RemoteDisconnected", "ProtocolError", "IncompleteRead") for item in chain) or (
        isinstance(exc, requests.exceptions.ChunkedEncodingError)
    ):
        return "DISCONNECTED", "the server closed the connection mid-answer"
    return "CONNECTION_ERROR", f"connection failed ({type(chain[-1]).__name__})"


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests -> urllib3 MaxRetryError.reason -> socket errors."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 20:
        item = pending.pop(0)
        if any(item is known for known in seen):
            continue
        seen.append(item)
        pending.extend(arg for arg in item.args if isinstance(arg, BaseException))
        for attribute in ("reason", "__cause__", "__context__"):
            linked = getattr(item, attribute, None)
            if isinstance(linked, BaseException):
                pending.append(linked)
    return seen


def _host_of(exc: requests.RequestException, url: str | None) -> str:
    request_url = url or (exc.request.url if exc.request is not None and exc.request.url else None)
    if not request_url:
        return "Salesforce"
    parts = urlsplit(str(request_url))
    host = parts.hostname or "Salesforce"
    return f"{host}:{parts.port}" if parts.port else host


def _with_code(context: ErrorContext, code: str, host: str | None = None) -> ErrorContext:
    extra = dict(context.extra)
    if host is not None:
        extra["host"] = host
    return ErrorContext(sobject=context.sobject, external_id=context.external_id, status_code=code, extra=extra)
