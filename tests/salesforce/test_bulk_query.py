"""Bulk API 2.0 query through the gateway against FakeSalesforce (issue 14).

The documented flow: ``POST jobs/query``, poll ``GET jobs/query/{id}`` until JobComplete, then
``GET jobs/query/{id}/results?maxRecords=`` repeated with the ``Sforce-Locator`` of each answer
until it is ``null``. Rows come back as CSV and must read the same as REST records.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.salesforce import SalesforceGateway, format_soql
from sfsync.testing import FakeSalesforce

SOQL = "SELECT Id, Name, Partner_Number__c, IsPartner, SystemModstamp, Owner.Name FROM Account WHERE Name != null"


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(page_size=200, bulk_polls_until_complete=2) as org:
        for i in range(7):
            org.insert(
                "Account", {"Name": f'Partner, "{i}"\nline', "Partner_Number__c": f"P{i:03d}", "IsPartner": i % 2 == 0}
            )
        org.insert("Account", {"Name": "No number"})
        yield org


def gateway(org: FakeSalesforce, **overrides: Any) -> SalesforceGateway:
    settings = SalesforceSettings(
        auth="token",
        instance_url=org.instance_url,
        access_token=SecretStr(org.access_token),
        api_version=org.api_version,
        bulk_poll_seconds=0.01,
        **overrides,
    )
    return SalesforceGateway.connect(settings, sleep=lambda _s: None)


def by_id(records: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["Id"]): r for r in records}


def test_bulk_query_reads_what_rest_reads_typed_the_same(fake: FakeSalesforce) -> None:
    gw = gateway(fake)
    rest = by_id(gw.query(SOQL))
    gw._bulk_query_page = 3  # 8 rows in pages of 3: two locators, then "null"
    mark = len(fake.request_log)
    bulk = by_id(gw.bulk_query(SOQL))
    assert bulk == rest
    assert any(r["IsPartner"] is True for r in bulk.values()) and any(r["IsPartner"] is False for r in bulk.values())
    assert next(r for r in bulk.values() if r["Name"] == "No number")["Partner_Number__c"] is None
    calls = [(c.method, c.path.split("/jobs/query")[-1]) for c in fake.request_log[mark:]]
    results = [c for c in calls if c[1].endswith("/results")]
    assert len(results) == 3  # rows 1-3, 4-6, 7-8
    assert calls[0] == ("POST", "/")
    assert sum(1 for c in calls if c[0] == "GET" and not c[1].endswith("/results") and "describe" not in c[1]) >= 1


def test_query_stream_switches_to_bulk_above_the_threshold_and_reports_the_orgs_clock(
    fake: FakeSalesforce,
) -> None:
    org_now = datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    fake.clock = lambda: org_now
    fake.page_size = 5
    gw = gateway(fake)
    small = gw.query_stream(SOQL, bulk_threshold=100)
    assert len(list(small)) == 8
    assert small.transport == "rest"
    assert small.server_time == org_now.replace(microsecond=0)  # the Date header: whole seconds
    large = gw.query_stream(SOQL, bulk_threshold=5)
    assert len(list(large)) == 8
    assert large.transport == "bulk"
    assert large.server_time == org_now.replace(microsecond=0)


@pytest.mark.parametrize(("threshold", "transport"), [(7, "bulk"), (8, "rest"), (50, "rest")])
def test_the_first_rest_call_asks_for_one_row_more_than_the_threshold(
    fake: FakeSalesforce, threshold: int, transport: str
) -> None:
    """The deciding call never makes the org build a cursor over a large result: at most
    threshold + 1 rows come back from it, and a result of exactly the threshold stays on REST."""
    gw = gateway(fake)
    mark = len(fake.request_log)
    stream = gw.query_stream(SOQL, bulk_threshold=threshold)
    assert len(list(stream)) == 8
    assert stream.transport == transport
    first = fake.request_log[mark]
    assert first.path.endswith("/query/")
    assert first.records == min(8, threshold + 1)
    if transport == "rest":
        assert gw.api_calls == len(fake.request_log) - mark == 1  # a small result is read whole from the probe


def test_a_statement_with_its_own_limit_is_sent_as_written(fake: FakeSalesforce) -> None:
    gw = gateway(fake)
    mark = len(fake.request_log)
    stream = gw.query_stream(f"{SOQL} LIMIT 7", bulk_threshold=5)
    assert len(list(stream)) == 7
    assert stream.transport == "rest"  # one page brought all 7: nothing left for a Bulk job
    assert fake.request_log[mark].records == 7


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        ("SELECT Id FROM Account", "SELECT Id FROM Account LIMIT 11"),
        ("SELECT Id FROM Account WHERE Name = 'LIMIT 5' ", "SELECT Id FROM Account WHERE Name = 'LIMIT 5' LIMIT 11"),
        (
            "SELECT Id FROM Account WHERE Name = 'it\\'s FOR UPDATE'",
            "SELECT Id FROM Account WHERE Name = 'it\\'s FOR UPDATE' LIMIT 11",
        ),
        ("SELECT Id FROM Account ORDER BY Name", "SELECT Id FROM Account ORDER BY Name LIMIT 11"),
        ("SELECT Id FROM Account limit 3", None),
        ("SELECT Id FROM Account ORDER BY Name OFFSET 4", None),
        ("SELECT Id FROM Account FOR UPDATE", None),
        ("SELECT Id FROM Account FOR VIEW", None),
        ("SELECT Id FROM Account UPDATE TRACKING", None),
        ("SELECT Name, COUNT(Id) FROM Account GROUP BY Name", None),
    ],
)
def test_with_row_limit(soql: str, expected: str | None) -> None:
    from sfsync.salesforce._soql import with_row_limit

    assert with_row_limit(soql, 11) == expected


def test_idle_query_below_the_threshold_is_one_call(fake: FakeSalesforce) -> None:
    gw = gateway(fake)
    before = gw.api_calls
    soql = format_soql("SELECT Id FROM Account WHERE Partner_Number__c = {}", "nobody")
    stream = gw.query_stream(soql, bulk_threshold=1)
    assert list(stream) == []
    assert gw.api_calls - before == 1
    assert stream.server_time is not None


def test_bulk_query_of_deleted_rows_uses_query_all(fake: FakeSalesforce) -> None:
    gone = fake.records("Account")[0]["Id"]
    fake.delete("Account", gone)
    gw = gateway(fake)
    soql = "SELECT Id, IsDeleted FROM Account"
    live = by_id(gw.bulk_query(soql))
    every = by_id(gw.bulk_query(soql, include_deleted=True))
    assert gone not in live
    assert every[gone]["IsDeleted"] is True


def test_csv_rows_become_rest_shaped_records() -> None:
    from sfsync.salesforce._bulk import typed_record

    types = {
        "Id": "id",
        "Amount__c": "currency",
        "Seats__c": "int",
        "Active__c": "boolean",
        "Partner_Account__r.Partner_Number__c": "string",
        "Partner_Account__r.Owner.Name": "string",
    }
    row = {
        "Id": "a01",
        "Amount__c": "12.5",
        "Seats__c": "3",
        "Active__c": "false",
        "Partner_Account__r.Partner_Number__c": "",
        "Partner_Account__r.Owner.Name": "",
    }
    assert typed_record(row, types) == {
        "Id": "a01",
        "Amount__c": 12.5,
        "Seats__c": 3,
        "Active__c": False,
        "Partner_Account__r": None,
    }
    row |= {"Partner_Account__r.Partner_Number__c": "P7", "Amount__c": ""}
    assert typed_record(row, types) == {
        "Id": "a01",
        "Amount__c": None,
        "Seats__c": 3,
        "Active__c": False,
        "Partner_Account__r": {"Partner_Number__c": "P7", "Owner": None},
    }


def test_record_typer_gives_what_typed_record_gives() -> None:
    """The per-header typer (flat rows typed without dicts per row) agrees with typed_record,
    for flat headers and, through its fallback, for relationship columns."""
    from sfsync.salesforce._bulk import RecordTyper, read_csv_rows, typed_record

    types = {"Id": "id", "Amount__c": "currency", "Seats__c": "int", "Active__c": "boolean", "When__c": "datetime"}
    text = (
        "Id,Amount__c,Seats__c,Active__c,When__c\n"
        'a01,12.5,3,false,2026-01-02T03:04:05.000+0000\na02,,,,\n"a,3",1e3,0,TRUE,x\n'
    )
    header, rows = read_csv_rows(text)
    typer = RecordTyper(header, types)
    cells = list(rows)
    assert [typer(c) for c in cells] == [typed_record(dict(zip(header, c, strict=True)), types) for c in cells]
    assert typer(cells[1]) == {"Id": "a02", "Amount__c": None, "Seats__c": None, "Active__c": None, "When__c": None}
    assert typer(cells[2])["Id"] == "a,3" and typer(cells[2])["Active__c"] is True
    nested = {"Id": "id", "Partner_Account__r.Partner_Number__c": "string"}
    typer = RecordTyper(list(nested), nested)
    assert typer(["a01", ""]) == {"Id": "a01", "Partner_Account__r": None}
    assert typer(["a01", "P7"]) == {"Id": "a01", "Partner_Account__r": {"Partner_Number__c": "P7"}}
    assert read_csv_rows("")[0] == [] and list(read_csv_rows("")[1]) == []


def _is_rest_query(path: str) -> bool:
    """A REST query call (first page or next page), not a Bulk API 2.0 query job."""
    return "/jobs/" not in path and any(part in ("query", "queryAll") for part in path.split("/"))


@pytest.mark.parametrize("include_deleted", [False, True])
def test_a_result_known_to_exceed_the_threshold_goes_straight_to_a_bulk_job(
    fake: FakeSalesforce, include_deleted: bool
) -> None:
    """``at_least`` above the threshold: no deciding REST call; the org's clock is the ``Date``
    of the answer that created the job (each answer here is one second after the one before)."""
    fake.delete("Account", fake.records("Account")[0]["Id"])
    base = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    fake.clock = lambda: base + timedelta(seconds=len(fake.request_log))
    gw = gateway(fake)
    mark = len(fake.request_log)
    stream = gw.query_stream(SOQL, include_deleted=include_deleted, bulk_threshold=5, at_least=6)
    assert len(list(stream)) == (8 if include_deleted else 7)  # a queryAll job reads the deleted row
    calls = fake.request_log[mark:]
    assert [c.path for c in calls if _is_rest_query(c.path)] == []
    created = next(i for i, c in enumerate(calls) if c.method == "POST" and c.path.rstrip("/").endswith("/jobs/query"))
    assert stream.transport == "bulk"
    assert stream.server_time == base + timedelta(seconds=mark + created + 1)  # logged before its Date is taken


@pytest.mark.parametrize("at_least", [0, 4, 5])
def test_a_result_not_known_to_exceed_the_threshold_is_probed_over_rest_first(
    fake: FakeSalesforce, at_least: int
) -> None:
    gw = gateway(fake)
    mark = len(fake.request_log)
    stream = gw.query_stream(SOQL, bulk_threshold=5, at_least=at_least)
    assert len(list(stream)) == 8
    first = fake.request_log[mark]
    assert (first.method, first.path.endswith("/query/"), first.records) == ("GET", True, 6)
    assert stream.transport == "bulk"  # 8 rows: the probe's LIMIT 6 was reached
