"""The desk's audit trail: every read of decrypted data and every decision, one JSON line each.

Each entry carries its sequence number and the MAC of the entry before it, and is itself MACed with
HMAC-SHA256 under a key derived (HKDF) from the keyring's index key: editing an entry breaks its MAC,
removing or reordering entries breaks the chain, and nobody without the keyring can forge a replacement.
A ``.head`` file beside the log holds the MAC of the last entry, so cutting entries off the end shows too.
Entries hold who, what, when and which registration: never a decrypted value.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sfsync.crypto import Keyring
from sfsync.errors import ConfigError, ErrorContext
from sfsync.text.time import utc_now

__all__ = ["AuditEntry", "AuditLog", "AuditProblem", "audit_key"]

_GENESIS = "0" * 64
_INFO = b"sfsync desk audit log v1"


def audit_key(keyring: Keyring) -> bytes:
    """The log's MAC key: derived from the keyring's index key, which survives data-key rotation."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(keyring.index_key)


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    user: str
    role: str
    action: str
    registration: str
    detail: str
    prev: str
    mac: str

    def body(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "user": self.user,
            "role": self.role,
            "action": self.action,
            "registration": self.registration,
            "detail": self.detail,
            "prev": self.prev,
        }


@dataclass(frozen=True)
class AuditProblem:
    line: int
    message: str


def _mac(key: bytes, body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


class AuditLog:
    def __init__(self, path: Path, key: bytes) -> None:
        self._path = path
        self._head = path.with_name(path.name + ".head")
        self._key = key
        self._lock = threading.Lock()
        self._tail: tuple[int, str] | None = None  # (seq, mac) of the last entry this process knows

    @property
    def path(self) -> Path:
        return self._path

    def _last(self) -> tuple[int, str]:
        last_seq, last_mac = 0, _GENESIS
        for _, entry, _problem in self._read():
            if entry is not None:
                last_seq, last_mac = entry.seq, entry.mac
        return last_seq, last_mac

    def append(self, *, user: str, role: str, action: str, registration: str = "", detail: str = "") -> AuditEntry:
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            seq, prev = self._tail if self._tail is not None else self._last()
            body: dict[str, Any] = {
                "seq": seq + 1,
                "at": utc_now().isoformat(timespec="milliseconds"),
                "user": user,
                "role": role,
                "action": action,
                "registration": registration,
                "detail": detail,
                "prev": prev,
            }
            entry = AuditEntry(**body, mac=_mac(self._key, body))
            line = json.dumps({**body, "mac": entry.mac}, sort_keys=True, ensure_ascii=True) + "\n"
            descriptor = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
            self._tail = (entry.seq, entry.mac)
            head = {"seq": entry.seq, "mac": entry.mac}
            self._head.write_text(json.dumps({**head, "head_mac": _mac(self._key, head)}) + "\n", encoding="utf-8")
            return entry

    def _read(self) -> Iterator[tuple[int, AuditEntry | None, str | None]]:
        if not self._path.is_file():
            return
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"cannot read the audit log ({type(exc).__name__})", ErrorContext(file=str(self._path))
            ) from None
        for number, text in enumerate(lines, start=1):
            try:
                data = json.loads(text)
                entry = AuditEntry(**{k: data[k] for k in AuditEntry.__dataclass_fields__})
            except (ValueError, KeyError, TypeError):
                yield number, None, "not a well-formed audit entry"
                continue
            yield number, entry, None

    def entries(self, *, user: str | None = None, registration: str | None = None) -> list[AuditEntry]:
        return [
            entry
            for _, entry, _ in self._read()
            if entry is not None
            and (user is None or entry.user == user)
            and (registration is None or entry.registration == registration)
        ]

    def verify(self) -> tuple[int, list[AuditProblem]]:
        """(entries checked, problems): an edited, removed, reordered, inserted or cut-off entry is a problem."""
        problems: list[AuditProblem] = []
        expected_seq, expected_prev, checked = 1, _GENESIS, 0
        last_line = 0
        for number, entry, problem in self._read():
            last_line = number
            if entry is None:
                problems.append(AuditProblem(number, problem or "unreadable"))
                continue
            checked += 1
            if not hmac.compare_digest(_mac(self._key, entry.body()), entry.mac):
                problems.append(AuditProblem(number, f"entry {entry.seq} was altered (its MAC does not match)"))
            if entry.seq != expected_seq:
                problems.append(
                    AuditProblem(number, f"expected entry {expected_seq}, found {entry.seq} (removed or reordered)")
                )
            if not hmac.compare_digest(entry.prev, expected_prev):
                problems.append(AuditProblem(number, f"entry {entry.seq} does not follow the entry before it"))
            expected_seq, expected_prev = entry.seq + 1, entry.mac
        problems.extend(self._check_head(expected_seq - 1, expected_prev, last_line))
        return checked, problems

    def _check_head(self, last_seq: int, last_mac: str, last_line: int) -> list[AuditProblem]:
        if not self._head.is_file():
            if last_seq == 0:
                return []
            return [AuditProblem(last_line, "the head record is missing: the end of the log cannot be confirmed")]
        try:
            head = json.loads(self._head.read_text(encoding="utf-8"))
            seq, mac, head_mac = int(head["seq"]), str(head["mac"]), str(head["head_mac"])
        except (OSError, ValueError, KeyError, TypeError):
            return [AuditProblem(last_line, "the head record is unreadable")]
        if not hmac.compare_digest(_mac(self._key, {"seq": seq, "mac": mac}), head_mac):
            return [AuditProblem(last_line, "the head record was altered")]
        if seq != last_seq or not hmac.compare_digest(mac, last_mac):
            return [AuditProblem(last_line, f"the log ends at entry {last_seq}, but entry {seq} was written last")]
        return []
