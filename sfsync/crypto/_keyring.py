"""The keyring: data keys with states, one primary per group, and the blind-index key.

A *group* is the default group (``partner=None``) or one partner's keys. Each group has at
most one primary, which must be active; encryption only ever uses a primary.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from sfsync.crypto._blind import BlindIndexer
from sfsync.crypto._format import is_valid_key_id
from sfsync.errors import KeyringError

__all__ = ["DATA_KEY_BYTES", "KeyMaterial", "KeyState", "Keyring"]

_DERIVE_LABEL = b"sfsync derived key v1\x00"
_PURPOSE = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")

DATA_KEY_BYTES = 32
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PARTNER_MAX = 64


class KeyState(StrEnum):
    ACTIVE = "active"
    DECRYPT_ONLY = "decrypt_only"
    DESTROYED = "destroyed"


@dataclass(frozen=True)
class KeyMaterial:
    """One key. ``secret`` is None once the key is destroyed; it never appears in a repr."""

    key_id: str
    state: KeyState
    created: datetime
    partner: str | None = None
    secret: bytes | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_valid_key_id(self.key_id):
            raise KeyringError(f"invalid key id {self.key_id!r}")
        if self.state is KeyState.DESTROYED:
            if self.secret is not None:
                raise KeyringError(f"key {self.key_id} is destroyed but still holds material")
        elif self.secret is None or len(self.secret) != DATA_KEY_BYTES:
            raise KeyringError(f"key {self.key_id} has no valid {DATA_KEY_BYTES}-byte material")

    @property
    def can_encrypt(self) -> bool:
        return self.state is KeyState.ACTIVE

    @property
    def can_decrypt(self) -> bool:
        return self.state is not KeyState.DESTROYED and self.secret is not None


def _check_partner(partner: str | None) -> str | None:
    if partner is None:
        return None
    if not isinstance(partner, str):
        raise TypeError("partner must be a str or None")
    if not partner or len(partner) > _PARTNER_MAX or partner != partner.strip():
        raise ValueError(f"partner must be 1..{_PARTNER_MAX} characters without surrounding spaces")
    return partner


class Keyring:
    """Keys in memory. Mutating methods change this object; a provider persists it."""

    def __init__(
        self,
        keys: Iterable[KeyMaterial],
        primaries: dict[str | None, str],
        index_key: bytes,
        *,
        index_key_id: str = "idx1",
        clock: Callable[[], datetime] | None = None,
        generation: int = 0,
    ) -> None:
        self._keys: dict[str, KeyMaterial] = {}
        for key in keys:
            if key.key_id in self._keys:
                raise KeyringError(f"duplicate key id {key.key_id}")
            self._keys[key.key_id] = key
        if len(index_key) != DATA_KEY_BYTES:
            raise KeyringError("the blind-index key must be 32 bytes")
        if not is_valid_key_id(index_key_id):
            raise KeyringError(f"invalid index key id {index_key_id!r}")
        self._index_key = index_key
        self.index_key_id = index_key_id
        if not isinstance(generation, int) or generation < 0:
            raise KeyringError("the keyring generation must be a non-negative integer")
        # How many times the keyring file was written; a provider records it outside the file
        # so a copied-back older keyring (reviving destroyed keys) is refused.
        self.generation = generation
        self._primaries: dict[str | None, str] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        for partner, key_id in primaries.items():
            primary = self._keys.get(key_id)
            if primary is None:
                raise KeyringError(f"primary key {key_id} is not in the keyring")
            if primary.partner != partner or primary.state is not KeyState.ACTIVE:
                raise KeyringError(f"primary key {key_id} must be an active key of its group")
            self._primaries[partner] = key_id
        if None not in self._primaries:
            raise KeyringError("the keyring has no primary key")

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def generate(
        cls, *, clock: Callable[[], datetime] | None = None, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> Keyring:
        """A new keyring: one active primary data key and a blind-index key."""
        now = (clock or (lambda: datetime.now(UTC)))()
        key_id = cls._new_id("k", set())
        first = KeyMaterial(key_id, KeyState.ACTIVE, now, None, random_bytes(DATA_KEY_BYTES))
        return cls(
            [first], {None: key_id}, random_bytes(DATA_KEY_BYTES), index_key_id=cls._new_id("i", {key_id}), clock=clock
        )

    def has_partner_keys(self, partner: str) -> bool:
        """True when ``partner`` ever had keys (destroyed ones count: a shredded partner stays shredded)."""
        checked = _check_partner(partner)
        return any(k.partner == checked for k in self._keys.values())

    @staticmethod
    def _new_id(prefix: str, taken: set[str]) -> str:
        while True:
            candidate = prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(7))
            if candidate not in taken:
                return candidate

    # -- queries ------------------------------------------------------------------------------
    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    @property
    def keys(self) -> tuple[KeyMaterial, ...]:
        return tuple(self._keys.values())

    @property
    def primary_id(self) -> str:
        return self._primaries[None]

    @property
    def primaries(self) -> dict[str | None, str]:
        return dict(self._primaries)

    @property
    def partners(self) -> tuple[str, ...]:
        return tuple(sorted({k.partner for k in self._keys.values() if k.partner is not None}))

    def primary_for(self, partner: str | None = None) -> str | None:
        """The key id new values of ``partner`` (None: the default group) are encrypted with."""
        return self._primaries.get(_check_partner(partner))

    def get(self, key_id: str) -> KeyMaterial | None:
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def index_key(self) -> bytes:
        """The blind-index key (separate from every data key)."""
        return self._index_key

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for ``purpose``, derived from the keyring's stable secret.

        For keyed digests published beside encrypted data (the conflict evidence hash, the pinned
        field policy's MAC, ledger fingerprints): HMAC-SHA256(index key, label || purpose), so
        one purpose's key says nothing about another's or about any data key. The same keyring
        gives the same key for a purpose across rotations (the index key is never rotated or
        destroyed), so stored digests stay comparable. ``purpose`` is a short lowercase name
        such as ``"conflict-evidence"``; see crypto/SPEC.md § Derived keys.
        """
        if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
            raise ValueError("purpose must be 1..64 characters of a-z, 0-9, '.', '_', ':' or '-'")
        return hmac.new(self._index_key, _DERIVE_LABEL + purpose.encode("ascii"), hashlib.sha256).digest()

    def blind_indexer(self) -> BlindIndexer:
        return BlindIndexer(self._index_key)

    def __repr__(self) -> str:
        states = ", ".join(f"{k.key_id}:{k.state.value}" for k in self._keys.values())
        return f"Keyring(primary={self.primary_id!r}, keys=[{states}])"

    # -- changes ------------------------------------------------------------------------------
    def rotate(self, partner: str | None = None, *, random_bytes: Callable[[int], bytes] = os.urandom) -> str:
        """Make a new active key the primary of ``partner``'s group; the old one becomes decrypt-only.

        For a partner without keys this creates its first key.
        """
        partner = _check_partner(partner)
        taken = set(self._keys) | {self.index_key_id}
        key_id = self._new_id("p" if partner is not None else "k", taken)
        self._keys[key_id] = KeyMaterial(key_id, KeyState.ACTIVE, self._clock(), partner, random_bytes(DATA_KEY_BYTES))
        old = self._primaries.get(partner)
        self._primaries[partner] = key_id
        if old is not None:
            self._keys[old] = replace(self._keys[old], state=KeyState.DECRYPT_ONLY)
        return key_id

    def set_state(self, key_id: str, state: KeyState) -> None:
        """Change a key's state. Destroying erases its material for good (crypto-shredding)."""
        state = KeyState(state)
        key = self._keys.get(key_id)
        if key is None:
            raise KeyringError(f"no key {key_id!r} in the keyring")
        if key.state is KeyState.DESTROYED and state is not KeyState.DESTROYED:
            raise KeyringError(f"key {key_id} is destroyed; its material is gone and cannot come back")
        if self._primaries.get(key.partner) == key_id and state is not KeyState.ACTIVE:
            raise KeyringError(
                f"key {key_id} is the primary; rotate first"
                + ("" if key.partner is None else " or destroy the whole partner with destroy_partner")
            )
        if state is KeyState.DESTROYED:
            self._keys[key_id] = replace(key, state=state, secret=None)
        else:
            self._keys[key_id] = replace(key, state=state)

    def destroy_partner(self, partner: str) -> list[str]:
        """Crypto-shred a partner: destroy every key of its group. Returns the destroyed key ids."""
        checked = _check_partner(partner)
        ids = [k.key_id for k in self._keys.values() if k.partner == checked and checked is not None]
        if not ids:
            raise KeyringError(f"no keys for partner {partner!r}")
        self._primaries.pop(checked, None)
        for key_id in ids:
            key = self._keys[key_id]
            self._keys[key_id] = replace(key, state=KeyState.DESTROYED, secret=None)
        return ids
