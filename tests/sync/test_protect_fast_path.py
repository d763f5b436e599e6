"""The protect step and the record sealer on their fast paths, pinned to the implementations they
replaced (kept below): the same tokens byte for byte under the same nonces, the same bands, blind
indexes and clears, and the same rejection (type, message, field) for every bad record."""

from __future__ import annotations

import itertools
import os
import struct
from binascii import b2a_base64
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sfsync.crypto import FieldCipher, FieldContext, Keyring, RecordSealer
from sfsync.crypto._format import build_aad
from sfsync.errors import ErrorContext, RecordRejectedError
from sfsync.mapping import ObjectMapping, load_mappings
from sfsync.portal import UNREADABLE
from sfsync.sync._protect import KeyringProtector, undecodable_columns

REPO = Path(__file__).resolve().parents[2]
_URLSAFE = bytes.maketrans(b"+/", b"-_")

# ----------------------------------------------------------------- the references (the old code)


def ref_seal(
    sealer: RecordSealer, record_key: str, plaintexts: Sequence[tuple[int, bytes]], nonces: bytes
) -> list[str]:
    """RecordSealer.seal as it was: one base64 and one decode per value."""
    key_bytes = record_key.encode("utf-8")
    tail = struct.pack(">I", len(key_bytes)) + key_bytes
    prefixes = [build_aad(sealer.key_id, sealer.sobject, name, "")[:-4] for name in sealer.fields]
    aead = sealer._aead
    tokens = []
    for n, (position, data) in enumerate(plaintexts):
        nonce = nonces[12 * n : 12 * n + 12]
        sealed = aead.encrypt(nonce, data, prefixes[position] + tail)
        text = b2a_base64(nonce + sealed, newline=False).translate(_URLSAFE).rstrip(b"=")
        tokens.append(f"sfe1.{sealer.key_id}." + text.decode("ascii"))
    return tokens


