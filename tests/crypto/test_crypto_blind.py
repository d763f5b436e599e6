"""Blind indexes: determinism, domain separation, normalisers and the bit-length planner."""

from __future__ import annotations

import hmac
import math
import os
import struct
from hashlib import sha256
from typing import TypedDict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.crypto import BlindIndexer, Keyring, normalize_for_index, plan_blind_index_bits

KEY = os.urandom(32)
IDX = BlindIndexer(KEY)


class _Where(TypedDict):
    sobject: str
    field: str


WHERE: _Where = {"sobject": "Account_Registration__c", "field": "Customer_Domain_Idx__c"}


def test_deterministic_and_normalised() -> None:
    a = IDX.index("https://www.ACME.com/contact", "domain", 32, **WHERE)
    b = IDX.index("sales@acme.com", "domain", 32, **WHERE)
    assert a == b == BlindIndexer(KEY).index("acme.com", "domain", 32, **WHERE)
    assert len(a) == 8 and int(a, 16) >= 0


def test_matches_the_specified_construction() -> None:
    def lp(text: str) -> bytes:
        return struct.pack(">I", len(text.encode())) + text.encode()

    message = (
        lp("sfsync/bidx/v1")
        + lp("account_registration__c")
        + lp("customer_domain_idx__c")
        + lp("domain")
        + lp("acme.com")
    )
    digest = hmac.new(KEY, message, sha256).digest()
    expected = int.from_bytes(digest, "big") >> (256 - 20)
    assert IDX.index("acme.com", "domain", 20, **WHERE) == format(expected, "05x")


def test_different_places_kinds_and_keys_give_different_indexes() -> None:
    seen = {
        IDX.index("acme.com", "domain", 64, **WHERE),
        IDX.index("acme.com", "domain", 64, sobject="Deal_Registration__c", field="Customer_Domain_Idx__c"),
        IDX.index("acme.com", "domain", 64, sobject="Account_Registration__c", field="Other_Idx__c"),
        IDX.index("acme.com", "exact", 64, **WHERE),
        BlindIndexer(os.urandom(32)).index("acme.com", "domain", 64, **WHERE),
    }
    assert len(seen) == 5


def test_index_key_is_not_a_data_key() -> None:
    keyring = Keyring.generate()
    assert keyring.index_key not in {k.secret for k in keyring.keys}
    assert keyring.blind_indexer().index("x", "exact", 16, **WHERE) == BlindIndexer(keyring.index_key).index(
        "x", "exact", 16, **WHERE
    )


@pytest.mark.parametrize("bits", [1, 7, 8, 16, 25, 32, 64, 255, 256])
def test_truncation_lengths(bits: int) -> None:
    hex_value = IDX.index("acme.com", "domain", bits, **WHERE)
    b32_value = IDX.index("acme.com", "domain", bits, encoding="base32", **WHERE)
    assert len(hex_value) == math.ceil(bits / 4) and int(hex_value, 16) < 2**bits
    assert len(b32_value) == math.ceil(bits / 5) and set(b32_value) <= set("abcdefghijklmnopqrstuvwxyz234567")
    full = IDX.index("acme.com", "domain", 256, **WHERE)
    assert int(hex_value, 16) == int(full, 16) >> (256 - bits)


@pytest.mark.parametrize("bits", [0, 257, -1, True, 8.0])
def test_bad_bit_lengths(bits: object) -> None:
    with pytest.raises(ValueError):
        IDX.index("x", "exact", bits, **WHERE)  # type: ignore[arg-type]


@settings(max_examples=50, deadline=None)
@given(st.text(min_size=1))
def test_exact_index_is_a_function_of_the_value(value: str) -> None:
    assert IDX.index(value, "exact", 32, **WHERE) == IDX.index(value, "exact", 32, **WHERE)


def test_repr_hides_key() -> None:
    assert KEY.hex() not in repr(IDX) and "hidden" in repr(IDX)


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("https://www.Shop.Example.co.uk/path?q=1", "domain", "example.co.uk"),
        ("WWW.ACME.COM.", "domain", "acme.com"),
        ("jane@mail.Acme.com", "domain", "acme.com"),
        ("http://user:pw@acme.com:8443/x", "domain", "acme.com"),
        ("münchen.de", "domain", "xn--mnchen-3ya.de"),
        ("xn--mnchen-3ya.de", "domain", "xn--mnchen-3ya.de"),
        ("ACME GmbH & Co. KG", "company_name", "acme"),
        ("Acme, Inc.", "company_name", "acme"),
        ("ACME INC", "company_name", "acme"),
        ("Société Générale S.A.", "company_name", "societe generale"),
        ("The Widget Company LLC", "company_name", "widget"),
        ("Widget Co.", "company_name", "widget"),
        ("Smith & Sons Ltd", "company_name", "smith and sons"),
        ("Smith and Sons Limited", "company_name", "smith and sons"),
        ("15-048-3782", "duns", "150483782"),
        (" 150483782 ", "duns", "150483782"),
        (" Jane.Doe@Example.COM ", "email", "jane.doe@example.com"),
        ("jane@bücher.de", "email", "jane@xn--bcher-kva.de"),
        (" As Is ", "exact", " As Is "),
    ],
)
def test_normalizers(value: str, kind: str, expected: str) -> None:
    assert normalize_for_index(value, kind) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("", "domain"),
        ("localhost", "domain"),
        ("no such host here", "domain"),
        ("---", "company_name"),
        ("  ", "company_name"),
        ("12345678", "duns"),
        ("1234567890", "duns"),
        ("15O483782", "duns"),
        ("jane.example.com", "email"),
        ("@example.com", "email"),
        ("", "exact"),
        ("qqq", "unknown-kind"),
    ],
)
def test_normalizers_reject_unusable_input(value: str, kind: str) -> None:
    with pytest.raises(ValueError) as info:
        normalize_for_index(value, kind)
    if value.strip():
        assert value not in str(info.value)


def test_normalizer_type_error() -> None:
    with pytest.raises(TypeError):
        normalize_for_index(None, "exact")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rows", "bits"),
    [(4, 1), (10, 2), (16, 3), (1_000, 8), (10_000, 12), (100_000, 15), (1_000_000, 18), (2**20, 19), (50_000_000, 24)],
)
def test_planner_values(rows: int, bits: int) -> None:
    assert plan_blind_index_bits(rows) == bits
    coincidences = rows / 2**bits
    assert 2 <= coincidences < 4  # private (>= 2 per lookup) but bounded (< 2m)
    if rows >= 16:
        assert coincidences <= math.sqrt(rows)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=4, max_value=10**12), st.lists(st.integers(0, 6), max_size=2))
def test_planner_invariant(rows: int, others: list[int]) -> None:
    spent = sum(others)
    if rows / 2 ** (spent + 1) < 2:
        with pytest.raises(ValueError):
            plan_blind_index_bits(rows, other_index_bits=others)
        return
    bits = plan_blind_index_bits(rows, other_index_bits=others)
    assert rows / 2 ** (spent + bits) >= 2 > rows / 2 ** (spent + bits + 1)


def test_planner_accounts_for_other_indexes_and_rejects_tiny_populations() -> None:
    assert plan_blind_index_bits(1_000_000, other_index_bits=[8]) == 10
    assert plan_blind_index_bits(1_000_000, min_false_positives=8) == 16
    for bad in (0, -5, 3, True):
        with pytest.raises(ValueError):
            plan_blind_index_bits(bad)
