"""Regenerate ``crypto/vectors/*.json`` with sfsync itself (deterministic: fixed test keys and nonces).

The keys below are public test keys derived from labels; they protect nothing.

Run from the repository root::

    .venv/bin/python crypto/make_vectors.py            # rewrite crypto/vectors/*.json
    .venv/bin/python crypto/make_vectors.py --check    # exit 1 if the files differ from what sfsync makes

``verify_vectors.py`` then checks the files without sfsync (only ``cryptography``).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sfsync.crypto import (
    BlindIndexer,
    FieldCipher,
    FieldContext,
    KeyMaterial,
    Keyring,
    KeyState,
    build_aad,
    normalize_for_index,
)

VECTOR_DIR = Path(__file__).resolve().with_name("vectors")


def test_key(label: str) -> bytes:
    return hashlib.sha256(f"sfsync public test vector key: {label}".encode()).digest()


def test_nonce(label: str) -> bytes:
    return hashlib.sha256(f"sfsync public test vector nonce: {label}".encode()).digest()[:12]


KEYS = {"kvector1": test_key("kvector1"), "kvectormax12": test_key("kvectormax12"), "pacme0001": test_key("pacme")}
INDEX_KEY = test_key("index")
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

COMMON = {
    "format": "sfe1.<key id>.<base64url-unpadded(nonce12 || ciphertext || tag16)>",
    "algorithm": "AES-256-GCM, 96-bit nonce, 128-bit tag",
    "aad": "LP('sfe1') || LP(key id) || LP(lower(sobject)) || LP(lower(field)) || LP(record key); "
    "LP(s) = uint32_be(len(utf8(s))) || utf8(s)",
    "keys_note": "Public test keys: SHA-256('sfsync public test vector key: <label>'). They protect nothing.",
    "keys": {k: v.hex() for k, v in KEYS.items()},
}


def _signer(keyring: Keyring, key_id: str) -> FieldCipher:
    """A cipher whose primary is ``key_id``: encrypt_at always uses the primary."""
    material = keyring.get(key_id)
    if material is None or material.secret is None:
        raise SystemExit(f"no material for {key_id}")
    single = KeyMaterial(key_id, KeyState.ACTIVE, CREATED, None, material.secret)
    return FieldCipher(Keyring([single], {None: key_id}, INDEX_KEY))


def _flip(text: str, index: int) -> str:
    """Change one base64url character so that the top bit of its 6 bits flips."""
    replacement = ALPHABET[(ALPHABET.index(text[index]) + 32) % 64]
    return text[:index] + replacement + text[index + 1 :]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def build() -> dict[str, dict[str, Any]]:
    """Every vector file, by file name."""
    keyring = Keyring(
        [
            KeyMaterial("kvector1", KeyState.DECRYPT_ONLY, CREATED, None, KEYS["kvector1"]),
            KeyMaterial("kvectormax12", KeyState.ACTIVE, CREATED, None, KEYS["kvectormax12"]),
            KeyMaterial("pacme0001", KeyState.ACTIVE, CREATED, "acme", KEYS["pacme0001"]),
        ],
        {None: "kvectormax12", "acme": "pacme0001"},
        INDEX_KEY,
    )
    cases = [
        (
            "ascii",
            "kvector1",
            ("Deal_Registration__c", "Competitive_Notes__c", "DR-000123"),
            "Competitor offered 18% discount",
        ),
        ("empty", "kvector1", ("Deal_Registration__c", "Competitive_Notes__c", "DR-000124"), ""),
        (
            "unicode",
            "kvectormax12",
            ("Account_Registration__c", "Customer_Contact__c", "AR-42"),
            "Zoë Ångström, Müller & Söhne — 東京 📈",
        ),
        ("max_key_id_150_bytes", "kvectormax12", ("Deal_Registration__c", "Notes__c", "DR-9"), "x" * 150),
        (
            "partner_key",
            "pacme0001",
            ("Deal_Registration__c", "Competitive_Notes__c", "DR-000125"),
            "Partner-only pricing",
        ),
        (
            "case_insensitive_api_names",
            "kvector1",
            ("deal_registration__c", "COMPETITIVE_NOTES__C", "DR-000123"),
            "same AAD as ascii's place",
        ),
    ]
    valid = []
    tokens: dict[str, tuple[str, FieldContext]] = {}
    for name, key_id, (sobject, field, record_key), plaintext in cases:
        nonce = test_nonce(name)
        ctx = FieldContext(sobject, field, record_key)
        token = _signer(keyring, key_id).encrypt_at(plaintext, ctx, nonce=nonce)
        if FieldCipher(keyring).decrypt(token, ctx) != plaintext:
            raise SystemExit(f"vector {name} does not round-trip")
        tokens[name] = (token, ctx)
        aad = build_aad(key_id, sobject, field, record_key)
        sealed = AESGCM(KEYS[key_id]).encrypt(nonce, plaintext.encode(), aad)
        valid.append(
            {
                "name": name,
                "key_id": key_id,
                "key_hex": KEYS[key_id].hex(),
                "nonce_hex": nonce.hex(),
                "sobject": sobject,
                "field": field,
                "record_key": record_key,
                "aad_hex": aad.hex(),
                "plaintext": plaintext,
                "plaintext_hex": plaintext.encode().hex(),
                "ciphertext_hex": sealed[:-16].hex(),
                "tag_hex": sealed[-16:].hex(),
                "token": token,
            }
        )

    base, ctx = tokens["ascii"]
    prefix, key_id, payload = base.split(".")
    place = {"sobject": ctx.sobject, "field": ctx.field, "record_key": ctx.record_key}

    def bad(name: str, reason: str, token: str, note: str, **where: str) -> dict[str, Any]:
        return {"name": name, "reason": reason, "note": note, "token": token, **{**place, **where}}

    tampered = [
        bad("tampered_nonce", "tampered", f"{prefix}.{key_id}.{_flip(payload, 0)}", "first nonce character changed"),
        bad(
            "tampered_ciphertext",
            "tampered",
            f"{prefix}.{key_id}.{_flip(payload, 20)}",
            "a ciphertext character changed",
        ),
        bad(
            "tampered_tag",
            "tampered",
            f"{prefix}.{key_id}.{_flip(payload, len(payload) - 3)}",
            "a tag character changed",
        ),
        bad(
            "key_id_relabelled",
            "wrong_key",
            f"{prefix}.kvectormax12.{payload}",
            "payload of a kvector1 token relabelled as another existing key",
        ),
    ]
    wrong_aad = [
        bad(
            "wrong_record",
            "wrong_aad",
            base,
            "valid token of DR-000123 presented for another record",
            record_key="DR-000999",
        ),
        bad("wrong_record_case", "wrong_aad", base, "record keys are case-sensitive", record_key="dr-000123"),
        bad("wrong_field", "wrong_aad", base, "valid token presented for another field", field="Internal_Notes__c"),
        bad("wrong_object", "wrong_aad", base, "valid token presented for another object", sobject="Opportunity"),
    ]
    partner_token = tokens["partner_key"][0]
    unknown_key = [
        bad("unknown_key", "unknown_key", f"{prefix}.kunknown.{payload}", "key id not in the keyring"),
        bad(
            "unknown_partner_key",
            "unknown_key",
            "sfe1.pgone0001." + partner_token.split(".")[2],
            "a partner key that is not (or no longer) in the keyring",
            record_key="DR-000125",
        ),
    ]
    # Authentic AES-GCM under the right key and AAD, but the plaintext bytes are not UTF-8.
    bad_utf8_nonce = test_nonce("invalid_utf8")
    bad_utf8 = AESGCM(KEYS["kvector1"]).encrypt(
        bad_utf8_nonce, b"\xff\xfe not utf-8", build_aad("kvector1", ctx.sobject, ctx.field, ctx.record_key)
    )
    standard_alphabet = (
        f"{prefix}.{key_id}.{payload.replace('-', '+').replace('_', '/')}"
        if any(c in payload for c in "-_")
        else f"{prefix}.{key_id}.{payload}+"
    )
    # When the payload length is not a multiple of 4, its last character carries unused low bits:
    # flipping the lowest one decodes to the same bytes with a lenient decoder.
    if len(payload) % 4 == 0:
        raise SystemExit("the ascii vector's payload has no unused bits; pick another plaintext length")
    non_canonical_last = payload[:-1] + ALPHABET[ALPHABET.index(payload[-1]) ^ 1]
    one_over = (len(payload) - 1) % 4 + 4  # characters to cut so that the length is 1 mod 4
    malformed = [
        bad("truncated", "truncated", base[:-4], "last 4 characters (3 bytes of the tag) cut off"),
        bad(
            "truncated_below_minimum",
            "truncated",
            f"{prefix}.{key_id}.{payload[:30]}",
            "payload shorter than nonce + tag (28 bytes)",
        ),
        bad("truncated_length_1_mod_4", "malformed", base[:-one_over], "payload length mod 4 = 1 is never base64"),
        bad("empty_payload", "malformed", f"{prefix}.{key_id}.", "no payload"),
        bad("bad_version", "bad_version", f"sfe2.{key_id}.{payload}", "unknown format tag"),
        bad("padded_base64", "malformed", base + "=", "padding is not allowed"),
        bad("standard_base64_alphabet", "malformed", standard_alphabet, "'+' and '/' are not base64url"),
        bad(
            "non_base64_character",
            "malformed",
            f"{prefix}.{key_id}.{payload[:10]}!{payload[11:]}",
            "a character outside base64url",
        ),
        bad(
            "non_canonical_base64",
            "malformed",
            f"{prefix}.{key_id}.{non_canonical_last}",
            "unused low bits of the last character set: decodes to the same bytes, but is not canonical",
        ),
        bad("surrounding_whitespace", "malformed", f" {base}\n", "whitespace is not trimmed"),
        bad("uppercase_key_id", "malformed", f"{prefix}.{key_id.upper()}.{payload}", "key ids are lower case"),
        bad("plaintext", "not_a_token", "Competitor offered 18% discount", "plaintext where a token belongs"),
        bad(
            "invalid_utf8",
            "invalid_utf8",
            f"{prefix}.kvector1.{_b64url(bad_utf8_nonce + bad_utf8)}",
            "authenticates, but the plaintext is not UTF-8: must still be rejected",
        ),
    ]

    def invalid_file(kind: str, description: str, vectors: list[dict[str, Any]]) -> dict[str, Any]:
        return {"description": description, "kind": kind, "expect": "reject", **COMMON, "vectors": vectors}

    files: dict[str, dict[str, Any]] = {
        "valid.json": {
            "description": "Known-answer vectors that must encrypt (with the given nonce) to exactly `token` and "
            "decrypt back to `plaintext` in the given place (crypto/SPEC.md §3-§4).",
            "kind": "valid",
            "expect": "accept",
            **COMMON,
            "vectors": valid,
        },
        "tampered.json": invalid_file(
            "tampered",
            "Tokens with one character changed, or relabelled with another key id: every conforming "
            "implementation must reject them.",
            tampered,
        ),
        "wrong_aad.json": invalid_file(
            "wrong_aad",
            "Valid tokens presented in another place (record, field, object): the AAD differs, so "
            "authentication fails (law 7).",
            wrong_aad,
        ),
        "unknown_key.json": invalid_file(
            "unknown_key", "Tokens under a key id the keyring does not hold: fail closed (law 8).", unknown_key
        ),
        "malformed.json": invalid_file(
            "malformed",
            "Values that are not well-formed version-1 tokens, or whose plaintext is not UTF-8: "
            "rejected before or after AES-GCM (crypto/SPEC.md §3, §5).",
            malformed,
        ),
        "blind_index.json": _blind_index_file(),
        "key_wrap.json": _key_wrap_file(keyring),
    }
    return files


def _key_wrap_file(keyring: Keyring) -> dict[str, Any]:
    """Key wrapping of the keyring file (SPEC §6.1-6.2), its MAC, and derived keys (SPEC §6.5)."""
    from pydantic import SecretStr

    from sfsync.crypto._providers import _canonical, _context, _MasterKeyWrapper

    master = "sfsync public test vector master key"
    salt = hashlib.sha256(b"sfsync public test vector salt").digest()[:16]
    n = 2**10
    kek = hashlib.scrypt(master.encode("utf-8"), salt=salt, n=n, r=8, p=1, dklen=32)
    wrapper = _MasterKeyWrapper(SecretStr(master), salt, n)
    wraps = []
    for name, key_id, purpose, secret in [
        ("data_key", "kvector1", "data", KEYS["kvector1"]),
        ("partner_data_key", "pacme0001", "data", KEYS["pacme0001"]),
        ("index_key", "ivector01", "index", INDEX_KEY),
        ("integrity_key", "integrity", "integrity", test_key("integrity")),
    ]:
        context = _context(key_id, purpose)
        aad = _canonical(context)
        nonce = test_nonce(f"wrap {name}")
        wrapped = base64.urlsafe_b64encode(nonce + AESGCM(kek).encrypt(nonce, secret, aad)).decode().rstrip("=")
        if wrapper.unwrap(wrapped, context) != secret:  # sfsync itself must open it
            raise SystemExit(f"sfsync cannot unwrap the {name} vector")
        wraps.append(
            {
                "name": name,
                "key_id": key_id,
                "purpose": purpose,
                "context": context,
                "aad_hex": aad.hex(),
                "nonce_hex": nonce.hex(),
                "plaintext_hex": secret.hex(),
                "wrapped": wrapped,
            }
        )
    body = {"format": "sfsync-keyring", "version": 1, "generation": 3, "primary": "kvector1"}
    integrity = test_key("integrity")
    derived = [
        {"purpose": purpose, "derived_hex": keyring.derive_key(purpose).hex()}
        for purpose in ("conflict-evidence", "field-policy")
    ]
    return {
        "description": "Key wrapping (crypto/SPEC.md §6.2, local-scrypt): KEK = scrypt(master key, salt, n, r, p, "
        "32 bytes); wrapped = base64url-unpadded(nonce12 || AES-256-GCM(KEK, nonce, key, aad)) with aad = "
        "canonical JSON of the wrap context. Keyring MAC (§6.1): base64url-unpadded(HMAC-SHA256(integrity key, "
        "canonical JSON of the body)). Derived keys (§6.5): HMAC-SHA256(index key, 'sfsync derived key v1' || "
        "0x00 || purpose).",
        "kind": "key_wrap",
        "expect": "accept",
        "canonical_json": "json.dumps(value, sort_keys=True, separators=(',', ':'), ensure_ascii=True)",
        "keys_note": "Public test master key, salt and keys; they protect nothing.",
        "master_key": master,
        "salt_hex": salt.hex(),
        "n": n,
        "r": 8,
        "p": 1,
        "kek_hex": kek.hex(),
        "vectors": wraps,
        "keyring_mac": {
            "integrity_key_hex": integrity.hex(),
            "body": body,
            "mac": base64.urlsafe_b64encode(hmac.new(integrity, _canonical(body), hashlib.sha256).digest())
            .decode()
            .rstrip("="),
        },
        "derived_keys": {
            "index_key_hex": INDEX_KEY.hex(),
            "label_hex": b"sfsync derived key v1\x00".hex(),
            "vectors": derived,
        },
    }


def _blind_index_file() -> dict[str, Any]:
    indexer = BlindIndexer(INDEX_KEY)
    cases: list[tuple[str, str, str, str, str, int, Literal["hex", "base32"]]] = [
        (
            "domain_url",
            "https://www.Shop.Example.co.uk/path",
            "domain",
            "Deal_Registration__c",
            "End_Customer_Domain_BIdx__c",
            18,
            "hex",
        ),
        ("domain_idn", "münchen.de", "domain", "Deal_Registration__c", "End_Customer_Domain_BIdx__c", 18, "hex"),
        (
            "domain_same_value_other_object",
            "example.co.uk",
            "domain",
            "Account_Registration__c",
            "Customer_Domain_BIdx__c",
            18,
            "hex",
        ),
        (
            "company_legal_suffixes",
            "ACME GmbH & Co. KG",
            "company_name",
            "Deal_Registration__c",
            "End_Customer_Name_BIdx__c",
            18,
            "hex",
        ),
        (
            "company_accents",
            "Société Générale S.A.",
            "company_name",
            "Deal_Registration__c",
            "End_Customer_Name_BIdx__c",
            18,
            "hex",
        ),
        (
            "company_the_and",
            "The Smith & Wesson Holding Corp.",
            "company_name",
            "Deal_Registration__c",
            "End_Customer_Name_BIdx__c",
            18,
            "hex",
        ),
        ("duns_separators", "15-048-3782", "duns", "Deal_Registration__c", "End_Customer_DUNS_BIdx__c", 18, "hex"),
        ("email", " Jane.Doe@Example.COM ", "email", "Deal_Registration__c", "Contact_Email_BIdx__c", 22, "base32"),
        ("exact_odd_bits", "Exact Value", "exact", "Deal_Registration__c", "Exact_BIdx__c", 13, "hex"),
    ]
    vectors = []
    for name, value, kind, sobject, field, bits, encoding in cases:
        normalized = normalize_for_index(value, kind)
        message = indexer.message(normalized, kind, sobject=sobject, field=field)
        vectors.append(
            {
                "name": name,
                "value": value,
                "kind": kind,
                "normalized": normalized,
                "sobject": sobject,
                "field": field,
                "bits": bits,
                "encoding": encoding,
                "message_hex": message.hex(),
                "hmac_hex": hmac.new(INDEX_KEY, message, hashlib.sha256).hexdigest(),
                "index": indexer.index(value, kind, bits, sobject=sobject, field=field, encoding=encoding),
            }
        )
    return {
        "description": "Blind-index known answers (crypto/SPEC.md §8): index = first `bits` bits of "
        "HMAC-SHA256(index key, message) as a big-endian number, zero-padded to ceil(bits/4) hex digits or "
        "ceil(bits/5) base32 (a-z2-7) characters. `normalized` is what normalize_for_index(value, kind) gives; "
        "verify_vectors.py checks message, HMAC and truncation from it, sfsync's tests check the normalisation.",
        "kind": "blind_index",
        "expect": "accept",
        "message": "LP('sfsync/bidx/v1') || LP(lower(sobject)) || LP(lower(field)) || LP(kind) || LP(normalized)",
        "index_key_hex": INDEX_KEY.hex(),
        "keys_note": "Public test key: SHA-256('sfsync public test vector key: index').",
        "vectors": vectors,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=VECTOR_DIR, help="directory to write (default: crypto/vectors)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing; exit 1 on a difference")
    args = parser.parse_args(argv[1:])
    files = build()
    if args.check:
        different = [
            name
            for name, doc in files.items()
            if not (args.out / name).exists() or (args.out / name).read_text(encoding="utf-8") != render(doc)
        ]
        for name in different:
            print(f"differs: {args.out / name}")
        print(f"{len(files) - len(different)}/{len(files)} vector files match")
        return 1 if different else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, document in files.items():
        (args.out / name).write_text(render(document), encoding="utf-8")
        print(f"wrote {args.out / name} ({len(document['vectors'])} vectors)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
