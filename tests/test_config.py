from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sfsync.config import AuthMode, find_config_file, load_settings
from sfsync.errors import EXIT_USAGE, ConfigError

GENERATED_TOKEN = "00Dxx0000000001!generated-test-token"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.salesforce.auth is AuthMode.TOKEN
    assert settings.portal.url == "sqlite:///portal.db"
    assert settings.salesforce.read_timeout > 0


def test_file_found_by_flag_then_env_then_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flag = write(tmp_path / "flag.toml", "")
    env = write(tmp_path / "env.toml", "")
    (tmp_path / "cwd").mkdir()
    cwd = write(tmp_path / "cwd" / "sfsync.toml", "")
    monkeypatch.chdir(tmp_path / "cwd")
    assert find_config_file(flag, {"SFSYNC_CONFIG": str(env)}) == flag
    assert find_config_file(None, {"SFSYNC_CONFIG": str(env)}) == env
    assert find_config_file(None, {}) == cwd.relative_to(tmp_path / "cwd").absolute()


def test_environment_overrides_file(tmp_path: Path) -> None:
    config = write(tmp_path / "sfsync.toml", '[salesforce]\napi_version = "60.0"\nread_timeout = 30\n')
    settings = load_settings(config, environ={"SFSYNC_SALESFORCE__READ_TIMEOUT": "12.5"})
    assert settings.salesforce.api_version == "60.0"
    assert settings.salesforce.read_timeout == 12.5


def test_secret_comes_from_environment_and_is_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings(None, environ={"SFSYNC_SALESFORCE__ACCESS_TOKEN": GENERATED_TOKEN, "SFSYNC_CONFIG": ""})
    token = settings.salesforce.access_token
    assert token is not None and token.get_secret_value() == GENERATED_TOKEN
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert GENERATED_TOKEN not in text
    logging.getLogger("sfsync.test").warning("settings: %s", settings)
    assert GENERATED_TOKEN not in caplog.text


def test_secret_from_file_path(tmp_path: Path) -> None:
    secret = write(tmp_path / "token.txt", GENERATED_TOKEN + "\n")
    config = write(tmp_path / "sfsync.toml", '[salesforce]\naccess_token_file = "token.txt"\n')
    settings = load_settings(config, environ={})
    assert settings.salesforce.access_token is not None
    assert settings.salesforce.access_token.get_secret_value() == GENERATED_TOKEN
    assert secret.exists()


def test_secret_written_in_file_is_refused_with_line(tmp_path: Path) -> None:
    config = write(tmp_path / "sfsync.toml", '[portal]\nurl = "sqlite:///p.db"\n\n[salesforce]\npassword = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    message = str(caught.value)
    assert "SFSYNC_SALESFORCE__PASSWORD" in message
    assert f"{config}:5" in message
    assert '"x"' not in message
    assert caught.value.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[salesforce\nauth = 1", "malformed TOML"),
        ("[salesforce]\nreed_timeout = 3\n", "salesforce.reed_timeout: unknown setting"),
        ('[salesforce]\nauth = "kerberos"\n', "salesforce.auth"),
        ('[salesforce]\nread_timeout = "soon"\n', "salesforce.read_timeout"),
        ('[salesforce]\napi_version = "v61"\n', "must look like '61.0'"),
        ("[nonsense]\nx = 1\n", "nonsense"),
    ],
)
def test_invalid_configuration_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    config = write(tmp_path / "sfsync.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert expected in str(caught.value)
    assert str(config) in str(caught.value)


def test_invalid_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, environ={"SFSYNC_SALESFORCE__MAX_ATTEMPTS": "many"})
    assert "SFSYNC_SALESFORCE__MAX_ATTEMPTS" in str(caught.value)


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    config = write(
        tmp_path / "conf" / "sfsync.toml",
        '[portal]\nurl = "sqlite:///portal.db"\n[mappings]\npaths = ["maps"]\n[crypto]\nkeyring = "keys/k.json"\n',
    )
    settings = load_settings(config, environ={})
    assert settings.portal.url == f"sqlite:///{tmp_path / 'conf' / 'portal.db'}"
    assert settings.mappings.paths == [tmp_path / "conf" / "maps"]
    assert settings.crypto.keyring == tmp_path / "conf" / "keys" / "k.json"


@pytest.mark.parametrize(
    ("auth", "env", "missing"),
    [
        ("token", {}, ["instance_url", "access_token"]),
        ("jwt", {"SFSYNC_SALESFORCE__USERNAME": "u@example.com"}, ["consumer_key", "private_key"]),
        ("password", {"SFSYNC_SALESFORCE__PASSWORD": "generated"}, ["username", "security_token"]),
    ],
)
def test_missing_credentials_are_named(auth: str, env: dict[str, str], missing: list[str]) -> None:
    settings = load_settings(None, environ={"SFSYNC_SALESFORCE__AUTH": auth, **env})
    assert settings.salesforce.missing_credentials() == missing
