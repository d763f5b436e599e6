"""SalesforceGateway: every sfsync call to Salesforce goes through here.

What it adds to simple-salesforce (whose login flows, quoting and exception types it uses):

* a timeout on every request (see ``_session``), bounded retries with exponential backoff and
  jitter (tenacity), one re-login on ``INVALID_SESSION_ID`` instead of simple-salesforce's
  unbounded ``SFType`` recursion;
* an API budget read from ``Sforce-Limit-Info`` and a count of every API request made;
* upserts by external id through sObject Collections (200 a call) or Bulk API 2.0 (never bulk
  v1, which drops a trailing one-record batch), with one :class:`RecordResult` per input record.

Retrying writes is safe: upserts are keyed by external id and updates/deletes by Id, so a
request that reached Salesforce before its answer was lost only writes the same values again.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlencode, urlsplit

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError
from simple_salesforce.util import exception_handler
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from sfsync.config import AuthMode, SalesforceSettings
from sfsync.errors import (
    ApiAllowanceExhaustedError,
    ApiBudgetExceededError,
    AuthenticationError,
    ErrorContext,
    RecordRejectedError,
    RetriableError,
    RetriesExhaustedError,
    SalesforceApiError,
    SfsyncError,
    UsageError,
)

from . import _bulk
from ._auth import Credentials, login
from ._errors import SessionExpiredError, translate, transport_error
from ._polling import PollPlanner
from ._results import ApiUsage, RecordResult
from ._session import build_session, call_budget, remaining_budget, request_timeout
from ._soql import MAX_URI_BYTES, check_soql, format_external_id, with_row_limit

__all__ = ["BULK_QUERY_PAGE", "COLLECTION_SIZE", "QueryStream", "SalesforceGateway"]

log = logging.getLogger("sfsync.salesforce")

COLLECTION_SIZE = 200  # sObject Collections take at most 200 records a call
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_BACKOFF_BASE = 0.5  # seconds; wait = uniform(0, min(cap, base * 2**attempt)) ("full jitter")
_BACKOFF_CAP = 30.0
_BULK_POLL_CAP = 30.0
_BULK_DONE = frozenset({"JobComplete", "Failed", "Aborted"})
BULK_QUERY_PAGE = 50_000  # rows per Bulk 2.0 query results request (maxRecords)

Mode = Literal["auto", "collections", "bulk"]


def _check_name(kind: str, name: str) -> None:
    """Object and field names go into URL paths: only API names are allowed."""
    if not name or not name[0].isalpha() or not set(name) <= _NAME_CHARS:
        raise UsageError(f"{kind} {name!r} is not a Salesforce API name")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} value to Salesforce")


def _strip_attributes(value: Any) -> Any:
    """Drop Salesforce's ``attributes`` from a record, its parent records and sub-query rows."""
    if isinstance(value, dict):
        return {k: _strip_attributes(v) for k, v in value.items() if k != "attributes"}
    if isinstance(value, list):
        return [_strip_attributes(v) for v in value]
    return value


def _external_id_problem(value: Any) -> str | None:
    if value is None:
        return "has no value"
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"must be a string or an integer, not {type(value).__name__}"
    if str(value).strip() == "":
        return "is empty"
    return None


def _is_salesforce_id(value: object) -> bool:
    return isinstance(value, str) and len(value) in (15, 18) and value.isalnum()


def _collection_body(
    sobject: str, records: Sequence[Mapping[str, Any]], batch: Sequence[int], *, all_or_none: bool
) -> dict[str, Any]:
    """An sObject Collections request body: each record typed, its own ``attributes`` dropped."""
    return {
        "allOrNone": all_or_none,
        "records": [
            {"attributes": {"type": sobject}, **{k: v for k, v in records[i].items() if k != "attributes"}}
            for i in batch
        ],
    }


def _rejected(
    index: int,
    key: str | None,
    code: str,
    message: str,
    *,
    fields: tuple[str, ...] = (),
    salesforce_id: str | None = None,
) -> RecordResult:
    return RecordResult(
        index=index,
        external_id=key,
        salesforce_id=salesforce_id,
        outcome="rejected",
        status_code=code,
        message=message,
        fields=fields,
    )


def _item_result(
    index: int,
    key: str | None,
    item: Mapping[str, Any],
    salesforce_id: str | None = None,
    success_outcome: Literal["created", "updated"] | None = None,
) -> RecordResult:
    """One entry of a Collections answer (``{"id", "success", "created", "errors"}``)."""
    sf_id = item.get("id") or salesforce_id
    if item.get("success"):
        outcome: Literal["created", "updated"] = success_outcome or ("created" if item.get("created") else "updated")
        return RecordResult(index=index, external_id=key, salesforce_id=sf_id, outcome=outcome)
    errors = [e for e in item.get("errors") or [] if isinstance(e, Mapping)]
    code = str(errors[0].get("statusCode") or "UNKNOWN_ERROR") if errors else "UNKNOWN_ERROR"
    message = "; ".join(str(e.get("message") or "") for e in errors if e.get("message")) or None
    fields: dict[str, None] = {}
    for error in errors:
        for name in error.get("fields") or ():
            fields.setdefault(str(name), None)
    return RecordResult(
        index=index,
        external_id=key,
        salesforce_id=sf_id,
        outcome="rejected",
        status_code=code,
        message=message,
        fields=tuple(fields),
    )


def _locked(item: Mapping[str, Any]) -> bool:
    return not item.get("success") and any(
        isinstance(e, Mapping) and e.get("statusCode") == "UNABLE_TO_LOCK_ROW" for e in item.get("errors") or []
    )


class _StopWhenIdleExceeds(stop_base):
    """Stop before the summed backoff passes the budget (counts requested sleeps, so an injected
    no-op ``sleep`` in tests is bounded the same way as real time)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.seconds


# An attempt given less time than this could only time out.
_MINIMUM_ATTEMPT_SECONDS = 0.25


class _StopBeforeBudgetEnds(stop_base):
    """Stop when the next backoff would leave the call's budget (``call_budget``) too little for an
    attempt: the last error then stays the real cause (DNS, refused, ...), not "budget spent"."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        remaining = remaining_budget()
        return remaining is not None and remaining - retry_state.upcoming_sleep < _MINIMUM_ATTEMPT_SECONDS


