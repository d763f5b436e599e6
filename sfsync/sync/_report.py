"""What a sync run did, as a typed report (the library API and ``sfsync run --json`` share it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sfsync.errors import EXIT_FATAL, EXIT_OK, EXIT_REJECTED, SfsyncError, describe_unexpected
from sfsync.text.time import utc_now

DirectionName = Literal["push", "pull"]
# fatal: sfsync stopped the run on purpose (authentication, allowance, lock, ...);
# failed: it crashed on an error it did not expect (a bug, a database refusal, an interrupt).
Outcome = Literal["ok", "rejected", "fatal", "failed", "dry_run"]


class PlannedChange(BaseModel):
    """One line of a ``--dry-run`` plan: identifiers only, never values."""

    model_config = ConfigDict(frozen=True)

    action: Literal["create", "update", "skip", "reject", "write_back", "delete", "withdraw"]
    external_id: str
    reason: str = ""


class MappingRunSummary(BaseModel):
    """Counts for one mapping in one direction."""

    mapping: str
    direction: DirectionName
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    retried: int = 0
    written_back: int = 0
    deleted: int = 0
    withdrawn: int = 0
    unmatched: int = 0
    api_calls: int = 0
    duration_seconds: float = 0.0
    # Seconds per step (portal_read, mapping, encryption, csv_build, upload, server_wait, results,
    # state_writes, query, write_back): busy time summed over threads, so steps that overlap in
    # the pipeline can add up to more than duration_seconds.
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    # The same steps in CPU seconds of the threads that ran them (load-independent; the pull's
    # "query" holds the records' parsing and its "server_wait").
    stage_cpu_seconds: dict[str, float] = Field(default_factory=dict)
    watermark: datetime | None = None
    plan: list[PlannedChange] = Field(default_factory=list)

    @property
    def written(self) -> int:
        return self.created + self.updated + self.written_back + self.deleted + self.withdrawn


class RunReport(BaseModel):
    """The result of one ``sfsync run`` cycle."""

    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    dry_run: bool = False
    outcome: Outcome = "ok"
    error: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_exit_code: int | None = Field(default=None, description="the exit code of the error that ended the run")
    api_calls: int = 0
    api_usage: str | None = None
    summaries: list[MappingRunSummary] = Field(default_factory=list)

    @classmethod
    def from_error(cls, exc: BaseException, *, dry_run: bool = False, run_id: str | None = None) -> RunReport:
        """The report of a run that ``exc`` ended before any mapping ran (login refused, bad configuration)."""
        now = utc_now()
        report = cls(run_id=run_id or uuid.uuid4().hex, started_at=now, finished_at=now, dry_run=dry_run)
        report.record_error(exc)
        return report

    def record_error(self, exc: BaseException) -> None:
        """Mark the run as ended by ``exc``: fatal for an sfsync error, failed for anything else."""
        if isinstance(exc, SfsyncError):
            self.outcome = "fatal"
            self.error = str(exc)
            self.error_code = exc.context.status_code
            self.error_exit_code = exc.exit_code
        else:
            self.outcome = "failed"
            self.error = (str(exc) or "interrupted") if isinstance(exc, KeyboardInterrupt) else describe_unexpected(exc)
        self.error_type = type(exc).__name__

    @property
    def rejected(self) -> int:
        return sum(s.rejected for s in self.summaries)

    @property
    def exit_code(self) -> int:
        if self.error_exit_code is not None:
            return self.error_exit_code
        if self.outcome in ("fatal", "failed"):
            return EXIT_FATAL
        return EXIT_REJECTED if self.outcome == "rejected" else EXIT_OK

    def summary(self, mapping: str, direction: DirectionName) -> MappingRunSummary:
        for item in self.summaries:
            if item.mapping == mapping and item.direction == direction:
                return item
        raise KeyError(f"no summary for mapping {mapping!r} direction {direction!r}")

    def to_openmetrics(self) -> str:
        """The run as a Prometheus/OpenMetrics textfile (node_exporter's textfile collector)."""
        lines = [
            "# HELP sfsync_run_success 1 when the last run finished without a fatal error.",
            "# TYPE sfsync_run_success gauge",
            f"sfsync_run_success {0 if self.outcome in ('fatal', 'failed') else 1}",
            "# HELP sfsync_run_exit_code Exit code of the last run (0 ok, 1 rejected records, 2 usage, 3 fatal).",
            "# TYPE sfsync_run_exit_code gauge",
            f"sfsync_run_exit_code {self.exit_code}",
            "# HELP sfsync_run_api_calls Salesforce API calls spent by the last run.",
            "# TYPE sfsync_run_api_calls gauge",
            f"sfsync_run_api_calls {self.api_calls}",
        ]
        if self.finished_at is not None:
            lines += [
                "# HELP sfsync_run_duration_seconds Wall time of the last run.",
                "# TYPE sfsync_run_duration_seconds gauge",
                f"sfsync_run_duration_seconds {(self.finished_at - self.started_at).total_seconds():.3f}",
                "# HELP sfsync_run_finished_timestamp_seconds When the last run finished.",
                "# TYPE sfsync_run_finished_timestamp_seconds gauge",
                f"sfsync_run_finished_timestamp_seconds {self.finished_at.timestamp():.0f}",
            ]
        counters = ("read", "created", "updated", "unchanged", "rejected", "retried", "written_back", "api_calls")
        for counter in counters:
            lines.append(
                f"# HELP sfsync_records_{counter} Records {counter.replace('_', ' ')} per mapping and direction."
            )
            lines.append(f"# TYPE sfsync_records_{counter} gauge")
            for item in self.summaries:
                labels = f'mapping="{item.mapping}",direction="{item.direction}"'
                lines.append(f"sfsync_records_{counter}{{{labels}}} {getattr(item, counter)}")
        lines.append("# EOF")
        return "\n".join(lines) + "\n"
