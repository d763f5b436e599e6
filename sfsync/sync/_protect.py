"""The encryption step of the push: plaintext of ``encrypt`` fields becomes ciphertext + blind indexes."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from sfsync.config import Settings
from sfsync.crypto import FieldCipher, FieldContext, Keyring, load_keyring, plan_blind_index_bits
from sfsync.errors import ErrorContext, RecordRejectedError
from sfsync.mapping import MappingSet, ObjectMapping

__all__ = ["KeyringProtector", "protector_from_settings"]

_FINGERPRINT_LABEL = b"sfsync ledger fingerprint v1"


class KeyringProtector:
    """Encrypts a mapping's ``encrypt`` fields, bound to (object, field, external id)."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._cipher = FieldCipher(keyring)
        self._indexer = keyring.blind_indexer()
        # The ledger fingerprint key is derived from the index key, never a data key, so a
        # fingerprint cannot help anyone decrypt; and an HMAC cannot be brute-forced offline.
        self._fingerprint_key = hmac.new(keyring.index_key, _FINGERPRINT_LABEL, hashlib.sha256).digest()

    def __repr__(self) -> str:
        return f"KeyringProtector(primary={self._keyring.primary_id!r})"

    @property
    def cipher(self) -> FieldCipher:
        return self._cipher

    def fingerprint_key(self) -> bytes:
        return self._fingerprint_key

    def protect(self, mapping: ObjectMapping, external_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        protected = dict(payload)
        partner = self._partner_of(mapping, payload)
        for fm in mapping.encrypted_fields():
            value = payload.get(fm.field)
            spec = fm.encrypt_spec
            index = fm.blind_index
            if value is None or value == "":
                # Nothing to hide; an empty value clears the index too.
                if index is not None and fm.field in payload:
                    protected[index.field] = None
                continue
            text = str(value)
            context = FieldContext(sobject=mapping.salesforce.object, field=fm.field, record_key=external_id)
            use_partner = partner if spec is not None and spec.per_partner_key else None
            protected[fm.field] = self._cipher.encrypt(text, context, partner=use_partner)
            if index is not None:
                bits = index.bits or plan_blind_index_bits(index.expected_rows)
                try:
                    protected[index.field] = self._indexer.index(
                        text, index.normalizer, bits, sobject=mapping.salesforce.object, field=index.field
                    )
                except ValueError:
                    # The message of a normaliser may quote the value: never pass it on.
                    raise RecordRejectedError(
                        f"{fm.portal_column or fm.field} is not a valid {index.normalizer} value, so its blind "
                        f"index cannot be computed; correct it in the portal",
                        ErrorContext(mapping=mapping.name, field_name=fm.field, external_id=external_id),
                    ) from None
        return protected

    def _partner_of(self, mapping: ObjectMapping, payload: dict[str, Any]) -> str | None:
        """The partner number a per-partner key is chosen by (from the partner lookup)."""
        for fm in mapping.portal_owned():
            lookup = fm.lookup
            if lookup is None:
                continue
            related = payload.get(lookup.relationship_for(fm.field))
            if isinstance(related, dict) and related.get(lookup.external_id_field):
                partner = str(related[lookup.external_id_field])
                return partner if partner in self._keyring.partners else None
        return None


def protector_from_settings(settings: Settings, mappings: MappingSet) -> KeyringProtector | None:
    """A protector when any mapping encrypts; None when none does (no keyring needed then)."""
    if not any(m.encrypted_fields() for m in mappings):
        return None
    return KeyringProtector(load_keyring(settings))
