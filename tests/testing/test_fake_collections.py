"""sObject Collections: upsert by external id, create, update, delete; limits, per-record errors, allOrNone."""

from __future__ import annotations

from typing import Any

import pytest
import simple_salesforce
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce

UPSERT = "composite/sobjects/Account/Partner_Number__c"


def acc(number: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "Partner_Number__c": number, **fields}


def test_upsert_creates_then_updates_in_input_order(api: Api) -> None:
    existing = api.fake.insert("Account", {"Name": "Old", "Partner_Number__c": "P-002"})
    response = api.call(
        "PATCH",
        UPSERT,
        json={
            "allOrNone": False,
            "records": [acc("P-001", Name="One"), acc("P-002", Name="Two"), acc("P-003", Name="Three")],
        },
    )
    assert response.status_code == 200
    results = response.json()
    assert [r["created"] for r in results] == [True, False, True]
    assert all(r["success"] and r["errors"] == [] for r in results)
    assert results[1]["id"] == existing
    assert api.fake.get("Account", existing)["Name"] == "Two"
    assert api.fake.request_log[-1].records == 3
    # Rerunning the same payload creates nothing new.
    again = api.call(
        "PATCH",
        UPSERT,
        json={
            "allOrNone": False,
            "records": [acc("P-001", Name="One"), acc("P-002", Name="Two"), acc("P-003", Name="Three")],
        },
    ).json()
    assert [r["created"] for r in again] == [False, False, False]
    assert len(api.fake.records("Account")) == 3


def test_per_record_errors_do_not_stop_the_others(api: Api) -> None:
    response = api.call(
        "PATCH",
        UPSERT,
        json={
            "allOrNone": False,
            "records": [
                acc("P-001", Name="ok"),
                acc("P-002"),  # Name missing
                acc("P-003", Name="x" * 300),
                acc("P-004", Name="t", Partner_Tier__c="Diamond"),
                acc("P-005", Name="u", Bogus__c=1),
                acc("P-006", Name="v", CreatedDate="2024-01-01T00:00:00Z"),
                {"attributes": {"type": "Account"}, "Name": "no ext id"},
            ],
        },
    )
    assert response.status_code == 200
    results = response.json()
    assert results[0]["success"] is True
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]
    assert codes == [
        None,
        "REQUIRED_FIELD_MISSING",
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_FIELD",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "MISSING_ARGUMENT",
    ]
    for result in results[1:]:
        assert result["success"] is False
        assert set(result["errors"][0]) == {"statusCode", "message", "fields"}
    assert results[1]["errors"][0]["fields"] == ["Name"]
    assert [r["Partner_Number__c"] for r in api.fake.records("Account")] == ["P-001"]


def test_duplicate_external_ids_in_one_request(api: Api) -> None:
    results = api.call(
        "PATCH", UPSERT, json={"records": [acc("P-001", Name="a"), acc("p-001", Name="b"), acc("P-002", Name="c")]}
    ).json()
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "DUPLICATE_EXTERNAL_ID"
    assert "P-001" in results[0]["errors"][0]["message"]


def test_all_or_none_rolls_back(api: Api) -> None:
    api.fake.insert("Account", {"Name": "Before", "Partner_Number__c": "P-001"})
    results = api.call(
        "PATCH",
        UPSERT,
        json={"allOrNone": True, "records": [acc("P-001", Name="Changed"), acc("P-002", Name="New"), acc("P-003")]},
    ).json()
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert [(r["Name"], r["Partner_Number__c"]) for r in api.fake.records("Account")] == [("Before", "P-001")]


def test_more_than_200_records_is_refused(api: Api) -> None:
    response = api.call("PATCH", UPSERT, json={"records": [acc(f"P-{i}", Name="n") for i in range(201)]})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert api.fake.records("Account") == []
    ok = api.call("PATCH", UPSERT, json={"records": [acc(f"P-{i}", Name="n") for i in range(200)]})
    assert ok.status_code == 200 and len(ok.json()) == 200


