"""Blind indexes: truncated HMAC-SHA256 of a normalised value, for exact-match lookups in SOQL."""

from __future__ import annotations

import hmac
import math
import re
import struct
import unicodedata
from collections.abc import Iterable
from hashlib import sha256
from typing import Literal

from sfsync.text.company import _LEGAL_WORDS_RE, _strip_legal_suffixes, blind_index_company_name_v1
from sfsync.text.domain import blind_index_domain_v1

__all__ = ["BlindIndexer", "IndexKind", "normalize_for_index", "plan_blind_index_bits"]
# Kept importable from here for the equivalence test and the crypto bench.
_REEXPORTED = (_LEGAL_WORDS_RE, _strip_legal_suffixes)

IndexKind = Literal["domain", "company_name", "duns", "email", "exact"]
INDEX_KINDS: tuple[str, ...] = ("domain", "company_name", "duns", "email", "exact")
_DOMAIN_LABEL = b"sfsync/bidx/v1"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
MIN_BITS = 1
MAX_BITS = 256


# The normalisation rules live once, in sfsync.text (versioned: their output is stored).
_registrable_domain = blind_index_domain_v1
_company_name = blind_index_company_name_v1


def _duns(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit() and c.isascii())
    if len(digits) != 9 or re.search(r"[^\d\s.-]", text.strip()):
        raise ValueError("a DUNS number has exactly 9 digits")
    return digits


def _email(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        raise ValueError("not an email address")
    try:
        domain = domain.strip(".").encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid email domain") from None
    return f"{local}@{domain}"


def normalize_for_index(value: str, kind: str) -> str:
    """The canonical text a blind index is computed over. ValueError for unusable input.

    * ``domain``: registrable domain (``https://www.Shop.Example.co.uk/x`` -> ``example.co.uk``),
      punycode for internationalised names; URLs and email addresses are accepted.
    * ``company_name``: legal suffixes removed (cleanco), casefolded, accents and punctuation
      dropped, ``&``/``+`` -> ``and``, a leading ``the`` dropped, spaces collapsed.
    * ``duns``: the 9 digits (separators ``-``, ``.`` and spaces allowed).
    * ``email``: trimmed and lower-cased (both parts), domain in punycode.
    * ``exact``: the value unchanged.
    """
    if not isinstance(value, str):
        raise TypeError(f"value must be a str, not {type(value).__name__}")
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r}; expected one of {', '.join(INDEX_KINDS)}")
    if kind == "exact":
        if value == "":
            raise ValueError("cannot index an empty value")
        return value
    if not value.strip():
        raise ValueError("cannot index an empty value")
    if kind == "domain":
        return _registrable_domain(value)
    if kind == "company_name":
        return _company_name(value)
    if kind == "duns":
        return _duns(value)
    return _email(value)


def _length_prefixed(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">I", len(data)) + data


class BlindIndexer:
    """HMAC-SHA256 blind indexes under the keyring's index key (never a data key)."""

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes) or len(key) < 32:
            raise ValueError("the blind-index key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "BlindIndexer(key=<hidden>)"

    def message(self, normalized: str, kind: str, *, sobject: str, field: str) -> bytes:
        """The HMAC input: LP(label) || LP(lower(sobject)) || LP(lower(field)) || LP(kind) || LP(value)."""
        return b"".join(
            [
                _length_prefixed(_DOMAIN_LABEL.decode("ascii")),
                _length_prefixed(sobject.lower()),
                _length_prefixed(field.lower()),
                _length_prefixed(kind),
                _length_prefixed(normalized),
            ]
        )

    def index(
        self,
        value: str,
        normalizer: str,
        bits: int,
        *,
        sobject: str,
        field: str,
        encoding: Literal["hex", "base32"] = "hex",
    ) -> str:
        """The blind index of ``value`` for the index field ``sobject.field``.

        ``normalizer`` is an index kind (see :func:`normalize_for_index`); ``bits`` how many
        leading bits of the HMAC to keep (see :func:`plan_blind_index_bits`). The text is the
        truncated value as a big-endian number, zero-padded: ``ceil(bits/4)`` hex digits or
        ``ceil(bits/5)`` base32 characters.
        """
        if not isinstance(bits, int) or isinstance(bits, bool) or not MIN_BITS <= bits <= MAX_BITS:
            raise ValueError(f"bits must be an int in {MIN_BITS}..{MAX_BITS}")
        for name, part in (("sobject", sobject), ("field", field)):
            if not isinstance(part, str) or not part:
                raise ValueError(f"{name} must be a non-empty str")
        normalized = normalize_for_index(value, normalizer)
        digest = hmac.new(
            self._key, self.message(normalized, normalizer, sobject=sobject, field=field), sha256
        ).digest()
        number = int.from_bytes(digest, "big") >> (MAX_BITS - bits)
        if encoding == "hex":
            return format(number, "x").zfill(math.ceil(bits / 4))
        if encoding == "base32":
            width = math.ceil(bits / 5)
            chars = []
            for _ in range(width):
                chars.append(_BASE32[number & 31])
                number >>= 5
            return "".join(reversed(chars))
        raise ValueError("encoding must be 'hex' or 'base32'")


def plan_blind_index_bits(
    expected_rows: int,
    *,
    other_index_bits: Iterable[int] = (),
    min_false_positives: float = 2.0,
) -> int:
    """Bits to keep for a blind index over ``expected_rows`` rows (CipherSweet's planner rule).

    With ``L`` bits, ``E`` bits already spent by other blind indexes on the same value and
    ``R`` rows, a lookup matches about ``C = R / 2**(E + L)`` rows that do not hold the value
    (coincidences). Privacy wants ``C >= 2``: no index value points at a single row.
    Usefulness wants ``C <= sqrt(R)``: a lookup returns a handful of rows to decrypt and
    check, not a scan. The planner returns the largest ``L`` with ``C >= m`` (``m`` =
    ``min_false_positives``), i.e. ``floor(log2(R / m)) - E``; then ``m <= C < 2m``, which is
    below ``sqrt(R)`` whenever ``R >= 4 m**2`` (16 rows for m = 2). ValueError when even 1 bit
    would leave fewer than ``m`` coincidences (a population too small to index privately).
    """
    if not isinstance(expected_rows, int) or isinstance(expected_rows, bool) or expected_rows < 1:
        raise ValueError("expected_rows must be a positive int")
    if min_false_positives < 1:
        raise ValueError("min_false_positives must be >= 1")
    others = list(other_index_bits)
    if any(not isinstance(b, int) or b < 0 for b in others):
        raise ValueError("other_index_bits must be ints >= 0")
    spent = sum(others)
    bits = math.floor(math.log2(expected_rows / min_false_positives)) - spent
    # Floating point: make sure the chosen L really keeps C >= m, and L + 1 would not.
    while bits > 0 and expected_rows / 2 ** (spent + bits) < min_false_positives:
        bits -= 1
    while expected_rows / 2 ** (spent + bits + 1) >= min_false_positives:
        bits += 1
    if bits < MIN_BITS:
        raise ValueError(
            f"{expected_rows} rows are too few for a private blind index "
            f"(need at least {math.ceil(2 ** (spent + 1) * min_false_positives)})"
        )
    return min(bits, MAX_BITS)
