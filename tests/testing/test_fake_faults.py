"""Fault injection: deterministic from the seed; each fault has Salesforce's status and body."""

from __future__ import annotations

import pytest
import requests
import simple_salesforce
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce, FaultPlan, MissingTimeoutError

UPSERT = "composite/sobjects/Account/Partner_Number__c"


def statuses(plan: FaultPlan, calls: int = 60) -> list[int]:
    with FakeSalesforce(faults=plan) as fake:
        api = Api(fake)
        return [api.get("limits/").status_code for _ in range(calls)]


def test_same_seed_same_faults_and_different_seed_differs() -> None:
    plan = FaultPlan(seed=7, http_503_rate=0.3, concurrent_limit_rate=0.2)
    first, second = statuses(plan), statuses(plan)
    assert first == second
    assert {200, 403, 503} <= set(first)
    assert statuses(FaultPlan(seed=8, http_503_rate=0.3, concurrent_limit_rate=0.2)) != first


def test_503_body_and_counting() -> None:
    with FakeSalesforce(faults=FaultPlan(http_503_rate=1.0)) as fake:
        response = Api(fake).get("sobjects/")
        assert response.status_code == 503
        assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
        assert fake.api_calls == 1
        assert fake.request_log[0].status == 503


def test_concurrent_limit_body() -> None:
    with FakeSalesforce(faults=FaultPlan(concurrent_limit_rate=1.0)) as fake:
        response = Api(fake).get("sobjects/")
        assert response.status_code == 403
        assert response.json() == [
            {
                "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
            }
        ]


def test_total_requests_after_n_calls() -> None:
    with FakeSalesforce(faults=FaultPlan(total_requests_after=3)) as fake:
        codes = [Api(fake).get("limits/").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 403, 403]
        body = Api(fake).get("limits/").json()
        assert body == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_daily_allowance_runs_out() -> None:
    with FakeSalesforce(daily_api_limit=2) as fake:
        api = Api(fake)
        first = api.get("limits/")
        assert first.json()["DailyApiRequests"] == {"Max": 2, "Remaining": 1}
        assert first.headers["Sforce-Limit-Info"] == "api-usage=1/2"
        assert api.get("limits/").status_code == 200
        third = api.get("limits/")
        assert third.status_code == 403
        assert third.json()[0]["message"] == "TotalRequests Limit exceeded."


def test_invalid_session_after_n_calls_until_a_new_login() -> None:
    with FakeSalesforce(faults=FaultPlan(invalid_session_after=2)) as fake:
        token = fake.access_token
        url = f"{fake.instance_url}/services/data/v60.0/limits"

        def call(tok: str) -> int:
            return requests.get(url, headers={"Authorization": f"Bearer {tok}"}, timeout=5).status_code

        assert [call(token), call(token), call(token), call(token)] == [200, 200, 401, 401]
        login = requests.post(
            "https://login.salesforce.com/services/oauth2/token",
            timeout=5,
            data={
                "grant_type": "client_credentials",
                "client_id": fake.consumer_key,
                "client_secret": fake.consumer_secret,
            },
        ).json()
        assert [call(login["access_token"]) for _ in range(5)] == [200] * 5  # only once
        assert fake.access_token != token


def test_unable_to_lock_row_per_record() -> None:
    with FakeSalesforce(faults=FaultPlan(seed=3, unable_to_lock_row_rate=0.5)) as fake:
        api = Api(fake)
        records = [{"attributes": {"type": "Account"}, "Partner_Number__c": f"P-{i}", "Name": "n"} for i in range(40)]
        results = api.call("PATCH", UPSERT, json={"records": records}).json()
        locked = [r for r in results if not r["success"]]
        assert 5 < len(locked) < 35
        assert all(r["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for r in locked)
        assert "unable to obtain exclusive access to this record" in locked[0]["errors"][0]["message"]
        assert len(fake.records("Account")) == 40 - len(locked)


def test_unable_to_lock_row_in_bulk_results() -> None:
    with FakeSalesforce(faults=FaultPlan(unable_to_lock_row_rate=1.0)) as fake:
        api = Api(fake)
        job = api.call("POST", "jobs/ingest", json={"object": "Account", "operation": "insert"}).json()["id"]
        api.call("PUT", f"jobs/ingest/{job}/batches", data=b"Name\nA\nB\n")
        api.call("PATCH", f"jobs/ingest/{job}", json={"state": "UploadComplete"})
        assert api.get(f"jobs/ingest/{job}").json()["numberRecordsFailed"] == 2
        failed = api.get(f"jobs/ingest/{job}/failedResults/").text
        assert failed.count("UNABLE_TO_LOCK_ROW:") == 2


def test_slow_response_trips_the_read_timeout_after_processing() -> None:
    with FakeSalesforce(faults=FaultPlan(slow_response_rate=1.0, slow_seconds=30)) as fake:
        api = Api(fake)
        body = {"records": [{"attributes": {"type": "Account"}, "Partner_Number__c": "P-1", "Name": "n"}]}
        with pytest.raises(requests.exceptions.ReadTimeout):
            api.call("PATCH", UPSERT, json=body, timeout=(3.05, 10))
        # The server did the work; only the answer was lost, as with a real timeout.
        assert len(fake.records("Account")) == 1
        assert fake.api_calls == 1
        assert api.call("PATCH", UPSERT, json=body, timeout=60).status_code == 200
        assert len(fake.records("Account")) == 1
        with pytest.raises(requests.exceptions.ReadTimeout):
            api.get("limits/", timeout=29.9)


def test_slow_response_not_processed_when_configured() -> None:
    plan = FaultPlan(slow_response_rate=1.0, slow_seconds=30, slow_response_processed=False)
    with FakeSalesforce(faults=plan) as fake:
        body = {"records": [{"attributes": {"type": "Account"}, "Partner_Number__c": "P-1", "Name": "n"}]}
        with pytest.raises(requests.exceptions.ReadTimeout):
            Api(fake).call("PATCH", UPSERT, json=body, timeout=5)
        assert fake.records("Account") == []


def test_request_without_timeout_is_reported() -> None:
    with FakeSalesforce(faults=FaultPlan(slow_response_rate=1.0)) as fake:
        sf = simple_salesforce.Salesforce(
            instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
        )
        with pytest.raises(MissingTimeoutError, match="without a timeout"):
            sf.query("SELECT Id FROM Account")


def test_fault_plan_is_frozen_and_validated() -> None:
    plan = FaultPlan(seed=1)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        plan.seed = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        FaultPlan(http_503_rate=1.5)


def test_set_faults_and_reset_api_usage() -> None:
    with FakeSalesforce(faults=FaultPlan(total_requests_after=1), daily_api_limit=3) as fake:
        api = Api(fake)
        assert [api.get("limits/").status_code for _ in range(2)] == [200, 403]
        fake.set_faults(FaultPlan())
        assert api.get("limits/").status_code == 200
        assert api.get("limits/").status_code == 403  # the daily limit of 3 is reached
        fake.reset_api_usage()
        assert api.get("limits/").status_code == 200
        assert fake.api_calls == 1
