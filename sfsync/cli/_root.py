"""The typer application behind ``sfsync``: global options, lazily loaded command groups, error handling."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from sfsync import __version__
from sfsync.cli import COMMANDS, EXIT_CODES, GROUPS, ROOT_DESCRIPTION
from sfsync.cli._common import CliState, error_fields, print_error
from sfsync.cli._logging import LogFormat, configure_logging, current_log_format
from sfsync.errors import EXIT_FATAL, EXIT_USAGE, SfsyncError, describe_unexpected

_MODULE_OF: dict[str, str] = {name: module for name, module, _ in (*GROUPS, *COMMANDS)}
_HELP_OF: dict[str, str] = {name: text for name, _, text in (*GROUPS, *COMMANDS)}
_GROUP_NAMES = frozenset(name for name, _, _ in GROUPS)


class LazyGroup(TyperGroup):
    """The root group: a command's module is imported when the command is looked up, not before."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, _, _ in COMMANDS] + [name for name, _, _ in GROUPS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _MODULE_OF:
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)


def _load(name: str) -> click.Command:
    module = importlib.import_module(_MODULE_OF[name])
    if name in _GROUP_NAMES:
        group = typer.main.get_command(module.app)
        group.name = name
        group.help = group.help or _HELP_OF[name]
        _note_start(group, name)
        return group
    holder = typer.Typer()
    module.register(holder)
    built = typer.main.get_command(holder)
    # a module registering a single command gets that command back, not a group
    command = built.commands[name] if isinstance(built, click.Group) else built
    command.name = name
    _note_start(command, name)
    return command


def _note_start(command: click.Command, path: str) -> None:
    """Log (DEBUG) the moment a command's own code starts (`bench/startup_bench.py` measures start-up with it),
    and report an interrupt in words."""
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            _note_start(sub, f"{path} {sub_name}")
        return
    callback = command.callback
    if callback is None:
        return

    @functools.wraps(callback)
    def started(*args: Any, **kwargs: Any) -> Any:
        logging.getLogger("sfsync.cli").debug("command %s: started", path, extra={"command": path})
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt as exc:
            # typer would turn this into a silent exit 130; say what happened (Ctrl-C, or SIGTERM for `run`)
            print_error(str(exc) or "interrupted", exit_code=130, error_type=type(exc).__name__)
            raise click.exceptions.Exit(130) from None

    command.callback = started


app = typer.Typer(
    name="sfsync",
    cls=LazyGroup,
    help=f"{ROOT_DESCRIPTION}\n\n{EXIT_CODES}",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose",
            "-v",
            count=True,
            help="More log output: -v start, per-mapping progress and summary; -vv debug.",
        ),
    ] = 0,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            click_type=click.Choice(["text", "json"]),
            help="Log line format (json: one object per line, errors included).",
        ),
    ] = "text",
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    fmt: LogFormat = "json" if log_format == "json" else "text"
    configure_logging(verbose, fmt)
    ctx.obj = CliState(config_path=config, verbosity=verbose, log_format=fmt)


# ---------------------------------------------------------------- global options after the command

_GLOBAL_WITH_VALUE = frozenset({"--config", "-c", "--log-format"})
_GLOBAL_FLAGS = frozenset({"--verbose", "-v"})


def hoist_global_options(args: Sequence[str], root: click.Group) -> list[str]:
    """Move global options written after the command (``sfsync run -v -c x.toml``) in front of it.

    An option the command itself declares under the same name stays where it is; nothing after
    ``--`` moves.
    """
    tokens = list(args)
    front: list[str] = []
    index = 0
    # the root's own options, before the command name
    while index < len(tokens) and tokens[index].startswith("-"):
        name = tokens[index].split("=", 1)[0]
        front.append(tokens[index])
        if name in _GLOBAL_WITH_VALUE and "=" not in tokens[index] and index + 1 < len(tokens):
            front.append(tokens[index + 1])
            index += 1
        index += 1
    if index >= len(tokens):
        return tokens
    path: list[str] = [tokens[index]]
    command = root.get_command(click.Context(root), tokens[index])
    index += 1
    while isinstance(command, click.Group) and index < len(tokens) and not tokens[index].startswith("-"):
        sub = command.get_command(click.Context(command), tokens[index])
        if sub is None:
            break
        path.append(tokens[index])
        command = sub
        index += 1
    if command is None:
        return tokens
    own = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    takes_value = {
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.is_flag and not param.count
        for opt in param.opts
    }
    rest: list[str] = []
    while index < len(tokens):
        token = tokens[index]
        name = token.split("=", 1)[0]
        if token == "--":  # noqa: S105 (the end-of-options marker)
            rest.extend(tokens[index:])
            break
        if name in own:
            rest.append(token)
            if name in takes_value and "=" not in token and index + 1 < len(tokens):
                rest.append(tokens[index + 1])
                index += 1
        elif name in _GLOBAL_WITH_VALUE:
            front.append(token)
            if "=" not in token and index + 1 < len(tokens):
                front.append(tokens[index + 1])
                index += 1
        elif name in _GLOBAL_FLAGS or (len(token) > 2 and token.startswith("-v") and set(token[1:]) == {"v"}):
            front.append(token)
        else:
            rest.append(token)
        index += 1
    return [*front, *path, *rest]


# ---------------------------------------------------------------- running a command


def run_main(args: list[str]) -> int:
    """Run the command; every error becomes one message (text or JSON per --log-format) and an exit code."""
    command = typer.main.get_command(app)
    if not isinstance(command, click.Group):  # pragma: no cover - the root always has commands
        raise TypeError("the sfsync root must be a group")
    error_fields.clear()
    try:
        args = hoist_global_options(args, command)
        result = command.main(args=args, prog_name="sfsync", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print_error("aborted (pass --yes to confirm without a prompt)", exit_code=130, error_type="Abort")
        return 130
    except click.ClickException as exc:
        if current_log_format() == "json":
            print_error(exc.format_message(), exit_code=EXIT_USAGE, error_type=type(exc).__name__)
        else:
            exc.show()
        return EXIT_USAGE
    except SfsyncError as exc:
        print_error(
            str(exc), exit_code=exc.exit_code, error_type=type(exc).__name__, error_code=exc.context.status_code
        )
        return exc.exit_code
    except KeyboardInterrupt:
        print_error("interrupted", exit_code=130, error_type="KeyboardInterrupt")
        return 130
    except Exception as exc:  # a bug: no traceback for users, but the log keeps it under -vv
        logging.getLogger("sfsync").debug("unexpected error", exc_info=True)
        print_error(
            f"internal error: {describe_unexpected(exc)} (rerun with -vv for details)",
            exit_code=EXIT_FATAL,
            error_type=type(exc).__name__,
        )
        return EXIT_FATAL
    return result if isinstance(result, int) else 0
