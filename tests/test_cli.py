from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import click
import pytest

from sfsync import __version__
from sfsync.cli import app, main
from sfsync.errors import EXIT_OK, EXIT_USAGE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"sfsync {__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    for option in ("--config", "--verbose", "--log-format", "--version"):
        assert option in out


def every_command_path() -> list[list[str]]:
    import typer.main

    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, prefix: list[str]) -> None:
        paths.append(prefix)
        if isinstance(command, click.Group):  # the root loads its groups lazily: ask, don't read .commands
            context = click.Context(command)
            for name in command.list_commands(context):
                walk(command.get_command(context, name), [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", every_command_path(), ids=lambda p: " ".join(p) or "sfsync")
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*path, "--help"]) == EXIT_OK
    assert "Usage" in capsys.readouterr().out


def test_unknown_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-option"]) == EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_bad_log_format_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--log-format", "xml", "status"]) == EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "sfsync.toml"
    config.write_text("[salesforce]\nread_timeout = -1\n", encoding="utf-8")
    command = path_needing_settings()
    if command is None:
        pytest.skip("no command that loads settings is registered yet")
    result = subprocess.run(
        [sys.executable, "-m", "sfsync.cli", "--config", str(config), *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "read_timeout" in result.stderr
    assert f"{config}:2" in result.stderr


def path_needing_settings() -> list[str] | None:
    candidates = [["mappings", "validate"], ["status"], ["salesforce", "check"], ["deadletters", "list"]]
    registered = {tuple(p) for p in every_command_path()}
    for candidate in candidates:
        if tuple(candidate) in registered:
            return candidate
    return None


def test_json_logs_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    from sfsync.cli._logging import configure_logging

    configure_logging(1, "json")
    logging.getLogger("sfsync.test").info("hello %s", "world")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "hello world"
    assert record["level"] == "info"
    configure_logging(0, "text")


def test_error_messages_keep_square_brackets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # "[mappings] paths" must reach the user as written, not be swallowed as terminal markup
    config = tmp_path / "sfsync.toml"
    config.write_text('[mappings]\npaths = ["missing"]\n', encoding="utf-8")
    assert main(["--config", str(config), "mappings", "validate"]) != EXIT_OK
    captured = capsys.readouterr()
    assert "[mappings]" in captured.err + captured.out
