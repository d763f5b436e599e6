"""The protect step of the push: what the field policy says each partner-submitted value becomes.

* ``encrypt`` fields become ciphertext bound to (object, field, external id), under the
  partner's own key when ``per_partner_key`` is set. A partner without a key gets one on first
  use (saved to the keyring file under its lock); a partner whose keys were destroyed
  (crypto-shredded) is never sent again under any key: its records are dead-lettered. There is
  no fallback to the shared key.
* ``band`` fields also publish their coarse band (``Amount_Band__c: 100k-250k``).
* a ``blind_index`` is written only with a named reader (validation refuses the others).

Before a run, :func:`protector_from_settings` checks the keyring against the generation
recorded in the state store (an older keyring file, copied back to revive destroyed keys, is
refused) and the mappings against the pinned field policy (a field sent in a weaker class than
a key holder approved stops the run, exit 3).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass
from typing import Any

from sfsync.config import Settings
from sfsync.crypto import FieldCipher, KeyProvider, Keyring, RecordSealer, provider_from_settings
from sfsync.errors import ErrorContext, FatalError, KeyringError, RecordRejectedError
from sfsync.mapping import BandSpec, BlindIndexSpec, MappingSet, ObjectMapping
from sfsync.mapping._policy import PinnedPolicy, field_policy, open_policy, weakenings
from sfsync.portal import UNREADABLE
from sfsync.sync._state import StateStore

__all__ = [
    "FIELD_POLICY_PIN",
    "KEYRING_GENERATION_PIN",
    "FieldPolicyError",
    "KeyringProtector",
    "check_field_policy",
    "check_keyring_generation",
    "load_pinned_policy",
    "protector_from_settings",
    "record_keyring_generation",
    "undecodable_columns",
]

log = logging.getLogger("sfsync.crypto")

_FINGERPRINT_LABEL = b"sfsync ledger fingerprint v1"
# A band's labels kept per text value (cleared when full: bounded memory on a table of
# distinct amounts, still a hit for every repeated value).
_BAND_LABELS_KEPT = 4096
_ABSENT: Any = object()  # a payload without the field (unlike None, which clears it)
KEYRING_GENERATION_PIN = "keyring_generation"
FIELD_POLICY_PIN = "field_policy"


class FieldPolicyError(FatalError):
    """The mappings would send a field less protected than the pinned policy allows (exit 3)."""


def undecodable_columns(row: AbcMapping[str, Any]) -> list[str]:
    """Columns whose text held bytes that are not UTF-8 (decoded as lone surrogates by the portal),
    or whose stored value the column's type cannot read (``sfsync.portal.UNREADABLE``)."""
    # The usual, clean row in one comprehension, one join and one encode: the join refuses an
    # UNREADABLE (not a str) and the encode a lone surrogate; either sends the row the long way.
    texts: list[Any] = [value for value in row.values() if isinstance(value, str) or value is UNREADABLE]
    try:
        "".join(texts).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        pass
    else:
        return []
    bad: list[str] = []  # column by column, in the row's order
    for column, value in row.items():
        if value is UNREADABLE:
            bad.append(str(column))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                bad.append(str(column))
    return bad


@dataclass(frozen=True)
class _FieldStep:
    """One encrypted field of a mapping, as the protect step needs it."""

    position: int
    field: str
    column: str
    band: BandSpec | None
    index: BlindIndexSpec | None
    index_bits: int
    per_partner_key: bool


