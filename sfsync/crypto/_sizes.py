"""How long a field-encryption token is, so mappings can be checked before anything is written.

Token layout (see ``crypto/SPEC.md``): ``sfe1.<key id>.<base64url(nonce || ciphertext || tag)>``
with no base64 padding.
"""

from __future__ import annotations

FORMAT_TAG = "sfe1"
MAX_KEY_ID_LENGTH = 12
NONCE_BYTES = 12
TAG_BYTES = 16


def _base64url_unpadded_length(raw_bytes: int) -> int:
    return (4 * raw_bytes + 2) // 3


def max_ciphertext_length(plaintext_bytes: int, key_id_length: int = MAX_KEY_ID_LENGTH) -> int:
    """Characters of the token that holds ``plaintext_bytes`` bytes (UTF-8) of plaintext."""
    if plaintext_bytes < 0:
        raise ValueError("plaintext_bytes must be >= 0")
    raw = NONCE_BYTES + plaintext_bytes + TAG_BYTES
    return len(FORMAT_TAG) + 1 + key_id_length + 1 + _base64url_unpadded_length(raw)


def max_plaintext_bytes(field_length: int, key_id_length: int = MAX_KEY_ID_LENGTH) -> int:
    """The largest plaintext (UTF-8 bytes) whose token fits a text field of ``field_length``."""
    best = -1
    low, high = 0, field_length
    while low <= high:
        middle = (low + high) // 2
        if max_ciphertext_length(middle, key_id_length) <= field_length:
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return best
