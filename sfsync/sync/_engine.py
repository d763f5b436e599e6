"""The two-way mirror: push portal changes to Salesforce, pull Salesforce decisions back.

Laws kept here (docs/design.md): a watermark only advances over rows that were synced, found unchanged
or dead-lettered (nothing lost); every Salesforce write is an upsert by external id and unchanged
payloads are skipped by fingerprint (idempotent); only the owning side's fields travel each way
(one owner per field); encrypted plaintext is replaced by ciphertext before the payload leaves
this module and is scrubbed from every message kept (no plaintext leak).
"""

from __future__ import annotations

import contextvars
import gc
import logging
import sys
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sfsync.config import Settings
from sfsync.errors import ErrorContext, FatalError, PortalRejectedError, RecordRejectedError, UsageError
from sfsync.mapping import MappingSet, ObjectMapping, RecordMappingError
from sfsync.portal import PortalAdapter
from sfsync.salesforce import ApiUsage, RecordResult, format_soql
from sfsync.sync._fingerprint import fingerprint
from sfsync.sync._lock import run_holder
from sfsync.sync._protect import undecodable_columns
from sfsync.sync._report import DirectionName, MappingRunSummary, PlannedChange, RunReport
from sfsync.sync._state import DeadLetter, LedgerRow, StateStore
from sfsync.text.logfields import bind_log_fields, track_log_counts
from sfsync.text.time import parse_utc

__all__ = ["EngineOptions", "PayloadProtector", "SalesforcePort", "SyncEngine", "SyncOptions"]

# Dead-lettered pull records are re-read by key in chunks this size (a SOQL IN list well under
# the 100,000-character statement limit, even for 40-character keys).
_RETRY_CHUNK = 200

log = logging.getLogger("sfsync.sync")

Direction = Literal["push", "pull", "both"]


class QueryResult(Protocol):
    """Records of one query, and the org's clock when it ran (known once iteration started)."""

    server_time: datetime | None

    def __iter__(self) -> Iterator[dict[str, Any]]: ...

    def start(self) -> None:
        """Run the query up to its first record now (from another thread), before it is read."""
        ...


class SalesforcePort(Protocol):
    """What the engine needs from the Salesforce gateway. ``upsert`` is called from several
    threads at once (the push pipeline); everything else from the engine's own thread."""

    @property
    def api_calls(self) -> int: ...

    @property
    def api_usage(self) -> ApiUsage | None: ...

    @property
    def stage_seconds(self) -> Mapping[str, float]: ...

    @property
    def stage_cpu_seconds(self) -> Mapping[str, float]: ...

    def upsert(
        self,
        sobject: str,
        external_id_field: str,
        records: Sequence[Mapping[str, Any]],
        *,
        all_or_none: bool = False,
        mode: Literal["auto", "collections", "bulk"] = "auto",
    ) -> list[RecordResult]: ...

    def delete(self, ids: Sequence[str]) -> list[RecordResult]: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]: ...

    def query_stream(
        self, soql: str, *, include_deleted: bool = False, bulk_threshold: int | None = None, at_least: int = 0
    ) -> QueryResult: ...


class RenewableLock(Protocol):
    """The run lock as the engine uses it: its lease is renewed after every batch."""

    def renew(self) -> datetime: ...


class PayloadProtector(Protocol):
    """The encryption step of the push: ciphertext and blind indexes in, plaintext out."""

    def protect(self, mapping: ObjectMapping, external_id: str, payload: dict[str, Any]) -> dict[str, Any]: ...

    def fingerprint_key(self) -> bytes: ...


@dataclass(frozen=True)
class SyncOptions:
    dry_run: bool = False
    direction: Direction = "both"
    mappings: tuple[str, ...] = ()
    full: bool = False


@dataclass
class _Outgoing:
    external_id: str
    row_key: Any
    payload: dict[str, Any]
    digest: str
    is_create: bool
    # The portal row: the plaintext a message about this record must not quote (see ``secrets``).
    row: Mapping[str, Any]
    encrypted_columns: tuple[str, ...]

    @property
    def secrets(self) -> tuple[str, ...]:
        """Plaintext of the encrypted columns, scrubbed from any message kept (only needed when
        a record is rejected, so worked out then)."""
        return tuple(str(self.row[c]) for c in self.encrypted_columns if self.row.get(c))


@dataclass
class _Batch:
    """Rows read together; their outcomes are all recorded before the watermark moves."""

    rows: list[dict[str, Any]]
    retried_keys: set[str] = field(default_factory=set)


@dataclass
class _Prepared:
    """A batch after map → fingerprint → protect: what the upsert sends and the ledger step records."""

    rows: int
    now: datetime
    ledger: dict[str, LedgerRow] = field(default_factory=dict)
    outgoing: list[_Outgoing] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # retried dead letters found unchanged
    newest: datetime | None = None  # the push watermark once this batch is recorded


_GC_LOCK = threading.Lock()
_GC_STATE: dict[str, Any] = {"depth": 0, "threshold": None}
_GC_GEN0_THRESHOLD = 20_000
_SWITCH_INTERVAL = 0.001  # seconds; CPython's default is 0.005


