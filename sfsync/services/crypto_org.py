"""Encrypted values as they are stored in Salesforce: read them, count keys, rewrite them.

Everything goes through the gateway: SOQL built with ``format_soql``, writes as upserts by the
mapping's external id (so a rerun of ``reencrypt`` after a crash redoes nothing it finished).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any, Literal, Protocol

from sfsync.crypto._format import parse_token
from sfsync.crypto._keyring import Keyring
from sfsync.crypto._verify import ReencryptSkip, StoredValue, reencrypt_plan
from sfsync.mapping import MappingSet, ObjectMapping
from sfsync.salesforce import RecordResult, format_soql

__all__ = ["ReencryptResult", "apply_reencryption", "key_usage", "stored_values_from_salesforce"]

log = logging.getLogger("sfsync.crypto")


class _Gateway(Protocol):
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]: ...

    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]: ...


def _encrypting(mappings: MappingSet) -> list[ObjectMapping]:
    return [m for m in mappings if not m.is_read_only and m.encrypted_fields() and m.direction != "pull"]


def stored_values_from_salesforce(
    gateway: _Gateway, mappings: MappingSet, *, required: Mapping[str, Iterable[str]] | None = None
) -> Iterator[StoredValue]:
    """Every value of every ``encrypt`` field of every mapping, as Salesforce holds it.

    ``required`` adds the fields the *pinned* field policy protects (by object), so a field whose
    ``encrypt`` was removed from the editable mapping is still read, and its plaintext values
    show up as ``not_a_token`` instead of going unchecked.
    """
    wanted: dict[str, tuple[str, list[str]]] = {}
    for mapping in _encrypting(mappings):
        ext = mapping.salesforce.external_id_field
        _, fields = wanted.setdefault(mapping.salesforce.object, (ext, []))
        fields.extend(fm.field for fm in mapping.encrypted_fields())
    if required:
        # Enabled mappings only: a disabled one writes nothing, and export-metadata does not deploy its fields.
        externals = {m.salesforce.object: m.salesforce.external_id_field for m in mappings if m.direction != "pull"}
        for obj, names in required.items():
            if obj not in externals:
                continue
            _, fields = wanted.setdefault(obj, (externals[obj], []))
            fields.extend(names)
    for obj, (ext, names) in wanted.items():
        fields = sorted(set(names))
        # Names come from validated mappings (API-name pattern), inserted as literals.
        soql = format_soql(
            "SELECT {:literal} FROM {:literal} WHERE {:literal} != null",
            ", ".join(dict.fromkeys([ext, *fields])),
            obj,
            ext,
        )
        for record in gateway.query(soql):
            key = str(record.get(ext))
            for field in fields:
                value = record.get(field)
                yield StoredValue(obj, field, key, None if value is None else str(value))


def key_usage(gateway: _Gateway, mappings: MappingSet) -> Counter[str]:
    """How many stored values use each key id (``"(not a token)"`` for anything else)."""
    counts: Counter[str] = Counter()
    for stored in stored_values_from_salesforce(gateway, mappings):
        if not stored.value:
            continue
        info = parse_token(stored.value)
        counts[info.key_id if info is not None else "(not a token)"] += 1
    return counts


@dataclass
class ReencryptResult:
    """Counts of stored values (not records): planned, rewritten, rejected by Salesforce; skipped ones."""

    planned: int = 0
    rewritten: int = 0
    rejected: int = 0
    skipped: list[ReencryptSkip] = dc_field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "rewritten": self.rewritten,
            "rejected": self.rejected,
            "skipped": [s.to_dict() for s in self.skipped],
        }


def apply_reencryption(
    gateway: _Gateway,
    mappings: MappingSet,
    keyring: Keyring,
    *,
    batch_size: int = 2000,
    dry_run: bool = False,
    on_error: Literal["raise", "skip"] = "raise",
) -> ReencryptResult:
    """Rewrite every value still under a non-primary key, batched; idempotent and resumable.

    The whole plan is computed from what Salesforce holds now **before** the first write. A
    value that cannot be decrypted (plaintext, malformed, unknown key, failed authentication)
    therefore stops the run with nothing written (``on_error="raise"``, DecryptionError naming
    object, field and record), or is left untouched and listed in ``result.skipped``
    (``on_error="skip"``). Writes are upserts by external id of the new tokens only, so a run
    interrupted half-way is finished by the next one, and a second run plans nothing.
    """
    result = ReencryptResult()
    by_object = {m.salesforce.object: m for m in _encrypting(mappings)}
    plan = reencrypt_plan(
        stored_values_from_salesforce(gateway, mappings), keyring, on_error=on_error, skipped=result.skipped
    )
    result.planned = len(plan)
    if dry_run or not plan:
        return result
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for item in plan:
        mapping = by_object[item.sobject]
        record = grouped.setdefault(item.sobject, {}).setdefault(
            item.record_key, {mapping.salesforce.external_id_field: item.record_key}
        )
        record[item.field] = item.token
    for sobject, records in grouped.items():
        mapping = by_object[sobject]
        rows = list(records.values())
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            for outcome in gateway.upsert(sobject, mapping.salesforce.external_id_field, chunk):
                # Counted in values (like `planned`), not records: a record may carry several.
                values = len(chunk[outcome.index]) - 1 if 0 <= outcome.index < len(chunk) else 1
                if outcome.outcome == "rejected":
                    result.rejected += values
                    log.warning(
                        "re-encryption of %s %s rejected: %s", sobject, outcome.external_id, outcome.status_code
                    )
                else:
                    result.rewritten += values
    return result
