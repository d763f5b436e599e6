"""Content fingerprints for the ledger: "was this exact payload already written?".

A plain hash of a low-entropy confidential value (a DUNS number, a country) could be reversed by
brute force from the state store, so when a key is available the fingerprint is an HMAC.

The digests are stored in users' state stores: a different byte of canonical JSON would re-push
every record after an upgrade. ``tests/sync/test_fingerprint.py`` pins recorded digests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import json.encoder
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii
from typing import Any

# The C accelerator json.dumps itself uses (None on a Python without it: json.dumps is used then).
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)


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


def _reference_json(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default).encode("utf-8")


# json.dumps builds a JSONEncoder and a C encoder on every call, which costs more than encoding a
# payload of twenty fields. The C encoder below is the one json.dumps builds for these arguments
# (sort_keys, compact separators, ASCII, circular check, NaN allowed), built once per thread. Its
# circular-check table is only empty again after a successful call, so an encoder is taken out of
# the thread's slot while it runs and put back only on success: a failed call (or a call made from
# inside ``_default``) never shares a table with another call, as with json.dumps.
_local = threading.local()


def _new_encoder() -> Callable[[Any, int], list[str]]:
    if _c_make_encoder is None:  # pragma: no cover - canonical_json checks first
        raise RuntimeError("no C JSON encoder")
    encoder: Callable[[Any, int], list[str]] = _c_make_encoder(
        {}, _default, encode_basestring_ascii, None, ":", ",", True, False, True
    )
    return encoder


def canonical_json(payload: Mapping[str, Any]) -> bytes:
    # A dict is what every caller passes; anything else (another Mapping) takes json.dumps itself.
    if _c_make_encoder is None or type(payload) is not dict:
        return _reference_json(payload)
    encoder = _local.__dict__.pop("encoder", None) or _new_encoder()
    chunks = encoder(payload, 0)
    _local.encoder = encoder
    return "".join(chunks).encode("utf-8")


def fingerprint(payload: Mapping[str, Any], key: bytes | None = None) -> str:
    data = canonical_json(payload)
    if key:
        return "h1:" + hmac.digest(key, data, "sha256").hex()
    return "s1:" + hashlib.sha256(data).hexdigest()
