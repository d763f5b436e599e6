"""Field encryption: AES-256-GCM, random 96-bit nonce, AAD binding object, field and record."""

from __future__ import annotations

import os
import struct
from binascii import b2a_base64
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sfsync.crypto._format import b64url_encode, build_aad, is_api_name, split_token
from sfsync.crypto._keyring import KeyMaterial, Keyring
from sfsync.crypto._sizes import FORMAT_TAG, NONCE_BYTES
from sfsync.errors import DecryptionError, ErrorContext, KeyringError

__all__ = ["DECRYPTION_FAILED", "FieldCipher", "FieldContext", "RecordSealer"]

# One message for every decryption failure, so the error is no oracle (law 8).
DECRYPTION_FAILED = "value could not be decrypted"
# GCM's limit for one message is 2**36 - 32 bytes; Salesforce's largest field is far below.
_MAX_PLAINTEXT_BYTES = 2**32
_URLSAFE = bytes.maketrans(b"+/", b"-_")  # base64 -> base64url


@dataclass(frozen=True)
class FieldContext:
    """Where a value lives: the authenticated data every token is bound to (law 7)."""

    sobject: str
    field: str
    record_key: str

    def __post_init__(self) -> None:
        for name in ("sobject", "field", "record_key"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"FieldContext.{name} must be a str, not {type(value).__name__}")
            if not value:
                raise ValueError(f"FieldContext.{name} must not be empty")
        for name in ("sobject", "field"):
            if not is_api_name(getattr(self, name)):
                raise ValueError(f"FieldContext.{name} must be a Salesforce API name, got {getattr(self, name)!r}")

    def error_context(self) -> ErrorContext:
        return ErrorContext(sobject=self.sobject, external_id=self.record_key, field_name=self.field)


def _encode_plaintext(plaintext: object) -> bytes:
    if not isinstance(plaintext, str):
        raise TypeError(f"plaintext must be a str, not {type(plaintext).__name__}")
    try:
        data = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        # The codec's own message would quote the offending character.
        raise ValueError("plaintext is not encodable as UTF-8 (lone surrogate)") from None
    if len(data) > _MAX_PLAINTEXT_BYTES:
        raise ValueError("plaintext is too long")
    return data


def _check_context(ctx: object) -> FieldContext:
    if not isinstance(ctx, FieldContext):
        raise TypeError(f"ctx must be a FieldContext, not {type(ctx).__name__}")
    return ctx