class _ProtectPlan:
    """A mapping's encrypted fields, worked out once: the per-record loop reads no pydantic model."""

    def __init__(self, mapping: ObjectMapping) -> None:
        self.mapping = mapping
        self.sobject = mapping.salesforce.object
        encrypted = mapping.encrypted_fields()
        self.fields = tuple(fm.field for fm in encrypted)
        steps = []
        for position, fm in enumerate(encrypted):
            index = fm.blind_index
            steps.append(
                _FieldStep(
                    position=position,
                    field=fm.field,
                    column=fm.portal_column or fm.field,
                    band=fm.band,
                    index=index,
                    index_bits=index.planned_bits() if index is not None and index.reader is not None else 0,
                    per_partner_key=bool(fm.encrypt_spec is not None and fm.encrypt_spec.per_partner_key),
                )
            )
        self.steps = tuple(steps)
        # The same steps as plain tuples for the per-record loop (no attribute lookups), each
        # band with the labels it gave so far: a band is a pure function of the text, and most
        # values repeat (countries, close dates, round amounts).
        self.fast_steps = tuple(
            (step.position, step.field, step.band, dict[str, str | None](), step.index, step.per_partner_key)
            for step in steps
        )
        # (relationship, external id field) of each portal-owned lookup: where the partner is named
        self.partner_lookups = tuple(
            (fm.lookup.relationship_for(fm.field), fm.lookup.external_id_field)
            for fm in mapping.portal_owned()
            if fm.lookup is not None
        )
        self._sealers: dict[str | None, RecordSealer] = {}

    def sealer(self, protector: KeyringProtector, partner: str | None) -> RecordSealer:
        """The sealer of ``partner``'s group (None: the shared key), made on first use."""
        sealer = self._sealers.get(partner)
        if sealer is None:
            sealer = protector._sealer(self.sobject, self.fields, partner)
            self._sealers[partner] = sealer
        return sealer


