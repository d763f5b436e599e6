"""``sfsync salesforce check`` and ``sfsync salesforce describe OBJECT``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from sfsync.cli._common import console, state
from sfsync.salesforce._gateway import SalesforceGateway

app = typer.Typer(no_args_is_help=True, help="Check the connection, limits and objects of the org.")


@contextmanager
def _gateway(ctx: typer.Context) -> Iterator[SalesforceGateway]:
    # Through the shared entry point, so a local org file ([salesforce] fake_org) works here too.
    from sfsync.services.connect import connect_salesforce

    with connect_salesforce(state(ctx).settings()) as gateway:
        yield gateway


@app.command("check")
def check(ctx: typer.Context) -> None:
    """Log in, then show the instance, the API version and the org's daily API usage."""
    with _gateway(ctx) as gateway:
        limits = gateway.limits()
        daily: dict[str, Any] = limits.get("DailyApiRequests") or {}
        maximum = int(daily.get("Max", 0) or 0)
        remaining = int(daily.get("Remaining", 0) or 0)
        settings = state(ctx).settings().salesforce
        console.print(f"[green]connected[/] to {gateway.instance_url} (auth {settings.auth.value})", highlight=False)
        console.print(f"API version: {gateway.api_version}", highlight=False)
        if maximum:
            used = maximum - remaining
            console.print(
                f"daily API requests: {used:,} of {maximum:,} used ({used / maximum:.1%}); "
                f"sfsync stops at {settings.api_usage_ceiling:.0%}",
                highlight=False,
            )
        elif gateway.api_usage is not None:
            usage = gateway.api_usage
            console.print(f"daily API requests: {usage.used:,} of {usage.limit:,} used", highlight=False)
        console.print(f"API calls made by this check: {gateway.api_calls}", highlight=False)


@app.command("describe")
def describe(
    ctx: typer.Context,
    sobject: Annotated[str, typer.Argument(metavar="OBJECT", help="API name, e.g. Account or Deal_Registration__c.")],
) -> None:
    """List the fields of OBJECT: name, type, length, required, unique, external id, updateable."""
    with _gateway(ctx) as gateway:
        info = gateway.describe(sobject)
    table = Table(title=f"{info.get('name', sobject)} ({info.get('label', '')})")
    table.add_column("field", no_wrap=True)  # the API name is what users copy into mappings
    table.add_column("type", no_wrap=True)
    for column in ("len", "req", "uniq", "ext", "upd"):
        table.add_column(column, no_wrap=True)
    table.add_column("label")
    table.caption = "req = required on create, uniq = unique, ext = external id, upd = updateable"
    for field in sorted(info.get("fields") or [], key=lambda f: str(f.get("name"))):
        required = not field.get("nillable", True) and field.get("createable", False) and not field.get(
            "defaultedOnCreate", False)
        table.add_row(
            str(field.get("name")),
            str(field.get("type", "")) + (f" → {', '.join(field['referenceTo'])}" if field.get("referenceTo") else ""),
            str(field.get("length") or ""),
            "✓" if required else "",
            "✓" if field.get("unique") else "",
            "✓" if field.get("externalId") else "",
            "✓" if field.get("updateable") else "",
            str(field.get("label", "")),
        )
    console.print(table)
