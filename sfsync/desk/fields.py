"""The partner's fields of a registration, decrypted for an authorised reader.

Which fields are encrypted comes from the mappings; every value is opened with the public
:class:`FieldCipher` under its place (object, field, registration number). A value that will not open is
shown as "cannot decrypt: key destroyed" (its key is gone from the keyring) or with the failure's class,
never raised to the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sfsync.crypto import FieldCipher, FieldContext, Keyring, parse_token
from sfsync.errors import DecryptionError, SfsyncError
from sfsync.mapping import MappingSet

__all__ = ["DisplayField", "FieldReader"]


@dataclass(frozen=True)
class DisplayField:
    api_name: str
    label: str
    value: str | None  # None: empty in Salesforce
    encrypted: bool
    problem: str | None = None  # why an encrypted value is not shown
    hidden: bool = False  # encrypted, and this reader may not see it


class FieldReader:
    """Turns a registration record into labelled display fields for one sObject's mapping."""

    def __init__(self, mappings: MappingSet, sobject: str, keyring: Keyring | None) -> None:
        self._sobject = sobject
        self._keyring = keyring
        self._cipher = FieldCipher(keyring) if keyring is not None else None
        self._fields: list[tuple[str, str, bool]] = []
        for mapping in mappings.all():
            if mapping.salesforce.object != sobject:
                continue
            for fm in mapping.fields:
                # The partner (a reference) is shown by name beside the fields, not as an Id.
                if fm.owner != "portal" or fm.type == "reference" or fm.field in {n for n, _, _ in self._fields}:
                    continue
                self._fields.append((fm.field, fm.label or fm.field, bool(fm.encrypt)))
            break

    @property
    def encrypted_fields(self) -> tuple[str, ...]:
        return tuple(name for name, _, encrypted in self._fields if encrypted)

    def read(self, record: dict[str, Any], record_key: str, *, decrypt: bool) -> list[DisplayField]:
        shown: list[DisplayField] = []
        for name, label, encrypted in self._fields:
            raw = record.get(name)
            if isinstance(raw, dict):  # a relationship (Partner_Account__r): shown elsewhere
                continue
            if raw is None or raw == "":
                shown.append(DisplayField(name, label, None, encrypted))
            elif not encrypted:
                shown.append(DisplayField(name, label, str(raw), False))
            elif not decrypt:
                shown.append(DisplayField(name, label, None, True, hidden=True))
            else:
                value, problem = self._open(str(raw), name, record_key)
                shown.append(DisplayField(name, label, value, True, problem=problem))
        return shown

    def _open(self, token: str, field: str, record_key: str) -> tuple[str | None, str | None]:
        if self._cipher is None or self._keyring is None:
            return None, "cannot decrypt: no keyring"
        try:
            return self._cipher.decrypt(token, FieldContext(self._sobject, field, record_key)), None
        except DecryptionError:
            return None, self._why(token)
        except (SfsyncError, ValueError, TypeError) as exc:
            return None, f"cannot decrypt: {type(exc).__name__}"

    def _why(self, token: str) -> str:
        """The cause a reader can act on; the cipher itself says only "could not be decrypted" (no oracle)."""
        info = parse_token(token)
        if info is None:
            return "cannot decrypt: not an sfsync token"
        key = self._keyring.get(info.key_id) if self._keyring is not None else None
        if key is None:
            return "cannot decrypt: unknown key"
        if not key.can_decrypt:
            return "cannot decrypt: key destroyed"
        return "cannot decrypt: DecryptionError (tampered or moved value)"
