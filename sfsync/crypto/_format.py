"""The token format and the authenticated data (byte-level definition in ``crypto/SPEC.md``).

``sfe1.<key id>.<base64url-unpadded(nonce12 || ciphertext || tag16)>``
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

from sfsync.crypto._sizes import FORMAT_TAG, MAX_KEY_ID_LENGTH, NONCE_BYTES, TAG_BYTES

__all__ = [
    "AAD_LABEL",
    "KEY_ID_PATTERN",
    "TokenInfo",
    "b64url_decode",
    "b64url_encode",
    "build_aad",
    "is_valid_key_id",
    "parse_token",
    "split_token",
]

FORMAT_VERSION = 1
# Key ids are short, lower-case and dot-free so the token can be split on "." unambiguously.
KEY_ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_KEY_ID_LENGTH - 1}}}")
_TOKEN_PATTERN = re.compile(rf"{FORMAT_TAG}\.([a-z0-9][a-z0-9_-]{{0,{MAX_KEY_ID_LENGTH - 1}}})\.([A-Za-z0-9_-]+)")
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
AAD_LABEL = FORMAT_TAG
MIN_RAW_BYTES = NONCE_BYTES + TAG_BYTES


def is_valid_key_id(key_id: str) -> bool:
    return KEY_ID_PATTERN.fullmatch(key_id) is not None


def is_api_name(name: str) -> bool:
    return _API_NAME.fullmatch(name) is not None


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes | None:
    """Strict, canonical unpadded base64url; None when ``text`` is not exactly that.

    Canonical matters: a decoder that ignores the unused low bits of the last character would
    accept several spellings of one token, so a flipped character could go unnoticed.
    """
    if len(text) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if b64url_encode(raw) != text:
        return None
    return raw


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def build_aad(key_id: str, sobject: str, field: str, record_key: str) -> bytes:
    """AAD = LP("sfe1") || LP(key id) || LP(lower(sobject)) || LP(lower(field)) || LP(record key).

    LP(s) is the 4-byte big-endian length of UTF-8 ``s`` followed by those bytes, so no two
    different contexts can produce the same byte string. Salesforce API names are
    case-insensitive, hence lower-cased; the record key (an external id) is taken verbatim.
    """
    return b"".join(_length_prefixed(part) for part in (AAD_LABEL, key_id, sobject.lower(), field.lower(), record_key))


@dataclass(frozen=True)
class TokenInfo:
    """What a token says about itself without any key."""

    version: int
    key_id: str
    token_length: int
    payload_bytes: int

    @property
    def plaintext_bytes(self) -> int:
        """Length of the UTF-8 plaintext (GCM does not hide it)."""
        return self.payload_bytes - NONCE_BYTES - TAG_BYTES


def split_token(token: str) -> tuple[str, bytes, bytes] | None:
    """(key id, nonce, ciphertext||tag) or None when ``token`` is not a well-formed token."""
    match = _TOKEN_PATTERN.fullmatch(token)
    if match is None:
        return None
    raw = b64url_decode(match.group(2))
    if raw is None or len(raw) < MIN_RAW_BYTES:
        return None
    return match.group(1), raw[:NONCE_BYTES], raw[NONCE_BYTES:]


def parse_token(token: object) -> TokenInfo | None:
    """Structure of a token (version, key id, lengths); None when it is not a token."""
    if not isinstance(token, str):
        return None
    parts = split_token(token)
    if parts is None:
        return None
    key_id, nonce, body = parts
    return TokenInfo(
        version=FORMAT_VERSION,
        key_id=key_id,
        token_length=len(token),
        payload_bytes=len(nonce) + len(body),
    )
