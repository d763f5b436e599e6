"""Ledger fingerprints never change: the digests are stored in users' state stores.

A different digest for the same payload would make the next run after an upgrade re-push every
record. The digests below were recorded with the original implementation (``json.dumps`` with
``sort_keys``, compact separators and ``_default``; HMAC-SHA256 or SHA-256); ``canonical_json``
now reuses one C encoder per thread, and must write the same bytes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.sync._fingerprint import _default, canonical_json, fingerprint

KEY = b"k" * 32

DEAL = {
    "Registration_Number__c": "DR-000123",
    "Partner_Account__r": {"Partner_Number__c": "P-001"},
    "End_Customer_Name__c": "Acme Foods Inc.",
    "End_Customer_Website__c": "https://www.acmefoods.example",
    "End_Customer_Domain__c": "acmefoods.example",
    "End_Customer_Country__c": "US",
    "End_Customer_Postal_Code__c": "94105",
    "End_Customer_DUNS__c": "123456789",
    "Product_Lines__c": "Servers;Storage;PCs",
    "Amount__c": "120000.01",
    "Currency_Code__c": "USD",
    "Expected_Close_Date__c": "2026-12-15",
    "Extension_Requested__c": False,
    "Competitive_Notes__c": "Incumbent: a competitor.",
    "Customer_Contact_Name__c": "Jane Roe",
    "Customer_Contact_Email__c": "jane.roe@acmefoods.example",
    "Customer_Contact_Phone__c": None,
    "Withdrawn_At__c": None,
}


def _odd() -> dict[str, Any]:
    return {
        "b": 1,
        "a": None,
        "c": True,
        "d": 1.5,
        "e": Decimal("1.50"),
        "f": date(2026, 12, 22),
        "g": datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "h": b"\x00\xff",
        "i": {"z": 1, "y": [1, "x", None]},
        "j": (3, 1),
        "k": frozenset({"2", "1"}),
        "l": "ünï € 北京 🚀",
        "m": '\u2028"\\',
        "n": float("nan"),
        "o": 10**20,
        "p": Decimal("1E+3"),
        "q": -0.0,
        "r": float("inf"),
    }


PULLED = {
    "status": "approved",
    "decided_at": datetime(2026, 11, 1, 10, 0, tzinfo=UTC),
    "protection_start": date(2026, 11, 1),
    "conflict_flag": False,
    "decision_reason": None,
}

RECORDED = [
    (
        DEAL,
        "s1:42e6d01d211e22fab76adb5eb4749794087102ae0db58ac88174f43a2c44a814",
        "h1:a8f86ef9683166733e385438c408a71073fe0a33edb3a1767f37db0ea59bfbcd",
    ),
    (
        _odd(),
        "s1:1b340c97fc5ef810dc8b8cf1b3aefe3301296b2b5771e35ee85b938361591547",
        "h1:20af409f1cae6937325b4d8c29ad7f80cc13b8c1d55903d27a21f9a5194a14d1",
    ),
    (
        PULLED,
        "s1:3893c89db14cf7523c86db0c344ae39ccaef9d60db25bfe0e095c260e5337dec",
        "h1:ad893abdfaf29c232006470a8cff719b651633acc24024ecf7269fe05ba4bac5",
    ),
    (
        {},
        "s1:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "h1:3ee8b232b00d38a65125697b8ca96902d432dd558eb14939ffda0723647e7f81",
    ),
]


@pytest.mark.parametrize(("payload", "plain", "keyed"), RECORDED)
def test_recorded_digests_are_unchanged(payload: dict[str, Any], plain: str, keyed: str) -> None:
    assert fingerprint(payload) == plain
    assert fingerprint(payload, KEY) == keyed
    # the order the payload was built in never matters
    assert fingerprint(dict(reversed(list(payload.items()))), KEY) == keyed


def _reference(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=_default).encode("utf-8")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.decimals()
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(UTC))
    | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=12))
def test_canonical_json_is_what_json_dumps_writes(payload: dict[str, Any]) -> None:
    assert _outcome(canonical_json, payload) == _outcome(_reference, payload)


def _outcome(encode: Any, payload: Any) -> Any:
    try:
        return encode(payload)
    except Exception as exc:  # a signalling NaN, say: the same error both ways
        return type(exc), str(exc)


def test_other_mappings_and_errors_as_json_dumps() -> None:
    ordered = OrderedDict([("b", 1), ("a", 2)])
    assert canonical_json(ordered) == _reference(ordered)
    circular: dict[str, Any] = {"a": 1}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular reference detected"):
        canonical_json(circular)
    mixed_keys: dict[Any, Any] = {"a": 1, 2: 3}
    with pytest.raises(TypeError) as raised:
        canonical_json(mixed_keys)
    with pytest.raises(type(raised.value)) as expected:
        _reference(mixed_keys)
    assert str(raised.value) == str(expected.value)
    # after a failed call the next one is as good as ever (no stale circular-check entries)
    inner = {"x": 1}
    assert canonical_json({"again": inner, "and": [inner]}) == _reference({"again": inner, "and": [inner]})
    assert fingerprint(DEAL, KEY) == RECORDED[0][2]


def test_a_default_that_fingerprints_inside_gives_the_same() -> None:
    """``_default`` runs inside the encoder; an object whose ``str`` fingerprints must not share its table."""

    class Nested:
        def __str__(self) -> str:
            return fingerprint({"inner": [1, 2]})

    payload = {"outer": Nested(), "list": [1]}
    assert canonical_json(payload) == _reference(payload)


def test_threads_fingerprint_alike() -> None:
    results: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        found = [fingerprint(payload, KEY) for payload, _, _ in RECORDED for _ in range(200)]
        with lock:
            results.extend(found)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {keyed for _, _, keyed in RECORDED}
