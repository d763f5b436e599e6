"""``sfsync conflicts scan | list``."""

from __future__ import annotations

import json
import os
import socket
import textwrap
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated

import typer

from sfsync.cli._common import console, err_console, state

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
    --dry-run reads the watermark but writes nothing: no conflict, no flag, no watermark.
    Opportunities with nothing to match on are counted as skipped ("not enough evidence").
    Exit 1 when Salesforce rejected a record or a portal registration could not be read (it is
    named on stderr; the scan still covers the others); 2 for a broken rules or named-accounts file.
    """
    from sfsync.mapping import load_mappings
    from sfsync.services.conflict_scan import scan_conflicts
    from sfsync.services.connect import connect_salesforce
    from sfsync.sync._state import StateStore

    settings = state(ctx).settings()
    mappings = load_mappings(settings.mappings.paths)
    store = StateStore(settings.state.url)
    try:
        holder = f"{socket.gethostname()}:{os.getpid()}:conflicts"
        # A dry run writes nothing, so it needs no lock (and may run beside a real scan).
        lock: AbstractContextManager[object] = (
            nullcontext()
            if dry_run
            else store.lock(
                "conflicts",
                holder=holder,
                lease_seconds=settings.state.lock_lease_seconds,
                timeout_seconds=settings.state.lock_timeout_seconds,
            )
        )
        with lock, connect_salesforce(settings) as gateway:
            report = scan_conflicts(settings, gateway, mappings=mappings, state=store, full=full, dry_run=dry_run)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        title = "channel conflicts" + (" (dry run: nothing written)" if report.dry_run else "")
        console.print(title, style="bold", highlight=False, markup=False)
        for conflict in report.conflicts:
            facts = [
                f"match probability {conflict.score:.1f} %",
                f"opportunity {conflict.opportunity_name or ''} ({conflict.opportunity_id})"
                if conflict.opportunity_id
                else "",
                f"registration {conflict.registration_number}" if conflict.registration_number else "",
                f"registered first: {conflict.other_registration_number}" if conflict.other_registration_number else "",
                f"partner of record {conflict.partner_name or conflict.partner_number or '?'}",
                f"protected until {conflict.protection_end.isoformat()}" if conflict.protection_end else "",
            ]
            _block(f"{conflict.severity.value.upper()} {conflict.kind.value}  {conflict.key}", facts, conflict.reason)
        console.print()
        console.print(
            f"{report.opportunities} opportunities read, {report.protected_customers} protected customers, "
            f"{len(report.conflicts)} conflicts: {report.created} new, {report.updated} refreshed, "
            f"{report.reopened} reopened, {report.resolved} resolved, {report.unchanged} unchanged; "
            f"{report.flags_set} flags set, {report.flags_cleared} cleared; {report.skipped} skipped"
            + "".join(f" ({n} {why})" for why, n in sorted(report.skipped_reasons.items()))
            + f"; {report.api_calls} API calls, {report.seconds:.2f} s",
            highlight=False,
        )
    for problem in report.bad_registrations:
        err_console.print(f"registration left out: {problem}", highlight=False, markup=False)
    if report.rejected or report.bad_registrations:
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
    from sfsync.services.conflict_scan import list_conflicts
    from sfsync.services.connect import connect_salesforce

    settings = state(ctx).settings()
    with connect_salesforce(settings) as gateway:
        rows = list_conflicts(gateway, statuses=status or ())
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    console.print(f"{len(rows)} conflict records", style="bold", highlight=False, markup=False)
    for row in rows:
        facts = [
            f"status {row['Status__c'] or 'Open'}",
            f"match probability {row['Score__c']} %" if row.get("Score__c") is not None else "",
            f"{row['Name']}" if row.get("Name") else "",
            f"opportunity {row['Opportunity__c']}" if row["Opportunity__c"] else "",
            f"registered first: {row['First_Registration__c']}" if row.get("First_Registration__c") else "",
            f"registration {row['Registration_Number__c']}" if row["Registration_Number__c"] else "",
            f"partner of record {row['Partner_Name__c'] or '?'}",
            f"protected until {row['Protection_End__c']}" if row["Protection_End__c"] else "",
        ]
        title = f"{str(row['Severity__c'] or '').upper()} {row['Kind__c'] or ''}  {row['Conflict_Key__c']}"
        _block(title, facts, str(row["Reason__c"] or ""))


def _block(title: str, facts: list[str], reason: str) -> None:
    """One conflict as a few wrapped lines: readable in an 80-column terminal, unlike a wide table.
    Data is written as typed (a name like "[Q3] Acme" comes out as "[Q3] Acme"): the title in bold
    through rich on a terminal, everything else straight to the console's file -- a scan prints
    hundreds of conflicts, and rich's per-line rendering cost more than the scan's matching."""
    width = max(40, console.width)
    lines = [
        textwrap.fill(text, width, subsequent_indent="  ", break_on_hyphens=False)
        for text in ("  " + " · ".join(f for f in facts if f), "  " + reason)
    ]
    if console.is_terminal:
        console.print()
        console.print(title, style="bold", highlight=False, markup=False)
    else:
        lines[:0] = ["", title]
    console.file.write("\n".join(lines) + "\n")
