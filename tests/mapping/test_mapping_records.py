"""to_salesforce / to_portal: golden files for every shipped mapping, record errors, round trips."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from _mapping_helpers import BASE, with_fields
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfsync.errors import MappingError
from sfsync.mapping import MappingSet, RecordMappingError, load_mappings
from sfsync.mapping._preview import json_default

GOLDEN = Path(__file__).parent / "golden"
NAMES = ["deal_registration", "deal_registration_lead", "account_registration", "direct_opportunities"]


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize("name", NAMES)
def test_golden_both_directions(shipped: MappingSet, name: str) -> None:
    case = golden(name)
    mapping = shipped.get(name)
    if "portal_row" in case:
        created = mapping.to_salesforce(case["portal_row"], is_create=True, record_type_id="0125g000000DEALAAA")
        assert created.errors == []
        assert created.payload == case["payload_on_create"]
        updated = mapping.to_salesforce(case["portal_row"], is_create=False)
        assert updated.payload == case["payload_on_update"]
        assert created.external_id == case["portal_row"]["registration_number"]
    pulled = json.loads(json.dumps(mapping.to_portal(case["salesforce_record"]), default=json_default))
    assert pulled == case["portal_values"]


def test_update_leaves_out_on_create_only_and_record_type(shipped: MappingSet) -> None:
    case = golden("deal_registration_lead")
    assert "Submitted_At__c" in case["payload_on_create"] and "Submitted_At__c" not in case["payload_on_update"]
    assert case["payload_on_create"]["RecordTypeId"] == "0125g000000DEALAAA"
    assert "RecordTypeId" not in case["payload_on_update"]
    assert case["payload_on_create"]["PartnerAccount"] == {"Partner_Number__c": "P-001"}
    assert case["payload_on_create"]["LastName"] == "DR-000123"


def test_payload_holds_only_portal_owned_fields(shipped: MappingSet) -> None:
    mapping = shipped.get("deal_registration")
    payload = golden("deal_registration")["payload_on_create"]
    salesforce_owned = {fm.salesforce_field for fm in mapping.salesforce_owned()}
    assert not salesforce_owned & set(payload)
    pulled = mapping.to_portal(golden("deal_registration")["salesforce_record"])
    portal_owned_columns = {c for fm in mapping.portal_owned() for c in fm.columns}
    assert not portal_owned_columns & set(pulled)


def test_to_portal_parses_types(shipped: MappingSet) -> None:
    pulled = shipped.get("deal_registration").to_portal(golden("deal_registration")["salesforce_record"])
    assert pulled["decided_at"] == datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
    assert pulled["protection_end"] == date(2027, 2, 1)
    assert pulled["conflict_flag"] is True
    assert pulled["status"] == "approved"


def test_soql_fields(shipped: MappingSet) -> None:
    fields = shipped.get("deal_registration").soql_fields()
    assert fields[:4] == ["Id", "SystemModstamp", "IsDeleted", "Registration_Number__c"]
    assert {
        "Status__c",
        "Decision_Reason__c",
        "Decided_At__c",
        "Protection_Start__c",
        "Protection_End__c",
        "Conflict_Flag__c",
    } <= set(fields)
    assert "End_Customer_Name__c" not in fields and len(fields) == len(set(fields))
    opp_fields = shipped.get("direct_opportunities").soql_fields()
    assert {
        "Account.Name",
        "Account.Website",
        "Account.BillingCountry",
        "Account.BillingPostalCode",
        "Account.DunsNumber",
        "AccountId",
        "Owner.UserRole.Name",
        "Owner.Profile.Name",
        "Owner.Sales_Channel__c",
        "StageName",
        "Amount",
        "Product_Lines__c",
        "SystemModstamp",
    } <= set(opp_fields)


# ------------------------------------------------------------------ record errors


def bad_row(**changes: Any) -> dict[str, Any]:
    row = dict(golden("deal_registration")["portal_row"])
    row.update(changes)
    return row


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"product_lines": "servers,mainframes"}, "Product_Lines__c", "unmapped_value"),
        ({"expected_close_date": "15/12/2026"}, "Expected_Close_Date__c", "bad_date"),
        ({"amount": "a lot"}, "Amount__c", "bad_number"),
        ({"amount": None}, "Amount__c", "required"),
        ({"end_customer_name": "   "}, "End_Customer_Name__c", "required"),
        ({"end_customer_postal_code": "X" * 33}, "End_Customer_Postal_Code__c", "too_long"),
        ({"end_customer_name": "Ü" * 80}, "End_Customer_Name__c", "too_long"),
        ({"currency": "EURO"}, "Currency_Code__c", "too_long"),
        ({"extension_requested": "perhaps"}, "Extension_Requested__c", "bad_boolean"),
        ({"registration_number": None}, "Registration_Number__c", "required"),
    ],
)
def test_record_problems(shipped: MappingSet, changes: dict[str, Any], field: str, code: str) -> None:
    outbound = shipped.get("deal_registration").to_salesforce(bad_row(**changes), is_create=True)
    assert not outbound.ok
    [problem] = outbound.errors
    assert (problem.field, problem.code) == (field, code)
    assert problem.mapping == "deal_registration"
    for value in changes.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in str(problem)  # never the value: it may be confidential
    assert field not in outbound.payload


def test_all_record_problems_at_once(shipped: MappingSet) -> None:
    row = bad_row(product_lines="mainframes", expected_close_date="soon", amount=None)
    outbound = shipped.get("deal_registration").to_salesforce(row, is_create=True)
    assert {p.field for p in outbound.errors} == {"Product_Lines__c", "Expected_Close_Date__c", "Amount__c"}


def test_missing_column_in_row(shipped: MappingSet) -> None:
    row = bad_row()
    del row["currency"]
    [problem] = shipped.get("deal_registration").to_salesforce(row, is_create=True).errors
    assert problem.code == "missing_column" and "currency" in problem.message


def test_default_fills_an_empty_value(shipped: MappingSet) -> None:
    outbound = shipped.get("deal_registration").to_salesforce(bad_row(currency="  "), is_create=True)
    assert outbound.payload["Currency_Code__c"] == "USD"


def test_to_portal_error_has_no_values(shipped: MappingSet) -> None:
    record = dict(golden("deal_registration")["salesforce_record"], Status__c="Escalated", Decided_At__c="noon")
    with pytest.raises(RecordMappingError) as info:
        shipped.get("deal_registration").to_portal(record)
    assert {p.field for p in info.value.problems} == {"Status__c", "Decided_At__c"}
    assert "Escalated" not in str(info.value) and "noon" not in str(info.value)
    assert isinstance(info.value, MappingError)


def test_pull_only_mapping_refuses_to_push(shipped: MappingSet) -> None:
    with pytest.raises(MappingError, match="only pulls"):
        shipped.get("direct_opportunities").to_salesforce({}, is_create=True)


def test_lookup_cleared_when_empty(write_yaml: Callable[..., Path]) -> None:
    text = with_fields("""
        - {column: partner, field: Partner__c, type: reference, owner: portal, clear: "the partner, not a customer",
           transforms: [trim, {lookup: Account.Partner_Number__c}]}
    """)
    mapping = load_mappings([write_yaml(text)]).get("demo")
    assert mapping.to_salesforce({"number": "1", "name": "x", "partner": "P-9"}, is_create=True).payload[
        "Partner__r"
    ] == {"Partner_Number__c": "P-9"}
    assert (
        mapping.to_salesforce({"number": "1", "name": "x", "partner": " "}, is_create=True).payload["Partner__c"]
        is None
    )


def test_filter_conditions_load_as_the_portal_runs_them(write_yaml: Callable[..., Path]) -> None:
    from sfsync.portal import FilterCondition

    text = BASE.replace(
        "  external_id_column: number\n",
        """  external_id_column: number
  filter:
    - {column: status, op: in, value: [submitted, approved]}
    - {column: deleted_at, op: is_null}
    - {column: status, op: ne, value: draft}
