"""``sfsync desk``: serve the channel desk; ``sfsync desk user add | remove | list``: its local users."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from sfsync.cli._common import console, err_console, state

app = typer.Typer(
    invoke_without_command=True,
    help="Serve the channel desk web app (read, triage and answer registrations).",
)
users_app = typer.Typer(no_args_is_help=True, help="Manage the desk's local users (argon2-hashed passwords).")
app.add_typer(users_app, name="user")


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
) -> None:
    """Serve the desk until interrupted (Ctrl-C).

    Works on the local org of a demo directory (``[salesforce] fake_org``) and on a real org. Users log
    in with the local user store (``sfsync desk user add``) or, with ``[desk.login] mode = "salesforce"``,
    with Salesforce (OpenID Connect; the role from their permission sets). Away from a loopback address, put it behind
    HTTPS: the session cookie is then marked Secure (``[desk] cookie_secure`` overrides).
    """
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from sfsync.desk.app import create_app, is_loopback

    settings = state(ctx).settings()
    secure = settings.desk.cookie_secure if settings.desk.cookie_secure is not None else not is_loopback(host)
    desk = create_app(settings, cookie_secure=secure)
    desk.org.open()
    # The first full read of the queue (and each registration's SLA deadline) happens now, not on the first
    # manager's first page.
    pending = desk.warm()
    if desk.sso is not None:
        console.print(
            f"users log in with Salesforce ({settings.desk.login.login_url}); roles from the permission sets "
            f"{settings.desk.login.manager_permission_set} and {settings.desk.login.auditor_permission_set}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    elif not desk.users.list():
        err_console.print(
            f"warning: no desk users yet in {settings.desk.users}; add one with "
            "`sfsync desk user add NAME --role manager`",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    console.print(
        f"channel desk on http://{host}:{port}/  ({pending} registrations pending; Ctrl-C stops it)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    # Access lines carry only paths (registration numbers), never decrypted values.
    uvicorn.run(desk.app, host=host, port=port, log_level="warning", access_log=False)


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            click_type=click.Choice(["manager", "auditor", "rep"]),
            help="manager decides; auditor reads and audits; rep sees nothing decrypted.",
        ),
    ] = "manager",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (scripts).")
    ] = False,
) -> None:
    """Add a user, or set the role and password of an existing one."""
    from sfsync.desk.users import Role, UserStore

    settings = state(ctx).settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    UserStore(settings.desk.users).set_user(name, Role(role), password)
    console.print(f"user {name} ({role}) saved in {settings.desk.users}", highlight=False, markup=False, soft_wrap=True)


@users_app.command("remove")
def remove_user(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Remove a user (their open sessions end when the desk restarts)."""
    from sfsync.desk.users import UserStore

    settings = state(ctx).settings()
    if not UserStore(settings.desk.users).remove(name):
        err_console.print(f"no user {name}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(f"user {name} removed", highlight=False, markup=False, soft_wrap=True)


@users_app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Users and their roles."""
    from sfsync.desk.users import UserStore

    for user in UserStore(state(ctx).settings().desk.users).list():
        typer.echo(f"{user.name}\t{user.role.value}")
