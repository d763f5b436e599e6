"""Regenerate ``vectors.json`` with sfsync itself (deterministic: fixed test keys and nonces).

The keys below are public test keys derived from labels; they protect nothing.
Run: ``python crypto/make_vectors.py > crypto/vectors.json``; ``verify_vectors.py`` then
checks the file without sfsync.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sfsync.crypto import FieldCipher, FieldContext, KeyMaterial, Keyring, KeyState, build_aad


def test_key(label: str) -> bytes:
    return hashlib.sha256(f"sfsync public test vector key: {label}".encode()).digest()


def test_nonce(label: str) -> bytes:
    return hashlib.sha256(f"sfsync public test vector nonce: {label}".encode()).digest()[:12]


KEYS = {"kvector1": test_key("kvector1"), "kvectormax12": test_key("kvectormax12"), "pacme0001": test_key("pacme")}
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    keyring = Keyring(
        [
            KeyMaterial("kvector1", KeyState.DECRYPT_ONLY, CREATED, None, KEYS["kvector1"]),
            KeyMaterial("kvectormax12", KeyState.ACTIVE, CREATED, None, KEYS["kvectormax12"]),
            KeyMaterial("pacme0001", KeyState.ACTIVE, CREATED, "acme", KEYS["pacme0001"]),
        ],
        {None: "kvectormax12", "acme": "pacme0001"},
        test_key("index"),
    )
    # encrypt_at always uses the primary: build one single-key keyring per signing key.
    def signer(key_id: str) -> FieldCipher:
        material = keyring.get(key_id)
        assert material is not None and material.secret is not None
        return FieldCipher(Keyring([KeyMaterial(key_id, KeyState.ACTIVE, CREATED, None, material.secret)],
                                   {None: key_id}, test_key("index")))

    cases = [
        ("ascii", "kvector1", ("Deal_Registration__c", "Competitive_Notes__c", "DR-000123"),
         "Competitor offered 18% discount"),
        ("empty", "kvector1", ("Deal_Registration__c", "Competitive_Notes__c", "DR-000124"), ""),
        ("unicode", "kvectormax12", ("Account_Registration__c", "Customer_Contact__c", "AR-42"),
         "Zoë Ångström, Müller & Söhne — 東京 📈"),
        ("max_key_id_150_bytes", "kvectormax12", ("Deal_Registration__c", "Notes__c", "DR-9"), "x" * 150),
        ("partner_key", "pacme0001", ("Deal_Registration__c", "Competitive_Notes__c", "DR-000125"),
         "Partner-only pricing"),
        ("case_insensitive_api_names", "kvector1", ("deal_registration__c", "COMPETITIVE_NOTES__C", "DR-000123"),
         "same AAD as ascii's place"),
    ]
    valid = []
    tokens = {}
    for name, key_id, (sobject, field, record_key), plaintext in cases:
        nonce = test_nonce(name)
        ctx = FieldContext(sobject, field, record_key)
        token = signer(key_id).encrypt_at(plaintext, ctx, nonce=nonce)
        assert FieldCipher(keyring).decrypt(token, ctx) == plaintext
        tokens[name] = (token, ctx)
        valid.append({
            "name": name, "key_id": key_id, "key_hex": KEYS[key_id].hex(), "nonce_hex": nonce.hex(),
            "sobject": sobject, "field": field, "record_key": record_key,
            "aad_hex": build_aad(key_id, sobject, field, record_key).hex(),
            "plaintext": plaintext, "plaintext_hex": plaintext.encode().hex(), "token": token,
        })

    base, ctx = tokens["ascii"]
    prefix, key_id, payload = base.split(".")

    def flip(text: str, index: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        char = text[index]
        replacement = alphabet[(alphabet.index(char) + 32) % 64]  # flips the top bit of the 6
        return text[:index] + replacement + text[index + 1:]

    place = {"sobject": ctx.sobject, "field": ctx.field, "record_key": ctx.record_key}
    invalid = [
        {"name": "tampered_nonce", "reason": "tampered", "token": f"{prefix}.{key_id}.{flip(payload, 0)}", **place},
        {"name": "tampered_ciphertext", "reason": "tampered", "token": f"{prefix}.{key_id}.{flip(payload, 20)}",
         **place},
        {"name": "tampered_tag", "reason": "tampered", "token": f"{prefix}.{key_id}.{flip(payload, len(payload) - 3)}",
         **place},
        {"name": "wrong_record", "reason": "wrong_aad", "token": base, **{**place, "record_key": "DR-000999"}},
        {"name": "wrong_field", "reason": "wrong_aad", "token": base, **{**place, "field": "Internal_Notes__c"}},
        {"name": "wrong_object", "reason": "wrong_aad", "token": base, **{**place, "sobject": "Opportunity"}},
        {"name": "key_id_relabelled", "reason": "wrong_key", "token": f"{prefix}.kvectormax12.{payload}", **place},
        {"name": "unknown_key", "reason": "unknown_key", "token": f"{prefix}.kunknown.{payload}", **place},
        {"name": "truncated", "reason": "truncated", "token": base[:-6], **place},
        {"name": "truncated_below_minimum", "reason": "truncated", "token": f"{prefix}.{key_id}.{payload[:30]}",
         **place},
        {"name": "bad_version", "reason": "bad_version", "token": f"sfe2.{key_id}.{payload}", **place},
        {"name": "padded_base64", "reason": "malformed", "token": base + "=", **place},
        {"name": "standard_base64_alphabet", "reason": "malformed",
         "token": f"{prefix}.{key_id}.{payload.replace('-', '+').replace('_', '/')}" if any(
             c in payload for c in "-_") else f"{prefix}.{key_id}.{payload}+", **place},
        {"name": "plaintext", "reason": "not_a_token", "token": "Competitor offered 18% discount", **place},
        {"name": "uppercase_key_id", "reason": "malformed", "token": f"{prefix}.{key_id.upper()}.{payload}", **place},
    ]
    document = {
        "description": "Known-answer vectors for sfsync field encryption (crypto/SPEC.md). "
        "Keys are public test keys: SHA-256('sfsync public test vector key: <label>').",
        "format": "sfe1.<key id>.<base64url-unpadded(nonce12 || ciphertext || tag16)>",
        "algorithm": "AES-256-GCM, 96-bit nonce, 128-bit tag",
        "aad": "LP('sfe1') || LP(key id) || LP(lower(sobject)) || LP(lower(field)) || LP(record key); "
        "LP(s) = uint32_be(len(utf8(s))) || utf8(s)",
        "keys": {k: v.hex() for k, v in KEYS.items()},
        "valid": valid,
        "invalid": invalid,
    }
    print(json.dumps(document, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