""",
    )
    mapping = load_mappings([write_yaml(text)]).get("demo")
    assert list(mapping.portal.filter) == [
        FilterCondition(column="status", op="in", value=["submitted", "approved"]),
        FilterCondition(column="deleted_at", op="is_null"),
        FilterCondition(column="status", op="ne", value="draft"),
    ]
    bad = BASE.replace(
        "  external_id_column: number\n", "  external_id_column: number\n  filter: [{column: s, op: in, value: x}]\n"
    )
    with pytest.raises(MappingError, match="needs a list value"):
        load_mappings([write_yaml(bad, "bad.yaml")])


# ------------------------------------------------------------------ round trip (property)

printable = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=30
)
product_codes = st.lists(
    st.sampled_from(["servers", "storage", "networking", "pcs"]), min_size=1, max_size=4, unique=True
)


@st.composite
def canonical_deal_rows(draw: st.DrawFn) -> dict[str, Any]:
    """Rows already in canonical form (trimmed, cased as the mapping writes them)."""
    return {
        "registration_number": draw(st.from_regex(r"DR-[0-9]{6}", fullmatch=True)),
        "partner_number": draw(st.from_regex(r"P-[0-9]{3}", fullmatch=True)),
        "end_customer_name": draw(printable),
        "end_customer_website": draw(st.none() | printable),
        "end_customer_domain": draw(st.none() | st.from_regex(r"[a-z]{1,10}\.example", fullmatch=True)),
        "end_customer_country": draw(st.sampled_from(["US", "DE", "NO", "GB"])),
        "end_customer_postal_code": draw(st.none() | st.from_regex(r"[0-9A-Z]{3,8}", fullmatch=True)),
        "end_customer_duns": draw(st.none() | st.from_regex(r"[0-9]{9}", fullmatch=True)),
        "product_lines": ",".join(draw(product_codes)),
        "amount": draw(st.decimals(min_value=0, max_value=10**15, places=2, allow_nan=False)),
        "currency": draw(st.sampled_from(["USD", "EUR"])),
        "expected_close_date": draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))),
        "extension_requested": draw(st.booleans()),
        "competitive_notes": draw(st.none() | printable),
        "customer_contact_name": draw(st.none() | printable),
        "customer_contact_email": draw(st.none() | st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.example", fullmatch=True)),
        "customer_contact_phone": draw(st.none() | st.from_regex(r"\+[0-9]{6,12}", fullmatch=True)),
        "submitted_at": draw(
            st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
        ).replace(microsecond=0),
        "withdrawn_at": None,
    }


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(canonical_deal_rows())
def test_round_trip_returns_portal_owned_fields(shipped: MappingSet, row: dict[str, Any]) -> None:
    mapping = shipped.get("deal_registration")
    outbound = mapping.to_salesforce(row, is_create=True)
    assert outbound.ok, outbound.errors
    # Through JSON, as the gateway sends it and Salesforce returns it.
    wire = json.loads(json.dumps(outbound.payload))
    back = mapping.to_portal(wire, include_portal_owned=True)
    for fm in mapping.portal_owned():
        for column in fm.columns:
            expected = row[column]
            if isinstance(expected, Decimal):
                assert Decimal(back[column]) == expected, column
            elif fm.encrypted and isinstance(expected, date):
                # A banded date travels as encrypted text: the same ISO date comes back.
                assert back[column] == expected.isoformat(), column
            else:
                assert back[column] == expected, column


def test_partial_salesforce_record_never_blanks_columns(shipped: MappingSet) -> None:
    pulled = shipped.get("deal_registration").to_portal({"Id": "a0B", "Status__c": "Rejected"})
    assert pulled == {"salesforce_id": "a0B", "status": "rejected"}
    # a null lookup on the way is a null value, not a missing one
    view = shipped.get("direct_opportunities").to_portal({"Id": "006", "Account": None})
    assert view["account_name"] is None and view["opportunity_id"] == "006"
    assert set(view) == {fm.columns[0] for fm in shipped.get("direct_opportunities").fields}