@contextmanager
def _gc_for_bulk_work() -> Iterator[None]:
    """The cyclic garbage collector tuned for a sync run, restored after it.

    A run allocates millions of short-lived objects without cycles (rows, payloads, tokens, ledger
    rows), which reference counting frees; but with the default gen-0 threshold (700 allocations)
    the collector traverses the batches in flight thousands of times, and every gen-2 collection
    the whole heap of loaded modules: 15% of the CPU of a 50k-row load. During a run the objects
    alive before it are frozen out of collections (``gc.freeze``) and gen-0 collections come every
    20,000 allocations (measured: GC 1.7 -> 0.6 CPU-seconds, the run 11.4 -> 10.1, at 50k rows).
    Runs that overlap in one process share one setting; the last one out restores it. A process
    that turned the collector off keeps it off.

    The interpreter's thread switch interval is shortened for the run too (5 ms -> 1 ms, unless the
    host set it shorter): the pipeline's worker threads mostly wait on Salesforce, and each of
    their requests (create, upload, close, poll, results) waited up to a whole interval for the
    engine's thread, busy mapping and encrypting, to hand over; Salesforce sat idle meanwhile
    (measured at 50k rows: the org's idle time between calls 1.2-1.6 s -> 0.8-0.9 s, the load
    13.8 -> 13.1 s).
    """
    with _GC_LOCK:
        if _GC_STATE["depth"] == 0:
            interval = sys.getswitchinterval()
            if interval > _SWITCH_INTERVAL:
                _GC_STATE["switch"] = interval
                sys.setswitchinterval(_SWITCH_INTERVAL)
        if _GC_STATE["depth"] == 0 and gc.isenabled():
            threshold = gc.get_threshold()
            _GC_STATE["threshold"] = threshold
            # A host that froze objects itself (a pre-fork server) keeps its own freeze.
            _GC_STATE["froze"] = gc.get_freeze_count() == 0
            if _GC_STATE["froze"]:
                gc.freeze()
            gc.set_threshold(max(threshold[0], _GC_GEN0_THRESHOLD), *threshold[1:])
        _GC_STATE["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_STATE["depth"] -= 1
            if _GC_STATE["depth"] == 0:
                switch = _GC_STATE.pop("switch", None)
                if switch is not None:
                    sys.setswitchinterval(switch)
            if _GC_STATE["depth"] == 0 and _GC_STATE["threshold"] is not None:
                gc.set_threshold(*_GC_STATE["threshold"])
                _GC_STATE["threshold"] = None
                if _GC_STATE.pop("froze", False):
                    gc.unfreeze()


class _Stages(defaultdict[str, float]):
    """Busy seconds per step (wall clock, what the report has always shown) and, in ``cpu``, the
    CPU seconds of the thread that ran it: on a shared machine the CPU figure says what a step
    costs, the wall figure what it cost this time."""

    def __init__(self) -> None:
        super().__init__(float)
        self.cpu: defaultdict[str, float] = defaultdict(float)


@contextmanager
def _timed(stages: _Stages, stage: str) -> Iterator[None]:
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        stages[stage] += time.perf_counter() - started
        stages.cpu[stage] += time.thread_time() - cpu


def _timed_iter(items: Iterable[Any], stages: _Stages, stage: str) -> Iterator[Any]:
    """``items``, with the time spent producing each one added to ``stages[stage]``."""
    iterator = iter(items)
    while True:
        with _timed(stages, stage):
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


class _Pipeline:
    """Push batches in flight: upserted by worker threads, recorded in order by the engine's thread.

    At most ``parallel_jobs`` batches are being sent or processed, and at most twice that many are
    not yet recorded, plus the one being prepared, so memory stays bounded whatever the number of
    rows. A batch whose upsert failed stops the watermark: later batches that did reach
    Salesforce are still recorded in the ledger (so the rerun skips them by fingerprint), but the
    watermark stays behind the failed one.
    """

    def __init__(
        self,
        engine: SyncEngine,
        mapping: ObjectMapping,
        summary: MappingRunSummary,
        options: SyncOptions,
        stages: _Stages,
    ) -> None:
        self._engine = engine
        self._mapping = mapping
        self._summary = summary
        self._options = options
        self._stages = stages
        self._jobs = engine.options.parallel_jobs
        self._inflight: deque[tuple[_Prepared, Future[list[RecordResult]] | None]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._blocked = False
        self._sent = 0  # records handed to Salesforce (upserts submitted)

    def __enter__(self) -> _Pipeline:
        return self

    def submit(self, prepared: _Prepared) -> None:
        # A new job starts as soon as fewer than ``parallel_jobs`` are running, whichever finished:
        # an org that answers the oldest job's polls late (it processes jobs one at a time) does not
        # hold the next upload back. Finished jobs are recorded in order, before the new job only
        # while ``parallel_jobs`` or more wait to be recorded (so with one job in flight nothing
        # else is sent before its outcome is stored; with more, the org gets its next job before
        # the engine records the others), and never more than twice ``parallel_jobs`` wait, so
        # memory stays bounded.
        while self._inflight:
            oldest = self._inflight[0][1]
            if (oldest is None or oldest.done()) and len(self._inflight) >= self._jobs:
                self._record_oldest()
                continue
            if self._running() < self._jobs and len(self._inflight) < 2 * self._jobs:
                break
            with _timed(self._stages, "pipeline_wait"):
                wait([f for _p, f in self._inflight if f is not None and not f.done()], return_when=FIRST_COMPLETED)
        future: Future[list[RecordResult]] | None = None
        if prepared.outgoing and not self._options.dry_run:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._jobs, thread_name_prefix="sfsync-push")
            # The worker thread runs in a copy of this context, so its log lines (the gateway's calls,
            # retries) carry the run id, mapping, direction and live counts like the caller's.
            context = contextvars.copy_context()
            future = self._pool.submit(context.run, self._engine._upsert_step, self._mapping, prepared)
            self._sent += len(prepared.outgoing)
        self._inflight.append((prepared, future))
        # Record whatever is already finished, in order, so the watermark follows closely; not the
        # job just handed over, which the next submit or the end records (by then the caller may
        # have asked to hear when everything is sent: see when_sent).
        while len(self._inflight) > 1 and (self._inflight[0][1] is None or self._inflight[0][1].done()):
            self._record_oldest()

    def when_sent(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(records sent)`` once every upsert submitted so far has come back from
        Salesforce (on the thread of the last one, or this one if all have); nothing is called when
        nothing was sent. The jobs are still recorded in order, by this thread."""
        if not self._sent:
            return
        pending = [f for _p, f in self._inflight if f is not None and not f.done()]
        left = [len(pending)]
        guard = threading.Lock()
        sent = self._sent

        def one_done(_future: Future[list[RecordResult]]) -> None:
            with guard:
                left[0] -= 1
                last = left[0] == 0
            if last:
                callback(sent)

        if not pending:
            callback(sent)
            return
        for future in pending:
            future.add_done_callback(one_done)

    def _running(self) -> int:
        return sum(1 for _prepared, future in self._inflight if future is not None and not future.done())

    def _record_oldest(self) -> None:
        prepared, future = self._inflight.popleft()
        try:
            with _timed(self._stages, "pipeline_wait"):
                results = future.result() if future is not None else []
        except BaseException:
            self._blocked = True
            raise
        engine = self._engine
        try:
            engine._ledger_step(self._mapping, prepared, results, self._summary, self._stages)
        except BaseException:
            # This batch's outcomes are not (all) stored: no later batch may move the watermark
            # past its rows (law 2).
            self._blocked = True
            raise
        if prepared.newest is not None and not self._options.dry_run and not self._blocked:
            with _timed(self._stages, "state_writes"):
                engine.state.set_watermark(self._mapping.name, "push", prepared.newest)
            self._summary.watermark = prepared.newest
        engine._renew_lock()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if exc is None:
                while self._inflight:
                    self._record_oldest()
            elif isinstance(exc, Exception):
                # The read, a preparation or a batch failed. Batches already sent reached
                # Salesforce: record their outcomes (less to resend). The watermark still follows
                # them unless a batch before them failed (then ``_blocked`` is set).
                while self._inflight:
                    try:
                        self._record_oldest()
                    except Exception as later:  # the first error is the one reported
                        log.warning("mapping %s: a batch in flight also failed: %s", self._mapping.name, later)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=exc is None or isinstance(exc, Exception), cancel_futures=True)


class _EarlyQuery:
    """A both-ways mapping's pull query, started as soon as the push's last upsert came back.

    The engine then still records the push's last jobs (ledger, the portal's Salesforce Ids),
    which takes a while on a large load; the org runs the pull's query meanwhile. Only when the
    push sends nothing after its jobs (no dead-letter retries, no deletions): the query reads
    every record the push wrote, and the next pull starts at its clock. Its rows are written back
    after the push's records are stored, as without it.
    """

    def __init__(self, salesforce: SalesforcePort, soql: str, bulk_threshold: int | None) -> None:
        self._salesforce = salesforce
        self._soql = soql
        self._threshold = bulk_threshold
        self._stream: QueryResult | None = None
        self._thread: threading.Thread | None = None
        # API calls made by the query's thread: from the gateway's counter, which nothing else
        # moves meanwhile (the push has sent everything it sends).
        self._calls_before = 0
        self._calls_after: int | None = None
        self._context: contextvars.Context | None = None

    def arm(self) -> Callable[[int], None]:
        """The callback that starts the query; called on the engine's thread, whose log fields
        (the run's id, the mapping) the query's log lines carry, as the pull's."""
        self._context = contextvars.copy_context()
        return self.start

    def start(self, records: int) -> None:
        """Start the query on a thread of its own (called on a pipeline worker thread)."""
        try:
            stream = self._salesforce.query_stream(
                self._soql, include_deleted=True, bulk_threshold=self._threshold, at_least=records
            )
        except Exception as exc:  # the pull builds it again and reports the error itself
            log.debug("the pull's query was not started early: %s", exc)
            return
        self._calls_before = self._salesforce.api_calls
        context = self._context if self._context is not None else contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(self._run, stream), name="sfsync-pull-query", daemon=True)
        self._stream, self._thread = stream, thread
        thread.start()

    def _run(self, stream: QueryResult) -> None:
        try:
            with bind_log_fields(direction="pull"):
                stream.start()
        finally:
            self._calls_after = self._salesforce.api_calls

    def calls_so_far(self) -> int:
        """API calls the query made until now (the push does not count them as its own)."""
        if self._thread is None:
            return 0
        after = self._calls_after if self._calls_after is not None else self._salesforce.api_calls
        return after - self._calls_before

    def take(self) -> QueryResult | None:
        """The started query, once its first record (or error) is in; None if it was not started."""
        if self._thread is None:
            return None
        self._thread.join()
        return self._stream


def _scrub(message: str | None, secrets: Iterable[str]) -> str:
    text = message or ""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


class EngineOptions(BaseModel):
    """How a sync cycle behaves; ``from_settings`` reads them from ``[sync]`` and ``[state]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    overlap: timedelta = timedelta(minutes=5)
    batch_size: int = Field(default=10000, ge=1)
    dead_letter_max_attempts: int = Field(default=5, ge=1)
    dead_letter_backoff: timedelta = timedelta(minutes=5)
    salesforce_delete_policy: Literal["clear_link", "mark_deleted", "delete"] = "clear_link"
    portal_delete_policy: Literal["withdraw", "delete"] = "withdraw"
    lock_lease_seconds: float = Field(default=900.0, gt=0)
    lock_timeout_seconds: float = Field(default=0.0, ge=0)
    # Push batches in flight (uploading or processing in Salesforce) while the next one is read,
    # mapped and encrypted; 1 still overlaps one batch's upload with the next batch's preparation.
    # Four keep jobs queued in Salesforce while finished ones are polled, read and recorded
    # (measured against an org answering one request at a time: its idle time between calls
    # 2.7 -> 2.3 s at 100k rows, 1.0 -> 0.8 s at 50k, for ~60 MiB more at peak).
    parallel_jobs: int = Field(default=4, ge=1, le=10)
    # Rows per upsert (one Bulk job above the gateway's bulk threshold): small enough that a
    # batch makes several jobs to overlap, large enough that each is one Bulk job, not Collections.
    job_size: int = Field(default=5000, ge=1)
    # A pull of more rows than this goes through a Bulk API 2.0 query job instead of REST pages.
    pull_bulk_threshold: int | None = Field(default=2000, ge=1)
    # The gateway's [salesforce] bulk_threshold: an upsert of more rows than this is one Bulk job
    # (fewer go through sObject Collections, 200 rows a call).
    upsert_bulk_threshold: int = Field(default=2000, ge=1)
    # How far before the org's clock at the previous pull the next one starts reading.
    pull_margin: timedelta = timedelta(0)

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineOptions:
        sync = settings.sync
        return cls(
            overlap=timedelta(seconds=sync.overlap_seconds),
            batch_size=sync.batch_size,
            dead_letter_max_attempts=sync.dead_letter_max_attempts,
            dead_letter_backoff=timedelta(seconds=sync.dead_letter_backoff_seconds),
            salesforce_delete_policy=sync.salesforce_delete_policy,
            portal_delete_policy=sync.portal_delete_policy,
            lock_lease_seconds=settings.state.lock_lease_seconds,
            lock_timeout_seconds=settings.state.lock_timeout_seconds,
            parallel_jobs=sync.parallel_jobs,
            pull_margin=timedelta(seconds=sync.pull_margin_seconds),
            pull_bulk_threshold=settings.salesforce.bulk_threshold,
            upsert_bulk_threshold=settings.salesforce.bulk_threshold,
        )


class SyncEngine:
    """One sync cycle over a set of mappings; construct once per run."""

    def __init__(
        self,
        *,
        mappings: MappingSet,
        portal: PortalAdapter,
        state: StateStore,
        salesforce: SalesforcePort,
        protector: PayloadProtector | None = None,
        options: EngineOptions | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        self.mappings = mappings
        self.portal = portal
        self.state = state
        self.salesforce = salesforce
        self.protector = protector
        self.options = options or EngineOptions()
        self.clock = clock
        self.progress = progress
        self._lock: RenewableLock | None = None
        self.last_report: RunReport | None = None  # the current or last run's report, also when it raised
        self._record_types: dict[str, str] = {}
        # Per (mapping, direction): whether the store may hold dead letters this run could
        # resolve. Asked once per run (the run holds the lock, and only a run adds letters) and
        # set again before this run adds one, so a batch of a mapping without letters skips the
        # resolve (a DELETE per 500 keys) instead of paying for it on every record synced.
        self._letters_possible: dict[tuple[str, str], bool] = {}
        # Per mapping: records this run's push upserted. The pull after it reads them back (their
        # SystemModstamp is newer than its watermark), so it knows a lower bound of its size.
        self._pushed_this_run: dict[str, int] = {}

    # ------------------------------------------------------------------ the cycle
    def run(self, options: SyncOptions | None = None) -> RunReport:
        options = options or SyncOptions()
        selected = self._select(options.mappings)
        report = RunReport(run_id=uuid.uuid4().hex, started_at=self.clock(), dry_run=options.dry_run)
        self.last_report = report
        self._letters_possible = {}  # letters may have come or gone since the last run
        self._pushed_this_run = {}
        with bind_log_fields(run_id=report.run_id), _gc_for_bulk_work():
            return self._run(report, selected, options)

    def _run(self, report: RunReport, selected: list[ObjectMapping], options: SyncOptions) -> RunReport:
        calls_at_start = self.salesforce.api_calls
        holder = run_holder(report.run_id)
        lock_cm: AbstractContextManager[RenewableLock | None] = (
            nullcontext()
            if options.dry_run
            else self.state.lock(
                "sync",
                holder=holder,
                lease_seconds=self.options.lock_lease_seconds,
                timeout_seconds=self.options.lock_timeout_seconds,
            )
        )
        with lock_cm as lock:
            self._lock = lock
            if not options.dry_run:
                # A run that died without finishing is shown as such, not as "running" forever.
                self.state.close_abandoned_runs(except_run=report.run_id)
                self.state.start_run(report.run_id, report.started_at, self._options_dict(options))
            log.info(
                "run %s started: direction %s, %d mapping(s)%s",
                report.run_id[:8],
                options.direction,
                len(selected),
                " (dry run)" if options.dry_run else "",
            )
            try:
                for mapping in selected:
                    if not mapping.is_read_only:
                        self._check_portal_columns(mapping)
                for mapping in selected:
                    if mapping.is_read_only:
                        continue  # read by the conflict scanner, not mirrored
                    # A mapping synced both ways may have its pull query started while the push
                    # records its last jobs (see _EarlyQuery).
                    early = (
                        self._early_query(mapping, options)
                        if options.direction == "both" and mapping.direction == "both" and not options.dry_run
                        else None
                    )
                    if options.direction in ("push", "both") and mapping.direction in ("push", "both"):
                        report.summaries.append(self._one_mapping(mapping, "push", options, early))
                    if options.direction in ("pull", "both") and mapping.direction in ("pull", "both"):
                        report.summaries.append(self._one_mapping(mapping, "pull", options, early))
            except BaseException as exc:
                # Record the outcome whatever stopped the run (a bug and Ctrl-C included): `sfsync status`
                # shows it failed at once, and the caller still gets the report for its metrics.
                report.record_error(exc)
                self._finish_failed(report, calls_at_start, options)
                raise
            if options.dry_run:
                report.outcome = "dry_run"
            elif report.rejected:
                report.outcome = "rejected"
            self._finish(report, calls_at_start, options)
        totals = {name: sum(getattr(item, name) for item in report.summaries) for name in ("read", "rejected")}
        log.info(
            "run %s finished: %s; %d mapping run(s), %d read, %d written, %d rejected, %d API call(s)",
            report.run_id[:8],
            report.outcome,
            len(report.summaries),
            totals["read"],
            sum(item.written for item in report.summaries),
            totals["rejected"],
            report.api_calls,
            extra={"counts": totals, "outcome": report.outcome, "api_calls": report.api_calls},
        )
        return report

    def _one_mapping(
        self, mapping: ObjectMapping, direction: DirectionName, options: SyncOptions, early: _EarlyQuery | None = None
    ) -> MappingRunSummary:
        with bind_log_fields(mapping=mapping.name, direction=direction):
            log.info("mapping %s %s: started", mapping.name, direction)
            if direction == "push":
                summary = self._push(mapping, options, early)
                self._pushed_this_run[mapping.name] = summary.created + summary.updated
            else:
                summary = self._pull(mapping, options, early)
            log.info(
                "mapping %s %s: read %d, created %d, updated %d, unchanged %d, rejected %d, written back %d in %.2fs",
                mapping.name,
                direction,
                summary.read,
                summary.created,
                summary.updated,
                summary.unchanged,
                summary.rejected,
                summary.written_back,
                summary.duration_seconds,
            )
            return summary

    def _finish_failed(self, report: RunReport, calls_at_start: int, options: SyncOptions) -> None:
        """Record a failed run without letting a second failure (the state store itself) hide the first."""
        try:
            self._finish(report, calls_at_start, options)
        except Exception:
            report.finished_at = report.finished_at or self.clock()
            log.warning("run %s: could not record its failure in the state store", report.run_id[:8], exc_info=True)
        # INFO, not ERROR: the caller reports the error itself (the CLI prints it once)
        log.info("run %s ended: %s (%s)", report.run_id[:8], report.outcome, report.error)

    def _finish(self, report: RunReport, calls_at_start: int, options: SyncOptions) -> None:
        report.finished_at = self.clock()
        report.api_calls = self.salesforce.api_calls - calls_at_start
        usage = self.salesforce.api_usage
        if usage is not None:
            report.api_usage = f"{usage.used}/{usage.limit}"
        if not options.dry_run:
            summary = report.model_dump(mode="json", exclude={"summaries": {"__all__": {"plan"}}})
            self.state.finish_run(report.run_id, report.finished_at, report.outcome, summary, report.api_calls)

    def _select(self, names: Sequence[str]) -> list[ObjectMapping]:
        if not names:
            return list(self.mappings)
        known = set(self.mappings.names())
        unknown = [name for name in names if name not in known]
        if unknown:
            raise UsageError(
                f"unknown mapping {', '.join(repr(n) for n in unknown)}; known: {', '.join(sorted(known))}"
            )
        return [self.mappings.get(name) for name in names]

    @staticmethod
    def _options_dict(options: SyncOptions) -> dict[str, Any]:
        return {
            "dry_run": options.dry_run,
            "direction": options.direction,
            "mappings": list(options.mappings),
            "full": options.full,
        }

    def _renew_lock(self) -> None:
        if self._lock is not None:
            self._lock.renew()

    @staticmethod
    def _plan(summary: MappingRunSummary, options: SyncOptions, change: PlannedChange) -> None:
        """Keep the per-record plan only for a dry run (the only report that prints it): a real
        run of 100k rows would otherwise hold 100k entries until it ends."""
        if options.dry_run:
            summary.plan.append(change)

    def _tick(self, label: str, count: int) -> None:
        log.info("%s: %d more row(s)", label, count)
        if self.progress is not None:
            self.progress(label, count)

    # ------------------------------------------------------------------ push
    def _early_query(self, mapping: ObjectMapping, options: SyncOptions) -> _EarlyQuery:
        since = None if options.full else self.state.get_watermark(mapping.name, "pull")
        return _EarlyQuery(self.salesforce, self._pull_soql(mapping, since), self.options.pull_bulk_threshold)

    def _push(
        self, mapping: ObjectMapping, options: SyncOptions, early: _EarlyQuery | None = None
    ) -> MappingRunSummary:
        """Read changed portal rows batch by batch and push them, several batches in flight.

        The engine's thread reads, maps, fingerprints and encrypts batch N+1 while worker threads
        upload batch N (and up to ``parallel_jobs`` batches in all) and Salesforce processes it.
        Outcomes are recorded in batch order, and the watermark only moves past a batch once it
        and every batch before it are recorded (ledger or dead letter): a crash anywhere leaves
        the watermark behind every row whose outcome is not stored, and the rerun re-reads them
        (their upserts are keyed by external id, so a batch sent twice is not duplicated).
        """
        started = time.monotonic()
        calls = self.salesforce.api_calls
        gateway_stages = dict(self.salesforce.stage_seconds)
        gateway_cpu = dict(self.salesforce.stage_cpu_seconds)
        summary = MappingRunSummary(mapping=mapping.name, direction="push")
        track_log_counts(summary)
        stages = _Stages()
        since = None if options.full else self.state.get_watermark(mapping.name, "push")
        key_column = mapping.portal.external_id_column
        soft_deleted: dict[str, datetime] = {}
        deleted_column = mapping.portal.deleted_at
        # Dead letters whose backoff has passed are retried after the read, unless the read met
        # their row anyway. Only these (few) keys are remembered, so memory stays flat however
        # many rows the run reads.
        due_keys: dict[str, None] = {}
        if not options.dry_run:
            due = self.state.due_dead_letters(mapping.name, "push", self.clock(), self.options.dead_letter_max_attempts)
            due_keys = dict.fromkeys(d.record_key for d in due)

        # Hard deletes (ledger keys the portal no longer has) are found before the read, against
        # the ledger as the previous runs left it: the keys this run pushes were just read from the
        # portal, so a large first load does not walk its own rows again at the end. A key the read
        # meets after all (the row came back meanwhile) is not deleted.
        with _timed(stages, "state_reads"):
            gone = self._hard_deleted_keys(mapping)
        pipeline = _Pipeline(self, mapping, summary, options, stages)
        started_jobs = False
        with pipeline:
            for rows in _timed_iter(
                self.portal.changed_rows(
                    mapping.portal.table,
                    updated_at=mapping.portal.updated_at,
                    since=since,
                    overlap=self.options.overlap,
                    filter=mapping.portal.filter,
                    batch_size=self.options.batch_size,
                    key_column=mapping.portal.primary_key,
                    # The first Bulk job starts after reading its own rows, not a whole batch.
                    first_batch_size=min(self.options.batch_size, self.options.upsert_bulk_threshold + 1),
                ),
                stages,
                "portal_read",
            ):
                # A row met again later in the same read was edited while the run was reading: it
                # is processed again (its hash decides), never skipped — the watermark moves past it.
                fresh = list(rows)
                if due_keys or gone:
                    for row in rows:
                        due_keys.pop(str(row.get(key_column)), None)
                        gone.pop(str(row.get(key_column)), None)
                if deleted_column:
                    for row in rows:
                        if row.get(key_column) is None:
                            continue
                        when = parse_utc(row.get(deleted_column))
                        if when is not None:
                            soft_deleted[str(row[key_column])] = when
                        else:  # restored while the run was reading: its latest version wins
                            soft_deleted.pop(str(row[key_column]), None)
                    fresh = [r for r in rows if r.get(deleted_column) is None]
                newest = max((parse_utc(r.get(mapping.portal.updated_at)) for r in rows), default=None, key=_none_first)
                # The batch goes out in jobs of ``job_size`` rows, so the next job is prepared while
                # the previous one uploads even when the whole load is a single batch. Only the last
                # job moves the watermark: it is recorded after every job before it.
                # A large load's first job is a fifth of the others: Salesforce starts on it while
                # the next, full-size job is prepared, instead of idling through a whole job's
                # preparation. It is still one Bulk job (just above the upsert threshold): below it,
                # sObject Collections would take it 200 rows a call, one call after the other.
                # (Small batches keep one job.)
                size = self.options.job_size
                first = size
                if not started_jobs and len(fresh) >= 2 * size:
                    first = min(size, max(size // 5, self.options.upsert_bulk_threshold + 1))
                bounds = [0, *range(first, len(fresh), size)] if len(fresh) > first else [0]
                chunks = [fresh[a:b] for a, b in zip(bounds, [*bounds[1:], len(fresh)], strict=True)]
                started_jobs = started_jobs or bool(fresh)
                for number, chunk in enumerate(chunks, start=1):
                    prepared = self._prepare_batch(mapping, _Batch(rows=chunk), summary, options, stages)
                    prepared.newest = newest if number == len(chunks) else None
                    pipeline.submit(prepared)
            # Everything this push sends is sent, unless dead letters are retried or deletions
            # propagated below: then the pull's query waits for those (the pull reads them back).
            if early is not None and not due_keys and not gone and not soft_deleted:
                pipeline.when_sent(early.arm())

        # Dead letters whose backoff has passed are retried even if their row did not change.
        if due_keys and not options.dry_run:
            rows_by_key = self.portal.rows_by_keys(mapping.portal.table, key_column, list(due_keys))
            if rows_by_key:
                batch = _Batch(rows=list(rows_by_key.values()), retried_keys={str(k) for k in rows_by_key})
                self._push_batch(mapping, batch, summary, options, stages)

        if gone:  # a row that came back during the run, whatever its updated-at, is not deleted
            back = self.portal.existing_keys(mapping.portal.table, key_column, list(gone))
            for key in back:
                gone.pop(str(key), None)
        gone.update(soft_deleted)
        self._push_portal_deletes(mapping, summary, options, gone)
        summary.api_calls = self.salesforce.api_calls - calls - (early.calls_so_far() if early is not None else 0)
        summary.duration_seconds = round(time.monotonic() - started, 3)
        self._merge_gateway_stages(stages, gateway_stages, gateway_cpu)
        summary.stage_seconds = {name: round(seconds, 3) for name, seconds in stages.items() if seconds > 0}
        summary.stage_cpu_seconds = {name: round(seconds, 3) for name, seconds in stages.cpu.items() if seconds > 0}
        return summary

    def _merge_gateway_stages(
        self,
        stages: _Stages,
        wall_before: Mapping[str, float],
        cpu_before: Mapping[str, float],
        *,
        skip: tuple[str, ...] = (),
    ) -> None:
        """Add what the gateway spent per step during this mapping run (its worker threads included)."""
        for name, seconds in self.salesforce.stage_seconds.items():
            if name not in skip:
                stages[name] += seconds - wall_before.get(name, 0.0)
        for name, seconds in self.salesforce.stage_cpu_seconds.items():
            if name not in skip:
                stages.cpu[name] += seconds - cpu_before.get(name, 0.0)

    def _push_batch(
        self,
        mapping: ObjectMapping,
        batch: _Batch,
        summary: MappingRunSummary,
        options: SyncOptions,
        stages: _Stages,
    ) -> None:
        """One batch through every step, in this thread (dead-letter retries)."""
        prepared = self._prepare_batch(mapping, batch, summary, options, stages)
        results = self._upsert_step(mapping, prepared) if prepared.outgoing and not options.dry_run else []
        self._ledger_step(mapping, prepared, results, summary, stages)

    def _prepare_batch(
        self,
        mapping: ObjectMapping,
        batch: _Batch,
        summary: MappingRunSummary,
        options: SyncOptions,
        stages: _Stages,
    ) -> _Prepared:
        """map → fingerprint → protect: the batch's payloads, ready to upsert."""
        key_column = mapping.portal.external_id_column
        summary.read += len(batch.rows)
        summary.retried += len(batch.retried_keys)
        now = self.clock()
        prepared = _Prepared(rows=len(batch.rows), now=now)
        with _timed(stages, "state_reads"):
            keys = [str(row[key_column]) for row in batch.rows if row.get(key_column) is not None]
            prepared.ledger = self.state.ledger_rows(mapping.name, keys) if keys else {}
        with _timed(stages, "mapping"):
            mapped = self._map_step(mapping, batch, prepared, summary, options)
        with _timed(stages, "mapping"):
            changed = self._fingerprint_step(mapping, batch, mapped, prepared, summary, options)
        if options.dry_run:
            return prepared
        with _timed(stages, "encryption"):
            self._protect_step(mapping, changed, prepared, summary, options)
        return prepared

    def _map_step(
        self,
        mapping: ObjectMapping,
        batch: _Batch,
        prepared: _Prepared,
        summary: MappingRunSummary,
        options: SyncOptions,
    ) -> list[_Outgoing]:
        """Portal rows → Salesforce payloads; rows that cannot be mapped are dead-lettered."""
        key_column = mapping.portal.external_id_column
        mapped: list[_Outgoing] = []
        encrypted_columns = tuple(column for fm in mapping.encrypted_fields() for column in fm.columns)
        record_type_id: str | None = None
        record_type_known = False  # looked up on the first create (an update needs none)
        for row in batch.rows:
            raw_key = row.get(key_column)
            if raw_key is None or str(raw_key).strip() == "":
                summary.rejected += 1
                reason = f"column {key_column!r} (the external id) is empty"
                self._plan(summary, options, PlannedChange(action="reject", external_id="", reason=reason))
                log.warning(
                    "mapping %s: a row of %s has no external id in %s; skipped and reported",
                    mapping.name,
                    mapping.portal.table,
                    key_column,
                    extra={"mapping": mapping.name, "primary_key": str(row.get(mapping.portal.primary_key))},
                )
                continue
            external_id = str(raw_key)
            undecodable = undecodable_columns(row)
            if undecodable:
                # One bad row must not stop the run, and its bytes never go into a message.
                summary.rejected += 1
                message = (
                    f"column(s) {', '.join(undecodable)} hold bytes that are not valid UTF-8, or a value their "
                    "SQL type cannot read; correct them in the portal"
                )
                self._plan(summary, options, PlannedChange(action="reject", external_id=external_id, reason=message))
                if not options.dry_run:
                    self._dead_letter(mapping.name, "push", external_id, "INVALID_TEXT", message, (), prepared.now)
                continue
            entry = prepared.ledger.get(external_id)
            is_create = entry is None or entry.salesforce_id is None
            if is_create and not record_type_known:
                record_type_id, record_type_known = self._record_type_id(mapping), True
            outbound = mapping.to_salesforce(
                row, is_create=is_create, record_type_id=record_type_id if is_create else None
            )
            if outbound.errors:
                secrets = tuple(str(row[column]) for column in encrypted_columns if row.get(column))
                fields = tuple(sorted({p.field for p in outbound.errors if p.field}))
                message = _scrub("; ".join(str(p) for p in outbound.errors), secrets)
                summary.rejected += 1
                self._plan(summary, options, PlannedChange(action="reject", external_id=external_id, reason=message))
                if not options.dry_run:
                    self._dead_letter(mapping.name, "push", external_id, "MAPPING_ERROR", message, fields, prepared.now)
                continue
            mapped.append(_Outgoing(external_id, raw_key, outbound.payload, "", is_create, row, encrypted_columns))
        return mapped

    def _fingerprint_step(
        self,
        mapping: ObjectMapping,
        batch: _Batch,
        mapped: list[_Outgoing],
        prepared: _Prepared,
        summary: MappingRunSummary,
        options: SyncOptions,
    ) -> list[_Outgoing]:
        """Drop payloads whose fingerprint matches the ledger (law 3: no change, no write)."""
        # Fields written on create only (and the record type) are left out of the fingerprint:
        # the same row must hash the same whether it was mapped as a create or an update.
        create_only = {fm.field for fm in mapping.portal_owned() if fm.on_create_only} | {"RecordTypeId"}
        key = self._fingerprint_key(mapping)
        changed: list[_Outgoing] = []
        for item in mapped:
            # The canonical JSON sorts its keys, so dropping them from a copy hashes what the
            # filtered payload hashed (an update's payload holds none of them: no copy at all).
            hashed = item.payload
            present = create_only.intersection(hashed)
            if present:
                hashed = dict(hashed)
                for name in present:
                    del hashed[name]
            item.digest = fingerprint(hashed, key)
            entry = prepared.ledger.get(item.external_id)
            if entry is not None and entry.push_hash == item.digest and not entry.deleted and not options.full:
                summary.unchanged += 1
                if options.dry_run:  # the plan is kept for a dry run only: no model per record otherwise
                    self._plan(
                        summary, options, PlannedChange(action="skip", external_id=item.external_id, reason="unchanged")
                    )
                if item.external_id in batch.retried_keys and not options.dry_run:
                    prepared.resolved.append(item.external_id)
                continue
            action: Literal["create", "update"] = "create" if item.is_create else "update"
            if options.dry_run:
                self._plan(summary, options, PlannedChange(action=action, external_id=item.external_id))
                if item.is_create:
                    summary.created += 1
                else:
                    summary.updated += 1
                continue
            changed.append(item)
        return changed

    def _protect_step(
        self,
        mapping: ObjectMapping,
        changed: list[_Outgoing],
        prepared: _Prepared,
        summary: MappingRunSummary,
        options: SyncOptions,
    ) -> None:
        """Plaintext → ciphertext and blind indexes; a value that cannot be protected is dead-lettered."""
        encrypted = [fm.salesforce_field for fm in mapping.encrypted_fields()]
        if encrypted and changed and self.protector is None:
            raise FatalError(
                f"mapping {mapping.name!r} encrypts {', '.join(encrypted)} but no keyring is configured; "
                "set [crypto] keyring and SFSYNC_CRYPTO__MASTER_KEY (see `sfsync crypto keygen`)",
                ErrorContext(mapping=mapping.name),
            )
        for item in changed:
            if encrypted and self.protector is not None:
                try:
                    item.payload = self.protector.protect(mapping, item.external_id, item.payload)
                except RecordRejectedError as exc:
                    summary.rejected += 1
                    message = _scrub(str(exc), item.secrets)
                    rejected = PlannedChange(action="reject", external_id=item.external_id, reason=message)
                    self._plan(summary, options, rejected)
                    field_name = exc.context.field_name
                    self._dead_letter(
                        mapping.name,
                        "push",
                        item.external_id,
                        "INVALID_VALUE",
                        message,
                        (field_name,) if field_name else (),
                        prepared.now,
                    )
                    continue
            prepared.outgoing.append(item)

    def _upsert_step(self, mapping: ObjectMapping, prepared: _Prepared) -> list[RecordResult]:
        """Upsert the batch by external id (runs on a pipeline worker thread: touches no state)."""
        return self.salesforce.upsert(
            mapping.salesforce.object, mapping.salesforce.external_id_field, [o.payload for o in prepared.outgoing]
        )

    def _ledger_step(
        self,
        mapping: ObjectMapping,
        prepared: _Prepared,
        results: Sequence[RecordResult],
        summary: MappingRunSummary,
        stages: _Stages,
    ) -> None:
        """Record every outcome of the batch: ledger entries, dead letters, resolved letters."""
        synced: list[LedgerRow] = []
        resolved = list(prepared.resolved)
        now = prepared.now
        link = _salesforce_id_column(mapping) if mapping.direction == "both" else None
        linked: list[tuple[Any, dict[str, Any]]] = []  # (key, {link column: Id}) of records new to Salesforce
        with _timed(stages, "state_writes"):
            for item, result in zip(prepared.outgoing, results, strict=True):
                if result.outcome == "rejected":
                    summary.rejected += 1
                    message = _scrub(result.message, item.secrets)
                    self._dead_letter(
                        mapping.name,
                        "push",
                        item.external_id,
                        result.status_code or "UNKNOWN",
                        message,
                        tuple(result.fields),
                        now,
                    )
                    continue
                if result.outcome == "created":
                    summary.created += 1
                else:
                    summary.updated += 1
                previous = prepared.ledger.get(item.external_id)
                if (
                    link is not None
                    and result.salesforce_id
                    and (previous is None or previous.salesforce_id != result.salesforce_id)
                ):
                    linked.append((item.external_id, {link: result.salesforce_id}))
                synced.append(
                    LedgerRow(
                        mapping=mapping.name,
                        external_id=item.external_id,
                        salesforce_id=result.salesforce_id or (previous.salesforce_id if previous else None),
                        push_hash=item.digest,
                        pull_hash=previous.pull_hash if previous else None,
                        last_pushed_at=now,
                        last_pulled_at=previous.last_pulled_at if previous else None,
                        deleted=False,
                    )
                )
                resolved.append(item.external_id)
            if synced:
                self.state.save_ledger(synced, stored=prepared.ledger)
            if resolved:
                self._resolve_dead_letters(mapping.name, "push", resolved)
        if linked:
            with _timed(stages, "portal_link"):
                self._link_portal_rows(mapping, linked)
        self._tick(f"{mapping.name} push", prepared.rows)

    def _link_portal_rows(self, mapping: ObjectMapping, linked: list[tuple[Any, dict[str, Any]]]) -> None:
        """Write the Salesforce Id of records the push just created (or re-linked) to the portal.

        The pull writes it too; written here, while Salesforce processes the next jobs, the pull
        after a large load finds the portal already holding what it reads back and writes nothing
        (on a first load, the Id is all that differs). Runs after the ledger is saved: a crash in
        between leaves the Id to the pull. A write the portal refuses is left to the pull as well,
        which dead-letters the record that causes it.
        """
        try:
            self.portal.write_back(mapping.portal.table, mapping.portal.external_id_column, linked)
        except PortalRejectedError as exc:
            log.info("mapping %s: %d Salesforce Id(s) left for the pull to write: %s", mapping.name, len(linked), exc)

    def _hard_deleted_keys(self, mapping: ObjectMapping) -> dict[str, datetime]:
        """Ledger keys the portal no longer has, with now as their deletion time. Streamed chunk by
        chunk so memory stays flat with the size of the ledger; records already propagated are not
        re-checked."""
        key_column = mapping.portal.external_id_column
        now = self.clock()
        gone: dict[str, datetime] = {}
        for chunk in self.state.iter_ledger_keys(mapping.name, chunk=1000, live_only=True):
            present = {str(k) for k in self.portal.existing_keys(mapping.portal.table, key_column, chunk)}
            gone.update((key, now) for key in chunk if key not in present)
        return gone

    def _push_portal_deletes(
        self,
        mapping: ObjectMapping,
        summary: MappingRunSummary,
        options: SyncOptions,
        gone: dict[str, datetime],
    ) -> None:
        """Rows deleted in the portal (soft via ``deleted_at``, or gone): withdraw or delete in Salesforce."""
        now = self.clock()
        if not gone:
            return
        ledger = self.state.ledger_rows(mapping.name, list(gone))
        # Never synced, or already propagated: nothing to do in Salesforce.
        pending = {key: when for key, when in gone.items() if key in ledger and not ledger[key].deleted}
        if not pending:
            return
        policy = self.options.portal_delete_policy
        if options.dry_run:
            summary.plan.extend(
                PlannedChange(
                    action="delete" if policy == "delete" else "withdraw",
                    external_id=key,
                    reason="deleted in the portal",
                )
                for key in pending
            )
            return
        done: list[LedgerRow] = []
        keys = sorted(pending)
        if policy == "delete":
            with_ids = [key for key in keys if ledger[key].salesforce_id]
            results = self.salesforce.delete([str(ledger[key].salesforce_id) for key in with_ids])
            outcomes = dict(zip(with_ids, results, strict=True))
        else:
            field = _withdrawal_field(mapping)
            if field is None:
                log.warning(
                    "mapping %s: %d rows were deleted in the portal, but the mapping maps no withdrawal "
                    "field (a portal-owned field from column withdrawn_at); nothing sent",
                    mapping.name,
                    len(keys),
                )
                return
            # The README promises "status Withdrawn": the decision field gets the Salesforce value
            # that maps to the portal's "withdrawn", alongside the withdrawal time.
            status = _withdrawal_status(mapping)
            extra = {status[0]: status[1]} if status else {}
            payloads = [
                {mapping.salesforce.external_id_field: key, field: pending[key].astimezone(UTC).isoformat(), **extra}
                for key in keys
            ]
            results = self.salesforce.upsert(mapping.salesforce.object, mapping.salesforce.external_id_field, payloads)
            outcomes = dict(zip(keys, results, strict=True))
        for key, result in outcomes.items():
            if result.outcome == "rejected" and result.status_code != "ENTITY_IS_DELETED":
                summary.rejected += 1
                self._dead_letter(
                    mapping.name,
                    "push",
                    key,
                    result.status_code or "UNKNOWN",
                    result.message or "",
                    tuple(result.fields),
                    now,
                )
                continue
            if policy == "delete":
                summary.deleted += 1
            else:
                summary.withdrawn += 1
            done.append(ledger[key]._replace(deleted=True, last_pushed_at=now))
        if done:
            self.state.save_ledger(done)

    # ------------------------------------------------------------------ pull
    def _pull(
        self, mapping: ObjectMapping, options: SyncOptions, early: _EarlyQuery | None = None
    ) -> MappingRunSummary:
        """Read what changed in Salesforce since the last pull and write it back to the portal.

        The query runs through REST below ``pull_bulk_threshold`` rows and through a Bulk API 2.0
        query job above it. The next pull starts at the org's clock when this query ran (the
        ``Date`` of its first answer), not at the newest SystemModstamp minus an overlap window: a
        large load is not re-read by the cycles after it, and an idle cycle is one query.
        """
        started = time.monotonic()
        calls = self.salesforce.api_calls
        gateway_stages = dict(self.salesforce.stage_seconds)
        gateway_cpu = dict(self.salesforce.stage_cpu_seconds)
        stages = _Stages()
        summary = MappingRunSummary(mapping=mapping.name, direction="pull")
        track_log_counts(summary)
        since = None if options.full else self.state.get_watermark(mapping.name, "pull")
        soql = self._pull_soql(mapping, since)
        ext_field = mapping.salesforce.external_id_field
        newest: datetime | None = None
        pending: list[dict[str, Any]] = []
        # Pull dead letters whose backoff has passed (or an operator asked to retry) are read
        # again by key after the incremental read, unless that read met them anyway.
        due_keys: dict[str, None] = {}
        # Letters still waiting out their backoff (or exhausted): a record re-read unchanged since
        # it failed (the overlap window re-reads the edge) is left alone instead of failing again.
        waiting: dict[str, datetime] = {}
        if not options.dry_run:
            now = self.clock()
            due = self.state.due_dead_letters(mapping.name, "pull", now, self.options.dead_letter_max_attempts)
            due_keys = dict.fromkeys(d.record_key for d in due)
            waiting = {
                letter.record_key: letter.last_seen
                for letter in self.state.dead_letters(mapping=mapping.name, direction="pull")
                if letter.record_key not in due_keys
                and letter.state in ("open", "exhausted")
                and letter.last_seen is not None
            }

        # Wall and CPU seconds of the flushes made inside the query loop: the loop's own time less
        # these is the query's (timing each record's arrival cost more than reading it).
        flushed = [0.0, 0.0]

        def flush(retried: bool = False) -> None:
            if pending:
                wall, cpu = time.perf_counter(), time.thread_time()
                with _timed(stages, "write_back"):
                    self._pull_batch(mapping, pending, summary, options, retried=retried)
                pending.clear()
                self._renew_lock()
                flushed[0] += time.perf_counter() - wall
                flushed[1] += time.thread_time() - cpu

        # Records this run pushed are read back: when they are more than the threshold, the pull
        # goes to a Bulk query job without first asking REST how many rows there are. The query
        # may have been started already, while the push recorded its last jobs: its calls are
        # this pull's.
        early_records = early.take() if early is not None else None
        early_calls = early.calls_so_far() if early is not None else 0
        calls = self.salesforce.api_calls - early_calls
        records = (
            early_records
            if early_records is not None
            else self.salesforce.query_stream(
                soql,
                include_deleted=True,
                bulk_threshold=self.options.pull_bulk_threshold,
                at_least=0 if options.dry_run else self._pushed_this_run.get(mapping.name, 0),
            )
        )
        loop_wall, loop_cpu = time.perf_counter(), time.thread_time()
        for record in records:
            summary.read += 1
            # The newest SystemModstamp only matters without the org's clock (known once the
            # first answer came, for a real gateway): a timestamp is parsed only when needed.
            stamp: datetime | None = None
            if records.server_time is None:
                stamp = parse_utc(record.get("SystemModstamp"))
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
            external_id = record.get(ext_field)
            if external_id is None or external_id == "":
                continue
            key = str(external_id)
            if due_keys:
                due_keys.pop(key, None)
            failed_at = waiting.get(key) if waiting else None
            if failed_at is not None:
                if stamp is None:
                    stamp = parse_utc(record.get("SystemModstamp"))
                if stamp is not None and stamp <= failed_at:
                    summary.unchanged += 1  # still dead-lettered; retried when due or on request
                    continue
            pending.append(record)
            if len(pending) >= self.options.batch_size:
                flush()
        stages["query"] += time.perf_counter() - loop_wall - flushed[0]
        stages.cpu["query"] += time.thread_time() - loop_cpu - flushed[1]
        flush()
        # Every record read is now written back or dead-lettered (law 2): the watermark may move.
        # Where the next pull starts: the org's clock when this query ran; without it (an answer
        # with no Date header), the newest SystemModstamp read less the overlap window.
        server_time = records.server_time
        mark = server_time if server_time is not None else (newest - self.options.overlap if newest else None)
        if mark is not None and since is not None and since > mark:
            mark = since  # a watermark never moves back (an operator may have set it ahead)
        if mark is not None and not options.dry_run:
            with _timed(stages, "state_writes"):
                self.state.set_watermark(mapping.name, "pull", mark)
            summary.watermark = mark
        if due_keys and not options.dry_run:
            keys = list(due_keys)
            for start in range(0, len(keys), _RETRY_CHUNK):
                chunk = keys[start : start + _RETRY_CHUNK]
                found = list(self.salesforce.query(self._pull_by_keys_soql(mapping, chunk), include_deleted=True))
                summary.read += len(found)
                pending.extend(found)
                flush(retried=True)
        summary.api_calls = self.salesforce.api_calls - calls
        summary.duration_seconds = round(time.monotonic() - started, 3)
        # The engine's "query" step (producing the records) already holds the gateway's query
        # calls and its server wait; the latter is shown on its own too, as a part of it.
        self._merge_gateway_stages(stages, gateway_stages, gateway_cpu, skip=("query",))
        summary.stage_seconds = {name: round(seconds, 3) for name, seconds in stages.items() if seconds > 0}
        summary.stage_cpu_seconds = {name: round(seconds, 3) for name, seconds in stages.cpu.items() if seconds > 0}
        return summary

    def _pull_by_keys_soql(self, mapping: ObjectMapping, keys: Sequence[str]) -> str:
        fields = list(dict.fromkeys(["Id", "SystemModstamp", "IsDeleted", *mapping.soql_fields()]))
        return format_soql(
            "SELECT {:literal} FROM {:literal} WHERE {:literal} IN {} ORDER BY SystemModstamp, Id",
            ", ".join(fields),
            mapping.salesforce.object,
            mapping.salesforce.external_id_field,
            list(keys),
        )

    def _pull_soql(self, mapping: ObjectMapping, since: datetime | None) -> str:
        fields = list(dict.fromkeys(["Id", "SystemModstamp", "IsDeleted", *mapping.soql_fields()]))
        select = ", ".join(fields)
        obj = mapping.salesforce.object
        ext = mapping.salesforce.external_id_field
        if since is None:
            # No ORDER BY: a Bulk API 2.0 query job cannot chunk an ordered query, and the
            # watermark comes from the org's clock, not from the last row read.
            return format_soql(
                "SELECT {:literal} FROM {:literal} WHERE {:literal} != null",
                select,
                obj,
                ext,
            )
        # Salesforce drops milliseconds in datetime comparisons: ">=" a whole second re-reads the
        # edge. ``pull_margin`` widens it for transactions still open when the last query ran.
        floor = (since - self.options.pull_margin).replace(microsecond=0)
        return format_soql(
            "SELECT {:literal} FROM {:literal} WHERE {:literal} != null AND SystemModstamp >= {}",
            select,
            obj,
            ext,
            floor,
        )

    def _pull_batch(
        self,
        mapping: ObjectMapping,
        records: list[dict[str, Any]],
        summary: MappingRunSummary,
        options: SyncOptions,
        *,
        retried: bool = False,
    ) -> None:
        """Write a batch back; a record the mapping or the portal cannot take is dead-lettered
        with the reason, and the rest of the batch lands."""
        table = mapping.portal.table
        key_column = mapping.portal.external_id_column
        ext_field = mapping.salesforce.external_id_field
        keys = [str(r[ext_field]) for r in records]
        ledger = self.state.ledger_rows(mapping.name, keys)
        # Which rows the portal holds, and what they store where the pull writes: only what
        # differs is written (after a push, the pull reads back mostly what the portal holds).
        present = self.portal.stored_values(table, key_column, keys, self._write_back_columns(mapping))
        updates: list[tuple[Any, dict[str, Any]]] = []
        entries: dict[str, LedgerRow] = {}
        unhashed: dict[str, dict[str, Any]] = {}  # values of entries whose pull hash is not computed yet
        settled: list[str] = []  # read, and nothing to write: any old dead letter is moot
        now = self.clock()
        if retried:
            summary.retried += len(records)
        for record in records:
            external_id = str(record[ext_field])
            entry = ledger.get(external_id)
            if external_id not in present:
                summary.unmatched += 1
                settled.append(external_id)
                continue
            if record.get("IsDeleted"):
                change = self._salesforce_deleted(mapping, external_id, entry, summary, options)
                if change is not None:
                    updates.append((external_id, change))
                    entries[external_id] = self._ledger_after_pull(mapping, external_id, entry, record, None, now, True)
                else:
                    settled.append(external_id)
                continue
            try:
                values = mapping.to_portal(record)
            except RecordMappingError as exc:
                fields = tuple(p.field or "" for p in exc.problems)
                self._reject_pull(mapping, summary, options, external_id, "INVALID_VALUE", str(exc), fields, now)
                continue
            digest: str | None = None
            if entry is None or entry.pull_hash is not None:
                digest = fingerprint(values)
                if entry is not None and entry.pull_hash == digest and not options.full and not retried:
                    summary.unchanged += 1
                    settled.append(external_id)
                    continue
            else:
                unhashed[external_id] = values  # no hash to compare with: hashed only if saved
            if options.dry_run:
                self._plan(summary, options, PlannedChange(action="write_back", external_id=external_id))
            updates.append((external_id, values))
            entries[external_id] = self._ledger_after_pull(mapping, external_id, entry, record, digest, now, False)
        if options.dry_run:
            summary.written_back += sum(1 for entry_ in entries.values() if not entry_.deleted)
            return
        changed: list[tuple[Any, dict[str, Any]]] = []
        saved: list[LedgerRow] = []
        for key, values in updates:
            differs = present.changes(key, values)
            if differs:
                changed.append((key, differs))
                continue
            settled.append(key)
            if not entries[key].deleted:
                summary.unchanged += 1
            before = ledger.get(key)
            # The ledger is saved only when it learns something. A record without a pull hash
            # keeps none: it is compared with the portal again next time it is read, which is
            # safe; a stale hash left behind would not be (the record's return to those values
            # would look unchanged).
            if (
                before is None
                or before.pull_hash is not None
                or before.salesforce_id != entries[key].salesforce_id
                or before.deleted != entries[key].deleted
            ):
                saved.append(entries[key])
        written = self._write_back(mapping, changed, summary, now)
        summary.written_back += sum(1 for key in written if key in entries and not entries[key].deleted)
        saved.extend(entries[key] for key in written if key in entries)
        if saved:
            if unhashed:
                saved = [
                    entry._replace(pull_hash=fingerprint(unhashed[entry.external_id]))
                    if entry.external_id in unhashed
                    else entry
                    for entry in saved
                ]
            self.state.save_ledger(saved, stored=ledger)
        done = [*settled, *written]
        if done:
            self._resolve_dead_letters(mapping.name, "pull", done)
        self._tick(f"{mapping.name} pull", len(records))

    def _write_back_columns(self, mapping: ObjectMapping) -> list[str]:
        """The portal columns a pull may write: Salesforce-owned fields, and the deletion time."""
        columns = [fm.portal_column for fm in mapping.salesforce_owned() if fm.portal_column]
        if mapping.portal.deleted_at:
            columns.append(mapping.portal.deleted_at)
        return list(dict.fromkeys(columns))

    def _write_back(
        self,
        mapping: ObjectMapping,
        updates: list[tuple[Any, dict[str, Any]]],
        summary: MappingRunSummary,
        now: datetime,
    ) -> list[str]:
        """Write the batch in one transaction; when the portal refuses it, record by record, so
        one value the portal cannot take (NOT NULL, CHECK, type) dead-letters only its record.
        Returns the keys written."""
        table = mapping.portal.table
        key_column = mapping.portal.external_id_column
        if not updates:
            return []
        if len(updates) > 1:
            try:
                self.portal.write_back(table, key_column, updates)
                return [str(key) for key, _values in updates]
            except PortalRejectedError:
                pass  # the transaction rolled back: find the record(s) at fault one by one
        written: list[str] = []
        for update_ in updates:
            written.extend(self._write_back_one(mapping, update_[0], update_, summary, now))
        return written

    def _write_back_one(
        self,
        mapping: ObjectMapping,
        key: Any,
        update_: tuple[Any, dict[str, Any]],
        summary: MappingRunSummary,
        now: datetime,
    ) -> list[str]:
        try:
            self.portal.write_back(mapping.portal.table, mapping.portal.external_id_column, [update_])
        except PortalRejectedError as exc:
            summary.rejected += 1
            self._dead_letter(
                mapping.name, "pull", str(key), "PORTAL_REJECTED", str(exc), tuple(sorted(update_[1])), now
            )
            return []
        return [str(key)]

    def _reject_pull(
        self,
        mapping: ObjectMapping,
        summary: MappingRunSummary,
        options: SyncOptions,
        external_id: str,
        status: str,
        message: str,
        fields: tuple[str, ...],
        now: datetime,
    ) -> None:
        summary.rejected += 1
        reason = f"the portal cannot take the value of {', '.join(fields) or 'a field'}"
        self._plan(summary, options, PlannedChange(action="reject", external_id=external_id, reason=reason))
        if not options.dry_run:
            self._dead_letter(mapping.name, "pull", external_id, status, message, fields, now)

    def _salesforce_deleted(
        self,
        mapping: ObjectMapping,
        external_id: str,
        entry: LedgerRow | None,
        summary: MappingRunSummary,
        options: SyncOptions,
    ) -> dict[str, Any] | None:
        if entry is not None and entry.deleted:
            summary.unchanged += 1
            return None
        summary.deleted += 1
        self._plan(
            summary,
            options,
            PlannedChange(
                action="delete",
                external_id=external_id,
                reason=f"deleted in Salesforce; policy {self.options.salesforce_delete_policy}",
            ),
        )
        link = _salesforce_id_column(mapping)
        change: dict[str, Any] = {link: None} if link else {}
        # "delete" and "mark_deleted" both soft-delete: a partner's registration never vanishes from
        # the portal because of a click in Salesforce (the portal schema never hard-deletes rows).
        if self.options.salesforce_delete_policy in ("mark_deleted", "delete") and mapping.portal.deleted_at:
            change[mapping.portal.deleted_at] = self.clock()
        return change

    def _ledger_after_pull(
        self,
        mapping: ObjectMapping,
        external_id: str,
        entry: LedgerRow | None,
        record: Mapping[str, Any],
        digest: str | None,
        now: datetime,
        deleted: bool,
    ) -> LedgerRow:
        # A record withdrawn after a portal delete stays propagated when its decision is pulled
        # (the withdrawal itself changes the status): otherwise the next push withdraws it again.
        withdrawn = entry is not None and entry.deleted and entry.salesforce_id is not None
        salesforce_id = None if deleted else str(record.get("Id") or (entry.salesforce_id if entry else "")) or None
        deleted = deleted or withdrawn
        # Positional (mapping, external_id, salesforce_id, push_hash, pull_hash, last_pushed_at,
        # last_pulled_at, deleted): built once per record pulled, keywords cost more.
        if entry is None:
            return LedgerRow(mapping.name, external_id, salesforce_id, None, digest, None, now, deleted)
        return LedgerRow(
            mapping.name, external_id, salesforce_id, entry.push_hash, digest, entry.last_pushed_at, now, deleted
        )

    # ------------------------------------------------------------------ helpers
    def _check_portal_columns(self, mapping: ObjectMapping) -> None:
        """Every column the mapping names exists, before anything is written anywhere."""
        source = mapping.portal
        columns = {source.primary_key, source.updated_at, source.external_id_column}
        if source.deleted_at:
            columns.add(source.deleted_at)
        for fm in mapping.fields:
            columns.update(fm.columns)
        self.portal.check_columns(source.table, sorted(columns))

    def _record_type_id(self, mapping: ObjectMapping) -> str | None:
        developer_name = mapping.salesforce.record_type
        if not developer_name:
            return None
        if developer_name not in self._record_types:
            soql = format_soql(
                "SELECT Id FROM RecordType WHERE SobjectType = {} AND DeveloperName = {} LIMIT 1",
                mapping.salesforce.object,
                developer_name,
            )
            found = next(iter(self.salesforce.query(soql)), None)
            if found is None:
                raise FatalError(
                    f"mapping {mapping.name!r}: record type {developer_name!r} does not exist on "
                    f"{mapping.salesforce.object} in this org; create it or fix salesforce.record_type",
                    ErrorContext(mapping=mapping.name, sobject=mapping.salesforce.object, file=mapping.file),
                )
            self._record_types[developer_name] = str(found["Id"])
        return self._record_types[developer_name]

    def _fingerprint_key(self, mapping: ObjectMapping) -> bytes | None:
        if self.protector is not None and mapping.encrypted_fields():
            return self.protector.fingerprint_key()
        return None

    def _resolve_dead_letters(self, mapping: str, direction: DirectionName, keys: Sequence[str]) -> None:
        """Forget the dead letters of records now synced, unless the store has none to forget."""
        possible = self._letters_possible.get((mapping, direction))
        if possible is None:
            possible = self._letters_possible[(mapping, direction)] = self.state.has_dead_letters(mapping, direction)
        if possible:
            self.state.resolve_dead_letters(mapping, direction, keys)

    def _dead_letter(
        self,
        mapping: str,
        direction: DirectionName,
        key: str,
        status: str,
        message: str,
        fields: tuple[str, ...],
        now: datetime,
    ) -> None:
        # Before the write: from now on this run's resolves for the mapping and direction run.
        self._letters_possible[(mapping, direction)] = True
        self.state.record_dead_letter(
            DeadLetter(
                id=None,
                mapping=mapping,
                direction=direction,
                record_key=key,
                status_code=status,
                message=message,
                fields=fields,
                attempts=1,
                first_seen=now,
                last_seen=now,
                next_attempt_at=now,
                state="open",
            ),
            now=now,
            backoff_seconds=self.options.dead_letter_backoff.total_seconds(),
            max_attempts=self.options.dead_letter_max_attempts,
        )


def _withdrawal_field(mapping: ObjectMapping) -> str | None:
    for fm in mapping.portal_owned():
        if fm.portal_column == "withdrawn_at":
            return fm.field
    return None


def _withdrawal_status(mapping: ObjectMapping) -> tuple[str, str] | None:
    """(field, Salesforce value) meaning "withdrawn": the Salesforce-owned picklist whose value
    map sends a value to the portal's ``withdrawn`` (or which has a ``Withdrawn`` value)."""
    for fm in mapping.salesforce_owned():
        if fm.type != "picklist" or "." in fm.field:
            continue
        for step in fm.steps:
            forward = getattr(step, "map", None)
            if isinstance(forward, dict):
                for sf_value, portal_value in forward.items():
                    if str(portal_value).casefold() == "withdrawn":
                        return fm.field, str(sf_value)
        for value in fm.values or ():
            if value.casefold() == "withdrawn":
                return fm.field, value
    return None


def _salesforce_id_column(mapping: ObjectMapping) -> str | None:
    for fm in mapping.salesforce_owned():
        if fm.field == "Id" and fm.portal_column:
            return fm.portal_column
    return None


def _none_first(value: datetime | None) -> datetime:
    return value if value is not None else datetime.min.replace(tzinfo=UTC)
