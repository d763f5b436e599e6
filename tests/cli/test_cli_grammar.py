"""One CLI grammar: shared flags, global options after the command, choices in help, --json where data is
printed, full-width output when piped; no configuration -> exit 2; a cheap start-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from workspace_helpers import build_local_dir

from sfsync.cli import GLOBAL_OPTIONS, app, main, root_help
from sfsync.cli._root import hoist_global_options
from sfsync.errors import EXIT_OK, EXIT_USAGE
from sfsync.testing import FakeSalesforce

HEAVY_MODULES = ("sqlalchemy", "simple_salesforce", "cryptography", "pydantic", "requests", "typer", "rich")


def _sfsync(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sfsync.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SFSYNC_")} | {"COLUMNS": "80"}


# ---------------------------------------------------------------- item 6: no configuration


@pytest.mark.parametrize("command", [["status"], ["run"], ["deadletters", "list"], ["salesforce", "check"]])
def test_no_configuration_exits_2_naming_where_it_looked_and_creates_nothing(
    command: list[str], tmp_path: Path
) -> None:
    result = _sfsync(*command, cwd=tmp_path, env=_clean_env())
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "no configuration found" in result.stderr
    assert "--config" in result.stderr
    assert "$SFSYNC_CONFIG" in result.stderr
    assert str(tmp_path / "sfsync.toml") in result.stderr
    assert list(tmp_path.iterdir()) == []  # no ./sfsync-state.db, nothing at all


def test_status_with_a_configuration_but_no_state_yet_creates_no_database(tmp_path: Path) -> None:
    (tmp_path / "sfsync.toml").write_text('[state]\nurl = "sqlite:///state.db"\n', encoding="utf-8")
    result = _sfsync("status", "--json", cwd=tmp_path, env=_clean_env())
    assert result.returncode == EXIT_OK, result.stderr
    assert json.loads(result.stdout)["runs"] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sfsync.toml"]


# ---------------------------------------------------------------- item 7: start-up


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = f"import sys, sfsync.cli; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""


def test_version_and_root_help_load_no_heavy_module() -> None:
    code = (
        "import sys, io, contextlib\nfrom sfsync.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--version']); main(['--help'])\n"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("group", ["mappings", "crypto", "deadletters", "salesforce", "conflicts", "run", "demo"])
def test_a_command_module_imports_no_domain_package(group: str) -> None:
    module = "sfsync.cli.run" if group == "run" else f"sfsync.cli.{group}"
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY_MODULES[:3]!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""


def test_the_static_root_help_matches_the_real_options_and_commands(capsys: pytest.CaptureFixture[str]) -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    declared = {
        opt
        for param in root.get_params(click.Context(root, **root.context_settings))
        for opt in param.opts + param.secondary_opts
    }
    listed = {name for names, _, _ in GLOBAL_OPTIONS for name in names}
    assert declared == listed
    text = root_help()
    for name in root.list_commands(click.Context(root)):
        assert f"  {name} " in text
    assert main(["--help"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == text


# ---------------------------------------------------------------- item 9: grammar


def test_global_options_are_accepted_after_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = build_local_dir(tmp_path)
    capsys.readouterr()  # what building the workspace printed (crypto keygen)
    config = str(local / "sfsync.toml")
    assert main(["status", "--json", "--config", config]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["runs"] == []
    assert main(["mappings", "list", "-c", config, "--log-format=json", "-vv", "--json"]) == EXIT_OK
    assert {row["name"] for row in json.loads(capsys.readouterr().out)} >= {"deal_registration"}


def test_hoisting_leaves_a_command_s_own_options_and_values_alone() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    assert hoist_global_options(["run", "-m", "-v", "--config", "x.toml"], root) == [
        "--config",
        "x.toml",
        "run",
        "-m",
        "-v",
    ]  # "-v" is the value of --mapping here, not --verbose
    assert hoist_global_options(["mappings", "validate", "-vv", "--path", "m"], root) == [
        "-vv",
        "mappings",
        "validate",
        "--path",
        "m",
    ]
    assert hoist_global_options(["run", "--", "--config"], root) == ["run", "--", "--config"]


def test_choices_are_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "push" in out
    assert "pull" in out
    assert "both" in out
    assert main(["--log-format", "xml", "status"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "text" in err
    assert "json" in err


def test_the_same_thing_has_the_same_flag_everywhere() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    spellings: dict[str, set[tuple[str, ...]]] = {}

    def walk(command: click.Command) -> None:
        if isinstance(command, click.Group):
            context = click.Context(command)
            for name in command.list_commands(context):
                sub = command.get_command(context, name)
                if sub is not None:
                    walk(sub)
            return
        for param in command.params:
            if isinstance(param, click.Option) and param.name in (
                "yes",
                "output",
                "out",
                "directory",
                "paths",
                "as_json",
            ):
                spellings.setdefault(str(param.name), set()).add(tuple(sorted(param.opts)))

    walk(root)
    assert spellings["yes"] == {("--yes", "-y")}
    assert spellings["as_json"] == {("--json",)}
    assert spellings["paths"] == {("--path",)}
    assert spellings["directory"] == {("--dir",)}
    assert all(set(opts) >= {"-o", "--output"} for key in ("output", "out") for opts in spellings.get(key, set()))


def test_salesforce_check_and_describe_and_crypto_rotate_have_json(
    fake_salesforce_env: dict[str, str],
    fake_salesforce: FakeSalesforce,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SFSYNC_CONFIG", raising=False)
    for key, value in fake_salesforce_env.items():
        monkeypatch.setenv(key, value)
    assert main(["salesforce", "check", "--json"]) == EXIT_OK
    check = json.loads(capsys.readouterr().out)
    assert check["instance_url"] == fake_salesforce.instance_url
    assert check["connected"] is True
    assert main(["salesforce", "describe", "Account", "--json"]) == EXIT_OK
    described = json.loads(capsys.readouterr().out)
    assert "Partner_Number__c" in {field["name"] for field in described["fields"]}
    monkeypatch.setenv("SFSYNC_CRYPTO__KEYRING", str(tmp_path / "keyring.json"))
    monkeypatch.setenv("SFSYNC_CRYPTO__MASTER_KEY", "m" * 43)
    assert main(["crypto", "keygen", "--json"]) == EXIT_OK
    first = json.loads(capsys.readouterr().out)["primary"]
    assert main(["crypto", "rotate", "--json"]) == EXIT_OK
    rotated = json.loads(capsys.readouterr().out)
    assert rotated["previous"] == first
    assert rotated["primary"] != first


def test_tables_are_not_cut_when_piped(tmp_path: Path) -> None:
    local = build_local_dir(tmp_path)
    result = _sfsync("--config", str(local / "sfsync.toml"), "mappings", "list", cwd=tmp_path, env=_clean_env())
    assert result.returncode == EXIT_OK, result.stderr
    assert "…" not in result.stdout
    assert "deal_registrations" in result.stdout
    assert "deal_registration_lead" in result.stdout


def test_lines_are_not_wrapped_when_piped(tmp_path: Path) -> None:
    """A path printed into a pipe stays on one line (rich would break it at 80 columns), so a script or
    `grep` finds it whole."""
    deep = tmp_path / ("a-directory-name-long-enough-to-pass-eighty-columns-" * 2) / "ops"
    result = _sfsync("init", "--dir", str(deep), cwd=tmp_path, env=_clean_env())
    assert result.returncode == EXIT_OK, result.stderr
    assert len(str(deep)) > 80
    assert f"wrote {deep / 'sfsync.toml'}\n" in result.stdout
