from __future__ import annotations

from pathlib import Path

from sfsync.config import load_settings


def test_partial_desk_section_keeps_the_defaults(tmp_path: Path) -> None:
    config = tmp_path / "sfsync.toml"
    config.write_text('[desk]\ntimezone = "Europe/Berlin"\nholidays = [2026-12-25]\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.desk.timezone == "Europe/Berlin"
    assert settings.desk.users == Path("desk/users.json")
    assert str(settings.desk.holidays[0]) == "2026-12-25"


def test_desk_paths_in_the_file_are_relative_to_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sfsync.toml"
    config.write_text('[desk]\nusers = "u.json"\naudit_log = "logs/audit.jsonl"\n', encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.desk.users == tmp_path / "u.json"
    assert settings.desk.audit_log == tmp_path / "logs" / "audit.jsonl"
