"""``sfsync salesforce check`` and ``sfsync salesforce describe OBJECT``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sfsync.cli._common import console, print_table, state

if TYPE_CHECKING:
    from sfsync.salesforce._gateway import SalesforceGateway

app = typer.Typer(no_args_is_help=True, help="Check the connection, limits and objects of the org.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@contextmanager
def _gateway(ctx: typer.Context) -> Iterator[SalesforceGateway]:
    # Through the shared entry point, so a local org file ([salesforce] fake_org) works here too.
    from sfsync.services.connect import connect_salesforce

    with connect_salesforce(state(ctx).settings()) as gateway:
        yield gateway


@app.command("check")
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Log in, then show the instance, the API version and the org's daily API usage."""
    with _gateway(ctx) as gateway:
        limits = gateway.limits()
        daily: dict[str, Any] = limits.get("DailyApiRequests") or {}
        maximum = int(daily.get("Max", 0) or 0)
        remaining = int(daily.get("Remaining", 0) or 0)
        settings = state(ctx).settings().salesforce
        used: int | None = maximum - remaining if maximum else None
        if used is None and gateway.api_usage is not None:
            used, maximum = gateway.api_usage.used, gateway.api_usage.limit
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "connected": True,
                        "instance_url": gateway.instance_url,
                        "auth": settings.auth.value,
                        "api_version": gateway.api_version,
                        "daily_api_requests": {"used": used, "max": maximum or None},
                        "api_usage_ceiling": settings.api_usage_ceiling,
                        "api_calls": gateway.api_calls,
                    },
                    indent=2,
                )
            )
            return
        console.print(f"[green]connected[/] to {gateway.instance_url} (auth {settings.auth.value})", highlight=False)
        console.print(f"API version: {gateway.api_version}", highlight=False)
        if maximum and used is not None:
            console.print(
                f"daily API requests: {used:,} of {maximum:,} used ({used / maximum:.1%}); "
                f"sfsync stops at {settings.api_usage_ceiling:.0%}",
                highlight=False,
            )
        console.print(f"API calls made by this check: {gateway.api_calls}", highlight=False)


def _field_row(field: dict[str, Any]) -> dict[str, Any]:
    required = bool(
        not field.get("nillable", True) and field.get("createable", False) and not field.get("defaultedOnCreate", False)
    )
    return {
        "name": str(field.get("name")),
        "type": str(field.get("type", "")),
        "reference_to": list(field.get("referenceTo") or []),
        "length": field.get("length") or None,
        "required": required,
        "unique": bool(field.get("unique")),
        "external_id": bool(field.get("externalId")),
        "updateable": bool(field.get("updateable")),
        "label": str(field.get("label", "")),
    }


@app.command("describe")
def describe(
    ctx: typer.Context,
    sobject: Annotated[str, typer.Argument(metavar="OBJECT", help="API name, e.g. Account or Deal_Registration__c.")],
    as_json: JsonOption = False,
) -> None:
    """List the fields of OBJECT: name, type, length, required, unique, external id, updateable."""
    with _gateway(ctx) as gateway:
        info = gateway.describe(sobject)
    rows = [_field_row(field) for field in sorted(info.get("fields") or [], key=lambda f: str(f.get("name")))]
    if as_json:
        typer.echo(
            json.dumps({"name": info.get("name", sobject), "label": info.get("label", ""), "fields": rows}, indent=2)
        )
        return
    from rich.table import Table

    table = Table(title=f"{info.get('name', sobject)} ({info.get('label', '')})")
    table.add_column("field", no_wrap=True)  # the API name is what users copy into mappings
    table.add_column("type", no_wrap=True)
    for column in ("len", "req", "uniq", "ext", "upd"):
        table.add_column(column, no_wrap=True)
    table.add_column("label")
    table.caption = "req = required on create, uniq = unique, ext = external id, upd = updateable"
    for row in rows:
        table.add_row(
            row["name"],
            row["type"] + (f" → {', '.join(row['reference_to'])}" if row["reference_to"] else ""),
            str(row["length"] or ""),
            "✓" if row["required"] else "",
            "✓" if row["unique"] else "",
            "✓" if row["external_id"] else "",
            "✓" if row["updateable"] else "",
            row["label"],
        )
    print_table(table)
