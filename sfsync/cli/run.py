"""``sfsync run`` and ``sfsync status``."""

from __future__ import annotations

import json
import signal
import sys
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from sfsync.cli._common import console, error_fields, print_table, state, state_store_missing, write_atomically

if TYPE_CHECKING:
    from datetime import datetime

    from sfsync.services.job import SyncJob
    from sfsync.sync._report import RunReport
    from sfsync.sync._state import DeadLetter, RunRecord


class RunDirection(StrEnum):
    PUSH = "push"
    PULL = "pull"
    BOTH = "both"


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("status")(status_command)


def run_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned changes; write nothing anywhere.")
    ] = False,
    direction: Annotated[
        RunDirection, typer.Option("--direction", help="push (portal to Salesforce), pull (back) or both.")
    ] = RunDirection.BOTH,
    mapping: Annotated[
        list[str] | None, typer.Option("--mapping", "-m", help="Only this mapping (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore watermarks and fingerprints: resend everything.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the run summary as JSON (a JSON error object if the run fails).")
    ] = False,
    metrics_file: Annotated[
        Path | None,
        typer.Option(
            "--metrics-file",
            help="Also write the summary as an OpenMetrics textfile (atomically; written for a failed run too).",
        ),
    ] = None,
) -> None:
    """Run one incremental two-way sync cycle between the portal and Salesforce.

    Exit codes: 0 success, 1 some records rejected (see `sfsync deadletters list`), 2 usage or
    configuration error, 3 fatal (authentication, API allowance, lock held, ...).
    """
    job: SyncJob | None = None
    previous_handler = _stop_on_sigterm()
    try:
        settings = state(ctx).settings()
        from sfsync.services.job import SyncJob

        with SyncJob(settings) as job:
            report = _run(
                job,
                dry_run=dry_run,
                direction=direction.value,
                mappings=mapping or (),
                full=full,
                show_progress=sys.stderr.isatty() and not as_json,
            )
    except BaseException as exc:
        if isinstance(exc, typer.Exit | SystemExit):
            raise
        failed = job.last_report if job is not None else None
        if failed is None and (metrics_file is not None or as_json):
            failed = _report_for(exc, dry_run)  # built only when asked for: it loads the sync package
        if failed is not None:
            error_fields["run_id"] = failed.run_id
            if metrics_file is not None:
                write_atomically(metrics_file, failed.to_openmetrics())
            if as_json:
                typer.echo(_report_json(failed, dry_run))
        raise
    finally:
        _restore_sigterm(previous_handler)
    if metrics_file is not None:
        write_atomically(metrics_file, report.to_openmetrics())
    if as_json:
        typer.echo(_report_json(report, dry_run))
    else:
        print_report(report)
    raise typer.Exit(report.exit_code)


def _run(
    job: SyncJob,
    *,
    dry_run: bool,
    direction: str,
    mappings: list[str] | tuple[str, ...],
    full: bool,
    show_progress: bool,
) -> RunReport:
    if not show_progress:
        return job.run(dry_run=dry_run, direction=direction, mappings=mappings, full=full)  # type: ignore[arg-type]
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed} rows"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, count: int) -> None:
            if label not in tasks:
                tasks[label] = int(bar.add_task(label, total=None))
            bar.advance(tasks[label], count)  # type: ignore[arg-type]

        return job.run(
            dry_run=dry_run,
            direction=direction,  # type: ignore[arg-type]
            mappings=mappings,
            full=full,
            progress=progress,
        )


def _report_for(exc: BaseException, dry_run: bool) -> RunReport:
    """A report for a run that failed before the job existed (configuration, mappings)."""
    from sfsync.sync._report import RunReport

    return RunReport.from_error(exc, dry_run=dry_run)