class FieldCipher:
    """Encrypts and decrypts single field values with a :class:`Keyring`."""

    def __init__(self, keyring: Keyring) -> None:
        if not isinstance(keyring, Keyring):
            raise TypeError("keyring must be a Keyring")
        self._keyring = keyring
        # AESGCM objects per key id, reused while the key's material is unchanged.
        self._aeads: dict[str, tuple[bytes, AESGCM]] = {}

    def _aead(self, key_id: str, secret: bytes) -> AESGCM:
        cached = self._aeads.get(key_id)
        if cached is not None and cached[0] is secret:
            return cached[1]
        aead = AESGCM(secret)
        self._aeads[key_id] = (secret, aead)
        return aead

    def __repr__(self) -> str:
        return f"FieldCipher(primary={self._keyring.primary_id!r})"

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def _encryption_key(self, partner: str | None) -> KeyMaterial:
        key_id = self._keyring.primary_for(partner)
        if key_id is None:
            raise KeyringError(
                f"no active data key for partner {partner!r} (create one with `sfsync crypto rotate --partner`)"
            )
        key = self._keyring.get(key_id)
        # Defence in depth: the keyring already guarantees a primary is active.
        if key is None or not key.can_encrypt or key.secret is None:
            raise KeyringError(f"primary key {key_id} cannot encrypt")
        return key

    def _seal(self, key: KeyMaterial, data: bytes, ctx: FieldContext, nonce: bytes) -> str:
        if key.secret is None:  # unreachable: callers pass keys that can encrypt
            raise KeyringError(f"key {key.key_id} has no material")
        aad = build_aad(key.key_id, ctx.sobject, ctx.field, ctx.record_key)
        sealed = self._aead(key.key_id, key.secret).encrypt(nonce, data, aad)
        return f"{FORMAT_TAG}.{key.key_id}.{b64url_encode(nonce + sealed)}"

    def encrypt(self, plaintext: str, ctx: FieldContext, *, partner: str | None = None) -> str:
        """A token for ``plaintext`` bound to ``ctx``, under the primary key of ``partner``'s group."""
        data = _encode_plaintext(plaintext)
        ctx = _check_context(ctx)
        return self._seal(self._encryption_key(partner), data, ctx, os.urandom(NONCE_BYTES))

    def sealer(self, sobject: str, fields: Sequence[str], *, partner: str | None = None) -> RecordSealer:
        """A :class:`RecordSealer` for ``fields`` of ``sobject`` under the primary key of ``partner``'s group.

        The key is chosen now: a sealer made before a rotation keeps encrypting under the old
        primary, so make a new one after the keyring changes.
        """
        key = self._encryption_key(partner)
        if key.secret is None:  # unreachable: _encryption_key returns keys that can encrypt
            raise KeyringError(f"key {key.key_id} has no material")
        for name in fields:
            FieldContext(sobject=sobject, field=name, record_key="-")  # API names, checked once
        return RecordSealer(key.key_id, self._aead(key.key_id, key.secret), sobject, tuple(fields))

    def encrypt_at(self, plaintext: str, ctx: FieldContext, *, nonce: bytes, partner: str | None = None) -> str:
        """Like :meth:`encrypt` with a chosen nonce. For test vectors only: reusing a nonce breaks GCM."""
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
            raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
        data = _encode_plaintext(plaintext)
        ctx = _check_context(ctx)
        return self._seal(self._encryption_key(partner), data, ctx, nonce)

    def _open(self, token: str, ctx: FieldContext) -> tuple[str, str]:
        """(plaintext, key id); every failure is the same DecryptionError."""
        parts = split_token(token)
        if parts is None:
            raise DecryptionError(DECRYPTION_FAILED, ctx.error_context())
        key_id, nonce, sealed = parts
        key = self._keyring.get(key_id)
        if key is None or not key.can_decrypt or key.secret is None:
            # A destroyed key must not survive in this cipher's cache either.
            self._aeads.pop(key_id, None)
            raise DecryptionError(DECRYPTION_FAILED, ctx.error_context())
        try:
            aad = build_aad(key_id, ctx.sobject, ctx.field, ctx.record_key)
            data = self._aead(key_id, key.secret).decrypt(nonce, sealed, aad)
            return data.decode("utf-8"), key_id
        except (InvalidTag, UnicodeDecodeError):
            raise DecryptionError(DECRYPTION_FAILED, ctx.error_context()) from None

    def decrypt(self, token: str, ctx: FieldContext) -> str:
        """The plaintext of ``token``; DecryptionError for any bad, moved, tampered or unreadable token."""
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, not {type(token).__name__}")
        ctx = _check_context(ctx)
        return self._open(token, ctx)[0]

    def _target_for(self, key_id: str) -> str | None:
        key = self._keyring.get(key_id)
        return self._keyring.primary_for(key.partner) if key is not None else None

    def needs_rotation(self, token: str) -> bool:
        """True when ``token`` is under a key that is not the primary of its group.

        Structure only (no decryption). A non-token or an unknown key raises DecryptionError:
        such a value cannot be rotated, and saying False would hide it.
        """
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, not {type(token).__name__}")
        parts = split_token(token)
        if parts is None or parts[0] not in self._keyring:
            raise DecryptionError(DECRYPTION_FAILED)
        return self._target_for(parts[0]) != parts[0]

    def rotate(self, token: str, ctx: FieldContext) -> str:
        """``token`` re-encrypted under the current primary of its key's group.

        Returns ``token`` itself (no new nonce) when it is already under that primary, so a rerun
        writes nothing. A partner's value stays under that partner's keys.
        """
        if not isinstance(token, str):
            raise TypeError(f"token must be a str, not {type(token).__name__}")
        ctx = _check_context(ctx)
        plaintext, key_id = self._open(token, ctx)
        target = self._target_for(key_id)
        if target == key_id:
            return token
        if target is None:
            # The partner's group has no primary left: it was shredded while this key survived.
            raise KeyringError(f"no primary key to rotate key {key_id} to", ctx.error_context())
        key = self._keyring.get(target)
        if key is None or not key.can_encrypt:
            raise KeyringError(f"primary key {target} cannot encrypt", ctx.error_context())
        return self._seal(key, plaintext.encode("utf-8"), ctx, os.urandom(NONCE_BYTES))


