"""``sfsync conflicts scan | list``."""

from __future__ import annotations

import json
import os
import socket
from typing import Annotated

import typer
from rich.table import Table

from sfsync._cli_common import console, state

app = typer.Typer(no_args_is_help=True, help="Scan for and list channel conflicts.")


@app.command("scan")
def scan_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and print; write nothing.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Scan every Opportunity, not only the changed ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scan summary as JSON.")] = False,
) -> None:
    """Flag direct-rep Opportunities that collide with partner-protected customers.

    Rebuilds the protected customers from the portal, reads Opportunities changed since the last
    scan (all of them with --full), and upserts Channel_Conflict__c records under a deterministic
    key. Statuses set by channel managers are never reopened unless the evidence changes.
    """
    from sfsync._org import connect_salesforce
    from sfsync.conflicts._service import scan_conflicts
    from sfsync.mapping import load_mappings
    from sfsync.sync._state import StateStore

    settings = state(ctx).settings()
    mappings = load_mappings(settings.mappings.paths)
    store = StateStore(settings.state.url)
    try:
        holder = f"{socket.gethostname()}:{os.getpid()}:conflicts"
        lock = store.lock(
            "conflicts",
            holder=holder,
            lease_seconds=settings.state.lock_lease_seconds,
            timeout_seconds=settings.state.lock_timeout_seconds,
        )
        with lock, connect_salesforce(settings) as gateway:
            report = scan_conflicts(
                settings, gateway, mappings=mappings, state=None if dry_run else store, full=full, dry_run=dry_run
            )
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        table = Table(title="channel conflicts" + (" (dry run: nothing written)" if report.dry_run else ""))
        for column in (
            "kind",
            "severity",
            "opportunity",
            "registration",
            "partner of record",
            "protected until",
            "why",
        ):
            table.add_column(column, overflow="fold")
        for conflict in report.conflicts:
            table.add_row(
                conflict.kind.value,
                conflict.severity.value,
                conflict.opportunity_id or "",
                conflict.registration_number or "",
                conflict.partner_name or conflict.partner_number or "",
                conflict.protection_end.isoformat() if conflict.protection_end else "",
                conflict.reason,
            )
        console.print(table)
        console.print(
            f"{report.opportunities} opportunities read, {report.protected_customers} protected customers, "
            f"{len(report.conflicts)} conflicts: {report.created} new, {report.updated} refreshed, "
            f"{report.reopened} reopened, {report.resolved} resolved, {report.unchanged} unchanged; "
            f"{report.api_calls} API calls, {report.seconds:.2f} s",
            highlight=False,
        )
    if report.rejected:
        raise typer.Exit(1)


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only these statuses (Open, Acknowledged, ...).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the conflict records in Salesforce, as channel managers see them."""
    from sfsync._org import connect_salesforce
    from sfsync.conflicts._service import list_conflicts

    settings = state(ctx).settings()
    with connect_salesforce(settings) as gateway:
        rows = list_conflicts(gateway, statuses=status or ())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    table = Table(title=f"{len(rows)} conflict records")
    for column in ("key", "status", "severity", "partner of record", "protected until", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            str(row["Conflict_Key__c"]),
            str(row["Status__c"] or ""),
            str(row["Severity__c"] or ""),
            str(row["Partner_Name__c"] or ""),
            str(row["Protection_End__c"] or ""),
            str(row["Reason__c"] or ""),
        )
    console.print(table)
