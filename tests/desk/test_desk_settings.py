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


def test_desk_login_defaults_name_the_exported_permission_sets() -> None:
    from sfsync.config import DeskSettings
    from sfsync.mapping._metadata import CHANNEL_AUDITOR_SET, CHANNEL_MANAGER_SET, PERMISSION_SETS

    login = DeskSettings().login
    assert (login.manager_permission_set, login.auditor_permission_set) == (CHANNEL_MANAGER_SET, CHANNEL_AUDITOR_SET)
    assert {CHANNEL_MANAGER_SET, CHANNEL_AUDITOR_SET} <= set(PERMISSION_SETS)


def test_auditor_permission_set_is_exported_read_only(tmp_path: Path) -> None:
    from sfsync.testing import export_org_metadata

    project = export_org_metadata(tmp_path / "meta")
    auditor = (
        project / "force-app/main/default/permissionsets/sfsync_Channel_Auditor.permissionset-meta.xml"
    ).read_text()
    manager = (
        project / "force-app/main/default/permissionsets/sfsync_Channel_Manager.permissionset-meta.xml"
    ).read_text()
    assert "<allowRead>true</allowRead>" in auditor and "<editable>true</editable>" not in auditor
    assert "<allowEdit>true</allowEdit>" not in auditor
    assert "<editable>true</editable>" in manager  # the manager decides; the auditor only reads


def test_consumer_secret_from_a_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("s3cret\n", encoding="utf-8")
    config = tmp_path / "sfsync.toml"
    config.write_text(
        '[desk.login]\nmode = "salesforce"\nconsumer_key = "3MVG9x"\n'
        'callback_url = "https://desk.example/oauth/callback"\nconsumer_secret_file = "secret.txt"\n',
        encoding="utf-8",
    )
    login = load_settings(config, environ={}).desk.login
    assert login.consumer_secret is not None and login.consumer_secret.get_secret_value() == "s3cret"


def test_scope_lookup_ignores_the_case_of_a_username() -> None:
    from sfsync.config import DeskSettings
    from sfsync.desk.scope import scope_for

    settings = DeskSettings.model_validate({"scopes": {"Cam@Vendor.example": {"regions": ["EMEA"]}}})
    assert scope_for(settings, "cam@vendor.example").regions == frozenset({"EMEA"})
    assert not scope_for(settings, "someone@else.example").limited
