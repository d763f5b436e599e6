"""``sfsync audit verify | list``: the desk's tamper-evident audit trail."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from sfsync.cli._common import console, err_console, state

if TYPE_CHECKING:
    from sfsync.desk.audit import AuditLog

app = typer.Typer(no_args_is_help=True, help="Verify and list the desk's audit trail.")


def _log(ctx: typer.Context) -> AuditLog:
    from sfsync.crypto import load_keyring
    from sfsync.desk.audit import AuditLog, audit_key

    settings = state(ctx).settings()
    return AuditLog(settings.desk.audit_log, audit_key(load_keyring(settings)))


@app.command("verify")
def verify_command(ctx: typer.Context) -> None:
    """Check every entry's MAC and the chain: exit 3 when an entry was edited, removed, reordered or cut off."""
    from sfsync.errors import EXIT_FATAL

    log = _log(ctx)
    checked, problems = log.verify()
    if problems:
        for problem in problems:
            err_console.print(
                f"{log.path}:{problem.line}: {problem.message}", highlight=False, markup=False, soft_wrap=True
            )
        err_console.print(
            f"audit log FAILS verification: {len(problems)} problems in {checked} entries",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FATAL)
    console.print(
        f"audit log verified: {checked} entries, chain and MACs intact", highlight=False, markup=False, soft_wrap=True
    )


@app.command("list")
def list_command(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's entries.")] = None,
    registration: Annotated[str | None, typer.Option("--registration", help="Only this registration.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Entries, oldest first, filtered by user and registration."""
    log = _log(ctx)
    for entry in log.entries(user=user, registration=registration):
        if as_json:
            typer.echo(json.dumps({**entry.body(), "mac": entry.mac}, sort_keys=True))
        else:
            console.print(
                f"{entry.seq:>6}  {entry.at}  {entry.user:<20} {entry.role:<8} {entry.action:<22} "
                f"{entry.registration:<14} {entry.detail}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
