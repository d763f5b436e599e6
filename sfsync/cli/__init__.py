"""The ``sfsync`` command.

Exit codes: 0 success · 1 finished, but some records were rejected · 2 usage or configuration
error · 3 fatal (authentication, API allowance, lock held, undecryptable data, ...).
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape

from sfsync import __version__
from sfsync.cli._common import CliState, err_console
from sfsync.cli._logging import LogFormat, configure_logging
from sfsync.errors import EXIT_FATAL, EXIT_USAGE, SfsyncError

app = typer.Typer(
    name="sfsync",
    help="Mirror partner registrations between a partner portal and Salesforce, "
    "encrypt confidential partner fields, and flag channel conflicts.\n\n"
    "Exit codes: 0 success, 1 rejected records, 2 usage/configuration error, 3 fatal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Sub-command groups live beside the code they drive; each module exposes ``app`` (a group)
# or ``register(app)`` (top-level commands).
_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("mappings", "sfsync.cli.mappings", "Validate, preview and publish field mappings."),
    ("crypto", "sfsync.cli.crypto", "Keys, rotation, re-encryption and verification."),
    ("conflicts", "sfsync.cli.conflicts", "Scan for and list channel conflicts."),
    ("deadletters", "sfsync.cli.deadletters", "Inspect, retry or discard rejected records."),
    ("salesforce", "sfsync.cli.salesforce", "Check the connection, limits and objects of the org."),
    ("desk", "sfsync.cli.desk", "Serve the channel desk web app; manage its users."),
    ("audit", "sfsync.cli.audit", "Verify and list the channel desk's audit trail."),
)
_COMMAND_MODULES: tuple[str, ...] = ("sfsync.cli.run", "sfsync.cli.demo", "sfsync.cli.report")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sfsync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="sfsync.toml to use (default: $SFSYNC_CONFIG, then ./sfsync.toml)."),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")] = 0,
    log_format: Annotated[
        str, typer.Option("--log-format", click_type=click.Choice(["text", "json"]), help="Log line format.")
    ] = "text",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    fmt: LogFormat = "json" if log_format == "json" else "text"
    configure_logging(verbose, fmt)
    ctx.obj = CliState(config_path=config, verbosity=verbose, log_format=fmt)


def _register() -> None:
    for name, module_name, help_text in _GROUPS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.app, name=name, help=help_text)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        module.register(app)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the command, turns every error into a message and an exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="sfsync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE
    except SfsyncError as exc:
        # escape: messages quote "[section]" names, which rich would read as markup and drop
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:  # a bug: no traceback for users, but the log keeps it under -vv
        logging.getLogger("sfsync").debug("unexpected error", exc_info=True)
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))} (rerun with -vv for details)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_FATAL
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