def _server_time(response: requests.Response) -> datetime | None:
    """The org's clock from the HTTP ``Date`` header (whole seconds, rounded down), if any."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        return parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None


class QueryStream(Iterator[dict[str, Any]]):
    """The records of one query, read lazily; ``server_time`` is the org's clock when it ran.

    ``server_time`` (from the ``Date`` header of the first answer, so never later than the moment
    the query saw the data) is known once the first record was asked for, or once the stream is
    exhausted. ``transport`` says whether REST pages or a Bulk API 2.0 query job carried it.
    """

    def __init__(self, records: Callable[[QueryStream], Iterator[dict[str, Any]]]) -> None:
        self.server_time: datetime | None = None
        self.transport: Literal["rest", "bulk"] = "rest"
        self.total_size: int | None = None
        self._records = records(self)
        self._first: list[dict[str, Any]] = []
        self._failed: BaseException | None = None
        self._done = False

    def start(self) -> None:
        """Run the query now, up to its first record (kept for the reader): another thread can
        have the org work on it while the reader is busy. The reader must not read until this
        returned; an error is raised to the reader at its first read."""
        try:
            self._first.append(next(self._records))
        except StopIteration:
            self._done = True
        except BaseException as exc:  # handed to the reader, who decides
            self._failed = exc

    def __iter__(self) -> QueryStream:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._failed is not None:
            failed, self._failed = self._failed, None
            self._done = True
            raise failed
        if self._first:
            return self._first.pop()
        if self._done:
            raise StopIteration
        return next(self._records)


class SalesforceGateway:
    """Talks to one Salesforce org. Build it with :meth:`connect`.

    Calls may come from several threads at once (the sync pipeline runs a few Bulk jobs in
    parallel): the counters, the API budget and a re-login after an expired session are guarded
    by locks, and ``requests.Session`` pools one connection per concurrent call.
    """

    def __init__(
        self, settings: SalesforceSettings, http: requests.Session, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._settings = settings
        self._http = http
        self._sleep = sleep
        self._timeout = request_timeout(settings)
        self._credentials: Credentials | None = None
        self._describe_cache: dict[str, dict[str, Any]] = {}
        self._api_calls = 0
        self._logins = 0
        self._retries = 0
        self._usage: ApiUsage | None = None
        self._max_upload_bytes = _bulk.MAX_UPLOAD_BYTES
        self._bulk_query_page = BULK_QUERY_PAGE
        self._polls = PollPlanner(settings.bulk_poll_seconds, _BULK_POLL_CAP)
        self._counters = threading.Lock()
        self._login_lock = threading.Lock()
        self._stage_seconds: dict[str, float] = defaultdict(float)
        self._stage_cpu: dict[str, float] = defaultdict(float)

    # ------------------------------------------------------------------ connection

    @classmethod
    def connect(
        cls,
        settings: SalesforceSettings,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> SalesforceGateway:
        """Log in per ``settings.auth`` (token auth makes no call) and return the gateway.

        A ``session`` given here gets the timeout adapter mounted (and the CA bundle set) in place.
        ``sleep`` is what backoff waits call; tests pass a recorder instead of ``time.sleep``.
        """
        gateway = cls(settings, build_session(settings, session), sleep)
        gateway._credentials = gateway._login()
        return gateway

    @property
    def api_calls(self) -> int:
        """API requests made (REST and bulk, retries included, logins excluded)."""
        return self._api_calls

    @property
    def api_usage(self) -> ApiUsage | None:
        """Org-wide daily usage from the last ``Sforce-Limit-Info`` header, if any was seen."""
        return self._usage

    @property
    def stage_seconds(self) -> dict[str, float]:
        """Seconds spent per step of the Bulk path, summed over threads: ``csv_build``, ``upload``
        (create, upload, close), ``server_wait`` (polling until the job is done), ``results``
        (reading the per-row results) and ``query`` (REST pages and Bulk query results)."""
        with self._counters:
            return dict(self._stage_seconds)

    @property
    def stage_cpu_seconds(self) -> dict[str, float]:
        """Like :attr:`stage_seconds`, in CPU seconds of the threads that ran each step (what a
        step costs, whatever else the machine is doing)."""
        with self._counters:
            return dict(self._stage_cpu)

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            elapsed, used = time.perf_counter() - started, time.thread_time() - cpu
            with self._counters:
                self._stage_seconds[stage] += elapsed
                self._stage_cpu[stage] += used

    def _count_retry(self) -> None:
        with self._counters:
            self._retries += 1

    @property
    def retries(self) -> int:
        """How many times a request (or a locked record) was sent again."""
        return self._retries

    @property
    def logins(self) -> int:
        return self._logins

    @property
    def instance_url(self) -> str:
        return self._creds().instance_url

    @property
    def api_version(self) -> str:
        return self._settings.api_version

    def _creds(self) -> Credentials:
        if self._credentials is None:
            raise AuthenticationError("the gateway is not logged in (use SalesforceGateway.connect)")
        return self._credentials

    def _login(self) -> Credentials:
        what = f"Salesforce login ({self._settings.auth.value})"
        started = time.monotonic()
        try:
            with call_budget(self._settings.max_retry_seconds):
                return self._login_attempts(what)
        except RetryError as exc:
            raise self._exhausted(exc, what, started) from None

    def _login_attempts(self, what: str) -> Credentials:
        for attempt in self._retrying():
            with attempt:
                try:
                    credentials = login(self._settings, self._http)
                except requests.RequestException as exc:
                    raise transport_error(exc, what, ErrorContext()) from None
                self._logins += 1 if self._settings.auth is not AuthMode.TOKEN else 0
                return credentials
        raise AssertionError("unreachable")  # pragma: no cover

    def _relogin(self, what: str, stale_token: str | None = None) -> None:
        if self._settings.auth is AuthMode.TOKEN:
            raise AuthenticationError(
                f"{what}: the access token expired or was revoked, and token auth cannot log in again "
                "(set a fresh SFSYNC_SALESFORCE__ACCESS_TOKEN or use jwt/password/client_credentials auth)",
                ErrorContext(status_code="INVALID_SESSION_ID", http_status=401),
            )
        with self._login_lock:
            current = self._credentials
            if stale_token is not None and current is not None and current.access_token != stale_token:
                return  # another thread logged in again meanwhile: use its session
            log.info("session expired; logging in again")
            self._credentials = self._login()

    # ------------------------------------------------------------------ one HTTP call

    def _retrying(self) -> Retrying:
        settings = self._settings

        def before_sleep(state: RetryCallState) -> None:
            self._count_retry()
            error = state.outcome.exception() if state.outcome else None
            log.info("retrying in %.1fs after attempt %d: %s", state.upcoming_sleep, state.attempt_number, error)

        return Retrying(
            stop=stop_any(
                stop_after_attempt(settings.max_attempts),
                stop_after_delay(settings.max_retry_seconds),
                _StopWhenIdleExceeds(settings.max_retry_seconds),
                _StopBeforeBudgetEnds(),
            ),
            wait=wait_random_exponential(multiplier=_BACKOFF_BASE, max=min(_BACKOFF_CAP, settings.max_retry_seconds)),
            retry=retry_if_exception_type(RetriableError),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=False,
        )

    @staticmethod
    def _exhausted(exc: RetryError, what: str, started: float) -> RetriesExhaustedError:
        last = exc.last_attempt.exception()
        attempts = exc.last_attempt.attempt_number
        if isinstance(last, SfsyncError):
            context = last.context
            # the last error already starts with ``what``: say it once (its code follows from the context)
            detail = last.message.removeprefix(f"{what}: ")
            if detail == f"{what} failed":
                detail = "Salesforce answered with an error"
        else:  # pragma: no cover - only SfsyncErrors are retried
            context, detail = ErrorContext(), repr(last)
        tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
        seconds = time.monotonic() - started
        return RetriesExhaustedError(f"{what}: gave up after {tries} in {seconds:.1f}s; last: {detail}", context)

    def _url(self, path: str) -> str:
        base = self._creds().instance_url
        if path.startswith(("https://", "http://")):
            return path
        if path.startswith("/"):
            return base + path
        return f"{base}/services/data/v{self._settings.api_version}/{path}"

    def _check_budget(self, what: str) -> None:
        usage = self._usage
        if usage is not None and usage.fraction >= self._settings.api_usage_ceiling:
            raise ApiBudgetExceededError(
                f"{what}: not sent, the org has used {usage.used:,} of {usage.limit:,} daily API requests "
                f"({usage.fraction:.1%}), at or past the configured ceiling "
                f"salesforce.api_usage_ceiling = {self._settings.api_usage_ceiling}",
                ErrorContext(extra={"api_used": usage.used, "api_limit": usage.limit}),
            )

    def _note_usage(self, response: requests.Response) -> None:
        header = response.headers.get("Sforce-Limit-Info")
        if not header:
            return
        usage = Salesforce.parse_api_usage(header).get("api-usage")
        if usage is not None:
            with self._counters:
                self._usage = ApiUsage(used=int(usage.used), limit=int(usage.total))

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        context: ErrorContext,
        params: Mapping[str, str] | None,
        data: bytes | None,
        content_type: str | None,
        records: int | None,
        accept: str = "application/json",
        extra_headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Exactly one HTTP request (counted), or a translated sfsync error."""
        self._check_budget(what)
        url = self._url(path)
        headers = {
            **(extra_headers or {}),
            "Authorization": f"Bearer {self._creds().access_token}",
            "Accept": accept,
        }
        if content_type:
            headers["Content-Type"] = content_type
        with self._counters:
            self._api_calls += 1
        started = time.monotonic()
        log_path = urlsplit(url).path + (f"?{'&'.join(sorted(params))}" if params else "")
        try:
            response = self._http.request(method, url, params=params, data=data, headers=headers, timeout=self._timeout)
        except requests.RequestException as exc:
            log.debug(
                "%s %s -> %s (%s records, %.2fs)",
                method,
                log_path,
                type(exc).__name__,
                records if records is not None else "-",
                time.monotonic() - started,
            )
            raise transport_error(exc, what, context, url) from None
        self._note_usage(response)
        log.debug(
            "%s %s -> %d (%s records, %.2fs)",
            method,
            log_path,
            response.status_code,
            records if records is not None else "-",
            time.monotonic() - started,
        )
        if response.status_code >= 300:
            try:
                exception_handler(response, name=urlsplit(url).path)
            except SalesforceError as exc:
                error = translate(exc, what, context)
                if isinstance(error, ApiAllowanceExhaustedError) and self._usage is not None:
                    usage = self._usage
                    error = ApiAllowanceExhaustedError(
                        f"{error.message}; the org has used {usage.used:,} of {usage.limit:,} daily API requests",
                        error.context,
                    )
                    error.context.extra.update(api_used=usage.used, api_limit=usage.limit)
                raise error from exc
        return response

    def _call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        context: ErrorContext | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        content_type: str | None = None,
        records: int | None = None,
        rejectable: bool = False,
        retry: bool = True,
        accept: str = "application/json",
        extra_headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One logical call: retried with backoff, one re-login on an expired session.

        ``rejectable``: a 400/300 answer means "these records were refused" (the caller maps
        it to rejected results); otherwise such an answer is a fatal SalesforceApiError.
        ``retry=False``: one attempt (plus the re-login, since a 401 was not processed); a
        transient failure is raised as is, for a caller that must retry at a higher level.
        """
        context = context or ErrorContext(extra={})
        if json_body is not None:
            data = json.dumps(json_body, default=_json_default, separators=(",", ":")).encode("utf-8")
            content_type = content_type or "application/json"

        def attempt_once() -> requests.Response:
            kwargs: dict[str, Any] = {
                "what": what,
                "context": context,
                "params": params,
                "data": data,
                "content_type": content_type,
                "records": records,
                "accept": accept,
                "extra_headers": extra_headers,
            }
            token = self._creds().access_token
            try:
                return self._send(method, path, **kwargs)
            except SessionExpiredError:
                self._relogin(what, token)
                try:
                    return self._send(method, path, **kwargs)
                except SessionExpiredError as again:
                    raise AuthenticationError(
                        f"{what}: Salesforce refused the session again right after a fresh login", again.context
                    ) from again

        started = time.monotonic()
        try:
            with call_budget(self._settings.max_retry_seconds):
                if not retry:
                    return attempt_once()
                for attempt in self._retrying():
                    with attempt:
                        return attempt_once()
        except RetryError as exc:
            raise self._exhausted(exc, what, started) from exc.last_attempt.exception()
        except RecordRejectedError as exc:
            if rejectable:
                raise
            raise SalesforceApiError(exc.message, exc.context) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ reads

    def describe_global(self) -> dict[str, Any]:
        """Salesforce's describeGlobal JSON (``GET sobjects/``): the objects the org has."""
        response = self._call("GET", "sobjects/", what="describe global", context=ErrorContext(extra={}))
        payload: dict[str, Any] = response.json()
        return payload

    def describe(self, sobject: str) -> dict[str, Any]:
        """Salesforce's describe JSON for ``sobject``, fetched once per gateway."""
        _check_name("object", sobject)
        cached = self._describe_cache.get(sobject)
        if cached is None:
            try:
                response = self._call(
                    "GET",
                    f"sobjects/{sobject}/describe/",
                    what=f"describe {sobject}",
                    context=ErrorContext(sobject=sobject, extra={}),
                )
            except SalesforceApiError as exc:
                if exc.context.http_status == 404:
                    raise SalesforceApiError(f"unknown Salesforce object {sobject!r}", exc.context) from exc
                raise
            cached = response.json()
            self._describe_cache[sobject] = cached
        return cached

    def limits(self) -> dict[str, Any]:
        """The org's ``/limits`` (DailyApiRequests, DailyBulkV2QueryJobs, ...)."""
        result: dict[str, Any] = self._call("GET", "limits/", what="read limits").json()
        return result

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Stream the records of ``soql`` page by page (``nextRecordsUrl``), without ``attributes``.

        ``include_deleted`` uses ``queryAll`` (soft-deleted and archived rows, ``IsDeleted``).
        Build ``soql`` with :func:`format_soql`; the statement is checked before any call.
        """
        return self.query_stream(soql, include_deleted=include_deleted)

    def query_stream(
        self, soql: str, *, include_deleted: bool = False, bulk_threshold: int | None = None, at_least: int = 0
    ) -> QueryStream:
        """Like :meth:`query`, and the result says when the org ran it (``server_time``).

        With ``bulk_threshold``, a result of more rows than that is read through a Bulk API 2.0
        query job instead of REST pages of 2,000. The first REST call asks for at most
        ``bulk_threshold + 1`` rows (``LIMIT``): its ``totalSize`` says which way to go, the org
        does not build (and keep open) a cursor over a large result only to have it dropped, and a
        small result is read whole from it. The job's CSV results are streamed ``BULK_QUERY_PAGE``
        rows a request (``locator`` paging), typed like REST values (describe gives the field types).
        Bulk 2.0 ignores ORDER BY for chunking; callers that use it must not rely on row order.

        ``at_least``: rows the caller knows the result holds (the records it has just written, for
        a pull after a push). Above ``bulk_threshold`` the statement goes straight to a Bulk query
        job, without the deciding REST call; ``server_time`` is then the ``Date`` of the answer
        that created the job (the job reads the data after it).
        """
        check_soql(soql)
        endpoint = "queryAll/" if include_deleted else "query/"
        if bulk_threshold is not None and at_least > bulk_threshold:
            return QueryStream(lambda stream: self._bulk_query(soql, include_deleted=include_deleted, stream=stream))
        probe = with_row_limit(soql, bulk_threshold + 1) if bulk_threshold is not None else None
        # The REST call sends the probe when there is one (a Bulk job gets the statement in its body).
        uri = f"/services/data/v{self._settings.api_version}/{endpoint}?" + urlencode({"q": probe or soql})
        if len(self._creds().instance_url) + len(uri) > MAX_URI_BYTES:
            raise UsageError(
                f"SOQL statement makes a {len(uri):,}-byte URI; Salesforce refuses URIs over {MAX_URI_BYTES:,} "
                "bytes (split long IN lists into several queries)"
            )
        return QueryStream(lambda stream: self._pages(stream, soql, probe, endpoint, bulk_threshold))

    def _pages(
        self, stream: QueryStream, soql: str, probe: str | None, endpoint: str, bulk_threshold: int | None
    ) -> Iterator[dict[str, Any]]:
        what = "queryAll" if endpoint.startswith("queryAll") else "query"
        with self._timed("query"):
            response = self._call("GET", endpoint, params={"q": probe or soql}, what=what)
            page = response.json()
        stream.server_time = _server_time(response)
        stream.total_size = int(page.get("totalSize") or 0)
        more = probe is not None or not page.get("done", True)  # rows the first answer did not bring
        if bulk_threshold is not None and more and stream.total_size > bulk_threshold:
            # More rows than the threshold (the probe's LIMIT was reached, or a statement with its
            # own LIMIT is larger): the whole statement goes to a Bulk query job.
            stream.transport = "bulk"
            stream.total_size = None if probe is not None else stream.total_size
            yield from self._bulk_query(soql, include_deleted=what == "queryAll", stream=stream)
            return
        while True:
            for record in page.get("records") or ():
                yield _strip_attributes(record)
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            with self._timed("query"):
                page = self._call("GET", str(next_url), what=f"{what} (next page)").json()

    def bulk_query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """The records of ``soql`` through a Bulk API 2.0 query job, typed like REST records."""
        check_soql(soql)
        return self._bulk_query(soql, include_deleted=include_deleted)

    def _bulk_query(
        self, soql: str, *, include_deleted: bool, stream: QueryStream | None = None
    ) -> Iterator[dict[str, Any]]:
        what = "bulk query"
        with self._timed("query"):
            created = self._call(
                "POST",
                "jobs/query/",
                what=f"{what}: create job",
                json_body={
                    "operation": "queryAll" if include_deleted else "query",
                    "query": soql,
                    "contentType": "CSV",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                },
            )
            job = created.json()
        if stream is not None and stream.server_time is None:
            stream.server_time = _server_time(created)
            stream.transport = "bulk"
        job_id = str(job["id"])
        context = ErrorContext(sobject=str(job.get("object") or "") or None, extra={"bulk_job": job_id})
        with self._timed("server_wait"):
            info = self._wait_for_job(job_id, what, context, kind="query")
        state = str(info.get("state"))
        if state != "JobComplete":
            raise SalesforceApiError(
                f"{what}: job {job_id} ended in state {state}: {info.get('errorMessage') or '-'}", context
            )
        sobject = str(info.get("object") or job.get("object") or "")
        typer: _bulk.RecordTyper | None = None
        locator: str | None = None
        while True:
            params = {"maxRecords": str(self._bulk_query_page)}
            if locator:
                params["locator"] = locator
            with self._timed("query"):
                response = self._call(
                    "GET",
                    f"jobs/query/{job_id}/results",
                    params=params,
                    accept="text/csv",
                    what=f"{what}: results",
                    context=context,
                )
            header, rows = _bulk.read_csv_rows(response.content.decode("utf-8-sig"))
            first = next(rows, None)
            if first is not None:
                # types from describe, once there is a row (a page with no rows needs none)
                if typer is None or typer.header != tuple(header):
                    typer = _bulk.RecordTyper(header, self._column_types(sobject, header))
                yield typer(first)
                for cells in rows:
                    yield typer(cells)
            locator = response.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return

    def _column_types(self, sobject: str, columns: Sequence[str]) -> dict[str, str | None]:
        """Describe type per CSV column (``Parent__r.Field__c`` through the parent's describe)."""
        types: dict[str, str | None] = {}
        for column in columns:
            obj, *path = column.split(".")
            current: str | None = sobject
            field_type: str | None = None
            parts = [obj, *path]
            for position, part in enumerate(parts):
                if not current:
                    break
                fields = self.describe(current).get("fields") or []
                last = position == len(parts) - 1
                if last:
                    found = next((f for f in fields if f.get("name") == part), None)
                    field_type = str(found.get("type")) if found else None
                else:
                    found = next((f for f in fields if f.get("relationshipName") == part), None)
                    targets = (found or {}).get("referenceTo") or []
                    current = str(targets[0]) if targets else None
            types[column] = field_type
        return types

    # ------------------------------------------------------------------ writes

    def upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        mode: Mode = "auto",
    ) -> list[RecordResult]:
        """Upsert by external id; one result per input record, in input order.

        ``mode="auto"`` uses sObject Collections (200 a call) up to ``settings.bulk_threshold``
        records and Bulk API 2.0 above it. ``all_or_none`` applies per Collections call (200
        records) and forces Collections, since Bulk 2.0 has no all-or-none.
        """
        _check_name("object", sobject)
        _check_name("external id field", external_id_field)
        if mode not in ("auto", "collections", "bulk"):
            raise UsageError(f"upsert mode must be auto, collections or bulk, not {mode!r}")
        if mode == "bulk" and all_or_none:
            raise UsageError("Bulk API 2.0 has no all-or-none; use mode='collections'")
        results: dict[int, RecordResult] = {}
        keys: dict[int, str] = {}
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise UsageError(f"record {index} is a {type(record).__name__}, not a mapping")
            value = record.get(external_id_field)
            problem = _external_id_problem(value)
            if problem is not None:
                results[index] = _rejected(
                    index,
                    None,
                    "MISSING_EXTERNAL_ID",
                    f"external id field {external_id_field} {problem}",
                    fields=(external_id_field,),
                )
            else:
                keys[index] = str(value)
        valid = sorted(keys)
        if all_or_none and results and valid:
            for index in valid:
                results[index] = _rejected(
                    index,
                    keys[index],
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "not sent: another record of this all-or-none call is invalid",
                )
            valid = []
        use_bulk = mode == "bulk" or (mode == "auto" and not all_or_none and len(valid) > self._settings.bulk_threshold)
        if valid and use_bulk:
            results.update(self._upsert_bulk(sobject, external_id_field, records, valid, keys))
        elif valid:
            results.update(
                self._upsert_collections(sobject, external_id_field, records, valid, keys, all_or_none=all_or_none)
            )
        return [results[i] for i in range(len(records))]

    def _upsert_collections(
        self,
        sobject: str,
        field: str,
        records: Sequence[Mapping[str, Any]],
        indexes: Sequence[int],
        keys: Mapping[int, str],
        *,
        all_or_none: bool,
    ) -> dict[int, RecordResult]:
        path = f"composite/sobjects/{sobject}/{field}"

        def send(batch: list[int]) -> list[Any]:
            body = _collection_body(sobject, records, batch, all_or_none=all_or_none)
            response = self._call(
                "PATCH",
                path,
                json_body=body,
                what=f"upsert {sobject}",
                context=ErrorContext(sobject=sobject, extra={}),
                records=len(batch),
                rejectable=True,
            )
            items: list[Any] = response.json()
            return items

        results: dict[int, RecordResult] = {}
        for start in range(0, len(indexes), COLLECTION_SIZE):
            chunk = list(indexes[start : start + COLLECTION_SIZE])
            results.update(
                self._collection_chunk(
                    chunk,
                    send,
                    to_result=lambda i, item: _item_result(i, keys[i], item),
                    key_of=lambda i: keys[i],
                    sf_id_of=None,
                    all_or_none=all_or_none,
                )
            )
        return results

    def _collection_chunk(
        self,
        chunk: list[int],
        send: Callable[[list[int]], list[Any]],
        *,
        to_result: Callable[[int, Mapping[str, Any]], RecordResult],
        key_of: Callable[[int], str | None],
        sf_id_of: Callable[[int], str | None] | None,
        all_or_none: bool,
    ) -> dict[int, RecordResult]:
        """Send one Collections chunk; re-send only the records that hit UNABLE_TO_LOCK_ROW.

        Lock re-sends share the ``max_attempts`` bound; a record still locked after that is
        rejected with UNABLE_TO_LOCK_ROW (dead-lettered and retried by a later run) rather than
        stopping the run. With all-or-none, Salesforce rolled the whole call back, so the whole
        chunk is re-sent.
        """
        results: dict[int, RecordResult] = {}
        pending = chunk
        last_round = self._settings.max_attempts
        for round_number in range(1, last_round + 1):
            try:
                items = send(pending)
            except RecordRejectedError as exc:
                # The request as a whole was refused (HTTP 400, e.g. a field unknown to every
                # record): each record of the chunk carries that error; the run goes on.
                ctx = exc.context
                for i in pending:
                    results[i] = _rejected(
                        i,
                        key_of(i),
                        ctx.status_code or "REJECTED",
                        ctx.sf_message or exc.message,
                        fields=ctx.fields,
                        salesforce_id=sf_id_of(i) if sf_id_of else None,
                    )
                return results
            if not isinstance(items, list) or len(items) != len(pending):
                raise SalesforceApiError(
                    f"Salesforce answered {len(items) if isinstance(items, list) else 'no list of'} results "
                    f"for {len(pending)} records"
                )
            locked = {i for i, item in zip(pending, items, strict=True) if _locked(item)}
            retry = list(pending) if (locked and all_or_none) else [i for i in pending if i in locked]
            if not retry or round_number == last_round:
                for i, item in zip(pending, items, strict=True):
                    result = to_result(i, item)
                    if i in locked:
                        result = result.model_copy(
                            update={
                                "message": f"{result.message or 'record locked'} (still locked after {last_round} "
                                "attempts)"
                            }
                        )
                    results[i] = result
                return results
            for i, item in zip(pending, items, strict=True):
                if i not in retry:
                    results[i] = to_result(i, item)
            self._count_retry()
            delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**round_number))
            log.info("%d record(s) locked (UNABLE_TO_LOCK_ROW); re-sending them in %.1fs", len(retry), delay)
            self._sleep(delay)
            pending = retry
        return results

    def _upsert_single(self, sobject: str, field: str, record: Mapping[str, Any], index: int = 0) -> RecordResult:
        """One record by ``PATCH sobjects/{Obj}/{Field}/{value}`` (the per-record baseline)."""
        _check_name("object", sobject)
        _check_name("external id field", field)
        value = record.get(field)
        problem = _external_id_problem(value)
        if problem is not None:
            return _rejected(
                index, None, "MISSING_EXTERNAL_ID", f"external id field {field} {problem}", fields=(field,)
            )
        key = str(value)
        body = {k: v for k, v in record.items() if k not in (field, "attributes")}
        try:
            response = self._call(
                "PATCH",
                f"sobjects/{sobject}/{format_external_id(field, key)}",
                json_body=body,
                what=f"upsert {sobject}",
                records=1,
                rejectable=True,
                context=ErrorContext(sobject=sobject, external_id=key, extra={}),
            )
        except RecordRejectedError as exc:
            ctx = exc.context
            return _rejected(
                index, key, ctx.status_code or "REJECTED", ctx.sf_message or exc.message, fields=ctx.fields
            )
        payload: dict[str, Any] = response.json() if response.content else {}
        created = response.status_code == 201 or bool(payload.get("created"))
        return RecordResult(
            index=index, external_id=key, salesforce_id=payload.get("id"), outcome="created" if created else "updated"
        )

    def update(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Update by ``Id`` through ``PATCH composite/sobjects`` (200 a call)."""
        _check_name("object", sobject)
        results: dict[int, RecordResult] = {}
        ids: dict[int, str] = {}
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise UsageError(f"record {index} is a {type(record).__name__}, not a mapping")
            sf_id = record.get("Id")
            if _is_salesforce_id(sf_id):
                ids[index] = str(sf_id)
            else:
                results[index] = _rejected(index, None, "MALFORMED_ID", "record has no valid Id", fields=("Id",))

        def send(batch: list[int]) -> list[Any]:
            body = _collection_body(sobject, records, batch, all_or_none=False)
            items: list[Any] = self._call(
                "PATCH",
                "composite/sobjects",
                json_body=body,
                what=f"update {sobject}",
                context=ErrorContext(sobject=sobject, extra={}),
                records=len(batch),
                rejectable=True,
            ).json()
            return items

        valid = sorted(ids)
        for start in range(0, len(valid), COLLECTION_SIZE):
            results.update(
                self._collection_chunk(
                    valid[start : start + COLLECTION_SIZE],
                    send,
                    to_result=lambda i, item: _item_result(i, None, item, ids[i], "updated"),
                    key_of=lambda i: None,
                    sf_id_of=lambda i: ids[i],
                    all_or_none=False,
                )
            )
        return [results[i] for i in range(len(records))]

    def update_if_unmodified(
        self, sobject: str, record_id: str, fields: Mapping[str, Any], unmodified_since: datetime
    ) -> RecordResult:
        """Update one record by Id only if nobody modified it after ``unmodified_since``: one call.

        ``PATCH sobjects/{Obj}/{Id}`` with ``If-Unmodified-Since`` (an HTTP-date, whole seconds), which
        Salesforce compares with the record's LastModifiedDate. A record modified since is answered
        ``412 Precondition Failed`` and left as it is: the result is rejected with status code
        ``ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK``; a deleted record is rejected with
        ``ENTITY_IS_DELETED`` (or ``NOT_FOUND``). The check is as fine as the header: a change made in
        the same second as ``unmodified_since`` is not seen.
        """
        _check_name("object", sobject)
        if not _is_salesforce_id(record_id):
            return _rejected(0, None, "MALFORMED_ID", "record has no valid Id", fields=("Id",))
        since = format_datetime(unmodified_since.astimezone(UTC).replace(microsecond=0), usegmt=True)
        body = {k: v for k, v in fields.items() if k not in ("Id", "attributes")}
        context = ErrorContext(sobject=sobject, extra={"record_id": record_id})
        try:
            self._call(
                "PATCH",
                f"sobjects/{sobject}/{record_id}",
                json_body=body,
                what=f"update {sobject}",
                context=context,
                records=1,
                rejectable=True,
                extra_headers={"If-Unmodified-Since": since},
            )
        except RecordRejectedError as exc:
            ctx = exc.context
            return _rejected(0, None, ctx.status_code or "REJECTED", ctx.sf_message or exc.message, fields=ctx.fields)
        except SalesforceApiError as exc:
            if exc.context.http_status != 404:
                raise
            ctx = exc.context
            code = ctx.status_code if ctx.status_code in ("ENTITY_IS_DELETED", "NOT_FOUND") else "NOT_FOUND"
            return _rejected(0, None, code, ctx.sf_message or exc.message)
        return RecordResult(index=0, external_id=None, salesforce_id=record_id, outcome="updated")

    def delete(self, ids: Sequence[str]) -> list[RecordResult]:
        """Delete by Id through ``DELETE composite/sobjects?ids=`` (200 a call).

        A record already deleted (``ENTITY_IS_DELETED``) counts as done, so a retried delete is
        idempotent; success is reported as outcome ``updated``.
        """
        results: dict[int, RecordResult] = {}
        valid: list[int] = []
        for index, sf_id in enumerate(ids):
            if _is_salesforce_id(sf_id):
                valid.append(index)
            else:
                results[index] = _rejected(
                    index, None, "MALFORMED_ID", f"not a Salesforce Id: {sf_id!r}", fields=("Id",)
                )

        def send(batch: list[int]) -> list[Any]:
            items: list[Any] = self._call(
                "DELETE",
                "composite/sobjects",
                params={"ids": ",".join(ids[i] for i in batch), "allOrNone": "false"},
                what="delete",
                records=len(batch),
                rejectable=True,
            ).json()
            return items

        def to_result(i: int, item: Mapping[str, Any]) -> RecordResult:
            errors = item.get("errors") or []
            if (
                not item.get("success")
                and errors
                and all(isinstance(e, Mapping) and e.get("statusCode") == "ENTITY_IS_DELETED" for e in errors)
            ):
                return RecordResult(
                    index=i,
                    external_id=None,
                    salesforce_id=ids[i],
                    outcome="updated",
                    status_code="ENTITY_IS_DELETED",
                    message="already deleted",
                )
            return _item_result(i, None, item, ids[i], "updated")

        for start in range(0, len(valid), COLLECTION_SIZE):
            results.update(
                self._collection_chunk(
                    valid[start : start + COLLECTION_SIZE],
                    send,
                    to_result=to_result,
                    key_of=lambda i: None,
                    sf_id_of=lambda i: ids[i],
                    all_or_none=False,
                )
            )
        return [results[i] for i in range(len(ids))]

    # ------------------------------------------------------------------ Bulk API 2.0

    def _upsert_bulk(
        self,
        sobject: str,
        field: str,
        records: Sequence[Mapping[str, Any]],
        indexes: Sequence[int],
        keys: Mapping[int, str],
    ) -> dict[int, RecordResult]:
        """Bulk 2.0 upsert: one job per ≤100 MB CSV. Rows that failed on UNABLE_TO_LOCK_ROW are
        re-sent once through Collections (which retries locks itself); unprocessed rows are
        rejected with status ``UNPROCESSED`` — a rerun picks them up."""
        results: dict[int, RecordResult] = {}
        try:
            with self._timed("csv_build"):
                parts = list(_bulk.build_csv_parts(records, indexes, self._max_upload_bytes))
        except ValueError as exc:
            raise UsageError(f"bulk upsert of {sobject}: {exc}") from None
        for part in parts:
            results.update(self._bulk_job(sobject, field, part, keys))
        locked = sorted(i for i, r in results.items() if r.status_code == "UNABLE_TO_LOCK_ROW")
        if locked:
            log.info("%d bulk row(s) hit UNABLE_TO_LOCK_ROW; re-sending them through sObject Collections", len(locked))
            results.update(self._upsert_collections(sobject, field, records, locked, keys, all_or_none=False))
        return results

    def _bulk_job(
        self, sobject: str, field: str, part: _bulk.CsvPart, keys: Mapping[int, str]
    ) -> dict[int, RecordResult]:
        what = f"bulk upsert {sobject}"
        with self._timed("upload"):
            job_id, context = self._start_bulk_job(sobject, field, part, what)
        with self._timed("server_wait"):
            info = self._wait_for_job(job_id, what, context, rows=len(part.indexes))
        state = str(info.get("state"))
        job_error = str(info.get("errorMessage") or "") or None

        def rows(kind: str, *wanted: str) -> Iterator[tuple[str, ...]]:
            """The ``wanted`` cells of each result row. A result echoes every column uploaded
            (ciphertexts included); only the key and the outcome columns are read, by position."""
            with self._timed("results"):
                response = self._call(
                    "GET", f"jobs/ingest/{job_id}/{kind}/", what=f"{what}: {kind}", context=context, accept="text/csv"
                )
            header, cells = _bulk.read_csv_rows(response.content.decode("utf-8-sig"))
            positions = [header.index(name) if name in header else -1 for name in wanted]
            for row in cells:
                # a short row (never sent by Salesforce) reads as empty cells
                yield tuple(row[p] if 0 <= p < len(row) else "" for p in positions)

        matcher = _bulk.RowMatcher(keys, part.indexes)
        results: dict[int, RecordResult] = {}
        for ext_id, created_text, sf_id in rows("successfulResults", field, "sf__Created", "sf__Id"):
            index = matcher.take(ext_id)
            if index is not None:
                results[index] = RecordResult(
                    index=index,
                    external_id=keys[index],
                    salesforce_id=sf_id or None,
                    outcome="created" if created_text.lower() == "true" else "updated",
                )
        # A completed job that reports no failure has an empty failedResults: not asked for (one
        # call and one result file less per job). Any other end state reads it.
        no_failures = state == "JobComplete" and info.get("numberRecordsFailed") == 0
        failures = () if no_failures else rows("failedResults", field, "sf__Error", "sf__Id")
        for ext_id, error_text, sf_id in failures:
            index = matcher.take(ext_id)
            if index is not None:
                error = _bulk.parse_bulk_error(error_text)
                results[index] = _rejected(
                    index,
                    keys[index],
                    error.status_code,
                    error.message,
                    fields=error.fields,
                    salesforce_id=sf_id or None,
                )
        unprocessed = f"not processed by bulk job {job_id} (state {state})" + (f": {job_error}" if job_error else "")
        for index in matcher.remaining():
            results[index] = _rejected(index, keys[index], "UNPROCESSED", unprocessed)
        if job_error or state != "JobComplete":
            log.warning("bulk job %s ended in state %s: %s", job_id, state, job_error or "-")
        return results

    def _start_bulk_job(self, sobject: str, field: str, part: _bulk.CsvPart, what: str) -> tuple[str, ErrorContext]:
        """Create a job, upload the CSV, close the job; returns the job id.

        The upload is never re-sent into the same job: if its answer was lost, Salesforce may
        already hold the rows, and a second upload would double them (every row would then fail
        as a duplicate external id). A failed upload aborts the job and starts a new one instead,
        within ``max_attempts``.
        """
        last_round = self._settings.max_attempts
        for round_number in range(1, last_round + 1):
            job = self._call(
                "POST",
                "jobs/ingest/",
                what=f"{what}: create job",
                json_body={
                    "object": sobject,
                    "externalIdFieldName": field,
                    "contentType": "CSV",
                    "operation": "upsert",
                    "lineEnding": "LF",
                    "columnDelimiter": "COMMA",
                },
                context=ErrorContext(sobject=sobject),
            ).json()
            job_id = str(job["id"])
            context = ErrorContext(sobject=sobject, extra={"bulk_job": job_id})
            try:
                self._call(
                    "PUT",
                    f"jobs/ingest/{job_id}/batches",
                    data=part.data,
                    content_type="text/csv",
                    what=f"{what}: upload",
                    context=context,
                    records=len(part.indexes),
                    retry=False,
                )
            except RetriableError as exc:
                self._abort_job(job_id, what, context)
                if round_number == last_round:
                    raise RetriesExhaustedError(
                        f"{what}: upload failed {last_round} times (last: {exc.context.status_code or exc.message})",
                        exc.context,
                    ) from exc
                self._count_retry()
                delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**round_number))
                log.info("bulk upload of job %s failed (%s); starting a new job in %.1fs", job_id, exc, delay)
                self._sleep(delay)
                continue
            try:
                self._call(
                    "PATCH",
                    f"jobs/ingest/{job_id}/",
                    json_body={"state": "UploadComplete"},
                    what=f"{what}: close job",
                    context=context,
                )
            except SalesforceApiError:
                # a close whose answer was lost, then retried, meets a job that is no longer Open
                info = self._call("GET", f"jobs/ingest/{job_id}/", what=f"{what}: poll", context=context).json()
                if str(info.get("state")) == "Open":
                    raise
            return job_id, context
        raise AssertionError("unreachable")  # pragma: no cover

    def _abort_job(
        self, job_id: str, what: str, context: ErrorContext, kind: Literal["ingest", "query"] = "ingest"
    ) -> None:
        try:
            self._call(
                "PATCH",
                f"jobs/{kind}/{job_id}/",
                json_body={"state": "Aborted"},
                what=f"{what}: abort",
                context=context,
            )
        except SfsyncError as exc:
            if isinstance(exc, ApiBudgetExceededError | ApiAllowanceExhaustedError | AuthenticationError):
                raise
            if exc.context.status_code == "INVALIDJOBSTATE":  # already aborted (a lost answer, retried)
                return
            log.warning("could not abort bulk job %s: %s", job_id, exc)

    def _wait_for_job(
        self,
        job_id: str,
        what: str,
        context: ErrorContext,
        kind: Literal["ingest", "query"] = "ingest",
        *,
        rows: int = 1,
    ) -> dict[str, Any]:
        """Poll until the job is done; the delays come from the jobs already seen (``PollPlanner``).

        ``rows``: the job's size (a query job counts as one unit: its size is known only after)."""
        key = f"{kind}:{what}"
        delays = self._polls.delays(key, rows)
        started = time.monotonic()
        waited = 0.0
        running_at = 0.0
        delay = next(delays)
        while True:
            delay = min(delay, max(0.0, self._settings.bulk_timeout_seconds - waited))
            if delay > 0:
                self._sleep(delay)
                waited += delay
            asked = max(waited, time.monotonic() - started)
            info: dict[str, Any] = self._call(
                "GET", f"jobs/{kind}/{job_id}/", what=f"{what}: poll", context=context
            ).json()
            state = str(info.get("state"))
            elapsed = max(waited, time.monotonic() - started)
            if state in _BULK_DONE:
                if state == "JobComplete":
                    # Done by the time the poll was sent, as far as we know: the answer may have
                    # waited behind the org's other work (its other jobs), which is not this job's.
                    self._polls.observe(key, rows, min(running_at, asked), asked)
                return info
            running_at = elapsed
            delay = next(delays)
            if elapsed + delay > self._settings.bulk_timeout_seconds:
                self._abort_job(job_id, what, context, kind)
                raise RetriesExhaustedError(
                    f"{what}: bulk job {job_id} still {state} after {elapsed:.0f}s "
                    f"(salesforce.bulk_timeout_seconds = {self._settings.bulk_timeout_seconds:g}); it was aborted, "
                    "rerun to upsert the rest",
                    context,
                )
