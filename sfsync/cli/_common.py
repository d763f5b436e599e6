"""What every ``sfsync`` sub-command shares: the global options, settings, the consoles, and the
grammar helpers (confirmation, tables that are never cut when piped, JSON errors, atomic files)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import typer
from rich.console import Console

from sfsync.errors import ConfigError, UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from sfsync.config import Settings


class _PipeFriendlyConsole(Console):
    """A console that wraps lines only on a terminal: piped into a file, a log or ``grep``, a line (a path,
    an error) stays one line instead of being broken at the 80 columns rich assumes without a terminal."""

    @property
    def soft_wrap(self) -> bool:
        return not self.is_terminal

    @soft_wrap.setter
    def soft_wrap(self, _value: bool) -> None:
        pass  # decided per print by where the output goes, not once at construction


console: Console = _PipeFriendlyConsole()
err_console: Console = _PipeFriendlyConsole(stderr=True)

# Fields the failing command wants on its error line (``run`` adds its run id); ``main`` prints them.
error_fields: dict[str, object] = {}


@dataclass
class CliState:
    config_path: Path | None = None
    verbosity: int = 0
    log_format: str = "text"
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Settings, loaded once per command (a ConfigError reaches ``main`` as exit 2).

        With no configuration anywhere (no --config, no $SFSYNC_CONFIG, no ./sfsync.toml and no
        SFSYNC_* settings in the environment), this is a usage error naming where it looked — not a
        silent run on defaults that creates ./sfsync-state.db.
        """
        if self._settings is None:
            from sfsync.config import load_settings

            require_configuration(self.config_path)
            self._settings = load_settings(self.config_path)
        return self._settings


def require_configuration(explicit: Path | None, environ: dict[str, str] | None = None) -> None:
    from sfsync.config import CONFIG_ENV, DEFAULT_CONFIG_NAME, ENV_PREFIX, find_config_file

    env = dict(os.environ) if environ is None else environ
    if find_config_file(explicit, env) is not None:
        return
    settings_in_environment = [
        name for name in env if name.upper().startswith(ENV_PREFIX) and "__" in name and name.upper() != CONFIG_ENV
    ]
    if settings_in_environment:
        return  # a container configured through SFSYNC_<SECTION>__<KEY> variables only
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    raise ConfigError(
        f"no configuration found: looked for --config (not given), ${CONFIG_ENV} (not set) and {local} "
        f"(no such file), and no {ENV_PREFIX}<SECTION>__<KEY> variables are set. Run `sfsync init` to create "
        f"one, pass --config PATH, or try `sfsync demo`"
    )


def state_store_missing(url: str) -> bool:
    """True for a SQLite state store whose file does not exist yet (read commands must not create it)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return False
    database = parsed.database
    return (
        parsed.get_backend_name() == "sqlite"
        and bool(database)
        and database != ":memory:"
        and not Path(str(database)).expanduser().exists()
    )


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def confirm(question: str, yes: bool) -> None:
    """Go on if ``--yes`` was given or the user agrees; with no terminal to ask, exit 2 saying ``--yes``."""
    if yes:
        return
    try:
        agreed = typer.confirm(question)
    except click.exceptions.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C or Ctrl-D at the prompt: the user aborted
        # no terminal and no answer on stdin (cron, a CI job, a container): say how to confirm
        raise UsageError(
            f"{question.rstrip('?')}: needs confirmation and there is no terminal to ask; pass --yes"
        ) from None
    if not agreed:
        raise typer.Abort()


def print_table(table: Table, target: Console | None = None) -> None:
    """Print a table; when the output is not a terminal, as wide as its content (no ``…`` cuts at 80)."""
    out = target or console
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    needed = Measurement.get(out, out.options.update(max_width=100_000), table).maximum
    # Console.print caps width at the console's own (80 when piped), so print through one as wide as the table
    Console(file=out.file, width=max(needed, out.width), color_system=None).print(table)


def print_error(message: str, *, exit_code: int, error_type: str, error_code: str | None = None) -> None:
    """The one error line: rich text on stderr, or a JSON object with ``--log-format json``."""
    from sfsync.cli._logging import current_log_format

    if current_log_format() == "json":
        payload: dict[str, Any] = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "level": "error",
            "logger": "sfsync",
            "message": message,
            "exit_code": exit_code,
            "error_type": error_type,
        }
        if error_code:
            payload["error_code"] = error_code
        payload.update(error_fields)
        sys.stderr.write(json.dumps(payload, default=str) + "\n")
        sys.stderr.flush()
        return
    from rich.markup import escape

    # escape: messages quote "[section]" names, which rich would read as markup and drop
    prefix = "" if error_type in ("Abort", "KeyboardInterrupt") else "[bold red]error:[/] "
    err_console.print(f"{prefix}{escape(message)}", highlight=False, markup=True, soft_wrap=True)


def write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a reader (the
    node_exporter textfile collector) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
