"""``SyncJob``: the library API behind ``sfsync run`` (Airflow and friends call this)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import Self

from sfsync.config import Settings, load_settings
from sfsync.mapping import MappingSet, load_mappings
from sfsync.portal import PortalAdapter, SqlPortal
from sfsync.sync._engine import Direction, EngineOptions, PayloadProtector, SalesforcePort, SyncEngine, SyncOptions
from sfsync.sync._report import RunReport
from sfsync.sync._state import StateStore
from sfsync.text.urls import redact_database_url

__all__ = ["SyncJob"]

log = logging.getLogger("sfsync.sync")


class SyncJob:
    """One configured sync job.

    >>> job = SyncJob.from_config("sfsync.toml")          # doctest: +SKIP
    >>> report = job.run(dry_run=True)                     # doctest: +SKIP
    >>> report.exit_code, report.summaries[0].created      # doctest: +SKIP
    """

    def __init__(
        self,
        settings: Settings,
        *,
        salesforce: SalesforcePort | None = None,
        portal: PortalAdapter | None = None,
        state: StateStore | None = None,
        mappings: MappingSet | None = None,
        protector: PayloadProtector | None = None,
    ) -> None:
        self.settings = settings
        self._salesforce = salesforce
        self._portal = portal
        self._state = state
        self._mappings = mappings
        self._protector = protector
        self._protector_loaded = protector is not None
        self._stack = ExitStack()
        self.last_report: RunReport | None = None  # the last run's report, also when it raised

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Self:
        """Load ``sfsync.toml`` (``None``: ``$SFSYNC_CONFIG`` then ``./sfsync.toml``) and the environment."""
        return cls(load_settings(Path(path) if path is not None else None))

    # Parts are built lazily so a dry run of the push never logs in, and tests can inject any part.
    @property
    def mappings(self) -> MappingSet:
        if self._mappings is None:
            self._mappings = load_mappings(self.settings.mappings.paths)
        return self._mappings

    @property
    def portal(self) -> PortalAdapter:
        if self._portal is None:
            self._portal = SqlPortal(self.settings.portal.url)
        return self._portal

    @property
    def state(self) -> StateStore:
        if self._state is None:
            self._state = StateStore(self.settings.state.url)
        return self._state

    @property
    def salesforce(self) -> SalesforcePort:
        if self._salesforce is None:
            from sfsync.services.connect import connect_salesforce

            self._salesforce = self._stack.enter_context(connect_salesforce(self.settings))
        return self._salesforce

    @property
    def protector(self) -> PayloadProtector | None:
        if not self._protector_loaded:
            from sfsync.sync._protect import protector_from_settings

            self._protector = protector_from_settings(self.settings, self.mappings, self.state)
            self._protector_loaded = True
        return self._protector

    def engine(self, progress: Callable[[str, int], None] | None = None) -> SyncEngine:
        return SyncEngine(
            mappings=self.mappings,
            portal=self.portal,
            state=self.state,
            salesforce=self.salesforce,
            protector=self.protector,
            options=EngineOptions.from_settings(self.settings),
            progress=progress,
        )

    def run(
        self,
        *,
        dry_run: bool = False,
        direction: Direction = "both",
        mappings: Sequence[str] = (),
        full: bool = False,
        progress: Callable[[str, int], None] | None = None,
    ) -> RunReport:
        """One cycle; raises a :class:`sfsync.FatalError` subclass when the run must stop."""
        options = SyncOptions(dry_run=dry_run, direction=direction, mappings=tuple(mappings), full=full)
        self.last_report = None
        try:
            engine = self.engine(progress)
        except BaseException as exc:
            # Failed before the engine could start (login refused, unreachable org, bad keyring):
            # still a run, recorded as failed, with a report for the caller's metrics.
            self.last_report = self._record_failed_start(exc, options)
            raise
        try:
            return engine.run(options)
        finally:
            self.last_report = engine.last_report

    def _record_failed_start(self, exc: BaseException, options: SyncOptions) -> RunReport:
        report = RunReport.from_error(exc, dry_run=options.dry_run)
        now = report.started_at
        if options.dry_run:
            return report
        try:
            self.state.start_run(report.run_id, now, {**asdict(options), "mappings": list(options.mappings)})
            summary = report.model_dump(mode="json", exclude={"summaries"})
            self.state.finish_run(report.run_id, now, report.outcome, summary, 0)
        except Exception:  # the state store may be what failed; the original error matters more
            log.warning("could not record the failed run in the state store", exc_info=True)
        return report

    def close(self) -> None:
        self._stack.close()
        if self._portal is not None:
            self._portal.close()
        if self._state is not None:
            self._state.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        portal = redact_database_url(self.settings.portal.url)
        return f"SyncJob(mappings={self.settings.mappings.paths!r}, portal={portal!r})"
