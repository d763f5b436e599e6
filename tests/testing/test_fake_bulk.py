"""Bulk API 2.0: ingest job lifecycle, CSV semantics, successful/failed/unprocessed results; query jobs."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import simple_salesforce
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def run_job(
    api: Api,
    body: str,
    *,
    operation: str = "upsert",
    obj: str = "Account",
    external_id: str | None = "Partner_Number__c",
    close: bool = True,
) -> str:
    spec: dict[str, Any] = {
        "object": obj,
        "operation": operation,
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    if operation == "upsert":
        spec["externalIdFieldName"] = external_id
    created = api.call("POST", "jobs/ingest", json=spec)
    assert created.status_code == 200, created.text
    info = created.json()
    assert info["state"] == "Open"
    assert info["contentUrl"] == f"services/data/v60.0/jobs/ingest/{info['id']}/batches"
    job = info["id"]
    put = api.call("PUT", f"jobs/ingest/{job}/batches", data=body.encode(), headers={"Content-Type": "text/csv"})
    assert put.status_code == 201
    if close:
        closed = api.call("PATCH", f"jobs/ingest/{job}", json={"state": "UploadComplete"})
        assert closed.status_code == 200
        assert closed.json()["state"] == "UploadComplete"
    return str(job)


def test_upsert_round_trip_with_successful_and_failed_results(api: Api) -> None:
    api.fake.insert("Account", {"Name": "Existing", "Partner_Number__c": "P-002", "Website": "https://keep.example"})
    job = run_job(
        api,
        "Partner_Number__c,Name,Website,Partner_Tier__c\n"
        "P-001,New One,https://one.example,Gold\n"
        'P-002,"Existing, renamed",,\n'
        "P-003,,https://three.example,\n"
        "P-004,Bad Tier,,Diamond\n",
    )
    info = api.get(f"jobs/ingest/{job}").json()
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 4
    assert info["numberRecordsFailed"] == 2
    ok = parse(api.get(f"jobs/ingest/{job}/successfulResults/").text)
    assert [(r["sf__Created"], r["Partner_Number__c"]) for r in ok] == [("true", "P-001"), ("false", "P-002")]
    assert all(r["sf__Id"].startswith("001") for r in ok)
    failed = parse(api.get(f"jobs/ingest/{job}/failedResults/").text)
    assert [r["Partner_Number__c"] for r in failed] == ["P-003", "P-004"]
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name")
    assert failed[1]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    assert set(failed[0]) == {"sf__Id", "sf__Error", "Partner_Number__c", "Name", "Website", "Partner_Tier__c"}
    existing = next(r for r in api.fake.records("Account") if r["Partner_Number__c"] == "P-002")
    # Empty cell leaves the field unchanged.
    assert existing["Name"] == "Existing, renamed" and existing["Website"] == "https://keep.example"
    unprocessed = parse(api.get(f"jobs/ingest/{job}/unprocessedrecords/").text)
    assert unprocessed == []
    assert api.call("DELETE", f"jobs/ingest/{job}").status_code == 204
    assert api.get(f"jobs/ingest/{job}").status_code == 404


def test_na_sets_null_and_relationship_columns(api: Api) -> None:
    partner = api.fake.insert("Account", {"Name": "Partner", "Partner_Number__c": "P-001"})
    opp = api.fake.insert(
        "Opportunity", {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Amount": 10}
    )
    job = run_job(
        api,
        f"Id,Amount,Partner_Account__r.Partner_Number__c\n{opp},#N/A,P-001\n",
        operation="update",
        obj="Opportunity",
    )
    assert api.get(f"jobs/ingest/{job}").json()["numberRecordsFailed"] == 0
    record = api.fake.get("Opportunity", opp)
    assert record["Amount"] is None
    assert record["Partner_Account__c"] == partner
    job = run_job(api, f"Id,Partner_Account__r.Partner_Number__c\n{opp},P-404\n", operation="update", obj="Opportunity")
    failed = parse(api.get(f"jobs/ingest/{job}/failedResults/").text)
    assert failed[0]["sf__Id"] == opp
    assert "Foreign key external ID: P-404 not found" in failed[0]["sf__Error"]


def test_insert_and_delete_jobs(api: Api) -> None:
    job = run_job(api, "LastName,Email\nOne,one@example.com\nTwo,not-an-email\n", operation="insert", obj="Contact")
    ok = parse(api.get(f"jobs/ingest/{job}/successfulResults/").text)
    assert len(ok) == 1 and ok[0]["sf__Created"] == "true"
    failed = parse(api.get(f"jobs/ingest/{job}/failedResults/").text)
    assert failed[0]["sf__Error"].startswith("INVALID_EMAIL_ADDRESS:")
    job = run_job(api, f"Id\n{ok[0]['sf__Id']}\n", operation="delete", obj="Contact")
    assert api.get(f"jobs/ingest/{job}").json()["numberRecordsFailed"] == 0
    assert api.fake.records("Contact") == []


def test_invalid_column_fails_the_job(api: Api) -> None:
    job = run_job(api, "Partner_Number__c,Bogus__c\nP-1,x\n")
    info = api.get(f"jobs/ingest/{job}").json()
    assert info["state"] == "Failed"
    assert "Bogus__c" in info["errorMessage"]
    assert len(parse(api.get(f"jobs/ingest/{job}/unprocessedrecords/").text)) == 1


def test_aborted_job_leaves_rows_unprocessed(api: Api) -> None:
    job = run_job(api, "Partner_Number__c,Name\nP-1,A\nP-2,B\n", close=False)
    aborted = api.call("PATCH", f"jobs/ingest/{job}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert len(parse(api.get(f"jobs/ingest/{job}/unprocessedrecords/").text)) == 2
    assert api.fake.records("Account") == []
    again = api.call("PATCH", f"jobs/ingest/{job}", json={"state": "UploadComplete"})
    assert again.status_code == 400


def test_polls_report_in_progress_until_complete() -> None:
    with FakeSalesforce(bulk_polls_until_complete=3) as fake:
        api = Api(fake)
        job = run_job(api, "Partner_Number__c,Name\nP-1,A\n")
        states = [api.get(f"jobs/ingest/{job}").json()["state"] for _ in range(4)]
        assert states == ["InProgress", "InProgress", "JobComplete", "JobComplete"]


def test_results_before_completion_are_refused() -> None:
    with FakeSalesforce(bulk_polls_until_complete=2) as fake:
        api = Api(fake)
        job = run_job(api, "Partner_Number__c,Name\nP-1,A\n")
        assert api.get(f"jobs/ingest/{job}/successfulResults/").status_code == 400


def test_bad_job_requests(api: Api) -> None:
    bad_ext = api.call(
        "POST", "jobs/ingest", json={"object": "Account", "operation": "upsert", "externalIdFieldName": "Name"}
    )
    assert bad_ext.status_code == 400
    bad_obj = api.call("POST", "jobs/ingest", json={"object": "Nope", "operation": "insert"})
    assert bad_obj.status_code == 400
    missing = api.get("jobs/ingest/7505g0000009999AAA")
    assert missing.status_code == 404
    assert missing.json()[0]["errorCode"] == "NOT_FOUND"


def test_upload_over_the_limit_is_refused(api: Api) -> None:
    api.fake.bulk.max_upload_bytes = 100  # the real limit is 150 MB; shrink it to keep the test fast
    job = api.call("POST", "jobs/ingest", json={"object": "Account", "operation": "insert"}).json()["id"]
    response = api.call(
        "PUT", f"jobs/ingest/{job}/batches", data=b"Name\n" + b"x\n" * 100, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 400
    assert "150 MB" in response.json()[0]["message"]


def test_crlf_and_duplicates_in_one_job(api: Api) -> None:
    spec = {
        "object": "Account",
        "operation": "upsert",
        "externalIdFieldName": "Partner_Number__c",
        "lineEnding": "CRLF",
    }
    job = api.call("POST", "jobs/ingest", json=spec).json()["id"]
    api.call("PUT", f"jobs/ingest/{job}/batches", data=b"Partner_Number__c,Name\r\nP-1,A\r\nP-1,B\r\nP-2,C\r\n")
    api.call("PATCH", f"jobs/ingest/{job}", json={"state": "UploadComplete"})
    failed = parse(api.get(f"jobs/ingest/{job}/failedResults/").text)
    assert [r["sf__Error"].split(":")[0] for r in failed] == ["DUPLICATE_EXTERNAL_ID", "DUPLICATE_EXTERNAL_ID"]
    assert [r["Partner_Number__c"] for r in api.fake.records("Account")] == ["P-2"]


def test_simple_salesforce_bulk2_upsert_and_query(fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simple_salesforce.bulk2, "sleep", lambda _seconds: None)  # its poll loop sleeps
    sf = simple_salesforce.Salesforce(
        instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
    )
    records = [{"Partner_Number__c": f"P-{i}", "Name": f"N{i}"} for i in range(5)]
    records.append({"Partner_Number__c": "P-bad", "Name": ""})
    result = sf.bulk2.Account.upsert(records=records, external_id_field="Partner_Number__c")
    assert result[0]["numberRecordsProcessed"] == 6
    assert result[0]["numberRecordsFailed"] == 1
    failed = sf.bulk2.Account.get_failed_records(result[0]["job_id"])
    assert "P-bad" in failed
    rows = list(sf.bulk2.Account.query("SELECT Name, Partner_Number__c FROM Account ORDER BY Name"))
    text = "".join(rows)
    assert text.splitlines()[0] == '"Name","Partner_Number__c"'
    assert len(text.splitlines()) == 6
