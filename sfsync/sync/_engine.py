"""The two-way mirror: push portal changes to Salesforce, pull Salesforce decisions back.

Laws kept here (docs/design.md): a watermark only advances over rows that were synced, found unchanged
or dead-lettered (nothing lost); every Salesforce write is an upsert by external id and unchanged
payloads are skipped by fingerprint (idempotent); only the owning side's fields travel each way
(one owner per field); encrypted plaintext is replaced by ciphertext before the payload leaves
this module and is scrubbed from every message kept (no plaintext leak).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sfsync.config import Settings
from sfsync.errors import ErrorContext, FatalError, PortalRejectedError, RecordRejectedError, SfsyncError, UsageError
from sfsync.mapping import MappingSet, ObjectMapping, RecordMappingError
from sfsync.portal import PortalAdapter
from sfsync.salesforce import RecordResult, format_soql
from sfsync.sync._fingerprint import fingerprint
from sfsync.sync._protect import undecodable_columns
from sfsync.sync._report import DirectionName, MappingRunSummary, PlannedChange, RunReport
from sfsync.sync._state import DeadLetter, LedgerEntry, StateStore
from sfsync.text.time import parse_utc

__all__ = ["EngineOptions", "PayloadProtector", "SalesforcePort", "SyncEngine", "SyncOptions"]

# Dead-lettered pull records are re-read by key in chunks this size (a SOQL IN list well under
# the 100,000-character statement limit, even for 40-character keys).
_RETRY_CHUNK = 200

log = logging.getLogger("sfsync.sync")

Direction = Literal["push", "pull", "both"]


class SalesforcePort(Protocol):
    """What the engine needs from the Salesforce gateway."""

    @property
    def api_calls(self) -> int: ...

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
    secrets: tuple[str, ...]


@dataclass
class _Batch:
    """Rows read together; their outcomes are all recorded before the watermark moves."""

    rows: list[dict[str, Any]]
    retried_keys: set[str] = field(default_factory=set)


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
        self._lock: Any = None
        self._record_types: dict[str, str] = {}

    # ------------------------------------------------------------------ the cycle
    def run(self, options: SyncOptions | None = None) -> RunReport:
        options = options or SyncOptions()
        selected = self._select(options.mappings)
        report = RunReport(run_id=uuid.uuid4().hex, started_at=self.clock(), dry_run=options.dry_run)
        calls_at_start = self.salesforce.api_calls
        holder = f"{socket.gethostname()}:{os.getpid()}:{report.run_id[:8]}"
        lock_cm: AbstractContextManager[Any] = (
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
            for mapping in selected:
                if not mapping.is_read_only:
                    self._check_portal_columns(mapping)
            try:
                for mapping in selected:
                    if mapping.is_read_only:
                        continue  # read by the conflict scanner, not mirrored
                    if options.direction in ("push", "both") and mapping.direction in ("push", "both"):
                        report.summaries.append(self._push(mapping, options))
                    if options.direction in ("pull", "both") and mapping.direction in ("pull", "both"):
                        report.summaries.append(self._pull(mapping, options))
            except SfsyncError as exc:
                report.outcome = "fatal"
                report.error = str(exc)
                self._finish(report, calls_at_start, options)
                raise
            if options.dry_run:
                report.outcome = "dry_run"
            elif report.rejected:
                report.outcome = "rejected"
            self._finish(report, calls_at_start, options)
        return report

    def _finish(self, report: RunReport, calls_at_start: int, options: SyncOptions) -> None:
        report.finished_at = self.clock()
        report.api_calls = self.salesforce.api_calls - calls_at_start
        usage = getattr(self.salesforce, "api_usage", None)
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
        renew = getattr(self._lock, "renew", None)
        if callable(renew):
            renew()

    @staticmethod
    def _plan(summary: MappingRunSummary, options: SyncOptions, change: PlannedChange) -> None:
        """Keep the per-record plan only for a dry run (the only report that prints it): a real
        run of 100k rows would otherwise hold 100k entries until it ends."""
        if options.dry_run:
            summary.plan.append(change)

    def _tick(self, label: str, count: int) -> None:
        if self.progress is not None:
            self.progress(label, count)

    # ------------------------------------------------------------------ push
    def _push(self, mapping: ObjectMapping, options: SyncOptions) -> MappingRunSummary:
        started = time.monotonic()
        calls = self.salesforce.api_calls
        summary = MappingRunSummary(mapping=mapping.name, direction="push")
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

        for rows in self.portal.changed_rows(
            mapping.portal.table,
            updated_at=mapping.portal.updated_at,
            since=since,
            overlap=self.options.overlap,
            filter=mapping.portal.filter,
            batch_size=self.options.batch_size,
            key_column=mapping.portal.primary_key,
        ):
            # A row met again later in the same read was edited while the run was reading: it is
            # processed again (its hash decides), never skipped — the watermark moves past it.
            fresh = list(rows)
            for row in rows:
                due_keys.pop(str(row.get(key_column)), None)
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
            batch = _Batch(rows=fresh)
            self._push_batch(mapping, batch, summary, options)
            newest = max((parse_utc(r.get(mapping.portal.updated_at)) for r in rows), default=None, key=_none_first)
            if newest is not None and not options.dry_run:
                self.state.set_watermark(mapping.name, "push", newest)
                summary.watermark = newest
            self._renew_lock()

        # Dead letters whose backoff has passed are retried even if their row did not change.
        if due_keys and not options.dry_run:
            rows_by_key = self.portal.rows_by_keys(mapping.portal.table, key_column, list(due_keys))
            if rows_by_key:
                batch = _Batch(rows=list(rows_by_key.values()), retried_keys={str(k) for k in rows_by_key})
                self._push_batch(mapping, batch, summary, options)

        self._push_portal_deletes(mapping, summary, options, soft_deleted)
        summary.api_calls = self.salesforce.api_calls - calls
        summary.duration_seconds = round(time.monotonic() - started, 3)
        return summary

    def _push_batch(
        self, mapping: ObjectMapping, batch: _Batch, summary: MappingRunSummary, options: SyncOptions
    ) -> None:
        key_column = mapping.portal.external_id_column
        summary.read += len(batch.rows)
        summary.retried += len(batch.retried_keys)
        keys = [str(row[key_column]) for row in batch.rows if row.get(key_column) is not None]
        ledger = self.state.ledger(mapping.name, keys) if keys else {}
        encrypted = [fm.salesforce_field for fm in mapping.encrypted_fields()]
        outgoing: list[_Outgoing] = []
        resolved: list[str] = []
        now = self.clock()

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
                    self._dead_letter(mapping.name, "push", external_id, "INVALID_TEXT", message, (), now)
                continue
            entry = ledger.get(external_id)
            is_create = entry is None or entry.salesforce_id is None
            outbound = mapping.to_salesforce(
                row, is_create=is_create, record_type_id=self._record_type_id(mapping) if is_create else None
            )
            secrets = tuple(
                str(row[column]) for fm in mapping.encrypted_fields() for column in fm.columns if row.get(column)
            )
            if outbound.errors:
                fields = tuple(sorted({p.field for p in outbound.errors if p.field}))
                message = _scrub("; ".join(str(p) for p in outbound.errors), secrets)
                summary.rejected += 1
                self._plan(summary, options, PlannedChange(action="reject", external_id=external_id, reason=message))
                if not options.dry_run:
                    self._dead_letter(mapping.name, "push", external_id, "MAPPING_ERROR", message, fields, now)
                continue
            # Fields written on create only (and the record type) are left out of the fingerprint:
            # the same row must hash the same whether it was mapped as a create or an update.
            create_only = {fm.field for fm in mapping.portal_owned() if fm.on_create_only} | {"RecordTypeId"}
            digest = fingerprint(
                {k: v for k, v in outbound.payload.items() if k not in create_only}, self._fingerprint_key(mapping)
            )
            if entry is not None and entry.push_hash == digest and not entry.deleted and not options.full:
                summary.unchanged += 1
                self._plan(summary, options, PlannedChange(action="skip", external_id=external_id, reason="unchanged"))
                if external_id in batch.retried_keys and not options.dry_run:
                    resolved.append(external_id)
                continue
            action: Literal["create", "update"] = "create" if is_create else "update"
            self._plan(summary, options, PlannedChange(action=action, external_id=external_id))
            if options.dry_run:
                if is_create:
                    summary.created += 1
                else:
                    summary.updated += 1
                continue
            payload = dict(outbound.payload)
            if encrypted:
                if self.protector is None:
                    raise FatalError(
                        f"mapping {mapping.name!r} encrypts {', '.join(encrypted)} but no keyring is configured; "
                        "set [crypto] keyring and SFSYNC_CRYPTO__MASTER_KEY (see `sfsync crypto keygen`)",
                        ErrorContext(mapping=mapping.name),
                    )
                try:
                    payload = self.protector.protect(mapping, external_id, payload)
                except RecordRejectedError as exc:
                    summary.rejected += 1
                    message = _scrub(str(exc), secrets)
                    rejected = PlannedChange(action="reject", external_id=external_id, reason=message)
                    self._plan(summary, options, rejected)
                    field_name = exc.context.field_name
                    self._dead_letter(
                        mapping.name,
                        "push",
                        external_id,
                        "INVALID_VALUE",
                        message,
                        (field_name,) if field_name else (),
                        now,
                    )
                    continue
            outgoing.append(_Outgoing(external_id, raw_key, payload, digest, is_create, secrets))

        if not outgoing:
            if resolved:
                self.state.resolve_dead_letters(mapping.name, "push", resolved)
            return
        results = self.salesforce.upsert(
            mapping.salesforce.object, mapping.salesforce.external_id_field, [o.payload for o in outgoing]
        )
        synced: list[LedgerEntry] = []
        for item, result in zip(outgoing, results, strict=True):
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
            previous = ledger.get(item.external_id)
            synced.append(
                LedgerEntry(
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
            self.state.save_ledger(synced)
        if resolved:
            self.state.resolve_dead_letters(mapping.name, "push", resolved)
        self._tick(f"{mapping.name} push", len(batch.rows))

    def _push_portal_deletes(
        self,
        mapping: ObjectMapping,
        summary: MappingRunSummary,
        options: SyncOptions,
        soft_deleted: dict[str, datetime],
    ) -> None:
        """Rows deleted in the portal (soft via ``deleted_at``, or gone): withdraw or delete in Salesforce."""
        key_column = mapping.portal.external_id_column
        now = self.clock()
        # Hard deletes: ledger keys the portal no longer has. Streamed chunk by chunk so memory
        # stays flat with the size of the ledger; records already propagated are not re-checked.
        gone: dict[str, datetime] = {}
        for chunk in self.state.iter_ledger_keys(mapping.name, chunk=1000, live_only=True):
            present = {str(k) for k in self.portal.existing_keys(mapping.portal.table, key_column, chunk)}
            gone.update((key, now) for key in chunk if key not in present)
        gone.update(soft_deleted)
        if not gone:
            return
        ledger = self.state.ledger(mapping.name, list(gone))
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
        done: list[LedgerEntry] = []
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
            done.append(ledger[key].model_copy(update={"deleted": True, "last_pushed_at": now}))
        if done:
            self.state.save_ledger(done)

    # ------------------------------------------------------------------ pull
    def _pull(self, mapping: ObjectMapping, options: SyncOptions) -> MappingRunSummary:
        started = time.monotonic()
        calls = self.salesforce.api_calls
        summary = MappingRunSummary(mapping=mapping.name, direction="pull")
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

        def flush(retried: bool = False) -> None:
            if pending:
                self._pull_batch(mapping, pending, summary, options, retried=retried)
                pending.clear()
                self._renew_lock()

        for record in self.salesforce.query(soql, include_deleted=True):
            summary.read += 1
            stamp = parse_utc(record.get("SystemModstamp"))
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
            if record.get(ext_field) in (None, ""):
                continue
            key = str(record[ext_field])
            due_keys.pop(key, None)
            failed_at = waiting.get(key)
            if failed_at is not None and stamp is not None and stamp <= failed_at:
                summary.unchanged += 1  # still dead-lettered; retried when due or on request
                continue
            pending.append(record)
            if len(pending) >= self.options.batch_size:
                flush()
        flush()
        # Every record read is now written back or dead-lettered (law 2): the watermark may move.
        if newest is not None and not options.dry_run:
            self.state.set_watermark(mapping.name, "pull", newest)
            summary.watermark = newest
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
            return format_soql(
                "SELECT {:literal} FROM {:literal} WHERE {:literal} != null ORDER BY SystemModstamp, Id",
                select,
                obj,
                ext,
            )
        # Salesforce drops milliseconds in datetime comparisons; the overlap window re-reads the edge.
        floor = (since - self.options.overlap).replace(microsecond=0)
        return format_soql(
            "SELECT {:literal} FROM {:literal} WHERE {:literal} != null AND SystemModstamp >= {} "
            "ORDER BY SystemModstamp, Id",
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
        ledger = self.state.ledger(mapping.name, keys)
        present = {str(k) for k in self.portal.existing_keys(table, key_column, keys)}
        updates: list[tuple[Any, dict[str, Any]]] = []
        entries: dict[str, LedgerEntry] = {}
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
                    entries[external_id] = self._ledger_after_pull(
                        mapping, external_id, entry, record, None, now, True
                    )
                else:
                    settled.append(external_id)
                continue
            try:
                values = mapping.to_portal(record)
            except RecordMappingError as exc:
                fields = tuple(p.field or "" for p in exc.problems)
                self._reject_pull(mapping, summary, options, external_id, "INVALID_VALUE", str(exc), fields, now)
                continue
            digest = fingerprint(values)
            if entry is not None and entry.pull_hash == digest and not options.full and not retried:
                summary.unchanged += 1
                settled.append(external_id)
                continue
            self._plan(summary, options, PlannedChange(action="write_back", external_id=external_id))
            updates.append((external_id, values))
            entries[external_id] = self._ledger_after_pull(mapping, external_id, entry, record, digest, now, False)
        if options.dry_run:
            summary.written_back += sum(1 for entry_ in entries.values() if not entry_.deleted)
            return
        written = self._write_back(mapping, updates, summary, now)
        summary.written_back += sum(1 for key in written if key in entries and not entries[key].deleted)
        if written:
            self.state.save_ledger([entries[key] for key in written if key in entries])
        done = [*settled, *written]
        if done:
            self.state.resolve_dead_letters(mapping.name, "pull", done)
        self._tick(f"{mapping.name} pull", len(records))

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
            self._dead_letter(mapping.name, "pull", str(key), "PORTAL_REJECTED", str(exc),
                              tuple(sorted(update_[1])), now)
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
        entry: LedgerEntry | None,
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
        entry: LedgerEntry | None,
        record: Mapping[str, Any],
        digest: str | None,
        now: datetime,
        deleted: bool,
    ) -> LedgerEntry:
        # A record withdrawn after a portal delete stays propagated when its decision is pulled
        # (the withdrawal itself changes the status): otherwise the next push withdraws it again.
        withdrawn = entry is not None and entry.deleted and entry.salesforce_id is not None
        salesforce_id = None if deleted else str(record.get("Id") or (entry.salesforce_id if entry else "")) or None
        deleted = deleted or withdrawn
        return LedgerEntry(
            mapping=mapping.name,
            external_id=external_id,
            salesforce_id=salesforce_id,
            push_hash=entry.push_hash if entry else None,
            pull_hash=digest,
            last_pushed_at=entry.last_pushed_at if entry else None,
            last_pulled_at=now,
            deleted=deleted,
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
