"""Content fingerprints for the ledger: "was this exact payload already written?".

A plain hash of a low-entropy confidential value (a DUNS number, a country) could be reversed by
brute force from the state store, so when a key is available the fingerprint is an HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return sorted(str(item) for item in value)
    return str(value)


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default).encode("utf-8")


def fingerprint(payload: Mapping[str, Any], key: bytes | None = None) -> str:
    data = canonical_json(payload)
    if key:
        return "h1:" + hmac.digest(key, data, "sha256").hex()
    return "s1:" + hashlib.sha256(data).hexdigest()
