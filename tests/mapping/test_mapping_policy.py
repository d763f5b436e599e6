"""The field policy (law 10): every partner-submitted field is classified; weakening needs approval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _mapping_helpers import with_fields

from sfsync.crypto import Keyring
from sfsync.errors import KeyringError
from sfsync.mapping import MappingSet, ValidationReport, load_mappings
from sfsync.mapping._model import BandSpec
from sfsync.mapping._policy import field_policy, open_policy, reidentification, seal_policy, weakenings

Check = Callable[[str], ValidationReport]


def codes(report: ValidationReport) -> list[tuple[str | None, str]]:
    return [(p.field, p.message) for p in report.errors]


def test_unclassified_partner_field_is_refused_with_its_line(check_all: Check) -> None:
    text = with_fields("- {column: amount, field: Amount__c, type: string, length: 255, owner: portal}\n")
    [problem] = check_all(text).errors
    assert problem.code == "policy" and problem.field == "Amount__c"
    assert "has no classification" in problem.message and problem.line == text.count("\n")
    assert problem.hint and "clear: <why" in problem.hint


def test_salesforce_owned_and_constant_fields_need_no_classification(check_all: Check) -> None:
    text = with_fields("""
        - {column: status, field: Status__c, type: string, owner: salesforce}
        - {field: Source__c, type: string, owner: portal, transforms: [{constant: Portal}]}
    """)
    assert check_all(text).problems == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{column: a, field: A__c, type: string, length: 255, owner: portal, encrypt: true, clear: visible to all}",
            "also encrypted or banded",
        ),
        (
            "{column: a, field: A__c, type: string, length: 255, owner: portal, band: {field: A_Band__c, edges: [1]}}",
            "must itself be encrypted",
        ),
        (
            "{column: a, field: A__c, type: string, length: 255, owner: portal, encrypt: {blind_index: "
            "{field: A_BIdx__c, normalizer: exact}}}",
            "has no reader",
        ),
        (
            "{column: a, field: A__c, type: string, length: 255, owner: portal, encrypt: {blind_index: "
            "{field: A_BIdx__c, normalizer: exact, reader: the desk's duplicate check, bits: 32}}}",
            "each index value would point at one plaintext",
        ),
        (
            "{column: a, field: A__c, type: string, length: 255, owner: portal, encrypt: {blind_index: "
            "{field: A_BIdx__c, normalizer: exact, reader: the desk's duplicate check, expected_rows: 3}}}",
            "too few for a private blind index",
        ),
    ],
)
def test_policy_shape_checks(check_all: Check, entry: str, expected: str) -> None:
    messages = [p.message for p in check_all(with_fields(f"- {entry}\n")).errors]
    assert any(expected in m for m in messages), messages


def test_band_values() -> None:
    amount = BandSpec(field="Amount_Band__c", edges=[50000, 100000, 1000000])
    assert [amount.band_of(v) for v in ("49999.99", "50000", "99999", "1000000", None)] == [
        "<50k",
        "50k-100k",
        "50k-100k",
        ">=1M",
        None,
    ]
    with pytest.raises(ValueError, match="not a number"):
        amount.band_of("a lot")
    region = BandSpec(field="Region__c", groups={"EMEA": ["DE", "FR"]}, other="Rest")
    assert (region.band_of(" de "), region.band_of("US")) == ("EMEA", "Rest")
    assert BandSpec(field="Q__c", period="quarter").band_of("2026-11-30") == "2026-Q4"
    with pytest.raises(ValueError, match="exactly one"):
        BandSpec(field="X__c", edges=[1], period="year")


def test_shipped_policy_protects_the_reviewers_fields(shipped: MappingSet) -> None:
    """Finding 2: amount, postal code, employee count and customer identity are no longer clear."""
    entries = {(e.mapping, e.field): e for e in field_policy(shipped).entries}
    for mapping, field in [
        ("deal_registration", "Amount__c"),
        ("deal_registration", "End_Customer_Postal_Code__c"),
        ("deal_registration", "End_Customer_Country__c"),
        ("deal_registration", "End_Customer_Name__c"),
        ("deal_registration", "Expected_Close_Date__c"),
        ("account_registration", "Employee_Count__c"),
        ("account_registration", "Customer_Postal_Code__c"),
        ("deal_registration_lead", "Deal_Amount__c"),
    ]:
        assert entries[(mapping, field)].protection in ("encrypt", "band"), (mapping, field)
        assert entries[(mapping, field)].per_partner_key, (mapping, field)
    clear = [e for e in entries.values() if e.protection == "clear"]
    assert clear and all(e.reason and len(e.reason) > 30 for e in clear)
    assert not [e for e in entries.values() if e.protection in ("unclassified", "blind_index")]
    markdown = field_policy(shipped).to_markdown()
    assert "| Amount__c | amount | band | yes | Amount_Band__c: ranges 50k, 75k, 100k, 250k, 500k, 1M |" in markdown


def _variant(tmp_path: Path, old: str, new: str) -> MappingSet:
    text = (Path(__file__).resolve().parents[2] / "mappings" / "deal_registration.yaml").read_text()
    assert old in text
    (tmp_path / "deal_registration.yaml").write_text(text.replace(old, new))
    return load_mappings([tmp_path / "deal_registration.yaml"])


def test_weakenings_name_each_downgrade(shipped: MappingSet, tmp_path: Path) -> None:
    """Finding 4: deleting `encrypt:` from a field is a weakening the pinned policy catches."""
    pinned = field_policy(shipped).document()
    assert weakenings(pinned, field_policy(shipped)) == []
    downgraded = _variant(
        tmp_path,
        "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
        "    clear: someone thought this was harmless\n",
    )
    [problem] = weakenings(pinned, field_policy(downgraded))
    assert "End_Customer_Postal_Code__c would be sent as clear, approved as encrypt" in problem
    shared = _variant(
        tmp_path,
        "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
        "    encrypt: {max_plaintext_bytes: 32}\n",
    )
    [problem] = weakenings(pinned, field_policy(shared))
    assert "under the shared key" in problem
    finer = _variant(
        tmp_path,
        "edges: [50000, 75000, 100000, 250000, 500000, 1000000]",
        "edges: [50000, 50001, 75000, 100000, 250000, 500000, 1000000]",
    )
    [problem] = weakenings(pinned, field_policy(finer))
    assert "Amount__c would publish another band value" in problem
    # Approved as clear, now encrypted: stronger needs no approval.
    looser = {
        **pinned,
        "fields": [
            {**f, "protection": "clear", "per_partner_key": False} if f["field"] == "Competitive_Notes__c" else f
            for f in pinned["fields"]
        ],
    }
    assert weakenings(looser, field_policy(shipped)) == []
    # A field the approval does not know may only arrive encrypted.
    unknown = {**pinned, "fields": [f for f in pinned["fields"] if f["field"] != "Currency_Code__c"]}
    [problem] = weakenings(unknown, field_policy(shipped))
    assert "Currency_Code__c is new and would be sent as clear" in problem


def test_sealed_policy_needs_the_keyring(shipped: MappingSet) -> None:
    keyring = Keyring.generate()
    stored = seal_policy(keyring, field_policy(shipped), approved_by="reviewer")
    assert open_policy(keyring, stored).document == field_policy(shipped).document()
    # Someone with write access to the state store but no key edits the approval: refused.
    edited = stored.replace('"protection": "encrypt"', '"protection": "clear"', 1)
    assert edited != stored
    with pytest.raises(KeyringError, match="does not authenticate"):
        open_policy(keyring, edited)
    with pytest.raises(KeyringError, match="does not authenticate"):
        open_policy(Keyring.generate(), stored)


def test_reidentification_counts_what_clear_fields_single_out(shipped: MappingSet, tmp_path: Path) -> None:
    accounts = [
        {"Id": "001A", "Name": "Acme", "BillingCountry": "US", "BillingPostalCode": "10001"},
        {"Id": "001B", "Name": "Bolt", "BillingCountry": "US", "BillingPostalCode": "94105"},
        {"Id": "001C", "Name": "Cura", "BillingCountry": "DE", "BillingPostalCode": "10115"},
        {"Id": "001P", "Name": "Partner", "BillingCountry": "US", "Partner_Number__c": "P-001"},
    ]
    # What the old mappings published: country and postal code in clear.
    old = _variant(
        tmp_path,
        "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
        "    clear: the old policy published it\n",
    )
    records = {
        "Deal_Registration__c": [
            {"End_Customer_Postal_Code__c": "10001", "End_Customer_Region__c": "AMER"},
            {"End_Customer_Postal_Code__c": "10115", "End_Customer_Region__c": "EMEA"},
        ]
    }
    assert reidentification(old, records, accounts).singled_out == 2
    shipped_records = {"Deal_Registration__c": [{"End_Customer_Region__c": "AMER"}, {"End_Customer_Region__c": "EMEA"}]}
    report = reidentification(MappingSet([shipped.get("deal_registration")]), shipped_records, accounts)
    assert report.accounts == 3  # the partner account is no candidate
    # EMEA leaves one customer Account here: the count says so rather than hiding it.
    assert report.per_mapping["deal_registration"]["singled_out"] == 1
    assert report.per_mapping["deal_registration"]["smallest_candidate_set"] == 1


def test_pointing_a_clear_field_at_another_column_is_a_weakening(shipped: MappingSet, tmp_path: Path) -> None:
    """The class stays `clear`, but the published value would be the customer's name."""
    pinned = field_policy(shipped).document()
    moved = _variant(tmp_path, "  - column: currency\n", "  - column: end_customer_name\n")
    problems = weakenings(pinned, field_policy(moved))
    assert problems == [
        "deal_registration: Deal_Registration__c.Currency_Code__c would publish portal column(s) end_customer_name, "
        "approved for currency"
    ]