def ref_protect(
    self: KeyringProtector, mapping: ObjectMapping, external_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """KeyringProtector.protect as it was (field by field, through the step objects)."""
    plan = self._plan_for(mapping)
    protected = dict(payload)
    partner: str | None = None
    partner_known = False
    shared: list[tuple[int, bytes]] = []
    own: list[tuple[int, bytes]] = []
    for step in plan.steps:
        name = step.field
        present = name in payload
        value = payload.get(name)
        band = step.band
        if band is not None and present:
            try:
                protected[band.field] = band.band_of(value)
            except ValueError:
                raise RecordRejectedError(
                    f"{step.column} does not fit its band ({band.kind}); correct it in the portal",
                    ErrorContext(mapping=mapping.name, field_name=name, external_id=external_id),
                ) from None
        if value is None or value == "":
            if step.index is not None and present:
                protected[step.index.field] = None
            continue
        text = value if type(value) is str else str(value)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordRejectedError(
                f"{step.column} holds text that is not valid UTF-8; correct it in the portal",
                ErrorContext(mapping=mapping.name, field_name=name, external_id=external_id),
            ) from None
        if step.per_partner_key:
            if not partner_known:
                partner = self._partner_key_group(mapping, payload, external_id)
                partner_known = True
            own.append((step.position, data))
        else:
            shared.append((step.position, data))
        index = step.index
        if index is not None and index.reader is not None:
            try:
                protected[index.field] = self._indexer.index(
                    text, index.normalizer, step.index_bits, sobject=plan.sobject, field=index.field
                )
            except ValueError:
                raise RecordRejectedError(
                    f"{step.column} is not a valid {index.normalizer} value, so its blind "
                    f"index cannot be computed; correct it in the portal",
                    ErrorContext(mapping=mapping.name, field_name=name, external_id=external_id),
                ) from None
    fields = plan.fields
    if shared:
        for (position, _data), token in zip(shared, plan.sealer(self, None).seal(external_id, shared), strict=True):
            protected[fields[position]] = token
    if own:
        sealer = plan.sealer(self, partner)
        for (position, _data), token in zip(own, sealer.seal(external_id, own), strict=True):
            protected[fields[position]] = token
    return protected


# ----------------------------------------------------------------- fixtures


class Nonces:
    """os.urandom stand-in: the same byte stream after every reset, so two paths can be compared."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._counter = itertools.count()

    def __call__(self, size: int) -> bytes:
        out = b"".join(next(self._counter).to_bytes(4, "big") * 3 for _ in range((size + 11) // 12))
        return out[:size]


@pytest.fixture
def nonces(monkeypatch: pytest.MonkeyPatch) -> Nonces:
    fake = Nonces()
    monkeypatch.setattr(os, "urandom", fake)
    return fake


def _mappings(tmp_path: Path) -> dict[str, ObjectMapping]:
    reader = "reader: the duplicate check of the registration desk"
    text = (
        (REPO / "mappings" / "deal_registration.yaml")
        .read_text()
        .replace(
            "    encrypt: {max_plaintext_bytes: 16, per_partner_key: true}\n    account_field: DunsNumber",
            "    encrypt:\n      max_plaintext_bytes: 16\n      per_partner_key: true\n"
            f"      blind_index: {{field: End_Customer_DUNS_BIdx__c, normalizer: duns, {reader}}}",
        )
        .replace(
            "    encrypt: {max_plaintext_bytes: 149, per_partner_key: true}\n    account_field: Website",
            "    encrypt:\n      max_plaintext_bytes: 149\n"
            f"      blind_index: {{field: End_Customer_Domain_BIdx__c, normalizer: domain, {reader}}}",
            1,
        )
        .replace(
            "    encrypt: {max_plaintext_bytes: 24000, per_partner_key: true}",
            "    encrypt: {max_plaintext_bytes: 24000}",
        )
    )
    (tmp_path / "mixed.yaml").write_text(text.replace("name: deal_registration", "name: deal_registration_mixed"))
    shipped = load_mappings([REPO / "mappings"])
    mixed = load_mappings([tmp_path / "mixed.yaml"])
    found = {m.name: m for m in shipped}
    found.update({m.name: m for m in mixed})
    return found


def _payloads() -> Iterator[tuple[str, dict[str, Any]]]:
    base: dict[str, Any] = {
        "Registration_Number__c": "DR-1",
        "Partner_Account__r": {"Partner_Number__c": "P-001"},
        "End_Customer_Name__c": "Customer 0000001 Inc.",
        "End_Customer_Website__c": "https://www.customer1.example/",
        "End_Customer_Domain__c": "customer1.example",
        "End_Customer_Country__c": "US",
        "End_Customer_Postal_Code__c": "35671",
        "End_Customer_DUNS__c": "123456789",
        "Amount__c": "420000.00",
        "Expected_Close_Date__c": "2027-05-01",
        "Competitive_Notes__c": "Competing bid from a direct rep expected; partner owns the relationship.",
        "Customer_Contact_Name__c": "Contact 1",
        "Customer_Contact_Email__c": "buyer1@customer1.example",
        "Customer_Contact_Phone__c": "+1 555 0001",
        "Account_Name__c": "Acme GmbH",
    }
    yield "realistic", dict(base)
    fields = [k for k in base if k not in ("Registration_Number__c", "Partner_Account__r")]
    values: list[Any] = [
        None,
        "",
        " ",
        "ünïcödé ✓ 漢字 🙂",
        "x" * 20_000,
        "bad \udcff byte",
        "\ud800",
        0,
        -12,
        1.5,
        float("inf"),
        Decimal("1234.50"),
        Decimal("NaN"),
        True,
        date(2027, 5, 1),
        datetime(2027, 5, 1, 10, 0),
        datetime(2027, 5, 1, 10, 0, tzinfo=UTC),
        b"bytes",
        ["a", "b"],
        "not a number",
        "ZZ",
        "2027-13-45",
        "12345678",
        "-1",
    ]
    for field in fields:
        for n, value in enumerate(values):
            yield f"{field}={n}", {**base, field: value}
        absent = dict(base)
        del absent[field]
        yield f"{field} absent", absent
    yield "no partner", {k: v for k, v in base.items() if k != "Partner_Account__r"}
    yield "empty partner", {**base, "Partner_Account__r": {"Partner_Number__c": ""}}
    yield "other partner", {**base, "Partner_Account__r": {"Partner_Number__c": "P-002"}}
    yield "nothing to encrypt", {"Registration_Number__c": "DR-1", "Partner_Account__r": {"Partner_Number__c": "P-001"}}
    yield "everything empty", {**{f: None for f in fields}, "Registration_Number__c": "DR-1"}


def _outcome(
    protect: Any, protector: KeyringProtector, mapping: ObjectMapping, key: str, payload: dict[str, Any]
) -> Any:
    try:
        return protect(protector, mapping, key, dict(payload))
    except RecordRejectedError as exc:
        return (type(exc), str(exc), exc.context)


# ----------------------------------------------------------------- the pins


@pytest.mark.parametrize("name", ["deal_registration", "account_registration", "deal_registration_mixed"])
@pytest.mark.parametrize("record_key", ["DR-0000001", "ключ-é✓", "k" * 300])
def test_protect_gives_the_reference_payloads_and_rejections(
    tmp_path: Path, nonces: Nonces, name: str, record_key: str
) -> None:
    mapping = _mappings(tmp_path)[name]
    keyring = Keyring.generate()
    fast, reference = KeyringProtector(keyring), KeyringProtector(keyring)
    compared = 0
    for label, payload in _payloads():
        # twice each: the second time the band labels come from the fast path's memory
        for _ in range(2):
            nonces.reset()
            got = _outcome(KeyringProtector.protect, fast, mapping, record_key, payload)
            nonces.reset()
            want = _outcome(ref_protect, reference, mapping, record_key, payload)
            assert got == want, label
            compared += 1
    assert compared > 300


def test_protected_values_decrypt_with_the_field_cipher(tmp_path: Path) -> None:
    mapping = _mappings(tmp_path)["deal_registration_mixed"]
    protector = KeyringProtector(Keyring.generate())
    payload = dict(next(_payloads())[1])
    payload["Competitive_Notes__c"] = 'notes, "quoted"\nüñí ✓ ' * 50
    protected = protector.protect(mapping, "DR-9", payload)
    cipher = FieldCipher(protector.keyring)
    for fm in mapping.encrypted_fields():
        token = protected[fm.field]
        ctx = FieldContext(sobject=mapping.salesforce.object, field=fm.field, record_key="DR-9")
        assert cipher.decrypt(token, ctx) == payload[fm.field]
    # a fresh nonce per value: the same record twice never gives the same token
    again = protector.protect(mapping, "DR-9", payload)
    assert all(again[fm.field] != protected[fm.field] for fm in mapping.encrypted_fields())


_PLAINTEXTS: list[bytes] = [
    b"",
    b"x",
    b"xy",
    b"xyz",
    "ünïcödé ✓ 漢字 🙂".encode(),
    b'\x00\xff\n\r,"=+/',
    b"a" * 1000,
    b"b" * 100_001,
    os.urandom(4096),
]


@pytest.mark.parametrize("record_key", ["DR-1", "é✓ key", "k" * 1000])
def test_record_sealer_gives_the_reference_tokens(record_key: str) -> None:
    cipher = FieldCipher(Keyring.generate())
    fields = [f"Field_{n}__c" for n in range(len(_PLAINTEXTS))]
    sealer = cipher.sealer("Deal_Registration__c", fields)
    pairs = [(n, data) for n, data in enumerate(_PLAINTEXTS)]
    pairs += [(len(pairs) - 1 - n, data) for n, data in enumerate(_PLAINTEXTS)]  # other order, repeats
    for count in (0, 1, 2, 3, len(pairs)):
        chosen = pairs[:count]
        nonces = os.urandom(12 * count)
        tokens = sealer.seal(record_key, chosen, nonces=nonces)
        assert tokens == ref_seal(sealer, record_key, chosen, nonces)
        for n, ((position, data), token) in enumerate(zip(chosen, tokens, strict=True)):
            ctx = FieldContext(sobject="Deal_Registration__c", field=fields[position], record_key=record_key)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue  # sealable bytes, but the opener returns text
            assert cipher.decrypt(token, ctx) == text
            # the single-value path gives the same token for the same nonce
            assert cipher.encrypt_at(text, ctx, nonce=nonces[12 * n : 12 * n + 12]) == token


def test_record_sealer_draws_fresh_nonces() -> None:
    sealer = FieldCipher(Keyring.generate()).sealer("Deal_Registration__c", ["A__c"])
    tokens = [sealer.seal("DR-1", [(0, b"same")] * 5) for _ in range(20)]
    flat = [t for batch in tokens for t in batch]
    assert len(set(flat)) == len(flat)
    assert len({t.split(".")[2][:16] for t in flat}) == len(flat)  # the nonce is the first 16 characters


# ----------------------------------------------------------------- undecodable_columns


def ref_undecodable_columns(row: dict[str, Any]) -> list[str]:
    """undecodable_columns as it was."""
    bad: list[str] = []
    texts: list[str] = []
    for column, value in row.items():
        if value is UNREADABLE:
            bad.append(str(column))
        elif isinstance(value, str):
            texts.append(value)
    try:
        "".join(texts).encode("utf-8")
    except UnicodeEncodeError:
        bad = []
        for column, value in row.items():
            if value is UNREADABLE:
                bad.append(str(column))
            elif isinstance(value, str):
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    bad.append(str(column))
    return bad


class Text(str):
    pass


class EqualsEverything:
    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


_CELLS: list[Any] = [
    "plain",
    "",
    "ünïcödé ✓ 🙂",
    "bad \udcff byte",
    "\ud800",
    Text("sub \udcfe"),
    Text("fine"),
    UNREADABLE,
    None,
    0,
    Decimal("1.5"),
    date(2024, 1, 1),
    datetime(2024, 1, 1, tzinfo=UTC),
    b"\xff",
    EqualsEverything(),
    "x" * 100_000,
]


def test_undecodable_columns_gives_the_reference_answer() -> None:
    rows: list[dict[str, Any]] = [{}]
    rows += [{"a": cell} for cell in _CELLS]
    rows += [{"a": "ok", "b": one, "c": two, 7: "key not a str"} for one in _CELLS for two in _CELLS]  # type: ignore[dict-item]
    for row in rows:
        assert undecodable_columns(row) == ref_undecodable_columns(row), row.keys()