class KeyringProtector:
    """Applies the field policy to a mapped payload: ciphertext, bands, indexes."""

    def __init__(
        self, keyring: Keyring, *, provider: KeyProvider | None = None, state: StateStore | None = None
    ) -> None:
        self._keyring = keyring
        self._cipher = FieldCipher(keyring)
        self._indexer = keyring.blind_indexer()
        # Persisting partner keys created on first use; without a provider they live in this
        # keyring object only, and the caller saves it.
        self._provider = provider
        self._state = state
        # The ledger fingerprint key is derived from the index key, never a data key, so a
        # fingerprint cannot help anyone decrypt; and an HMAC cannot be brute-forced offline.
        self._fingerprint_key = hmac.new(keyring.index_key, _FINGERPRINT_LABEL, hashlib.sha256).digest()
        # What each mapping's protection needs, worked out once per run (fields, bands, sealers).
        self._plans: dict[str, _ProtectPlan] = {}
        # Partners found to have a primary key in this keyring (keys are only ever added in a run).
        self._ready_partners: set[str] = set()

    def __repr__(self) -> str:
        return f"KeyringProtector(primary={self._keyring.primary_id!r})"

    @property
    def cipher(self) -> FieldCipher:
        return self._cipher

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def fingerprint_key(self) -> bytes:
        return self._fingerprint_key

    def protect(self, mapping: ObjectMapping, external_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        plan = self._plan_for(mapping)
        protected = dict(payload)
        get = payload.get
        partner: str | None = None
        partner_known = False
        # (field position, UTF-8 plaintext) to seal under the shared key and the partner's key,
        # and the names their tokens go to (in the same order)
        shared: list[tuple[int, bytes]] = []
        shared_names: list[str] = []
        own: list[tuple[int, bytes]] = []
        own_names: list[str] = []
        # Each field is checked in the mapping's order (band, text, partner, index), so a record
        # with several problems is rejected for the same first one whatever the path.
        for position, name, band, band_labels, index, per_partner_key in plan.fast_steps:
            value = get(name, _ABSENT)
            if value is _ABSENT:
                continue  # nothing to hide, no band and no index to write
            if band is not None:
                try:
                    if type(value) is str:
                        label = band_labels.get(value, _ABSENT)
                        if label is _ABSENT:
                            label = band.band_of(value)
                            if len(band_labels) >= _BAND_LABELS_KEPT:
                                band_labels.clear()
                            band_labels[value] = label
                    else:
                        label = band.band_of(value)
                except ValueError:
                    step = plan.steps[position]
                    raise RecordRejectedError(
                        f"{step.column} does not fit its band ({band.kind}); correct it in the portal",
                        ErrorContext(mapping=mapping.name, field_name=name, external_id=external_id),
                    ) from None
                protected[band.field] = label
            if type(value) is str:
                if not value:
                    # Nothing to hide; an empty value clears the index too.
                    if index is not None:
                        protected[index.field] = None
                    continue
                text = value
            elif value is None or value == "":
                if index is not None:
                    protected[index.field] = None
                continue
            else:
                text = str(value)
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                # The text cannot be encoded (a lone surrogate): say where, never what.
                raise RecordRejectedError(
                    f"{plan.steps[position].column} holds text that is not valid UTF-8; correct it in the portal",
                    ErrorContext(mapping=mapping.name, field_name=name, external_id=external_id),
                ) from None
            if per_partner_key:
                if not partner_known:
                    partner = self._partner_key_group(mapping, payload, external_id)
                    partner_known = True
                own.append((position, data))
                own_names.append(name)
            else:
                shared.append((position, data))
                shared_names.append(name)
            if index is not None and index.reader is not None:
                self._index(plan, plan.steps[position], protected, text, mapping, external_id)
        if shared:
            protected.update(zip(shared_names, plan.sealer(self, None).seal(external_id, shared), strict=True))
        if own:
            protected.update(zip(own_names, plan.sealer(self, partner).seal(external_id, own), strict=True))
        return protected

    def _index(
        self,
        plan: _ProtectPlan,
        step: _FieldStep,
        protected: dict[str, Any],
        text: str,
        mapping: ObjectMapping,
        external_id: str,
    ) -> None:
        index = step.index
        if index is None:  # unreachable: called for indexed fields only
            return
        try:
            protected[index.field] = self._indexer.index(
                text, index.normalizer, step.index_bits, sobject=plan.sobject, field=index.field
            )
        except ValueError:
            # The message of a normaliser may quote the value: never pass it on.
            raise RecordRejectedError(
                f"{step.column} is not a valid {index.normalizer} value, so its blind "
                f"index cannot be computed; correct it in the portal",
                ErrorContext(mapping=mapping.name, field_name=step.field, external_id=external_id),
            ) from None

    def _plan_for(self, mapping: ObjectMapping) -> _ProtectPlan:
        plan = self._plans.get(mapping.name)
        if plan is None or plan.mapping is not mapping:
            plan = _ProtectPlan(mapping)
            self._plans[mapping.name] = plan
        return plan

    def _sealer(self, sobject: str, fields: tuple[str, ...], partner: str | None) -> RecordSealer:
        return self._cipher.sealer(sobject, fields, partner=partner)

    def _partner_key_group(self, mapping: ObjectMapping, payload: dict[str, Any], external_id: str) -> str:
        """The partner whose key encrypts this record, creating its first key if it has none."""
        partner = self._partner_of(mapping, payload)
        if partner is not None and partner in self._ready_partners:
            return partner
        where = ErrorContext(mapping=mapping.name, external_id=external_id)
        if partner is None:
            raise RecordRejectedError(
                "the record names no partner, so the partner's own key cannot be chosen (fields with "
                "per_partner_key are never encrypted under the shared key)",
                where,
            )
        if self._keyring.primary_for(partner) is not None:
            self._ready_partners.add(partner)
            return partner
        if self._keyring.has_partner_keys(partner):
            raise RecordRejectedError(
                f"partner {partner!r} was crypto-shredded (its keys are destroyed); its records are not sent again",
                where,
            )
        self._create_partner_key(partner)
        self._ready_partners.add(partner)
        return partner

    def _create_partner_key(self, partner: str) -> None:
        if self._provider is None:
            key_id = self._keyring.rotate(partner)
            log.info("created data key %s for partner %s (in memory; the caller saves the keyring)", key_id, partner)
            return
        with self._provider.locked():
            current = self._provider.load()
            if self._state is not None:
                check_keyring_generation(current, self._state)
            if current.primary_for(partner) is None:
                if current.has_partner_keys(partner):
                    raise KeyringError(f"partner {partner!r} was crypto-shredded while this run was going")
                key_id = current.rotate(partner)
                self._provider.save(current)
                if self._state is not None:
                    record_keyring_generation(current, self._state)
                log.info("created data key %s for partner %s on first use", key_id, partner)
        # Carry on with the keyring as saved (it holds every key this run already used).
        self._keyring = current
        self._cipher = FieldCipher(current)
        self._plans.clear()  # their sealers hold keys of the keyring object replaced here
        self._ready_partners.clear()

    def _partner_of(self, mapping: ObjectMapping, payload: dict[str, Any]) -> str | None:
        """The partner number a per-partner key is chosen by (from the partner lookup)."""
        for relationship, external_id_field in self._plan_for(mapping).partner_lookups:
            related = payload.get(relationship)
            if isinstance(related, dict) and related.get(external_id_field):
                return str(related[external_id_field])
        return None


# ----------------------------------------------------------------------------- run-time checks


def check_keyring_generation(keyring: Keyring, state: StateStore) -> None:
    """Refuse a keyring file older than the newest one sfsync has used; record this one's generation."""
    recorded = state.raise_pin(KEYRING_GENERATION_PIN, keyring.generation)
    if keyring.generation < recorded:
        raise KeyringError(
            f"the keyring file is older than the one sfsync last used (generation {keyring.generation}, the state "
            f"store recorded {recorded}): a keyring restored from a backup or copied back would revive destroyed "
            "keys. Put the newest keyring file back; see crypto/SPEC.md § Keyring generation",
            ErrorContext(extra={"keyring_generation": str(keyring.generation), "recorded": str(recorded)}),
        )


def record_keyring_generation(keyring: Keyring, state: StateStore) -> None:
    """After a save: the new generation becomes the oldest one accepted."""
    state.raise_pin(KEYRING_GENERATION_PIN, keyring.generation)


def load_pinned_policy(keyring: Keyring, state: StateStore) -> PinnedPolicy | None:
    stored = state.get_pin(FIELD_POLICY_PIN)
    return None if stored is None else open_policy(keyring, stored)


def check_field_policy(mappings: MappingSet, keyring: Keyring | None, state: StateStore) -> None:
    """Stop (FieldPolicyError, exit 3) when a mapping would send a field weaker than approved."""
    current = field_policy(mappings)
    if keyring is None:
        if any(e.protection != "clear" for e in current.entries if e.enabled):
            return  # the caller reports the missing keyring
        if state.get_pin(FIELD_POLICY_PIN) is not None or state.get_pin(KEYRING_GENERATION_PIN) is not None:
            raise FieldPolicyError(
                "the mappings encrypt nothing, but a field policy was approved for this state store; the keyring "
                "is needed to check it (set [crypto] keyring and the master key)"
            )
        return
    pinned = load_pinned_policy(keyring, state)
    if pinned is None:
        raise FieldPolicyError(
            "no approved field policy: a key holder reviews `sfsync crypto policy --markdown` and runs "
            "`sfsync crypto policy approve` before the first run"
        )
    problems = weakenings(pinned.document, current)
    if problems:
        listed = "\n  ".join(problems)
        raise FieldPolicyError(
            f"the mappings would send {len(problems)} field(s) less protected than the approved field policy "
            f"(approved {pinned.approved_at:%Y-%m-%d %H:%M} UTC by {pinned.approved_by}):\n  {listed}\n"
            "nothing was sent. Restore the mappings, or have a key holder review `sfsync crypto policy` and run "
            "`sfsync crypto policy approve`"
        )


def protector_from_settings(
    settings: Settings, mappings: MappingSet, state: StateStore | None = None
) -> KeyringProtector | None:
    """A protector when any mapping encrypts (None otherwise), after the keyring and policy checks."""
    provider = provider_from_settings(settings) if _needs_keyring(settings, mappings) else None
    keyring = provider.load() if provider is not None else None
    if state is not None:
        if keyring is not None:
            check_keyring_generation(keyring, state)
        check_field_policy(mappings, keyring, state)
    if keyring is None or not any(m.encrypted_fields() for m in mappings):
        return None
    if any(fm.blind_index is not None for m in mappings for fm in m.encrypted_fields()):
        from sfsync.crypto._pinned import check_normalisation_data

        check_normalisation_data()  # an upgraded suffix list or term list would change index values
    return KeyringProtector(keyring, provider=provider, state=state)


def _needs_keyring(settings: Settings, mappings: MappingSet) -> bool:
    if any(m.encrypted_fields() for m in mappings):
        return True
    # Nothing encrypts now: still open an existing keyring, so the policy check can see a downgrade.
    return settings.crypto.keyring.exists()
