"""Blind indexes: truncated HMAC-SHA256 of a normalised value, for exact-match lookups in SOQL."""

from __future__ import annotations

import hmac
import math
import re
import struct
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable
from functools import lru_cache
from hashlib import sha256
from typing import Literal

__all__ = ["BlindIndexer", "IndexKind", "normalize_for_index", "plan_blind_index_bits"]

IndexKind = Literal["domain", "company_name", "duns", "email", "exact"]
INDEX_KINDS: tuple[str, ...] = ("domain", "company_name", "duns", "email", "exact")
_DOMAIN_LABEL = b"sfsync/bidx/v1"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
MIN_BITS = 1
MAX_BITS = 256


@lru_cache(maxsize=1)
def _extractor() -> object:
    import tldextract

    # suffix_list_urls=(): use the snapshot bundled with tldextract, never the network.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _registrable_domain(text: str) -> str:
    host = text.strip().lower()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]  # userinfo in a URL
    host = re.sub(r":\d*$", "", host).strip(".")
    if not host or any(c.isspace() for c in host):
        raise ValueError("not a domain name")
    try:
        # One spelling for internationalised names: punycode (IDNA 2003, Python's codec).
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain name") from None
    result = _extractor()(host)  # type: ignore[operator]
    if result.suffix and result.domain:
        return f"{result.domain}.{result.suffix}"
    # Not under a known public suffix (an intranet or a reserved TLD such as .example): the last
    # two labels are the best registrable-domain guess; a single label is not a domain at all.
    labels = [label for label in host.split(".") if label]
    if labels and labels[0] == "www":
        labels = labels[1:]
    if len(labels) < 2:
        raise ValueError("not a domain name")
    return ".".join(labels[-2:])


_LEGAL_WORDS_RE = re.compile(r"[^\w\s]", re.UNICODE)


@lru_cache(maxsize=1)
def _legal_terms() -> tuple[list[tuple[int, list[str]]], dict[str, list[int]]]:
    """cleanco's default suffix terms, in cleanco's order, and their positions by last word."""
    from cleanco import prepare_default_terms

    terms: list[tuple[int, list[str]]] = prepare_default_terms()
    by_last: dict[str, list[int]] = {}
    for position, (_size, parts) in enumerate(terms):
        if parts:  # a term with no words can only "match" an empty name, which changes nothing
            by_last.setdefault(parts[-1], []).append(position)
    return terms, by_last


class _CharTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each character (bounded by Unicode)."""

    def __init__(self, rule: Callable[[str], str]) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, codepoint: int) -> str:
        value = self[codepoint] = self._rule(chr(codepoint))
        return value


@lru_cache(maxsize=1)
def _cleanco_accents() -> _CharTable:
    from cleanco.non_nfkd_map import NON_NFKD_MAP

    # cleanco.clean.remove_accents, per character: drop category Mn, else map through NON_NFKD_MAP.
    return _CharTable(lambda c: "" if unicodedata.category(c) == "Mn" else NON_NFKD_MAP.get(c, c))


_COMBINING = _CharTable(lambda c: "" if unicodedata.combining(c) else c)
_TAIL = re.compile(r"[^\.\w]+$", flags=re.UNICODE)  # cleanco.clean.tail_removal_rexp


def _strip_tail(name: str) -> str:
    """cleanco.clean.strip_tail: drop trailing non-word characters except the dot."""
    match = _TAIL.search(name)
    return name[: match.start()] if match is not None else name


def _strip_legal_suffixes(name: str) -> str:
    """Exactly ``cleanco.basename(name)`` (suffixes only), without testing all ~320 terms each time.

    cleanco walks its whole term list in order and, whenever the current tail of the name
    equals a term, drops it and goes on with the *next* term. A term can only match when its
    last word is the name's current last word, so the walk can jump straight to the next term
    ending in that word (bisect over its positions) — same order, same decisions, same output.
    cleanco's per-character accent removal is done with a memoised ``str.translate`` table.
    This was the push's hottest spot; ``tests/crypto/test_crypto_blind_equivalence.py`` compares
    both on a large generated corpus.
    """
    terms, by_last = _legal_terms()
    name = _strip_tail(name)
    nparts = name.split()
    normalized = unicodedata.normalize("NFKD", name.casefold()).translate(_cleanco_accents())
    nnparts = [part.replace(".", "").replace(",", "").replace("-", "") for part in normalized.split()]
    position = 0
    while nnparts:
        candidates = by_last.get(nnparts[-1])
        if not candidates:
            break
        for index in candidates[bisect_left(candidates, position):]:
            size, parts = terms[index]
            if nnparts[-size:] == parts:
                del nnparts[-size:]
                del nparts[-size:]
                position = index + 1
                break
        else:
            break
    return _strip_tail(" ".join(nparts))


def _company_name(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).strip()
    # cleanco removes one legal suffix per call ("Foo Ltd Ltd", "Foo GmbH & Co. KG"): repeat.
    for _ in range(5):
        stripped = _strip_legal_suffixes(value).strip()
        if not stripped or stripped == value:
            break
        value = stripped
    value = value.casefold()
    value = unicodedata.normalize("NFKD", value).translate(_COMBINING)
    value = value.replace("&", " and ").replace("+", " and ")
    value = _LEGAL_WORDS_RE.sub(" ", value).replace("_", " ")
    words = value.split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    result = " ".join(words)
    if not result:
        raise ValueError("company name is empty after normalisation")
    return result


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
            [_length_prefixed(_DOMAIN_LABEL.decode("ascii")), _length_prefixed(sobject.lower()),
             _length_prefixed(field.lower()), _length_prefixed(kind), _length_prefixed(normalized)]
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
        digest = hmac.new(self._key, self.message(normalized, normalizer, sobject=sobject, field=field),
                          sha256).digest()
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
