"""sfsync's exceptions: one root, grouped by how the caller must handle them.

* :class:`RetriableError` — transient (HTTP 5xx, ``UNABLE_TO_LOCK_ROW``, concurrent request
  limit). The gateway retries these with backoff; one that escapes its retry budget becomes
  :class:`RetriesExhaustedError`, which is fatal.
* :class:`RecordRejectedError` — Salesforce refused one record (``DUPLICATE_VALUE``,
  ``STRING_TOO_LONG``, ...). The record goes to the dead-letter queue; the run goes on.
* :class:`FatalError` — the run must stop with exit code 3 (authentication, daily API
  allowance spent, lock held, undecryptable data, ...).
* :class:`UsageError` — bad configuration, mapping or command-line input: exit code 2.

Every error carries context (object, external id, Salesforce status code and message, file
and line) but **never a record's payload**: payloads may hold plaintext of encrypted fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "ApiAllowanceExhaustedError",
    "ApiBudgetExceededError",
    "AuthenticationError",
    "ConfigError",
    "DecryptionError",
    "ErrorContext",
    "FatalError",
    "KeyringError",
    "LockHeldError",
    "MappingError",
    "PortalRejectedError",
    "RecordRejectedError",
    "RetriableError",
    "RetriesExhaustedError",
    "SalesforceApiError",
    "SfsyncError",
    "UsageError",
    "database_reason",
]

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3


@dataclass(frozen=True)
class ErrorContext:
    """Where an error happened. Holds identifiers only, never field values."""

    sobject: str | None = None
    external_id: str | None = None
    status_code: str | None = None
    sf_message: str | None = None
    http_status: int | None = None
    fields: tuple[str, ...] = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    mapping: str | None = None
    field_name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        parts: list[str] = []
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
            parts.append(where)
        if self.mapping:
            parts.append(f"mapping {self.mapping!r}")
        if self.sobject:
            parts.append(f"object {self.sobject}")
        if self.external_id is not None:
            parts.append(f"external id {self.external_id!r}")
        if self.field_name:
            parts.append(f"field {self.field_name!r}")
        if self.fields:
            parts.append("fields " + ", ".join(self.fields))
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        if self.status_code:
            parts.append(self.status_code)
        return ", ".join(parts)


class SfsyncError(Exception):
    """Root of every error sfsync raises on purpose."""

    exit_code: ClassVar[int] = EXIT_FATAL

    def __init__(self, message: str, context: ErrorContext | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context or ErrorContext()

    def __str__(self) -> str:
        where = self.context.describe()
        text = f"{self.message} ({where})" if where else self.message
        if self.context.sf_message and self.context.sf_message not in self.message:
            text += f": {self.context.sf_message}"
        return text


class RetriableError(SfsyncError):
    """Transient: retry with backoff."""


class RecordRejectedError(SfsyncError):
    """One record was refused; dead-letter it and go on."""

    exit_code = EXIT_REJECTED


class PortalRejectedError(RecordRejectedError):
    """The portal database refused a write-back (NOT NULL, CHECK, type): the record is dead-lettered.

    The message names the constraint or column, never the SQL statement or its parameters.
    """


class FatalError(SfsyncError):
    """The run stops; exit code 3."""

    exit_code = EXIT_FATAL


class SalesforceApiError(FatalError):
    """Salesforce answered with an error sfsync has no better class for."""


class AuthenticationError(FatalError):
    """Login failed, or the session could not be renewed."""


class ApiAllowanceExhaustedError(FatalError):
    """Salesforce's daily API allowance (TotalRequests) is spent."""


class ApiBudgetExceededError(FatalError):
    """The run would pass the configured API usage ceiling."""


class RetriesExhaustedError(FatalError):
    """A retriable failure outlasted the retry budget."""


class LockHeldError(FatalError):
    """Another run holds the lease lock."""


class KeyringError(FatalError):
    """The keyring is missing, unreadable, badly protected or inconsistent."""


class DecryptionError(FatalError):
    """A value could not be decrypted: tampered, moved, under an unknown or wrong key.

    Deliberately opaque (like Fernet's ``InvalidToken``): the reason is not said, so the error
    cannot serve as an oracle.
    """


class UsageError(SfsyncError):
    """Bad command-line input; exit code 2."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """Invalid sfsync.toml or SFSYNC_* environment variable."""


class MappingError(UsageError):
    """Invalid mapping file, or a record the mapping cannot transform."""


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\([^()]*\)=\([^()]*\)")


def database_reason(exc: BaseException) -> str:
    """A database failure in words that carry no SQL, no parameters and no values.

    SQLAlchemy's message appends the statement and its parameters, and drivers quote the
    offending value ("Could not decode to UTF-8 column 'x' with text '...'", PostgreSQL's
    ``DETAIL: Key (x)=(...)``): only the driver's first line is kept, with every quoted part
    replaced, plus the error class and the SQLSTATE / SQLite error name.
    """
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    first = lines[0].split(" [SQL:")[0] if lines else ""
    first = _QUOTED.sub("…", first).strip()
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlite_errorname", None)
    text = type(orig).__name__ + (f" {code}" if code else "") + (f": {first}" if first else "")
    return text[:300]