def _report_json(report: RunReport, dry_run: bool) -> str:
    payload = json.loads(report.model_dump_json(exclude=None if dry_run else {"summaries": {"__all__": {"plan"}}}))
    payload["exit_code"] = report.exit_code
    return json.dumps(payload, indent=2)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (Kubernetes, systemd stopping the job): stop like Ctrl-C, so the run records its end."""


def _stop_on_sigterm() -> object:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated("terminated (SIGTERM)")

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        return None


def _restore_sigterm(previous: object) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)  # type: ignore[arg-type]


def print_report(report: RunReport) -> None:
    from rich.table import Table

    title = "planned changes (dry run: nothing written)" if report.dry_run else f"run {report.run_id[:8]}"
    table = Table(title=title)
    for column in (
        "mapping",
        "direction",
        "read",
        "created",
        "updated",
        "unchanged",
        "rejected",
        "retried",
        "written back",
        "deleted",
        "API calls",
        "seconds",
    ):
        table.add_column(column, justify="left" if column in ("mapping", "direction") else "right")
    for item in report.summaries:
        table.add_row(
            item.mapping,
            item.direction,
            str(item.read),
            str(item.created),
            str(item.updated),
            str(item.unchanged),
            str(item.rejected),
            str(item.retried),
            str(item.written_back),
            str(item.deleted + item.withdrawn),
            str(item.api_calls),
            f"{item.duration_seconds:.2f}",
        )
    print_table(table)
    if report.dry_run:
        for item in report.summaries:
            for change in item.plan:
                if change.action != "skip":
                    console.print(
                        f"  {item.mapping} {item.direction}: {change.action} {change.external_id}"
                        + (f" ({change.reason})" if change.reason else ""),
                        highlight=False,
                    )
    usage = f", org usage {report.api_usage}" if report.api_usage else ""
    console.print(f"outcome: {report.outcome}, API calls: {report.api_calls}{usage}", highlight=False)
    if report.rejected:
        console.print(f"{report.rejected} record(s) rejected: `sfsync deadletters list` shows why.", highlight=False)


def status_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    limit: Annotated[int, typer.Option("--limit", help="How many recent runs to show.")] = 10,
) -> None:
    """Show recent runs (a failed one at once, with its error), watermarks, dead-letter counts and API usage."""
    settings = state(ctx).settings()
    from sfsync.sync._state import StateStore

    runs: list[RunRecord] = []
    watermarks: dict[tuple[str, str], datetime] = {}
    letters: list[DeadLetter] = []
    if not state_store_missing(settings.state.url):  # nothing has run yet: show that, create nothing
        store = StateStore(settings.state.url)
        try:
            runs = store.runs_as_seen_now(limit=limit)
            watermarks = store.watermarks()
            letters = store.dead_letters()
        finally:
            store.close()
    counts: dict[tuple[str, str, str], int] = {}
    for letter in letters:
        key = (letter.mapping, letter.direction, letter.state)
        counts[key] = counts.get(key, 0) + 1
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "runs": [r.model_dump(mode="json") for r in runs],
                    "watermarks": [
                        {"mapping": m, "direction": d, "value": v.isoformat() if v else None}
                        for (m, d), v in sorted(watermarks.items())
                    ],
                    "dead_letters": [
                        {"mapping": m, "direction": d, "state": s, "count": n}
                        for (m, d, s), n in sorted(counts.items())
                    ],
                },
                indent=2,
            )
        )
        return
    from rich.table import Table

    runs_table = Table(title="recent runs")
    for column in ("run", "started (UTC)", "seconds", "outcome", "API calls", "API usage", "error"):
        runs_table.add_column(column)
    for run in runs:
        seconds = f"{(run.ended_at - run.started_at).total_seconds():.1f}" if run.ended_at else "running"
        usage = str(run.summary.get("api_usage") or "") if run.summary else ""
        runs_table.add_row(
            run.run_id[:8],
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            seconds,
            run.outcome or "",
            str(run.api_calls or 0),
            usage,
            str(run.summary.get("error") or "") if run.summary else "",
        )
    print_table(runs_table)
    marks = Table(title="watermarks")
    for column in ("mapping", "direction", "watermark (UTC)"):
        marks.add_column(column)
    for (name, direction), value in sorted(watermarks.items()):
        marks.add_row(name, direction, value.isoformat() if value else "-")
    print_table(marks)
    letters_table = Table(title="dead letters")
    for column in ("mapping", "direction", "state", "count"):
        letters_table.add_column(column)
    for (name, direction, letter_state), count in sorted(counts.items()):
        letters_table.add_row(name, direction, letter_state, str(count))
    print_table(letters_table)
