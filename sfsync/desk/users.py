"""The local user store of the embedded default: names, roles and argon2id password hashes in one JSON file.

Roles: ``manager`` (channel manager: reads decrypted fields, decides), ``auditor`` (reads decrypted fields
and the audit trail, decides nothing) and ``rep`` (direct rep: sees the queue and triage, nothing decrypted).
The file is written 0600 and atomically.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from sfsync.desk.scope import Scope
from sfsync.errors import ConfigError, ErrorContext, UsageError

__all__ = ["Role", "User", "UserStore"]

_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,80}$")
MIN_PASSWORD_LENGTH = 12


class Role(StrEnum):
    MANAGER = "manager"
    AUDITOR = "auditor"
    REP = "rep"

    @property
    def reads_plaintext(self) -> bool:
        return self is not Role.REP

    @property
    def decides(self) -> bool:
        return self is Role.MANAGER


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    scope: Scope = field(default_factory=Scope)
    via: str = "local"  # who vouched for the user: the local store or "salesforce"


class UserStore:
    def __init__(self, path: Path, hasher: PasswordHasher | None = None) -> None:
        self._path = path
        self._hasher = hasher or PasswordHasher()
        self._decoy: str | None = None

    def _decoy_hash(self) -> str:
        """A hash to verify against when the name is unknown, so a miss costs what a hit costs."""
        if self._decoy is None:
            self._decoy = self._hasher.hash(secrets.token_urlsafe(16))
        return self._decoy

    def _read(self) -> dict[str, dict[str, str]]:
        if not self._path.is_file():
            return {}
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the desk user store ({type(exc).__name__})", ErrorContext(file=str(self._path))
            ) from None
        users = data.get("users") if isinstance(data, dict) else None
        if not isinstance(users, dict):
            raise ConfigError("the desk user store has no 'users' object", ErrorContext(file=str(self._path)))
        return users

    def _write(self, users: dict[str, dict[str, str]]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".users-", suffix=".json", dir=self._path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump({"users": users}, out, indent=2, sort_keys=True)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self._path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    def set_user(self, name: str, role: Role, password: str) -> None:
        if not _NAME.fullmatch(name):
            raise UsageError("a user name is 1-80 letters, digits or . _ @ -")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UsageError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        users = self._read()
        users[name] = {"role": role.value, "hash": self._hasher.hash(password)}
        self._write(users)

    def remove(self, name: str) -> bool:
        users = self._read()
        if users.pop(name, None) is None:
            return False
        self._write(users)
        return True

    def list(self) -> list[User]:
        return [User(name, Role(entry["role"])) for name, entry in sorted(self._read().items())]

    def authenticate(self, name: str, password: str) -> User | None:
        entry = self._read().get(name)
        try:
            self._hasher.verify(entry["hash"] if entry else self._decoy_hash(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        if entry is None:
            return None
        try:
            return User(name, Role(entry["role"]))
        except (KeyError, ValueError):
            return None
