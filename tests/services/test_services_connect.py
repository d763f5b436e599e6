"""The local org file (``[salesforce] fake_org``): commands that change it never lose each other's writes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from workspace_helpers import build_local_dir

from sfsync.config import load_settings
from sfsync.errors import LockHeldError
from sfsync.salesforce import SalesforceGateway
from sfsync.services.connect import connect_salesforce, local_org_lock
from sfsync.testing import FakeSalesforce


def _account(gateway: SalesforceGateway, name: str) -> None:
    [result] = gateway.upsert("Account", "Partner_Number__c", [{"Partner_Number__c": name[-12:], "Name": name}])
    assert result.ok, result


def test_two_commands_on_the_local_org_keep_both_writes(tmp_path: Path) -> None:
    """A long command (a sync) and a short one (a desk decision) at once: the short one waits for the
    long one's save instead of being overwritten by it."""
    local = build_local_dir(tmp_path)
    settings = load_settings(local / "sfsync.toml")
    holding = threading.Event()
    errors: list[BaseException] = []

    def long_command() -> None:
        try:
            with connect_salesforce(settings) as gateway:
                _account(gateway, "Written by the long command")
                holding.set()
                time.sleep(0.5)  # the short command starts meanwhile
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            holding.set()

    worker = threading.Thread(target=long_command)
    worker.start()
    assert holding.wait(30)
    started = time.monotonic()
    with connect_salesforce(settings) as gateway:
        waited = time.monotonic() - started
        _account(gateway, "Written by the short command")
    worker.join(30)
    assert not errors, errors
    assert waited >= 0.3  # it waited for the long command's save
    assert settings.salesforce.fake_org is not None
    names = {r["Name"] for r in FakeSalesforce.load(settings.salesforce.fake_org).records("Account")}
    assert {"Written by the long command", "Written by the short command"} <= names


def test_a_busy_local_org_says_so_after_the_wait(tmp_path: Path) -> None:
    org = tmp_path / "org.json"
    with local_org_lock(org):
        started = time.monotonic()
        with (
            pytest.raises(LockHeldError, match="in use by another sfsync command") as raised,
            local_org_lock(org, timeout_seconds=0.2),
        ):
            pass  # pragma: no cover - never entered
        assert 0.2 <= time.monotonic() - started < 5
    assert str(org) in str(raised.value)
    with local_org_lock(org, timeout_seconds=0.2):  # released: free again at once
        pass
