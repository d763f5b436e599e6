"""``sfsync salesforce check`` / ``describe`` against FakeSalesforce."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.cli import main
from sfsync.errors import EXIT_FATAL, EXIT_OK, EXIT_USAGE
from sfsync.testing import FakeSalesforce


@pytest.fixture
def env(fake_salesforce_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SFSYNC_CONFIG", raising=False)
    for key, value in fake_salesforce_env.items():
        monkeypatch.setenv(key, value)
    return fake_salesforce_env


def test_check_prints_connection_and_usage(
    env: dict[str, str], fake_salesforce: FakeSalesforce, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["salesforce", "check"]) == EXIT_OK
    out = capsys.readouterr().out
    assert fake_salesforce.instance_url in out
    assert f"API version: {fake_salesforce.api_version}" in out
    assert "daily API requests" in out
    assert env["SFSYNC_SALESFORCE__ACCESS_TOKEN"] not in out


def test_describe_lists_fields(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["salesforce", "describe", "Account"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Partner_Number__c" in out
    assert "Name" in out


def test_describe_unknown_object_is_fatal_without_traceback(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["salesforce", "describe", "Nope__c"]) == EXIT_FATAL
    err = capsys.readouterr().err
    assert "Nope__c" in err
    assert "Traceback" not in err


def test_check_with_missing_token_is_a_usage_error(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SFSYNC_SALESFORCE__ACCESS_TOKEN")
    assert main(["salesforce", "check"]) == EXIT_USAGE
    assert "access_token" in capsys.readouterr().err


def test_check_with_revoked_token_is_fatal(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SFSYNC_SALESFORCE__ACCESS_TOKEN", "00Dnot-a-valid-token")
    assert main(["salesforce", "check"]) == EXIT_FATAL
    err = capsys.readouterr().err
    assert "00Dnot-a-valid-token" not in err
    assert "Traceback" not in err
