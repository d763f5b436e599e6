"""auth = "refresh_token" against FakeSalesforce's token endpoint, and auth = "sf-cli" with a fake ``sf``
executable on PATH (a script in a temporary directory)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings, load_settings
from sfsync.errors import AuthenticationError, ConfigError
from sfsync.salesforce import SalesforceGateway
from sfsync.salesforce._auth import token_endpoint
from sfsync.testing import FakeSalesforce, FaultPlan


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _refresh_settings(fake: FakeSalesforce, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": "refresh_token",
        "instance_url": fake.instance_url,
        "consumer_key": fake.consumer_key,
        "refresh_token": SecretStr(fake.refresh_token),
        "api_version": fake.api_version,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


# ---------------------------------------------------------------- refresh token


def test_refresh_token_logs_in_and_calls_the_org(fake_salesforce: FakeSalesforce) -> None:
    gateway = SalesforceGateway.connect(_refresh_settings(fake_salesforce), sleep=Sleeps())
    assert gateway.instance_url == fake_salesforce.instance_url
    assert gateway.logins == 1
    assert "DailyApiRequests" in gateway.limits()
    assert gateway.logins == 1  # the data call did not need another login


def test_refresh_token_with_the_consumer_secret_the_app_requires(fake_salesforce: FakeSalesforce) -> None:
    settings = _refresh_settings(fake_salesforce, consumer_secret=SecretStr(fake_salesforce.consumer_secret))
    assert SalesforceGateway.connect(settings, sleep=Sleeps()).limits()


def test_a_wrong_consumer_secret_is_refused(fake_salesforce: FakeSalesforce) -> None:
    settings = _refresh_settings(fake_salesforce, consumer_secret=SecretStr("not-the-secret"))
    with pytest.raises(AuthenticationError) as caught:
        SalesforceGateway.connect(settings, sleep=Sleeps())
    assert caught.value.context.status_code == "invalid_client"
    assert "consumer_key" in str(caught.value)


def test_a_revoked_refresh_token_is_fatal_with_a_hint_and_no_secret(fake_salesforce: FakeSalesforce) -> None:
    stale = "5Aep861" + "x" * 40
    settings = _refresh_settings(fake_salesforce, refresh_token=SecretStr(stale))
    with pytest.raises(AuthenticationError) as caught:
        SalesforceGateway.connect(settings, sleep=Sleeps())
    message = str(caught.value)
    assert caught.value.context.status_code == "invalid_grant"
    assert "expired or was revoked" in message
    assert "expired access/refresh token" in message  # Salesforce's own words, once
    assert stale not in message
    assert fake_salesforce.consumer_key not in message


def test_an_expired_session_is_renewed_through_the_refresh_token() -> None:
    with FakeSalesforce(faults=FaultPlan(invalid_session_after=1)) as fake:
        gateway = SalesforceGateway.connect(_refresh_settings(fake), sleep=Sleeps())
        gateway.limits()
        gateway.limits()  # answered 401 once, then sent again after a new refresh-token login
        assert gateway.logins == 2


def test_refresh_token_needs_consumer_key_and_token() -> None:
    with pytest.raises(ConfigError) as caught:
        SalesforceGateway.connect(SalesforceSettings(auth=AuthMode.REFRESH_TOKEN))
    assert "consumer_key" in str(caught.value)
    assert "refresh_token" in str(caught.value)


def test_the_token_endpoint_is_the_my_domain_then_the_instance_then_login() -> None:
    assert token_endpoint(SalesforceSettings(domain="acme.my", instance_url="https://x.my.salesforce.com")) == (
        "https://acme.my.salesforce.com/services/oauth2/token"
    )
    assert token_endpoint(SalesforceSettings(instance_url="https://x.my.salesforce.com/")) == (
        "https://x.my.salesforce.com/services/oauth2/token"
    )
    assert token_endpoint(SalesforceSettings(domain="test")) == "https://test.salesforce.com/services/oauth2/token"


def test_the_refresh_token_is_a_secret_kept_out_of_the_file(tmp_path: Path) -> None:
    config = tmp_path / "sfsync.toml"
    config.write_text('[salesforce]\nauth = "refresh_token"\nrefresh_token = "5Aep861abc"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="refresh_token is a secret"):
        load_settings(config, environ={})
    token_file = tmp_path / "refresh.token"
    token_file.write_text("5Aep861fromfile\n", encoding="utf-8")
    config.write_text(
        f'[salesforce]\nauth = "refresh_token"\nconsumer_key = "3MVG9k"\nrefresh_token_file = "{token_file}"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, environ={})
    assert settings.salesforce.refresh_token is not None
    assert settings.salesforce.refresh_token.get_secret_value() == "5Aep861fromfile"
    assert "5Aep861fromfile" not in repr(settings)


# ---------------------------------------------------------------- Salesforce CLI


def _fake_sf(directory: Path, *, stdout: str, exit_code: int = 0, stderr: str = "") -> Path:
    """An ``sf`` executable that records its arguments and prints ``stdout``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "sf"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(directory / 'args.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"sys.stdout.write({stdout!r})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"sys.exit({exit_code})\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return directory


def _on_path(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")


def test_sf_cli_reads_the_token_and_instance_from_sf_org_display(
    fake_salesforce: FakeSalesforce, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = {
        "status": 0,
        "result": {
            "id": fake_salesforce.org_id,
            "accessToken": fake_salesforce.access_token,
            "instanceUrl": fake_salesforce.instance_url,
            "username": fake_salesforce.username,
            "alias": "acme-prod",
            "connectedStatus": "Connected",
        },
        "warnings": [],
    }
    bin_dir = _fake_sf(tmp_path / "bin", stdout=json.dumps(answer))
    _on_path(monkeypatch, bin_dir)
    settings = SalesforceSettings(auth="sf-cli", target_org="acme-prod", api_version=fake_salesforce.api_version)
    gateway = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert gateway.instance_url == fake_salesforce.instance_url
    assert "DailyApiRequests" in gateway.limits()
    assert json.loads((bin_dir / "args.json").read_text()) == ["org", "display", "--target-org", "acme-prod", "--json"]


def test_sf_cli_missing_is_a_configuration_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ConfigError) as caught:
        SalesforceGateway.connect(SalesforceSettings(auth="sf-cli", target_org="acme-prod"), sleep=Sleeps())
    assert "Salesforce CLI" in str(caught.value)
    assert "not on PATH" in str(caught.value)


def test_sf_cli_with_an_org_that_is_not_authorised_says_how_to_authorise_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = {
        "status": 1,
        "name": "NamedOrgNotFoundError",
        "message": "No authorization information found for nope.",
        "exitCode": 1,
    }
    _on_path(monkeypatch, _fake_sf(tmp_path / "bin", stdout=json.dumps(refusal), exit_code=1))
    with pytest.raises(AuthenticationError) as caught:
        SalesforceGateway.connect(SalesforceSettings(auth="sf-cli", target_org="nope"), sleep=Sleeps())
    message = str(caught.value)
    assert "sf org login web --alias nope" in message
    assert "NamedOrgNotFoundError" in message
    assert "No authorization information found for nope." in message


def test_sf_cli_answer_without_a_token_is_an_authentication_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = {"status": 0, "result": {"instanceUrl": "https://acme.my.salesforce.com", "connectedStatus": "Expired"}}
    _on_path(monkeypatch, _fake_sf(tmp_path / "bin", stdout=json.dumps(answer)))
    with pytest.raises(AuthenticationError, match="no access token"):
        SalesforceGateway.connect(SalesforceSettings(auth="sf-cli", target_org="acme"), sleep=Sleeps())


def test_sf_cli_needs_a_target_org() -> None:
    with pytest.raises(ConfigError, match="target_org"):
        SalesforceGateway.connect(SalesforceSettings(auth="sf-cli"))
