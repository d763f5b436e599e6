"""Scanning stored values: what a security reviewer asks of the org, as a pure function.

Reports carry counts, key ids, record keys and lengths: never a value, a token or a plaintext.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal

from sfsync.crypto._cipher import FieldCipher, FieldContext
from sfsync.crypto._format import split_token
from sfsync.crypto._keyring import Keyring, KeyState
from sfsync.crypto._sizes import FORMAT_TAG
from sfsync.errors import DecryptionError, KeyringError

__all__ = [
    "FieldReport",
    "Finding",
    "FindingKind",
    "ReencryptItem",
    "ReencryptSkip",
    "SkipReason",
    "StoredValue",
    "VerifyReport",
    "reencrypt_plan",
    "verify_values",
]

_log = logging.getLogger("sfsync.crypto")

FindingKind = Literal["not_a_token", "malformed", "unknown_key", "destroyed_key", "auth_failure"]
# Findings listed per field before the report only counts them (a leak of a million rows
# should not make a million-line report).
MAX_FINDINGS_PER_FIELD = 1000


@dataclass(frozen=True)
class StoredValue:
    """One stored field value as read from Salesforce."""

    sobject: str
    field: str
    record_key: str
    value: str | None

    def __repr__(self) -> str:
        # The value may be a plaintext leak: never print it.
        return f"StoredValue(sobject={self.sobject!r}, field={self.field!r}, record_key={self.record_key!r})"


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    record_key: str
    length: int
    key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "record_key": self.record_key, "length": self.length, "key_id": self.key_id}


@dataclass
class FieldReport:
    sobject: str
    field: str
    total: int = 0
    empty: int = 0
    valid: int = 0
    not_a_token: int = 0
    malformed: int = 0
    unknown_key: int = 0
    destroyed_key: int = 0
    auth_failures: int = 0
    key_ids: Counter[str] = dc_field(default_factory=Counter)
    findings: list[Finding] = dc_field(default_factory=list)
    findings_truncated: int = 0

    @property
    def problems(self) -> int:
        return self.not_a_token + self.malformed + self.unknown_key + self.destroyed_key + self.auth_failures

    @property
    def clean(self) -> bool:
        return self.problems == 0

    def _add(self, finding: Finding) -> None:
        counter = {"auth_failure": "auth_failures"}.get(finding.kind, finding.kind)
        setattr(self, counter, getattr(self, counter) + 1)
        if len(self.findings) < MAX_FINDINGS_PER_FIELD:
            self.findings.append(finding)
        else:
            self.findings_truncated += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "field": self.field,
            "total": self.total,
            "empty": self.empty,
            "valid": self.valid,
            "not_a_token": self.not_a_token,
            "malformed": self.malformed,
            "unknown_key": self.unknown_key,
            "destroyed_key": self.destroyed_key,
            "auth_failures": self.auth_failures,
            "key_ids": dict(sorted(self.key_ids.items())),
            "clean": self.clean,
            "findings": [f.to_dict() for f in self.findings],
            "findings_truncated": self.findings_truncated,
        }


@dataclass
class VerifyReport:
    decrypt_checked: bool
    fields: dict[tuple[str, str], FieldReport] = dc_field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return all(report.clean for report in self.fields.values())

    @property
    def total(self) -> int:
        return sum(report.total for report in self.fields.values())

    def key_ids(self) -> Counter[str]:
        """Values per key id over every field (what ``crypto status`` shows per key)."""
        total: Counter[str] = Counter()
        for report in self.fields.values():
            total.update(report.key_ids)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "decrypt_checked": self.decrypt_checked,
            "total": self.total,
            "key_ids": dict(sorted(self.key_ids().items())),
            "fields": [self.fields[k].to_dict() for k in sorted(self.fields)],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_markdown(self) -> str:
        lines = [
            "# sfsync crypto verify",
            "",
            f"Result: **{'clean' if self.clean else 'PROBLEMS FOUND'}** · {self.total} values scanned · "
            f"decrypt check: {'yes' if self.decrypt_checked else 'no (authentication not verified)'}",
            "",
            "| object | field | total | empty | valid | not a token | malformed | unknown key | destroyed key "
            "| auth failures | key ids |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for key in sorted(self.fields):
            r = self.fields[key]
            ids = ", ".join(f"`{k}`: {n}" for k, n in sorted(r.key_ids.items())) or "–"
            lines.append(
                f"| {r.sobject} | {r.field} | {r.total} | {r.empty} | {r.valid} | {r.not_a_token} | "
                f"{r.malformed} | {r.unknown_key} | {r.destroyed_key} | {r.auth_failures} | {ids} |"
            )
        problems = [r for _, r in sorted(self.fields.items()) if r.findings]
        if problems:
            lines += ["", "## Findings", "", "Values are never shown; a leak is reported by record and length.", ""]
            lines += ["| object | field | record key | finding | length | key id |", "|---|---|---|---|---:|---|"]
            for r in problems:
                for f in r.findings:
                    record = f.record_key.replace("|", "\\|")
                    lines.append(f"| {r.sobject} | {r.field} | {record} | {f.kind} | {f.length} | {f.key_id or '–'} |")
                if r.findings_truncated:
                    lines.append(f"| {r.sobject} | {r.field} | … | {r.findings_truncated} more | | |")
        return "\n".join(lines) + "\n"


def verify_values(values: Iterable[StoredValue], keyring: Keyring, *, decrypt_check: bool) -> VerifyReport:
    """Classify every stored value; with ``decrypt_check`` also prove each token decrypts in place."""
    report = VerifyReport(decrypt_checked=decrypt_check)
    cipher = FieldCipher(keyring)
    for stored in values:
        key = (stored.sobject, stored.field)
        field_report = report.fields.get(key)
        if field_report is None:
            field_report = report.fields[key] = FieldReport(stored.sobject, stored.field)
        field_report.total += 1
        value = stored.value
        if value is None or value == "":
            field_report.empty += 1
            continue
        parts = split_token(value)
        if parts is None:
            kind: FindingKind = "malformed" if value.startswith(FORMAT_TAG + ".") else "not_a_token"
            field_report._add(Finding(kind, stored.record_key, len(value)))
            continue
        key_id = parts[0]
        field_report.key_ids[key_id] += 1
        material = keyring.get(key_id)
        if material is None:
            field_report._add(Finding("unknown_key", stored.record_key, len(value), key_id))
            continue
        if material.state is KeyState.DESTROYED:
            field_report._add(Finding("destroyed_key", stored.record_key, len(value), key_id))
            continue
        if decrypt_check:
            try:
                cipher.decrypt(value, FieldContext(stored.sobject, stored.field, stored.record_key))
            except (DecryptionError, ValueError):
                field_report._add(Finding("auth_failure", stored.record_key, len(value), key_id))
                continue
        field_report.valid += 1
    return report


@dataclass(frozen=True)
class ReencryptItem:
    """One value to rewrite: its place, the key it leaves, the key it moves to, the new token."""

    sobject: str
    field: str
    record_key: str
    old_key_id: str
    new_key_id: str
    token: str = dc_field(repr=False)


SkipReason = Literal["not_a_token", "malformed", "unknown_key", "auth_failure", "no_primary"]

_SKIP_TEXT: dict[str, str] = {
    "not_a_token": "the stored value is not a token (plaintext where ciphertext is expected?)",
    "malformed": "the stored value is a malformed token (truncated, or not canonical base64url)",
    "unknown_key": "the stored value is under a key id that is not in the keyring",
    "auth_failure": "the stored value fails authentication (tampered, or copied from another record or field)",
    "no_primary": "the group of the stored value's key has no primary key to re-encrypt to",
}


@dataclass(frozen=True)
class ReencryptSkip:
    """A stored value ``reencrypt`` cannot move: its place and why (never the value)."""

    sobject: str
    field: str
    record_key: str
    reason: SkipReason
    key_id: str | None = None

    @property
    def explanation(self) -> str:
        if self.reason == "unknown_key" and self.key_id:
            return f"the stored value is under key id {self.key_id}, which is not in the keyring"
        return _SKIP_TEXT[self.reason]

    def to_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "field": self.field,
            "record_key": self.record_key,
            "reason": self.reason,
            "key_id": self.key_id,
        }


def _why_not(value: str, keyring: Keyring, error: Exception) -> tuple[SkipReason, str | None]:
    """Why ``value`` cannot be re-encrypted, from its structure (no oracle: ``verify`` reports the same)."""
    if isinstance(error, KeyringError):
        parts = split_token(value)
        return "no_primary", parts[0] if parts is not None else None
    parts = split_token(value)
    if parts is None:
        return ("malformed" if value.startswith(FORMAT_TAG + ".") else "not_a_token"), None
    if parts[0] not in keyring:
        return "unknown_key", parts[0]
    return "auth_failure", parts[0]


def reencrypt_plan(
    values: Iterable[StoredValue],
    keyring: Keyring,
    *,
    on_error: Literal["raise", "skip"] = "raise",
    skipped: list[ReencryptSkip] | None = None,
) -> list[ReencryptItem]:
    """Values under a key that is not their group's primary, each with its re-encrypted token.

    Empty values and values already under the primary are left out, so applying the plan and
    planning again gives an empty plan (idempotent, resumable). Values under a destroyed key
    (crypto-shredded) are left out. A value that cannot be decrypted (plaintext, malformed,
    unknown key, failed authentication) raises DecryptionError naming its object, field and
    record (``on_error="raise"``: the whole plan is refused, so a caller that plans before it
    writes writes nothing), or is logged by place, appended to ``skipped`` and left out
    (``on_error="skip"``).
    """
    cipher = FieldCipher(keyring)
    plan: list[ReencryptItem] = []
    for stored in values:
        if not stored.value:
            continue
        ctx = FieldContext(stored.sobject, stored.field, stored.record_key)
        parts = split_token(stored.value)
        material = keyring.get(parts[0]) if parts is not None else None
        if material is not None and material.state is KeyState.DESTROYED:
            # Crypto-shredded on purpose: nothing to rotate, and `verify` reports it.
            _log.info(
                "skipping %s.%s of record %r: its key %s is destroyed",
                stored.sobject,
                stored.field,
                stored.record_key,
                material.key_id,
            )
            continue
        try:
            if not cipher.needs_rotation(stored.value):
                continue
            new_token = cipher.rotate(stored.value, ctx)
        except (DecryptionError, KeyringError) as exc:
            reason, key_id = _why_not(stored.value, keyring, exc)
            skip = ReencryptSkip(stored.sobject, stored.field, stored.record_key, reason, key_id)
            if on_error == "raise":
                error_type = KeyringError if isinstance(exc, KeyringError) else DecryptionError
                raise error_type(
                    f"cannot re-encrypt: {skip.explanation}; nothing was written. "
                    "`sfsync crypto verify --decrypt-check` lists every such value; "
                    "`sfsync crypto reencrypt --skip-invalid` re-encrypts the others",
                    ctx.error_context(),
                ) from None
            # INFO, not WARNING: callers get the skip back in ``skipped`` and report it themselves.
            _log.info(
                "cannot re-encrypt %s.%s of record %r: %s",
                stored.sobject,
                stored.field,
                stored.record_key,
                skip.explanation,
            )
            if skipped is not None:
                skipped.append(skip)
            continue
        old = split_token(stored.value)
        new = split_token(new_token)
        if old is None or new is None:  # unreachable: both were just parsed or produced
            continue
        plan.append(ReencryptItem(stored.sobject, stored.field, stored.record_key, old[0], new[0], new_token))
    return plan
