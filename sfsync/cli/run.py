"""``sfsync run`` and ``sfsync status``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from sfsync.cli._common import console, state
from sfsync.services.job import SyncJob
from sfsync.sync._report import RunReport

DirectionChoice = Literal["push", "pull", "both"]


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)
    app.command("status")(status_command)


def run_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the planned changes; write nothing anywhere.")
    ] = False,
    direction: Annotated[
        str, typer.Option("--direction", help="push (portal to Salesforce), pull (back) or both.")
    ] = "both",
    mapping: Annotated[
        list[str] | None, typer.Option("--mapping", "-m", help="Only this mapping (repeatable).")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Ignore watermarks and fingerprints: resend everything.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    metrics_file: Annotated[
        Path | None, typer.Option("--metrics-file", help="Also write the summary as an OpenMetrics textfile.")
    ] = None,
) -> None:
    """Run one incremental two-way sync cycle between the portal and Salesforce.

    Exit codes: 0 success, 1 some records rejected (see `sfsync deadletters list`), 2 usage or
    configuration error, 3 fatal (authentication, API allowance, lock held, ...).
    """
    if direction not in ("push", "pull", "both"):
        raise typer.BadParameter("must be push, pull or both", param_hint="--direction")
    settings = state(ctx).settings()
    with SyncJob(settings) as job:
        show_progress = sys.stderr.isatty() and not as_json
        if show_progress:
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

                report = job.run(
                    dry_run=dry_run,
                    direction=direction,  # type: ignore[arg-type]
                    mappings=mapping or (),
                    full=full,
                    progress=progress,
                )
        else:
            report = job.run(dry_run=dry_run, direction=direction, mappings=mapping or (), full=full)  # type: ignore[arg-type]
    if metrics_file is not None:
        metrics_file.write_text(report.to_openmetrics(), encoding="utf-8")
    if as_json:
        typer.echo(report.model_dump_json(indent=2, exclude=None if dry_run else {"summaries": {"__all__": {"plan"}}}))
    else:
        print_report(report)
    raise typer.Exit(report.exit_code)


def print_report(report: RunReport) -> None:
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
    console.print(table)
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
    """Show recent runs, watermarks, dead-letter counts and the last known API usage."""
    from sfsync.sync._state import StateStore

    settings = state(ctx).settings()
    store = StateStore(settings.state.url)
    try:
        runs = store.runs(limit=limit)
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
    runs_table = Table(title="recent runs")
    for column in ("run", "started (UTC)", "seconds", "outcome", "API calls", "API usage"):
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
        )
    console.print(runs_table)
    marks = Table(title="watermarks")
    for column in ("mapping", "direction", "watermark (UTC)"):
        marks.add_column(column)
    for (name, direction), value in sorted(watermarks.items()):
        marks.add_row(name, direction, value.isoformat() if value else "-")
    console.print(marks)
    letters_table = Table(title="dead letters")
    for column in ("mapping", "direction", "state", "count"):
        letters_table.add_column(column)
    for (name, direction, letter_state), count in sorted(counts.items()):
        letters_table.add_row(name, direction, letter_state, str(count))
    console.print(letters_table)
