"""Client-side field encryption: AES-256-GCM tokens bound to their place, keyrings, blind indexes.

The format, key hierarchy and threat model are specified in ``crypto/SPEC.md`` at the top of
the repository; ``crypto/vectors/*.json`` hold known-answer vectors.
"""

from __future__ import annotations

from sfsync.crypto._blind import BlindIndexer, IndexKind, normalize_for_index, plan_blind_index_bits
from sfsync.crypto._cipher import DECRYPTION_FAILED, FieldCipher, FieldContext, RecordSealer
from sfsync.crypto._factory import load_keyring, provider_from_settings
from sfsync.crypto._format import TokenInfo, build_aad, parse_token
from sfsync.crypto._keyring import KeyMaterial, Keyring, KeyState
from sfsync.crypto._providers import (
    AwsKmsKeyWrapper,
    EnvelopeKeyProvider,
    KeyProvider,
    KeyWrapper,
    LocalKeyringProvider,
    VaultTransitKeyWrapper,
)
from sfsync.crypto._sizes import MAX_KEY_ID_LENGTH, max_ciphertext_length, max_plaintext_bytes
from sfsync.crypto._verify import (
    FieldReport,
    Finding,
    ReencryptItem,
    ReencryptSkip,
    StoredValue,
    VerifyReport,
    reencrypt_plan,
    verify_values,
)
from sfsync.errors import DecryptionError, KeyringError

__all__ = [
    "DECRYPTION_FAILED",
    "MAX_KEY_ID_LENGTH",
    "AwsKmsKeyWrapper",
    "BlindIndexer",
    "DecryptionError",
    "EnvelopeKeyProvider",
    "FieldCipher",
    "FieldContext",
    "FieldReport",
    "Finding",
    "IndexKind",
    "KeyMaterial",
    "KeyProvider",
    "KeyState",
    "KeyWrapper",
    "Keyring",
    "KeyringError",
    "LocalKeyringProvider",
    "RecordSealer",
    "ReencryptItem",
    "ReencryptSkip",
    "StoredValue",
    "TokenInfo",
    "VaultTransitKeyWrapper",
    "VerifyReport",
    "build_aad",
    "load_keyring",
    "max_ciphertext_length",
    "max_plaintext_bytes",
    "normalize_for_index",
    "parse_token",
    "plan_blind_index_bits",
    "provider_from_settings",
    "reencrypt_plan",
    "verify_values",
]