class RecordSealer:
    """Encrypts several fields of one object, record after record, under one key.

    Each token is exactly what :meth:`FieldCipher.encrypt` gives for the same key, field, record
    key and nonce (same AAD, same format; ``crypto/SPEC.md``): the work that depends only on the
    key and the field (the AAD up to the record key, the AES key schedule) is done once here, not
    once per value. Nonces stay random (96 bits from ``os.urandom`` per value, drawn together for
    a record). Make one with :meth:`FieldCipher.sealer`.
    """

    __slots__ = ("_aead", "_key_id", "_prefixes", "_token_head_bytes", "fields", "sobject")

    def __init__(self, key_id: str, aead: AESGCM, sobject: str, fields: tuple[str, ...]) -> None:
        self._key_id = key_id
        self._aead = aead
        self.sobject = sobject
        self.fields = fields
        # AAD = LP(label) || LP(key id) || LP(lower(sobject)) || LP(lower(field)) || LP(record key):
        # everything but the last part is fixed per field.
        self._prefixes = tuple(build_aad(key_id, sobject, name, "")[:-4] for name in fields)
        # ASCII (the format tag and a key id), and free of "+", "/", "=" and "\n", which the
        # record-wide translate and split of seal() act on.
        self._token_head_bytes = f"{FORMAT_TAG}.{key_id}.".encode("ascii")

    def __repr__(self) -> str:
        return f"RecordSealer(key={self._key_id!r}, sobject={self.sobject!r}, fields={len(self.fields)})"

    @property
    def key_id(self) -> str:
        return self._key_id

    def seal(
        self, record_key: str, plaintexts: Sequence[tuple[int, bytes]], *, nonces: bytes | None = None
    ) -> list[str]:
        """Tokens for ``(field position, UTF-8 plaintext)`` pairs of the record ``record_key``, in order.

        ``nonces`` (12 bytes per value, for test vectors only: a reused nonce breaks GCM) replaces
        the random ones.
        """
        if not isinstance(record_key, str) or not record_key:
            raise ValueError("the record key must be a non-empty str")
        count = len(plaintexts)
        if nonces is None:
            nonces = os.urandom(NONCE_BYTES * count)
        elif not isinstance(nonces, bytes) or len(nonces) != NONCE_BYTES * count:
            raise ValueError(f"nonces must be {NONCE_BYTES} bytes per value")
        key_bytes = record_key.encode("utf-8")
        tail = struct.pack(">I", len(key_bytes)) + key_bytes
        prefixes = self._prefixes
        encrypt = self._aead.encrypt
        head = self._token_head_bytes
        # Every token is collected as head || base64(nonce || sealed) || "\n" and the record's
        # tokens are made text in one go: one translate to base64url (which also drops the "="
        # padding: "=" appears nowhere else), one decode, one split. Per value, only the AES-GCM
        # call and the base64 of its output are left.
        pieces: list[bytes] = []
        append = pieces.append
        offset = 0
        for position, data in plaintexts:
            if len(data) > _MAX_PLAINTEXT_BYTES:
                raise ValueError("plaintext is too long")
            nonce = nonces[offset : offset + NONCE_BYTES]
            offset += NONCE_BYTES
            append(head)
            append(b2a_base64(nonce + encrypt(nonce, data, prefixes[position] + tail)))
        tokens = b"".join(pieces).translate(_URLSAFE, b"=").decode("ascii").split("\n")
        tokens.pop()  # the empty text after the last newline
        return tokens
