#!/usr/bin/env python3
"""Check crypto/vectors.json independently of sfsync: only the Python standard library and
``cryptography`` (AES-GCM), following crypto/SPEC.md.

Usage: python crypto/verify_vectors.py [path/to/vectors.json]   (exit 0 when every check passes)
"""

from __future__ import annotations

import base64
import json
import re
import struct
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN = re.compile(r"sfe1\.([a-z0-9][a-z0-9_-]{0,11})\.([A-Za-z0-9_-]+)")


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


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("vectors.json")
    document = json.loads(path.read_text(encoding="utf-8"))
    keys = {key_id: bytes.fromhex(value) for key_id, value in document["keys"].items()}
    failures = 0
    for vector in document["valid"]:
        key = bytes.fromhex(vector["key_hex"])
        nonce = bytes.fromhex(vector["nonce_hex"])
        plaintext = vector["plaintext"]
        assert plaintext.encode("utf-8").hex() == vector["plaintext_hex"]
        built = aad(vector["key_id"], vector["sobject"], vector["field"], vector["record_key"])
        sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), built)
        expected = f"sfe1.{vector['key_id']}.{b64url(nonce + sealed)}"
        checks = {
            "aad": built.hex() == vector["aad_hex"],
            "encrypt": expected == vector["token"],
            "decrypt": decrypt(vector["token"], keys, vector["sobject"], vector["field"], vector["record_key"])
            == plaintext,
        }
        for check, ok in checks.items():
            print(f"{'ok  ' if ok else 'FAIL'} valid/{vector['name']}: {check}")
            failures += not ok
    for vector in document["invalid"]:
        result = decrypt(vector["token"], keys, vector["sobject"], vector["field"], vector["record_key"])
        ok = result is None
        print(f"{'ok  ' if ok else 'FAIL'} invalid/{vector['name']} ({vector['reason']}): rejected")
        failures += not ok
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
