"""``sfsync init``: a directory that works as it is, a template that lists every setting, safe reruns."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from sfsync.cli import main
from sfsync.config import ENV_PREFIX, SECRET_KEYS, Settings, load_settings
from sfsync.errors import EXIT_OK, EXIT_USAGE
from sfsync.services.init import SFSYNC_TOML_TEMPLATE
from sfsync.services.paths import shipped_mappings_dir


def invoke(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, " ".join(out.getvalue().split()), " ".join(err.getvalue().split())


def snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(directory)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def template_lines() -> dict[str, dict[str, Any]]:
    """{section: {key: value}} for every line, commented or not, that sets a key in the template."""
    found: dict[str, dict[str, Any]] = {}
    section = ""
    for raw in SFSYNC_TOML_TEMPLATE.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            found.setdefault(section, {})
            continue
        body = line.lstrip("#").strip()
        if "=" not in body or not body.split("=", 1)[0].strip().isidentifier():
            continue  # prose
        parsed = tomllib.loads(body)  # also proves every example value is valid TOML
        assert len(parsed) == 1, raw
        found.setdefault(section, {}).update(parsed)
    return found


def setting_fields() -> list[tuple[str, str, type[BaseModel]]]:
    """Every (section, key) of :class:`Settings`, read from the pydantic model itself."""
    fields: list[tuple[str, str, type[BaseModel]]] = []
    for section, info in Settings.model_fields.items():
        model = info.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel), section
        fields.extend((section, key, model) for key in model.model_fields)
    return fields


@pytest.fixture
def scaffold(tmp_path: Path) -> Path:
    directory = tmp_path / "ops"
    code, out, err = invoke("init", str(directory))
    assert code == EXIT_OK, out + err
    assert f"wrote {directory / 'sfsync.toml'}" in out
    return directory


def test_scaffold_passes_mappings_validate_unedited(scaffold: Path) -> None:
    code, out, err = invoke("--config", str(scaffold / "sfsync.toml"), "mappings", "validate")
    assert code == EXIT_OK, out + err
    assert "valid" in out


def test_scaffold_copies_every_shipped_mapping(scaffold: Path) -> None:
    shipped = sorted(p.name for p in shipped_mappings_dir().iterdir() if p.is_file())
    assert sorted(p.name for p in (scaffold / "mappings").iterdir()) == shipped
    for name in shipped:
        assert (scaffold / "mappings" / name).read_bytes() == (shipped_mappings_dir() / name).read_bytes()


@pytest.mark.parametrize(
    ("section", "key", "model"), [pytest.param(*field, id=f"{field[0]}.{field[1]}") for field in setting_fields()]
)
def test_every_setting_is_in_the_template(section: str, key: str, model: type[BaseModel]) -> None:
    lines = template_lines()
    assert section in lines, f"[{section}] missing from the sfsync.toml template"
    if (section, key) in SECRET_KEYS:
        # Secrets may not be written in the file: the template names the variable and the *_file key.
        assert f"{ENV_PREFIX}{section.upper()}__{key.upper()}" in SFSYNC_TOML_TEMPLATE
        assert key not in lines[section], f"[{section}] {key} invites writing a secret in the file"
        assert f"{key}_file" in lines[section]
        return
    assert key in lines[section], f"[{section}] {key} has no line in the sfsync.toml template (sfsync/_init.py)"
    default = model().__getattribute__(key)
    if default is not None:
        # A line for a setting with a default shows that default, not a stale number.
        shown = model.model_validate({key: lines[section][key]}).__getattribute__(key)
        assert shown == default, f"[{section}] {key}: template says {lines[section][key]!r}, default is {default!r}"


def test_template_has_no_unknown_settings() -> None:
    known = {(section, key) for section, key, _ in setting_fields()}
    for section, keys in template_lines().items():
        for key in keys:
            assert (section, key) in known, f"[{section}] {key} in the template is not a setting"


def test_generated_toml_loads(scaffold: Path) -> None:
    settings = load_settings(scaffold / "sfsync.toml", environ={})
    assert settings.sync.batch_size == Settings().sync.batch_size
    assert settings.crypto.keyring == scaffold / "keys" / "keyring.json"
    assert settings.mappings.paths == [scaffold / "mappings"]
    assert settings.conflicts.rules == scaffold / "mappings" / "conflict_rules.yaml"
    assert settings.conflicts.rules.is_file()
    assert settings.state.url == f"sqlite:///{scaffold / 'sfsync-state.db'}"


def test_every_example_value_is_accepted_when_uncommented(scaffold: Path) -> None:
    text = "\n".join(
        line[2:] if line.startswith("# ") and "=" in line.split("#")[1] else line
        for line in SFSYNC_TOML_TEMPLATE.splitlines()
    )
    # *_file examples point at secret files that do not exist here (a missing one is rightly an error).
    config = scaffold / "sfsync.toml"
    config.write_text("\n".join(line for line in text.splitlines() if "_file =" not in line.split("#")[0]))
    settings = load_settings(config, environ={})
    assert settings.salesforce.instance_url == "https://acme.my.salesforce.com"


def test_rerun_without_force_refuses_and_changes_nothing(scaffold: Path) -> None:
    (scaffold / "sfsync.toml").write_text((scaffold / "sfsync.toml").read_text() + "\n# my edit\n")
    before = snapshot(scaffold)
    code, _, err = invoke("init", str(scaffold))
    assert code == EXIT_USAGE
    assert "already exist" in err and "--force" in err and "nothing was changed" in err
    assert snapshot(scaffold) == before


def test_force_overwrites_shipped_files_and_keeps_added_mappings(scaffold: Path) -> None:
    (scaffold / "sfsync.toml").write_text("[portal]\nurl = 'broken'\n")
    shipped = scaffold / "mappings" / "deal_registration.yaml"
    shipped.write_text("mangled: [")
    (scaffold / "mappings" / "my_extra.yaml").write_text("# mine\n")
    gitignore = (scaffold / ".gitignore").read_text()

    code, out, err = invoke("init", str(scaffold), "--force")

    assert code == EXIT_OK, out + err
    assert (scaffold / "sfsync.toml").read_text() == SFSYNC_TOML_TEMPLATE
    assert shipped.read_bytes() == (shipped_mappings_dir() / shipped.name).read_bytes()
    assert (scaffold / "mappings" / "my_extra.yaml").read_text() == "# mine\n"
    assert (scaffold / ".gitignore").read_text() == gitignore  # not appended twice


def test_existing_gitignore_is_extended_not_replaced(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/")  # no trailing newline
    assert invoke("init", str(tmp_path))[0] == EXIT_OK
    lines = (tmp_path / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/"
    assert "keys/" in lines


def test_init_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert invoke("init")[0] == EXIT_OK
    assert (tmp_path / "sfsync.toml").is_file() and (tmp_path / "mappings").is_dir()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_gitignore_covers_keys_and_state(scaffold: Path) -> None:
    subprocess.run(["git", "init", "-q", str(scaffold)], check=True)
    settings = load_settings(scaffold / "sfsync.toml", environ={})
    state_db = settings.state.url.removeprefix("sqlite:///")
    portal_db = settings.portal.url.removeprefix("sqlite:///")
    private = [
        settings.crypto.keyring,
        scaffold / "keys" / "master.key",
        scaffold / "jwt.key",
        Path(state_db),
        Path(state_db + "-journal"),
        Path(portal_db),
        scaffold / "org.json",
        scaffold / "sfsync-demo" / "org.json",
    ]
    public = [scaffold / "sfsync.toml", scaffold / "mappings" / "deal_registration.yaml", scaffold / ".gitignore"]

    def ignored(path: Path) -> bool:
        relative = str(path.relative_to(scaffold))
        check = subprocess.run(["git", "-C", str(scaffold), "check-ignore", "-q", relative], check=False)
        return check.returncode == 0

    assert [p for p in private if not ignored(p)] == []
    assert [p for p in public if ignored(p)] == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_directory_is_a_clear_usage_error() -> None:
    code, _, err = invoke("init", "/proc/sfsync-init-test")
    assert code == EXIT_USAGE
    assert "cannot write in /proc/sfsync-init-test" in err
    assert "Traceback" not in err
