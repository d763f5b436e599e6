"""Single-record REST resources, describe, limits, validation rules and their error bodies."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
import simple_salesforce
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce, RecordError

SF_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000")


def test_create_get_update_delete(api: Api) -> None:
    created = api.call("POST", "sobjects/Account/", json={"Name": "Acme", "BillingCountry": "US"})
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    rid = body["id"]
    assert re.fullmatch(r"001[A-Za-z0-9]{15}", rid)
    got = api.get(f"sobjects/Account/{rid}").json()
    assert got["attributes"] == {"type": "Account", "url": f"/services/data/v60.0/sobjects/Account/{rid}"}
    assert got["Name"] == "Acme"
    assert got["IsDeleted"] is False
    assert got["OwnerId"] == api.fake.user_id
    for stamp in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
        assert SF_DATETIME.fullmatch(got[stamp])
    assert api.call("PATCH", f"sobjects/Account/{rid}", json={"Name": "Acme 2"}).status_code == 204
    assert api.fake.get("Account", rid)["Name"] == "Acme 2"
    assert api.get(f"sobjects/Account/{rid[:15]}").json()["Name"] == "Acme 2"
    fields = api.get(f"sobjects/Account/{rid}", params={"fields": "Name,BillingCountry"}).json()
    assert set(fields) == {"attributes", "Name", "BillingCountry"}
    assert api.call("DELETE", f"sobjects/Account/{rid}").status_code == 204
    deleted = api.get(f"sobjects/Account/{rid}")
    assert deleted.status_code == 404
    assert deleted.json()[0]["errorCode"] == "ENTITY_IS_DELETED"
    assert api.fake.get("Account", rid)["IsDeleted"] is True


def test_stamps_follow_the_clock() -> None:
    now = [datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)]
    with FakeSalesforce(clock=lambda: now[0]) as fake:
        rid = fake.insert("Account", {"Name": "A"})
        assert fake.get("Account", rid)["CreatedDate"] == "2024-05-01T10:00:00.123+0000"
        now[0] = datetime(2024, 5, 2, 8, 30, tzinfo=UTC)
        fake.update("Account", rid, {"Website": "https://a.example"})
        record = fake.get("Account", rid)
        assert record["CreatedDate"] == "2024-05-01T10:00:00.123+0000"
        assert record["LastModifiedDate"] == record["SystemModstamp"] == "2024-05-02T08:30:00.000+0000"
        now[0] = datetime(2024, 5, 3, tzinfo=UTC)
        fake.delete("Account", rid)
        assert fake.get("Account", rid)["SystemModstamp"] == "2024-05-03T00:00:00.000+0000"
        assert fake.records("Account") == []
        assert len(fake.records("Account", include_deleted=True)) == 1


@pytest.mark.parametrize(
    ("payload", "code", "fields"),
    [
        ({"Name": "A", "Bogus__c": 1}, "INVALID_FIELD", None),
        ({"Name": "A", "CreatedDate": "2024-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
        ({"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ({"BillingCountry": "US"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "A", "Partner_Tier__c": "Diamond"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Partner_Tier__c"]),
        ({"Name": "A", "IsPartner": "maybe"}, "JSON_PARSER_ERROR", None),
        ({"Name": "A", "OwnerId": "not-an-id"}, "MALFORMED_ID", ["OwnerId"]),
        ({"Name": "A", "OwnerId": "001000000000000AAA"}, "FIELD_INTEGRITY_EXCEPTION", ["OwnerId"]),
        ({"Name": "A", "OwnerId": "005000000000001AAA"}, "INVALID_CROSS_REFERENCE_KEY", None),
        ({"Name": "A", "Id": "001000000000000AAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["Id"]),
    ],
)
def test_create_errors(api: Api, payload: dict[str, object], code: str, fields: list[str] | None) -> None:
    response = api.call("POST", "sobjects/Account/", json=payload)
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert body[0]["errorCode"] == code
    assert body[0]["message"]
    if fields is not None:
        assert body[0]["fields"] == fields
    assert api.fake.records("Account") == []


def test_type_coercion_and_number_rules(fake: FakeSalesforce) -> None:
    acc = fake.insert("Account", {"Name": "A"})
    opp = fake.insert(
        "Opportunity",
        {"Name": "O", "AccountId": acc, "StageName": "Closed Won", "CloseDate": "2024-01-31", "Amount": "1234.567"},
    )
    record = fake.get("Opportunity", opp)
    assert record["Amount"] == 1234.57
    assert record["IsClosed"] is True and record["IsWon"] is True
    with pytest.raises(RecordError) as info:
        fake.insert("Opportunity", {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-31", "Amount": 1e17})
    assert info.value.status_code == "NUMBER_OUTSIDE_VALID_RANGE"
    with pytest.raises(RecordError) as info:
        fake.insert("Opportunity", {"Name": "O", "StageName": "Prospecting", "CloseDate": "31/01/2024"})
    assert info.value.status_code == "JSON_PARSER_ERROR"
    with pytest.raises(RecordError) as info:
        fake.insert("Contact", {"LastName": "L", "Email": "not-an-email"})
    assert info.value.status_code == "INVALID_EMAIL_ADDRESS"
    contact = fake.insert("Contact", {"FirstName": "Ada", "LastName": "Lovelace"})
    assert fake.get("Contact", contact)["Name"] == "Ada Lovelace"
    lead = fake.insert("Lead", {"LastName": "L", "Company": "C"})
    assert fake.get("Lead", lead)["Status"] == "Open - Not Contacted"


def test_unique_and_external_id_duplicates(api: Api) -> None:
    first = api.fake.insert("Account", {"Name": "A", "Partner_Number__c": "P-001"})
    response = api.call("POST", "sobjects/Account/", json={"Name": "B", "Partner_Number__c": "p-001"})
    assert response.status_code == 400
    error = response.json()[0]
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert first in error["message"]
    # A soft-deleted record no longer holds the value.
    api.fake.delete("Account", first)
    assert api.call("POST", "sobjects/Account/", json={"Name": "B", "Partner_Number__c": "P-001"}).status_code == 201


def test_update_to_null_required_field_is_rejected(api: Api) -> None:
    rid = api.fake.insert("Account", {"Name": "A"})
    response = api.call("PATCH", f"sobjects/Account/{rid}", json={"Name": None})
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    response = api.call("PATCH", f"sobjects/Account/{rid}", json={"CreatedDate": "2024-01-01T00:00:00Z"})
    assert response.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_upsert_by_external_id_single(api: Api) -> None:
    url = "sobjects/Account/Partner_Number__c/" + quote("P/1?#%", safe="")
    created = api.call("PATCH", url, json={"Name": "Slashy"})
    assert created.status_code == 201
    assert created.json()["created"] is True
    rid = created.json()["id"]
    assert api.fake.get("Account", rid)["Partner_Number__c"] == "P/1?#%"
    updated = api.call("PATCH", url, json={"Name": "Slashy 2"})
    assert updated.status_code == 200
    assert updated.json() == {"id": rid, "success": True, "errors": [], "created": False}
    assert api.get(url).json()["Name"] == "Slashy 2"


def test_upsert_300_when_external_id_matches_several_records() -> None:
    from sfsync.testing import default_org_schema

    schema = default_org_schema().extend(
        {"objects": {"Account": {"fields": {"Legacy_Key__c": {"type": "string", "length": 20, "external_id": True}}}}}
    )
    with FakeSalesforce(schema) as fake:
        api = Api(fake)
        a = fake.insert("Account", {"Name": "A", "Legacy_Key__c": "K"})
        b = fake.insert("Account", {"Name": "B", "Legacy_Key__c": "K"})
        response = api.call("PATCH", "sobjects/Account/Legacy_Key__c/K", json={"Name": "C"})
        assert response.status_code == 300
        assert sorted(response.json()) == sorted(f"/services/data/v60.0/sobjects/Account/{rid}" for rid in (a, b))
        assert {r["Name"] for r in fake.records("Account")} == {"A", "B"}


def test_upsert_on_a_field_that_is_not_an_external_id_is_404(api: Api) -> None:
    response = api.call("PATCH", "sobjects/Account/Name/Acme", json={"Website": "https://x.example"})
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"


def test_relationship_by_external_id_in_payload(api: Api) -> None:
    partner = api.fake.insert("Account", {"Name": "Partner", "Partner_Number__c": "P-001"})
    ok = api.call(
        "POST",
        "sobjects/Opportunity/",
        json={
            "Name": "Deal",
            "StageName": "Prospecting",
            "CloseDate": "2024-06-30",
            "Partner_Account__r": {"Partner_Number__c": "P-001"},
        },
    )
    assert ok.status_code == 201
    assert api.fake.get("Opportunity", ok.json()["id"])["Partner_Account__c"] == partner
    bad = api.call(
        "POST",
        "sobjects/Opportunity/",
        json={
            "Name": "Deal",
            "StageName": "Prospecting",
            "CloseDate": "2024-06-30",
            "Partner_Account__r": {"Partner_Number__c": "P-404"},
        },
    )
    assert bad.status_code == 400
    error = bad.json()[0]
    assert error["errorCode"] == "INVALID_FIELD"
    assert error["message"] == (
        "Foreign key external ID: P-404 not found for field Partner_Number__c in entity Account"
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "sobjects/Nope__c/describe", 404, "NOT_FOUND"),
        ("GET", "sobjects/Account/001000000000000AAA", 404, "NOT_FOUND"),
        ("GET", "sobjects/Account/garbage", 404, "NOT_FOUND"),
        ("GET", "nothing/here", 404, "NOT_FOUND"),
        ("PUT", "sobjects/Account/", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_not_found_shapes(api: Api, method: str, path: str, status: int, code: str) -> None:
    response = api.call(method, path)
    assert response.status_code == status
    assert response.json()[0]["errorCode"] == code


def test_describe_and_describe_global(api: Api) -> None:
    glob = api.get("sobjects/").json()
    names = {o["name"] for o in glob["sobjects"]}
    assert {"Account", "Contact", "Opportunity", "Lead", "User", "UserRole", "Profile", "RecordType"} <= names
    desc = api.get("sobjects/Account/describe/").json()
    assert desc["name"] == "Account" and desc["keyPrefix"] == "001" and desc["custom"] is False
    fields = {f["name"]: f for f in desc["fields"]}
    ext = fields["Partner_Number__c"]
    assert ext["externalId"] is True and ext["unique"] is True and ext["idLookup"] is True
    assert ext["length"] == 40 and ext["type"] == "string" and ext["custom"] is True
    tier = fields["Partner_Tier__c"]
    assert tier["type"] == "picklist" and tier["restrictedPicklist"] is True
    assert [v["value"] for v in tier["picklistValues"]][:2] == ["Registered", "Certified"]
    assert fields["Name"]["nillable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["User"] and fields["OwnerId"]["relationshipName"] == "Owner"
    assert fields["CreatedDate"]["createable"] is False
    opp = {f["name"]: f for f in api.get("sobjects/Opportunity/describe").json()["fields"]}
    assert opp["Amount"]["type"] == "currency" and opp["Amount"]["scale"] == 2
    assert opp["Partner_Account__c"]["relationshipName"] == "Partner_Account__r"
    lead = api.get("sobjects/Lead/describe").json()
    # The only record type is the one the export deploys (a fresh org has just Master).
    assert {r["name"] for r in lead["recordTypeInfos"]} == {"Deal Registration", "Master"}
    assert api.fake.record_type_id("Lead", "Deal_Registration").startswith("012")


def test_limits_and_usage_header(api: Api) -> None:
    response = api.get("limits/")
    assert response.status_code == 200
    body = response.json()
    assert body["DailyApiRequests"] == {"Max": 1_000_000, "Remaining": 1_000_000 - api.fake.api_calls}
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={api.fake.api_calls}/1000000"


def test_every_api_response_carries_usage_and_is_counted(api: Api) -> None:
    before = api.fake.api_calls
    responses_ = [api.get("sobjects/"), api.get("sobjects/Nope/describe"), api.query("SELECT Bad FROM Account")]
    assert api.fake.api_calls == before + 3
    assert all("Sforce-Limit-Info" in r.headers for r in responses_)
    assert [c.status for c in api.fake.request_log[-3:]] == [200, 404, 400]


def test_missing_or_bad_token_is_401(fake: FakeSalesforce) -> None:
    import requests

    url = f"{fake.instance_url}/services/data/v60.0/sobjects/"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        response = requests.get(url, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
        assert "Sforce-Limit-Info" in response.headers


def test_simple_salesforce_sobject_api(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
    )
    rid = sf.Account.create({"Name": "Acme"})["id"]
    sf.Account.update(rid, {"Website": "https://acme.example"})
    assert sf.Account.get(rid)["Website"] == "https://acme.example"
    assert sf.Account.upsert("Partner_Number__c/P-9", {"Name": "Nine"}) == 201
    assert sf.Account.get_by_custom_id("Partner_Number__c", "P-9")["Name"] == "Nine"
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "x" * 300})
    assert info.value.content[0]["errorCode"] == "STRING_TOO_LONG"
    sf.Account.delete(rid)
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        sf.Account.get(rid)
    assert sf.describe()["maxBatchSize"] == 200
    assert sf.api_usage["api-usage"].used == fake.api_calls


def test_any_api_version_is_accepted(api: Api) -> None:
    response = api.get(f"{api.fake.instance_url}/services/data/v58.0/sobjects/Account/describe")
    assert response.status_code == 200


def test_get_deleted_and_updated(api: Api) -> None:
    import simple_salesforce as ss

    now = [datetime(2024, 5, 1, 10, 0, tzinfo=UTC)]
    api.fake.clock = lambda: now[0]
    keep = api.fake.insert("Account", {"Name": "keep"})
    gone = api.fake.insert("Account", {"Name": "gone"})
    now[0] = datetime(2024, 5, 1, 11, 0, tzinfo=UTC)
    api.fake.delete("Account", gone)
    sf = ss.Salesforce(instance_url=api.fake.instance_url, session_id=api.fake.access_token, version="60.0")
    deleted = sf.Account.deleted(datetime(2024, 5, 1, 10, 30, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    updated = sf.Account.updated(datetime(2024, 5, 1, 9, 0, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    assert updated["ids"] == [keep]
