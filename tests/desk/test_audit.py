from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfsync.crypto import Keyring
from sfsync.desk.audit import AuditLog, audit_key


@pytest.fixture
def log(tmp_path: Path) -> AuditLog:
    log = AuditLog(tmp_path / "audit.jsonl", audit_key(Keyring.generate()))
    for index in range(5):
        log.append(
            user=f"user{index % 2}",
            role="manager",
            action="view",
            registration=f"DR-{index}",
            detail="fields: End_Customer_Name__c",
        )
    return log


def _lines(log: AuditLog) -> list[str]:
    return log.path.read_text(encoding="utf-8").splitlines()


def _write(log: AuditLog, lines: list[str]) -> None:
    log.path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_intact_log_verifies(log: AuditLog) -> None:
    assert log.verify() == (5, [])


def test_a_new_process_continues_the_chain(log: AuditLog, tmp_path: Path) -> None:
    again = AuditLog(log.path, log._key)
    again.append(user="u", role="auditor", action="view", registration="DR-9")
    assert again.verify() == (6, [])


def test_edited_entry_is_caught(log: AuditLog) -> None:
    lines = _lines(log)
    entry = json.loads(lines[2])
    entry["user"] = "someone-else"
    lines[2] = json.dumps(entry, sort_keys=True)
    _write(log, lines)
    _, problems = log.verify()
    assert [p.line for p in problems] == [3]
    assert "altered" in problems[0].message


def test_removed_entry_is_caught(log: AuditLog) -> None:
    lines = _lines(log)
    del lines[1]
    _write(log, lines)
    _, problems = log.verify()
    assert problems and problems[0].line == 2
    assert any("removed or reordered" in p.message for p in problems)


def test_reordered_entries_are_caught(log: AuditLog) -> None:
    lines = _lines(log)
    lines[1], lines[2] = lines[2], lines[1]
    _write(log, lines)
    assert log.verify()[1]


def test_cut_off_tail_is_caught_by_the_head(log: AuditLog) -> None:
    _write(log, _lines(log)[:-1])
    _, problems = log.verify()
    assert any("entry 5 was written last" in p.message for p in problems)


def test_rewritten_log_with_another_key_is_caught(log: AuditLog) -> None:
    forger = AuditLog(log.path.with_name("forged.jsonl"), audit_key(Keyring.generate()))
    for index in range(5):
        forger.append(user="x", role="manager", action="view", registration=f"DR-{index}")
    _write(log, _lines(forger))
    _, problems = log.verify()
    assert len(problems) >= 5


def test_garbage_line_is_reported_not_raised(log: AuditLog) -> None:
    _write(log, [*_lines(log)[:2], "{not json", *_lines(log)[2:]])
    _, problems = log.verify()
    assert problems[0].line == 3 and "well-formed" in problems[0].message


def test_filters_by_user_and_registration(log: AuditLog) -> None:
    assert [e.seq for e in log.entries(user="user1")] == [2, 4]
    assert [e.seq for e in log.entries(registration="DR-3")] == [4]
    assert [e.seq for e in log.entries(user="user0", registration="DR-3")] == []


def test_key_survives_data_key_rotation() -> None:
    keyring = Keyring.generate()
    before = audit_key(keyring)
    keyring.rotate()
    assert audit_key(keyring) == before
    assert audit_key(Keyring.generate()) != before
