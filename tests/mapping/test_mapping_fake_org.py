"""The shipped mappings' payloads are accepted by FakeSalesforce, and what it returns maps back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from org_helpers import with_disabled_schema

from sfsync.mapping import MappingSet, ObjectMapping
from sfsync.testing import FakeSalesforce

GOLDEN = Path(__file__).parent / "golden"


def upsert(fake: FakeSalesforce, sobject: str, ext_field: str, records: list[dict[str, Any]]) -> list[Any]:
    url = f"{fake.instance_url}/services/data/v{fake.api_version}/composite/sobjects/{sobject}/{ext_field}"
    body = {"allOrNone": False, "records": [{"attributes": {"type": sobject}, **r} for r in records]}
    response = requests.patch(url, json=body, headers={"Authorization": f"Bearer {fake.access_token}"}, timeout=5)
    response.raise_for_status()
    results: list[Any] = response.json()
    return results


def query(fake: FakeSalesforce, soql: str) -> list[dict[str, Any]]:
    url = f"{fake.instance_url}/services/data/v{fake.api_version}/query"
    response = requests.get(
        url, params={"q": soql}, headers={"Authorization": f"Bearer {fake.access_token}"}, timeout=5
    )
    response.raise_for_status()
    records: list[dict[str, Any]] = response.json()["records"]
    return records


@pytest.mark.parametrize(
    ("name", "golden"),
    [
        ("deal_registration", "deal_registration"),
        ("deal_registration_lead", "deal_registration_lead"),
        ("account_registration", "account_registration"),
    ],
)
def test_payload_upserts_and_pulls_back(
    shipped: MappingSet, fake_salesforce: FakeSalesforce, name: str, golden: str, request: pytest.FixtureRequest
) -> None:
    fake = fake_salesforce
    if not shipped.get(name).enabled:
        # A disabled alternative's fields are deployed with `export-metadata --include-disabled`.
        fake.stop()
        fake = FakeSalesforce(with_disabled_schema())
        fake.start()
        request.addfinalizer(fake.stop)
    fake.insert("Account", {"Name": "Northwind Solutions", "Partner_Number__c": "P-001"})
    mapping = shipped.get(name)
    row = json.loads((GOLDEN / f"{golden}.json").read_text())["portal_row"]
    record_type_id = fake.record_type_id("Lead", "Deal_Registration") if mapping.salesforce.record_type else None
    outbound = mapping.to_salesforce(row, is_create=True, record_type_id=record_type_id)
    assert outbound.ok
    [result] = upsert(fake, mapping.salesforce.object, mapping.salesforce.external_id_field, [outbound.payload])
    assert result["success"], result
    assert result["created"] is True
    # a second upsert of the update payload is accepted too (and creates nothing)
    update = mapping.to_salesforce(row, is_create=False)
    [again] = upsert(fake, mapping.salesforce.object, mapping.salesforce.external_id_field, [update.payload])
    assert again["success"] and again["created"] is False

    soql = f"SELECT {', '.join(mapping.soql_fields())} FROM {mapping.salesforce.object}"
    [record] = query(fake, soql)
    pulled = mapping.to_portal(record)
    assert pulled["salesforce_id"] == result["id"]
    # The exported Status picklist has no default (nor has a deployed org): a new record's status is
    # null, and `on_null: keep` leaves the portal's own value alone instead of writing null.
    assert "status" not in pulled
    assert mapping.to_portal(record | {_status_field(mapping): "Approved"})["status"] == "approved"
    assert pulled["conflict_flag"] is False
    back = mapping.to_portal(record | {k: v for k, v in outbound.payload.items()}, include_portal_owned=True)
    assert back["partner_number"] == "P-001"


def test_direct_opportunities_query(shipped: MappingSet, fake_salesforce: FakeSalesforce) -> None:
    fake = fake_salesforce
    account = fake.insert(
        "Account",
        {
            "Name": "Acme Foods",
            "Website": "https://acmefoods.example",
            "BillingCountry": "US",
            "DunsNumber": "123456789",
        },
    )
    fake.insert(
        "Opportunity",
        {
            "Name": "Acme storage",
            "AccountId": account,
            "StageName": "Prospecting",
            "CloseDate": "2027-01-15",
            "Amount": 90000,
            "Product_Lines__c": "Storage;Servers",
        },
    )
    mapping = shipped.get("direct_opportunities")
    [record] = query(fake, f"SELECT {', '.join(mapping.soql_fields())} FROM Opportunity")
    view = mapping.to_portal(record)
    assert view["account_name"] == "Acme Foods" and view["account_duns"] == "123456789"
    assert sorted(view["product_lines"]) == ["Servers", "Storage"]  # Salesforce orders by definition
    assert view["owner_id"] == fake.user_id
    assert str(view["amount"]) in ("90000", "90000.0", "90000.00")


def _status_field(mapping: ObjectMapping) -> str:
    return next(fm.field for fm in mapping.fields if fm.portal_column == "status")