@pytest.mark.parametrize(
    ("url", "body", "code"),
    [
        ("composite/sobjects/Account/Name", {"records": [acc("P-1", Name="n")]}, "INVALID_FIELD"),
        (UPSERT, {"records": [{"Name": "no attributes"}]}, "INVALID_TYPE"),
        (UPSERT, {"records": [{"attributes": {"type": "Contact"}, "LastName": "x"}]}, "INVALID_TYPE"),
        (UPSERT, {"records": [acc("P-1", Name="n", IsPartner="maybe")]}, "JSON_PARSER_ERROR"),
        (UPSERT, {"nope": []}, "JSON_PARSER_ERROR"),
    ],
)
def test_request_level_errors(api: Api, url: str, body: dict[str, Any], code: str) -> None:
    response = api.call("PATCH", url, json=body)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code
    assert api.fake.records("Account") == []


def test_type_error_rolls_back_earlier_records_of_the_request(api: Api) -> None:
    response = api.call(
        "PATCH", UPSERT, json={"records": [acc("P-1", Name="a"), acc("P-2", Name="b", IsPartner="maybe")]}
    )
    assert response.status_code == 400
    assert api.fake.records("Account") == []


def test_relationship_by_external_id_in_collections(api: Api) -> None:
    partner = api.fake.insert("Account", {"Name": "Partner", "Partner_Number__c": "P-001"})
    base = {"attributes": {"type": "Opportunity"}, "StageName": "Prospecting", "CloseDate": "2024-06-30"}
    results = api.call(
        "POST",
        "composite/sobjects",
        json={
            "records": [
                {**base, "Name": "ok", "Partner_Account__r": {"Partner_Number__c": "P-001"}},
                {**base, "Name": "bad", "Partner_Account__r": {"Partner_Number__c": "P-404"}},
            ]
        },
    ).json()
    assert results[0]["success"] is True and "created" not in results[0]
    assert api.fake.get("Opportunity", results[0]["id"])["Partner_Account__c"] == partner
    error = results[1]["errors"][0]
    assert error["statusCode"] == "INVALID_FIELD"
    assert error["message"] == "Foreign key external ID: P-404 not found for field Partner_Number__c in entity Account"


def test_create_update_delete_by_id(api: Api) -> None:
    created = api.call(
        "POST",
        "composite/sobjects",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Contact"}, "LastName": "L"},
            ],
        },
    ).json()
    a_id, c_id = (r["id"] for r in created)
    updated = api.call(
        "PATCH",
        "composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": a_id, "Name": "A2"},
                {"attributes": {"type": "Account"}, "Name": "no id"},
                {"attributes": {"type": "Account"}, "id": "bogus", "Name": "x"},
            ]
        },
    ).json()
    assert updated[0] == {"id": a_id, "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"
    assert updated[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert api.fake.get("Account", a_id)["Name"] == "A2"
    got = api.get("composite/sobjects/Account", params={"ids": a_id, "fields": "Name"}).json()
    assert got[0]["Name"] == "A2"
    deleted = api.call(
        "DELETE", "composite/sobjects", params={"ids": f"{a_id},{c_id},{a_id[:3]}bogus", "allOrNone": "false"}
    ).json()
    assert [r["success"] for r in deleted] == [True, True, False]
    assert deleted[0]["id"] == a_id
    assert api.fake.records("Account") == [] and api.fake.records("Contact") == []
    again = api.call("DELETE", "composite/sobjects", params={"ids": a_id}).json()
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_delete_all_or_none_restores(api: Api) -> None:
    a_id = api.fake.insert("Account", {"Name": "A"})
    results = api.call(
        "DELETE", "composite/sobjects", params={"ids": f"{a_id},001000000000000AAA", "allOrNone": "true"}
    ).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert api.fake.get("Account", a_id)["IsDeleted"] is False


def test_collections_through_simple_salesforce(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
    )
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": False, "records": [acc("P-1", Name="n")]})
    assert results[0]["created"] is True
