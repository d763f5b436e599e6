"""What every ``sfsync`` sub-command shares: the global options, settings and the console."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer
from rich.console import Console

from sfsync.config import Settings, load_settings

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    config_path: Path | None = None
    verbosity: int = 0
    log_format: str = "text"
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Settings, loaded once per command (a ConfigError reaches ``main`` as exit 2)."""
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
