"""The ``sfsync`` command.

Exit codes: 0 success · 1 finished, but some records were rejected · 2 usage or configuration
error · 3 fatal (authentication, API allowance, lock held, undecryptable data, ...).

Start-up cost matters (a CronJob every few minutes, a user typing ``--help``): this module imports
nothing beyond the standard library. ``sfsync --version`` and the top-level ``--help`` are answered
here; everything else builds the typer app (``sfsync.cli._root``), which loads a command group's
module only when that group is invoked.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from sfsync import __version__

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]

# name, module, one-line help: the command groups, and the top-level commands. The help text lives
# here (not only in the modules) so listing the commands imports none of them.
GROUPS: tuple[tuple[str, str, str], ...] = (
    ("mappings", "sfsync.cli.mappings", "Validate, preview and publish field mappings."),
    ("crypto", "sfsync.cli.crypto", "Keys, rotation, re-encryption and verification."),
    ("conflicts", "sfsync.cli.conflicts", "Scan for and list channel conflicts."),
    ("deadletters", "sfsync.cli.deadletters", "Inspect, retry or discard rejected records."),
    ("salesforce", "sfsync.cli.salesforce", "Check the connection, limits and objects of the org."),
    ("desk", "sfsync.cli.desk", "Serve the channel desk web app; manage its users."),
    ("audit", "sfsync.cli.audit", "Verify and list the channel desk's audit trail."),
)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("run", "sfsync.cli.run", "Run one incremental two-way sync cycle between the portal and Salesforce."),
    ("status", "sfsync.cli.run", "Show recent runs, watermarks, dead-letter counts and the last known API usage."),
    ("demo", "sfsync.cli.demo", "Run the whole product offline: sample portal, local org, sync, conflicts, crypto."),
    ("init", "sfsync.cli.demo", "Scaffold a working directory: sfsync.toml, the shipped mappings, a .gitignore."),
    ("report", "sfsync.cli.report", "Channel desk figures: SLA attainment, approval rates, conflicts by rule."),
)

ROOT_DESCRIPTION = (
    "Mirror partner registrations between a partner portal and Salesforce, encrypt confidential partner "
    "fields, and flag channel conflicts."
)
EXIT_CODES = "Exit codes: 0 success, 1 rejected records, 2 usage/configuration error, 3 fatal."

# The global options: (names, metavar or None for a flag, help). _root declares the same ones; a test
# checks the two agree.
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], str | None, str], ...] = (
    (("-c", "--config"), "PATH", "sfsync.toml to use (default: $SFSYNC_CONFIG, then ./sfsync.toml)."),
    (("-v", "--verbose"), None, "More log output: -v start, per-mapping progress and summary; -vv debug."),
    (("--log-format",), "[text|json]", "Log line format (json: one object per line, errors included)."),
    (("--version",), None, "Print the version and exit."),
    (("-h", "--help"), None, "Show this message and exit."),
)


def root_help() -> str:
    """The top-level ``--help``, without importing typer, click or rich."""
    lines = [
        "Usage: sfsync [OPTIONS] COMMAND [ARGS]...",
        "",
        f"  {ROOT_DESCRIPTION}",
        "",
        f"  {EXIT_CODES}",
        "",
        "  Global options may also follow the command: `sfsync run -v --config x.toml`.",
        "",
        "Options:",
    ]
    labels = [", ".join(names) + (f" {metavar}" if metavar else "") for names, metavar, _ in GLOBAL_OPTIONS]
    width = max(len(label) for label in labels) + 2
    for label, (_, _, text) in zip(labels, GLOBAL_OPTIONS, strict=True):
        lines.append(f"  {label.ljust(width)}{text}")
    lines += ["", "Commands:"]
    entries = [(name, text) for name, _, text in COMMANDS] + [(name, text) for name, _, text in GROUPS]
    width = max(len(name) for name, _ in entries) + 2
    lines += [f"  {name.ljust(width)}{text}" for name, text in entries]
    lines += ["", "Run `sfsync COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the command, turns every error into a message and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--version"]:
        print(f"sfsync {__version__}")
        return 0
    if args in ([], ["--help"], ["-h"]):
        print(root_help())
        return 0
    from sfsync.cli._root import run_main

    return run_main(args)


def __getattr__(name: str) -> Any:
    # ``app`` (the typer application, for typer.testing.CliRunner) is built on first use.
    if name == "app":
        from sfsync.cli._root import app as typer_app

        return typer_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:
    app: typer.Typer


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
