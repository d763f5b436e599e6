"""``sfsync audit verify | list`` and ``sfsync desk user`` through the real command line."""

from __future__ import annotations

import io
import json

import pytest
from desk_helpers import Desk

from sfsync.cli import main
from sfsync.errors import EXIT_FATAL


def test_audit_verify_and_list(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    manager, auditor = desk.client("manager"), desk.client("auditor")
    manager.get(f"/registrations/{desk.number('clean')}")
    auditor.get(f"/registrations/{desk.number('small')}")
    config = str(desk.sample.config)
    capsys.readouterr()
    assert main(["--config", config, "audit", "verify"]) == 0
    assert "4 entries" in capsys.readouterr().out  # two logins, two views
    assert main(["--config", config, "audit", "list", "--user", "auditor", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["user"], r["action"]) for r in rows] == [("auditor", "login"), ("auditor", "view")]
    assert main(["--config", config, "audit", "list", "--registration", desk.number("clean")]) == 0
    out = capsys.readouterr().out
    assert "manager" in out and desk.number("small") not in out


def test_audit_verify_fails_on_a_tampered_entry(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    desk.client("manager").get(f"/registrations/{desk.number('clean')}")
    log = desk.settings.desk.audit_log
    lines = log.read_text().splitlines()
    entry = json.loads(lines[1])
    entry["user"] = "nobody"
    lines[1] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["--config", str(desk.sample.config), "audit", "verify"]) == EXIT_FATAL
    err = capsys.readouterr().err
    assert "audit.jsonl:2: entry 2 was altered" in err and "FAILS verification" in err


def test_desk_user_add_list_remove(
    desk: Desk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(desk.sample.config)
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
    assert main(["--config", config, "desk", "user", "add", "carol", "--role", "auditor", "--password-stdin"]) == 0
    assert desk.app.users.authenticate("carol", "a brand new password") is not None
    assert main(["--config", config, "desk", "user", "list"]) == 0
    assert "carol\tauditor" in capsys.readouterr().out
    assert main(["--config", config, "desk", "user", "remove", "carol"]) == 0
    assert main(["--config", config, "desk", "user", "remove", "carol"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["--config", config, "desk", "user", "add", "dave", "--password-stdin"]) == 2
