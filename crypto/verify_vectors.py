#!/usr/bin/env python3
"""Check crypto/vectors/*.json independently of sfsync: only the Python standard library and
``cryptography`` (AES-GCM), following crypto/SPEC.md.

Usage: python crypto/verify_vectors.py [DIR-or-FILE ...]   (default: the vectors/ directory next to
this script; exit 0 when every check passes)

* ``valid.json``: the AAD is rebuilt from the place, AES-256-GCM with the given key and nonce must give
  exactly ``ciphertext_hex``/``tag_hex`` and ``token``, and the token must decrypt back.
* ``tampered.json``, ``wrong_aad.json``, ``unknown_key.json``, ``malformed.json``: every token must be
  rejected in its place.
* ``blind_index.json``: message, HMAC-SHA256 and truncation from the ``normalized`` text (normalisation
  itself uses the public-suffix list and cleanco, so sfsync's own tests check that part).
* ``key_wrap.json``: scrypt KEK, unwrapping each key under its wrap context (and not under another),
  the keyring file MAC and the derived keys (HMAC-SHA256 of the index key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import struct
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN = re.compile(r"sfe1\.([a-z0-9][a-z0-9_-]{0,11})\.([A-Za-z0-9_-]+)")
BASE32 = "abcdefghijklmnopqrstuvwxyz234567"


def lp(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def aad(key_id: str, sobject: str, field: str, record_key: str) -> bytes:
    return lp("sfe1") + lp(key_id) + lp(sobject.lower()) + lp(field.lower()) + lp(record_key)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes | None:
    if len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None
    return raw if b64url(raw) == text else None  # only the canonical spelling is valid


def decrypt(token: str, keys: dict[str, bytes], sobject: str, field: str, record_key: str) -> str | None:
    """The plaintext, or None when a conforming implementation must reject the token."""
    match = TOKEN.fullmatch(token)
    if match is None:
        return None
    key_id, payload = match.groups()
    raw = unb64url(payload)
    if raw is None or len(raw) < 28 or key_id not in keys:
        return None
    try:
        data = AESGCM(keys[key_id]).decrypt(raw[:12], raw[12:], aad(key_id, sobject, field, record_key))
        return data.decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        return None


def blind_index(key: bytes, message: bytes, bits: int, encoding: str) -> str:
    number = int.from_bytes(hmac.new(key, message, hashlib.sha256).digest(), "big") >> (256 - bits)
    if encoding == "hex":
        return format(number, "x").zfill(math.ceil(bits / 4))
    chars = []
    for _ in range(math.ceil(bits / 5)):
        chars.append(BASE32[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def check_valid(document: dict[str, Any], keys: dict[str, bytes]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for vector in document["vectors"]:
        key = bytes.fromhex(vector["key_hex"])
        nonce = bytes.fromhex(vector["nonce_hex"])
        plaintext = vector["plaintext"]
        built = aad(vector["key_id"], vector["sobject"], vector["field"], vector["record_key"])
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), built)
        name = f"valid/{vector['name']}"
        results[f"{name}: plaintext_hex"] = plaintext.encode("utf-8").hex() == vector["plaintext_hex"]
        results[f"{name}: aad"] = built.hex() == vector["aad_hex"]
        results[f"{name}: ciphertext+tag"] = sealed[:-16].hex() == vector.get("ciphertext_hex") and sealed[
            -16:
        ].hex() == vector.get("tag_hex")
        results[f"{name}: encrypt"] = f"sfe1.{vector['key_id']}.{b64url(nonce + sealed)}" == vector["token"]
        results[f"{name}: decrypt"] = (
            decrypt(vector["token"], keys, vector["sobject"], vector["field"], vector["record_key"]) == plaintext
        )
    return results


def check_invalid(document: dict[str, Any], keys: dict[str, bytes]) -> dict[str, bool]:
    return {
        f"{document['kind']}/{v['name']} ({v['reason']}): rejected": decrypt(
            v["token"], keys, v["sobject"], v["field"], v["record_key"]
        )
        is None
        for v in document["vectors"]
    }


def check_blind_index(document: dict[str, Any]) -> dict[str, bool]:
    key = bytes.fromhex(document["index_key_hex"])
    results: dict[str, bool] = {}
    for v in document["vectors"]:
        message = (
            lp("sfsync/bidx/v1")
            + lp(v["sobject"].lower())
            + lp(v["field"].lower())
            + lp(v["kind"])
            + lp(v["normalized"])
        )
        name = f"blind_index/{v['name']}"
        results[f"{name}: message"] = message.hex() == v["message_hex"]
        results[f"{name}: hmac"] = hmac.new(key, message, hashlib.sha256).hexdigest() == v["hmac_hex"]
        results[f"{name}: index"] = blind_index(key, message, v["bits"], v["encoding"]) == v["index"]
    return results


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def check_key_wrap(document: dict[str, Any]) -> dict[str, bool]:
    salt = bytes.fromhex(document["salt_hex"])
    kek = hashlib.scrypt(
        document["master_key"].encode("utf-8"), salt=salt, n=document["n"], r=document["r"], p=document["p"], dklen=32
    )
    results: dict[str, bool] = {"key_wrap/kek": kek.hex() == document["kek_hex"]}
    for v in document["vectors"]:
        name = f"key_wrap/{v['name']}"
        aad = canonical(v["context"])
        results[f"{name}: aad"] = aad.hex() == v["aad_hex"]
        raw = unb64url(v["wrapped"])
        ok = raw is not None and raw[:12].hex() == v["nonce_hex"]
        if ok and raw is not None:
            try:
                ok = AESGCM(kek).decrypt(raw[:12], raw[12:], aad).hex() == v["plaintext_hex"]
            except InvalidTag:
                ok = False
        results[f"{name}: unwrap"] = ok
        other = dict(v["context"], **{"sfsync:purpose": "other"})
        try:
            AESGCM(kek).decrypt(raw[:12], raw[12:], canonical(other)) if raw is not None else None
            results[f"{name}: bound to its context"] = False
        except InvalidTag:
            results[f"{name}: bound to its context"] = True
    mac = document["keyring_mac"]
    digest = hmac.new(bytes.fromhex(mac["integrity_key_hex"]), canonical(mac["body"]), hashlib.sha256).digest()
    results["key_wrap/keyring_mac"] = b64url(digest) == mac["mac"]
    derived = document["derived_keys"]
    for v in derived["vectors"]:
        message = bytes.fromhex(derived["label_hex"]) + v["purpose"].encode("ascii")
        expected = hmac.new(bytes.fromhex(derived["index_key_hex"]), message, hashlib.sha256).hexdigest()
        results[f"key_wrap/derived {v['purpose']}"] = expected == v["derived_hex"]
    return results


def check_file(path: Path) -> dict[str, bool]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("kind") == "blind_index":
        return check_blind_index(document)
    if document.get("kind") == "key_wrap":
        return check_key_wrap(document)
    keys = {key_id: bytes.fromhex(value) for key_id, value in document["keys"].items()}
    if document.get("kind") == "valid":
        return check_valid(document, keys)
    return check_invalid(document, keys)


def main(argv: list[str]) -> int:
    targets = [Path(a) for a in argv[1:]] or [Path(__file__).resolve().with_name("vectors")]
    files: list[Path] = []
    for target in targets:
        files += sorted(target.glob("*.json")) if target.is_dir() else [target]
    if not files:
        print("no vector files found")
        return 1
    failures = 0
    for path in files:
        for check, ok in check_file(path).items():
            print(f"{'ok  ' if ok else 'FAIL'} {check}")
            failures += not ok
    print(f"{len(files)} file(s), {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
