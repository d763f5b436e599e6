"""FieldCipher: round trips, tampering, binding to place (law 7) and failing closed (law 8)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.crypto import (
    DECRYPTION_FAILED,
    MAX_KEY_ID_LENGTH,
    DecryptionError,
    FieldCipher,
    FieldContext,
    Keyring,
    KeyringError,
    KeyState,
    max_ciphertext_length,
    max_plaintext_bytes,
    parse_token,
)
from sfsync.crypto._keyring import KeyMaterial
from sfsync.errors import FatalError

SECRET = "Competitor offered 18% discount to ACME"
_CIPHER = FieldCipher(Keyring.generate())
_CTX = FieldContext("Deal_Registration__c", "Competitive_Notes__c", "DR-000123")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_any_text(plaintext: str) -> None:
    token = _CIPHER.encrypt(plaintext, _CTX)
    assert _CIPHER.decrypt(token, _CTX) == plaintext
    info = parse_token(token)
    assert info is not None and info.plaintext_bytes == len(plaintext.encode("utf-8"))


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=0, max_size=50), st.text(min_size=1, max_size=30))
def test_round_trip_any_record_key(plaintext: str, record_key: str) -> None:
    ctx = FieldContext("Account_Registration__c", "Customer_Domain__c", record_key)
    assert _CIPHER.decrypt(_CIPHER.encrypt(plaintext, ctx), ctx) == plaintext


def test_empty_string_round_trips(cipher: FieldCipher, ctx: FieldContext) -> None:
    token = cipher.encrypt("", ctx)
    assert cipher.decrypt(token, ctx) == ""


def test_tokens_are_randomised(cipher: FieldCipher, ctx: FieldContext) -> None:
    assert cipher.encrypt(SECRET, ctx) != cipher.encrypt(SECRET, ctx)


def test_token_shape(cipher: FieldCipher, ctx: FieldContext, keyring: Keyring) -> None:
    token = cipher.encrypt(SECRET, ctx)
    tag, key_id, payload = token.split(".")
    assert tag == "sfe1" and key_id == keyring.primary_id
    assert "=" not in payload and SECRET not in token


def test_every_character_flip_fails(cipher: FieldCipher, ctx: FieldContext) -> None:
    token = cipher.encrypt(SECRET, ctx)
    for index, char in enumerate(token):
        for replacement in {"A", "b", "0", "-", "_", "."} - {char}:
            tampered = token[:index] + replacement + token[index + 1 :]
            with pytest.raises(DecryptionError) as info:
                cipher.decrypt(tampered, ctx)
            assert info.value.message == DECRYPTION_FAILED


def test_every_payload_bit_flip_fails(cipher: FieldCipher, ctx: FieldContext) -> None:
    from sfsync.crypto._format import b64url_decode, b64url_encode

    prefix, key_id, payload = cipher.encrypt(SECRET, ctx).split(".")
    raw = b64url_decode(payload)
    assert raw is not None
    for index in range(len(raw)):
        for bit in (0x01, 0x80):
            flipped = bytearray(raw)
            flipped[index] ^= bit
            with pytest.raises(DecryptionError):
                cipher.decrypt(f"{prefix}.{key_id}.{b64url_encode(bytes(flipped))}", ctx)


@pytest.mark.parametrize("cut", [1, 2, 5, 16, 30])
def test_truncated_and_extended_tokens_fail(cipher: FieldCipher, ctx: FieldContext, cut: int) -> None:
    token = cipher.encrypt(SECRET, ctx)
    for broken in (token[:-cut], token + token[-cut:], token + "=", " " + token, token + "\n"):
        with pytest.raises(DecryptionError):
            cipher.decrypt(broken, ctx)


@pytest.mark.parametrize(
    "other",
    [
        FieldContext("Deal_Registration__c", "Competitive_Notes__c", "DR-000124"),  # another record
        FieldContext("Deal_Registration__c", "Competitive_Notes__c", "dr-000123"),  # record keys are exact
        FieldContext("Deal_Registration__c", "Internal_Notes__c", "DR-000123"),  # another field
        FieldContext("Account_Registration__c", "Competitive_Notes__c", "DR-000123"),  # another object
    ],
)
def test_moved_value_fails(cipher: FieldCipher, ctx: FieldContext, other: FieldContext) -> None:
    token = cipher.encrypt(SECRET, ctx)
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(token, other)
    # The error names the place it was read from, never the value.
    assert other.record_key in str(info.value) and SECRET not in str(info.value)


def test_api_names_are_case_insensitive(cipher: FieldCipher, ctx: FieldContext) -> None:
    token = cipher.encrypt(SECRET, ctx)
    same_place = FieldContext(ctx.sobject.upper(), ctx.field.lower(), ctx.record_key)
    assert cipher.decrypt(token, same_place) == SECRET


def test_no_ambiguity_between_context_parts(cipher: FieldCipher) -> None:
    token = cipher.encrypt(SECRET, FieldContext("A", "B_C", "x"))
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, FieldContext("A_B", "C", "x"))


def test_unknown_key_fails_closed(cipher: FieldCipher, ctx: FieldContext) -> None:
    token = cipher.encrypt(SECRET, ctx)
    other = FieldCipher(Keyring.generate())
    with pytest.raises(DecryptionError) as info:
        other.decrypt(token, ctx)
    assert info.value.message == DECRYPTION_FAILED
    assert isinstance(info.value, FatalError)


def test_same_key_id_other_material_fails(ctx: FieldContext) -> None:
    original = Keyring.generate()
    token = FieldCipher(original).encrypt(SECRET, ctx)
    key = original.get(original.primary_id)
    assert key is not None
    impostor = Keyring(
        [KeyMaterial(key.key_id, KeyState.ACTIVE, key.created, None, os.urandom(32))],
        {None: key.key_id},
        os.urandom(32),
    )
    with pytest.raises(DecryptionError):
        FieldCipher(impostor).decrypt(token, ctx)


def test_destroyed_key_fails_closed(keyring: Keyring, cipher: FieldCipher, ctx: FieldContext) -> None:
    old = keyring.primary_id
    token = cipher.encrypt(SECRET, ctx)
    keyring.rotate()
    keyring.set_state(old, KeyState.DESTROYED)
    material = keyring.get(old)
    assert material is not None and material.secret is None
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(token, ctx)
    assert info.value.message == DECRYPTION_FAILED


def test_decrypt_only_key_decrypts_but_never_encrypts(keyring: Keyring, ctx: FieldContext) -> None:
    cipher = FieldCipher(keyring)
    old = keyring.primary_id
    token = cipher.encrypt(SECRET, ctx)
    new = keyring.rotate()
    assert keyring.get(old) is not None and keyring.get(old).state is KeyState.DECRYPT_ONLY  # type: ignore[union-attr]
    assert cipher.decrypt(token, ctx) == SECRET
    for _ in range(20):
        assert cipher.encrypt(SECRET, ctx).split(".")[1] == new
    with pytest.raises(KeyringError):
        keyring.set_state(new, KeyState.DECRYPT_ONLY)  # the primary must stay active


def test_rotation_keeps_old_tokens_and_rotate_moves_them(keyring: Keyring, ctx: FieldContext) -> None:
    cipher = FieldCipher(keyring)
    token = cipher.encrypt(SECRET, ctx)
    assert not cipher.needs_rotation(token)
    assert cipher.rotate(token, ctx) == token  # already current: nothing to write
    new = keyring.rotate()
    assert cipher.needs_rotation(token)
    moved = cipher.rotate(token, ctx)
    assert moved.split(".")[1] == new and not cipher.needs_rotation(moved)
    assert cipher.decrypt(moved, ctx) == SECRET
    assert cipher.rotate(moved, ctx) == moved
    with pytest.raises(DecryptionError):
        cipher.rotate(token, FieldContext(ctx.sobject, ctx.field, "DR-OTHER"))


def test_needs_rotation_rejects_non_tokens(cipher: FieldCipher) -> None:
    for bad in ("plain text", "sfe1.kunknown.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"):
        with pytest.raises(DecryptionError):
            cipher.needs_rotation(bad)


def test_partner_keys_and_crypto_shredding(keyring: Keyring, ctx: FieldContext) -> None:
    cipher = FieldCipher(keyring)
    with pytest.raises(KeyringError, match="partner"):
        cipher.encrypt(SECRET, ctx, partner="acme")
    acme = keyring.rotate("acme")
    globex = keyring.rotate("globex")
    acme_token = cipher.encrypt(SECRET, ctx, partner="acme")
    globex_token = cipher.encrypt(SECRET, ctx, partner="globex")
    default_token = cipher.encrypt(SECRET, ctx)
    assert acme_token.split(".")[1] == acme and globex_token.split(".")[1] == globex
    # Rotating a partner moves its values within its own group.
    acme2 = keyring.rotate("acme")
    assert cipher.rotate(acme_token, ctx).split(".")[1] == acme2
    assert cipher.needs_rotation(acme_token) and not cipher.needs_rotation(default_token)
    # The partner leaves: destroying its keys shreds its values and only its values.
    assert sorted(keyring.destroy_partner("acme")) == sorted([acme, acme2])
    with pytest.raises(DecryptionError):
        cipher.decrypt(acme_token, ctx)
    with pytest.raises(KeyringError):
        cipher.encrypt(SECRET, ctx, partner="acme")
    assert cipher.decrypt(globex_token, ctx) == SECRET
    assert cipher.decrypt(default_token, ctx) == SECRET


def test_destroyed_key_cannot_come_back_and_primary_cannot_be_destroyed(keyring: Keyring) -> None:
    first = keyring.primary_id
    with pytest.raises(KeyringError, match="rotate first"):
        keyring.set_state(first, KeyState.DESTROYED)
    keyring.rotate()
    keyring.set_state(first, KeyState.DESTROYED)
    with pytest.raises(KeyringError, match="cannot come back"):
        keyring.set_state(first, KeyState.ACTIVE)
    with pytest.raises(KeyringError):
        keyring.set_state("knothere", KeyState.DESTROYED)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c, x: c.encrypt(b"bytes", x), TypeError),
        (lambda c, x: c.encrypt(None, x), TypeError),
        (lambda c, x: c.encrypt("ok", ("Deal__c", "F__c", "1")), TypeError),
        (lambda c, x: c.decrypt(b"sfe1.k.AAAA", x), TypeError),
        (lambda c, x: c.encrypt("\ud800", x), ValueError),
        (lambda c, x: c.encrypt_at("ok", x, nonce=b"short"), ValueError),
        (lambda c, x: c.encrypt("ok", x, partner=""), ValueError),
    ],
)
def test_caller_mistakes_are_type_or_value_errors(
    cipher: FieldCipher, ctx: FieldContext, call: object, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        call(cipher, ctx)  # type: ignore[operator]
    assert not isinstance(info.value, DecryptionError)
    assert "\ud800" not in str(info.value)


@pytest.mark.parametrize(
    ("sobject", "field", "record_key", "error"),
    [
        ("", "F__c", "1", ValueError),
        ("Deal__c", "", "1", ValueError),
        ("Deal__c", "F__c", "", ValueError),
        ("Deal Registration", "F__c", "1", ValueError),
        ("Deal__c", 3, "1", TypeError),
        ("Deal__c", "F__c", None, TypeError),
    ],
)
def test_field_context_validation(sobject: object, field: object, record_key: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        FieldContext(sobject, field, record_key)  # type: ignore[arg-type]


def test_encrypt_at_is_deterministic(cipher: FieldCipher, ctx: FieldContext) -> None:
    nonce = os.urandom(12)
    assert cipher.encrypt_at(SECRET, ctx, nonce=nonce) == cipher.encrypt_at(SECRET, ctx, nonce=nonce)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 100, 150, 151, 1000, 98_000])
def test_token_length_matches_size_formula(ctx: FieldContext, size: int) -> None:
    key_id = "k" * MAX_KEY_ID_LENGTH
    keyring = Keyring(
        [KeyMaterial(key_id, KeyState.ACTIVE, _now(), None, os.urandom(32))], {None: key_id}, os.urandom(32)
    )
    token = FieldCipher(keyring).encrypt("é" * (size // 2) + "x" * (size % 2), ctx)
    assert len(token) == max_ciphertext_length(size)


@pytest.mark.parametrize("field_length", [255, 131_072])
def test_capacity_boundaries(ctx: FieldContext, field_length: int) -> None:
    key_id = "k" * MAX_KEY_ID_LENGTH
    keyring = Keyring(
        [KeyMaterial(key_id, KeyState.ACTIVE, _now(), None, os.urandom(32))], {None: key_id}, os.urandom(32)
    )
    cipher = FieldCipher(keyring)
    capacity = max_plaintext_bytes(field_length)
    fits = cipher.encrypt("a" * capacity, ctx)
    assert len(fits) <= field_length and cipher.decrypt(fits, ctx) == "a" * capacity
    assert len(cipher.encrypt("a" * (capacity + 1), ctx)) > field_length
    # Multi-byte text is counted in UTF-8 bytes: 4-byte emoji fill the same budget.
    emoji = "📈" * (capacity // 4)
    assert len(cipher.encrypt(emoji, ctx)) <= field_length
    if field_length == 255:
        assert capacity == 149  # "about 150" (docs/design.md), with the longest key id


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=150))
def test_anything_up_to_capacity_fits_a_text_255(plaintext: str) -> None:
    encoded = plaintext.encode("utf-8")
    if len(encoded) > max_plaintext_bytes(255):
        return
    token = _CIPHER.encrypt(plaintext, _CTX)
    assert len(token) <= 255
    assert _CIPHER.decrypt(token, _CTX) == plaintext


def test_reprs_and_errors_hold_no_secrets(keyring: Keyring, cipher: FieldCipher, ctx: FieldContext) -> None:
    token = cipher.encrypt(SECRET, ctx)
    texts = [repr(keyring), repr(cipher), repr(ctx), str(keyring.keys), repr(keyring.blind_indexer())]
    with pytest.raises(DecryptionError) as info:
        cipher.decrypt(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), ctx)
    texts += [str(info.value), repr(info.value)]
    secrets = [k.secret for k in keyring.keys if k.secret] + [keyring.index_key]
    for text in texts:
        assert SECRET not in text
        for secret in secrets:
            assert secret.hex() not in text and repr(secret) not in text
            assert secret.hex()[:16] not in text.lower()


def _now() -> datetime:
    return datetime.now(UTC)


_API = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)
_CONTEXTS = st.builds(FieldContext, _API, _API, st.text(min_size=1, max_size=20))


@settings(max_examples=150, deadline=None)
@given(_CONTEXTS, _CONTEXTS, st.text(max_size=40))
def test_a_token_only_opens_in_its_own_place(written: FieldContext, read: FieldContext, plaintext: str) -> None:
    token = _CIPHER.encrypt(plaintext, written)
    same_place = (written.sobject.lower(), written.field.lower(), written.record_key) == (
        read.sobject.lower(),
        read.field.lower(),
        read.record_key,
    )
    if same_place:
        assert _CIPHER.decrypt(token, read) == plaintext
    else:
        with pytest.raises(DecryptionError):
            _CIPHER.decrypt(token, read)
