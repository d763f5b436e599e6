from __future__ import annotations

import stat
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from sfsync.desk.users import Role, UserStore
from sfsync.errors import UsageError

CHEAP = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


def test_passwords_are_argon2_hashes_in_a_private_file(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", CHEAP)
    store.set_user("alice", Role.MANAGER, "a long enough password")
    text = (tmp_path / "users.json").read_text()
    assert "a long enough password" not in text
    assert "$argon2id$" in text
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600


def test_authenticate(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", CHEAP)
    store.set_user("alice", Role.AUDITOR, "a long enough password")
    user = store.authenticate("alice", "a long enough password")
    assert user is not None and user.role is Role.AUDITOR
    assert store.authenticate("alice", "wrong password here") is None
    assert store.authenticate("mallory", "a long enough password") is None


def test_refuses_short_passwords_and_odd_names(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", CHEAP)
    with pytest.raises(UsageError, match="at least"):
        store.set_user("alice", Role.MANAGER, "short")
    with pytest.raises(UsageError, match="user name"):
        store.set_user("<script>", Role.MANAGER, "a long enough password")


def test_roles() -> None:
    assert Role.MANAGER.decides and Role.MANAGER.reads_plaintext
    assert not Role.AUDITOR.decides and Role.AUDITOR.reads_plaintext
    assert not Role.REP.decides and not Role.REP.reads_plaintext
