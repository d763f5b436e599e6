"""The gateway against FakeSalesforce: auth modes, call counts, every injected fault, bulk.

Law 2 (nothing lost) and law 3 (idempotent writes) at the gateway level: after an upsert under
any fault, every record is in the org exactly once, and retries stay within their bounds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from org_helpers import fidelity_schema
from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.errors import (
    ApiAllowanceExhaustedError,
    ApiBudgetExceededError,
    AuthenticationError,
    RetriesExhaustedError,
    SalesforceApiError,
)
from sfsync.salesforce import RecordResult, SalesforceGateway, format_soql
from sfsync.testing import FakeSalesforce, FaultPlan, OrgSchema, default_org_schema

EXT = "Partner_Number__c"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(fidelity_schema()) as org:
        yield org


def token_settings(org: FakeSalesforce, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": "token",
        "instance_url": org.instance_url,
        "access_token": SecretStr(org.access_token),
        "api_version": org.api_version,
        "read_timeout": 5.0,
        "max_attempts": 6,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def password_settings(org: FakeSalesforce, **overrides: Any) -> SalesforceSettings:
    values: dict[str, Any] = {
        "auth": "password",
        "username": org.username,
        "password": SecretStr(org.password),
        "security_token": SecretStr(org.security_token),
        "api_version": org.api_version,
        "read_timeout": 5.0,
        "max_attempts": 6,
    }
    values.update(overrides)
    return SalesforceSettings(**values)


def accounts(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{EXT: f"P{i:06d}", "Name": f"Partner {i}"} for i in range(start, start + n)]


def assert_each_once(org: FakeSalesforce, expected: list[str]) -> None:
    counts = Counter(r[EXT] for r in org.records("Account") if r.get(EXT) is not None)
    assert not [k for k, c in counts.items() if c > 1], "duplicated records"
    assert sorted(counts) == sorted(expected), "lost or unexpected records"


# ---------------------------------------------------------------- auth modes


def test_token_auth(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    assert gw.limits()["DailyApiRequests"]["Max"] > 0
    assert gw.logins == 0


def test_password_auth(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(password_settings(fake), sleep=Sleeps())
    assert gw.instance_url == fake.instance_url
    assert gw.upsert("Account", EXT, accounts(1))[0].outcome == "created"


def test_jwt_auth(fake: FakeSalesforce, tmp_path: Path) -> None:
    key = tmp_path / "jwt.key"
    key.write_text(fake.jwt_private_key_pem)
    settings = SalesforceSettings(
        auth="jwt",
        username=fake.username,
        consumer_key=fake.consumer_key,
        private_key_file=key,
        api_version=fake.api_version,
    )
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert gw.upsert("Account", EXT, accounts(1))[0].outcome == "created"


def test_client_credentials_auth(fake: FakeSalesforce) -> None:
    settings = SalesforceSettings(
        auth="client_credentials",
        instance_url=fake.instance_url,
        consumer_key=fake.consumer_key,
        consumer_secret=SecretStr(fake.consumer_secret),
        api_version=fake.api_version,
    )
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert gw.upsert("Account", EXT, accounts(1))[0].outcome == "created"


def test_wrong_password_is_an_authentication_error(fake: FakeSalesforce) -> None:
    settings = password_settings(fake, password=SecretStr("wrong-password-123"))
    with pytest.raises(AuthenticationError) as info:
        SalesforceGateway.connect(settings, sleep=Sleeps())
    assert "wrong-password-123" not in str(info.value)
    assert fake.security_token not in str(info.value)


# ---------------------------------------------------------------- call counts and results


@pytest.mark.parametrize("n", [1, 199, 200, 201, 1000, 1001])
def test_collections_take_exactly_ceil_n_over_200_calls(fake: FakeSalesforce, n: int) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    before = fake.api_calls
    results = gw.upsert("Account", EXT, accounts(n), mode="collections")
    assert fake.api_calls - before == math.ceil(n / 200)
    assert gw.api_calls == math.ceil(n / 200)
    assert [r.index for r in results] == list(range(n))
    assert all(r.outcome == "created" and r.salesforce_id for r in results)
    again = gw.upsert("Account", EXT, accounts(n), mode="collections")
    assert {r.outcome for r in again} == {"updated"}
    assert [r.salesforce_id for r in again] == [r.salesforce_id for r in results]
    assert_each_once(fake, [f"P{i:06d}" for i in range(n)])


def test_per_record_rejections_carry_code_message_and_fields(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    records: list[dict[str, Any]] = [
        {EXT: "OK-1", "Name": "fine"},
        {EXT: "LONG", "Name": "x" * 300},
        {EXT: "PICK", "Name": "bad tier", "Partner_Tier__c": "Bronze"},
        {EXT: "NONAME", "Name": None},
        {EXT: "OK-2", "Name": "fine too"},
    ]
    results = gw.upsert("Account", EXT, records)
    assert [r.outcome for r in results] == ["created", "rejected", "rejected", "rejected", "created"]
    long_, pick, noname = results[1], results[2], results[3]
    assert long_.status_code == "STRING_TOO_LONG" and long_.message and "Name" in long_.fields
    assert pick.status_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and pick.message
    assert noname.status_code == "REQUIRED_FIELD_MISSING" and noname.message
    assert long_.external_id == "LONG"
    assert_each_once(fake, ["OK-1", "OK-2"])


def test_unknown_field_in_every_record_rejects_without_crashing(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    results = gw.upsert("Account", EXT, [{**r, "Bogus__c": "x"} for r in accounts(3)])
    assert {r.outcome for r in results} == {"rejected"}
    assert {r.status_code for r in results} == {"INVALID_FIELD"}
    assert all(r.message for r in results)


def test_unknown_object_is_fatal(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    with pytest.raises(SalesforceApiError):
        gw.upsert("Nope__c", "Ext__c", [{"Ext__c": "1"}])
    with pytest.raises(SalesforceApiError, match="unknown Salesforce object"):
        gw.describe("Nope__c")


SPECIAL_IDS = ["a/b", "q?x=1", "hash#tag", "100%", "O'Brien", 'say "hi"', "back\\slash", "sp ace", "ü-é"]


def test_external_ids_with_url_characters_round_trip(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    records = [{EXT: value, "Name": f"n{i}"} for i, value in enumerate(SPECIAL_IDS)]
    assert all(r.outcome == "created" for r in gw.upsert("Account", EXT, records))
    # one record per call puts the value into the URL: format_external_id must keep it whole
    singles = [gw._upsert_single("Account", EXT, {EXT: value, "Name": "again"}) for value in SPECIAL_IDS]
    assert [r.outcome for r in singles] == ["updated"] * len(SPECIAL_IDS), singles
    assert_each_once(fake, SPECIAL_IDS)
    for value in SPECIAL_IDS:
        rows = list(gw.query(format_soql("SELECT Id, Name FROM Account WHERE Partner_Number__c = {}", value)))
        assert [r["Name"] for r in rows] == ["again"]


@pytest.mark.parametrize("name", ["O'Brien & Sons", "back\\slash", 'quote"d', "it's a \\' trap", "tab\tnew\nline"])
def test_soql_values_round_trip_through_format_soql(fake: FakeSalesforce, name: str) -> None:
    fake.insert("Account", {"Name": name})
    fake.insert("Account", {"Name": name + " (other)"})
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    rows = list(gw.query(format_soql("SELECT Id, Name FROM Account WHERE Name = {}", name)))
    assert [r["Name"] for r in rows] == [name]


def test_query_streams_every_page_without_attributes(fake: FakeSalesforce) -> None:
    fake.page_size = 50
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    gw.upsert("Account", EXT, accounts(120))
    acme = fake.insert("Account", {"Name": "Acme"})
    fake.insert(
        "Opportunity", {"Name": "Deal", "AccountId": acme, "StageName": "Prospecting", "CloseDate": "2026-12-31"}
    )
    before = gw.api_calls
    rows = list(gw.query("SELECT Id, Partner_Number__c FROM Account WHERE Partner_Number__c != null"))
    assert len(rows) == 120
    assert gw.api_calls - before == 3
    assert all("attributes" not in r for r in rows)
    (opp,) = gw.query("SELECT Id, Account.Name FROM Opportunity")
    assert opp["Account"] == {"Name": "Acme"}


def test_query_all_sees_deleted_rows_and_delete_is_idempotent(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    ids = [r.salesforce_id for r in gw.upsert("Account", EXT, accounts(3))]
    assert all(ids)
    deleted = gw.delete([str(ids[0]), "not-an-id"])
    assert [r.outcome for r in deleted] == ["updated", "rejected"]
    assert gw.delete([str(ids[0])])[0].outcome == "updated"  # already deleted counts as done
    live = list(gw.query("SELECT Id FROM Account WHERE Partner_Number__c != null"))
    every = list(gw.query("SELECT Id, IsDeleted FROM Account WHERE Partner_Number__c != null", include_deleted=True))
    assert len(live) == 2
    assert len(every) == 3
    assert [r["IsDeleted"] for r in every if r["Id"] == ids[0]] == [True]


def test_update_by_id(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    ids = [str(r.salesforce_id) for r in gw.upsert("Account", EXT, accounts(2))]
    results = gw.update("Account", [{"Id": ids[0], "Name": "Renamed"}, {"Id": ids[1], "Name": "y" * 300}])
    assert [r.outcome for r in results] == ["updated", "rejected"]
    assert results[1].status_code == "STRING_TOO_LONG"
    assert fake.get("Account", ids[0])["Name"] == "Renamed"


def test_describe_is_cached(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    first = gw.describe("Account")
    assert any(f["name"] == EXT and f["externalId"] for f in first["fields"])
    gw.describe("Account")
    assert gw.api_calls == 1


# ---------------------------------------------------------------- Bulk API 2.0


def test_bulk_round_trip_maps_failed_rows_back(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake, bulk_threshold=2000), sleep=Sleeps())
    records = accounts(2500)
    records[7] = {EXT: records[7][EXT], "Name": "x" * 300}
    records[2100] = {EXT: records[2100][EXT], "Name": "bad tier", "Partner_Tier__c": "Bronze"}
    records[42] = {EXT: records[42][EXT], "Name": None}
    results = gw.upsert("Account", EXT, records)  # auto: 2500 > threshold
    assert [r.index for r in results] == list(range(2500))
    assert [r.external_id for r in results] == [r[EXT] for r in records]
    rejected = {r.index: r for r in results if r.outcome == "rejected"}
    assert set(rejected) == {7, 42, 2100}
    assert rejected[7].status_code == "STRING_TOO_LONG"
    assert rejected[42].status_code == "REQUIRED_FIELD_MISSING"
    assert rejected[2100].status_code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert all(r.message for r in rejected.values())
    assert all(r.outcome == "created" and r.salesforce_id for i, r in enumerate(results) if i not in rejected)
    assert gw.api_calls < 12  # create, upload, close, poll(s), three result sets — not 13 collection calls
    assert all(call.path.find("/services/async/") < 0 for call in fake.request_log)  # never bulk v1
    assert_each_once(fake, [r[EXT] for i, r in enumerate(records) if i not in rejected])
    again = gw.upsert("Account", EXT, records, mode="bulk")
    assert {r.outcome for i, r in enumerate(again) if i not in rejected} == {"updated"}
    assert_each_once(fake, [r[EXT] for i, r in enumerate(records) if i not in rejected])


def test_bulk_job_without_failures_does_not_ask_for_failed_results(fake: FakeSalesforce) -> None:
    """A completed job whose info reports numberRecordsFailed 0 has nothing in failedResults;
    a job with a failure reads it (and maps the error to its row)."""
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())

    def result_calls(mark: int) -> list[str]:
        return [c.path.rsplit("/", 2)[-2] for c in fake.request_log[mark:] if c.path.endswith("Results/")]

    mark = len(fake.request_log)
    clean = gw.upsert("Account", EXT, accounts(30), mode="bulk")
    assert {r.outcome for r in clean} == {"created"}
    assert result_calls(mark) == ["successfulResults"]
    records = accounts(30)
    records[3] = {EXT: records[3][EXT], "Name": None}
    mark = len(fake.request_log)
    mixed = gw.upsert("Account", EXT, records, mode="bulk")
    assert [r.index for r in mixed if r.outcome == "rejected"] == [3]
    assert mixed[3].status_code == "REQUIRED_FIELD_MISSING"
    assert result_calls(mark) == ["successfulResults", "failedResults"]


def test_bulk_nulls_and_relationship_columns(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    gw.upsert("Account", EXT, [{EXT: "PARENT", "Name": "Parent", "Website": "https://parent.example"}])
    results = gw.upsert(
        "Account",
        EXT,
        [{EXT: "PARENT", "Name": "Parent", "Website": None}, {EXT: "CHILD", "Name": "Child"}],
        mode="bulk",
    )
    assert [r.outcome for r in results] == ["updated", "created"]
    parent = next(r for r in fake.records("Account") if r[EXT] == "PARENT")
    assert parent.get("Website") is None


def test_bulk_splits_large_csv_into_several_jobs(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    gw._max_upload_bytes = 2_000
    records = accounts(300)
    results = gw.upsert("Account", EXT, records, mode="bulk")
    assert {r.outcome for r in results} == {"created"}
    uploads = [c for c in fake.request_log if c.method == "PUT"]
    assert len(uploads) > 2
    assert_each_once(fake, [r[EXT] for r in records])


# ---------------------------------------------------------------- injected faults

N = 1000


def _run_with_faults(
    plan: FaultPlan, settings_for: Any = token_settings, **overrides: Any
) -> tuple[FakeSalesforce, SalesforceGateway, list[RecordResult], Sleeps]:
    org = FakeSalesforce(faults=plan)
    org.start()
    sleeps = Sleeps()
    try:
        gw = SalesforceGateway.connect(settings_for(org, **overrides), sleep=sleeps)
        results = gw.upsert("Account", EXT, accounts(N), mode="collections")
    finally:
        org.stop()
    return org, gw, results, sleeps


def _expected() -> list[str]:
    return [f"P{i:06d}" for i in range(N)]


def test_fault_503_nothing_lost_nothing_duplicated() -> None:
    org, gw, results, sleeps = _run_with_faults(FaultPlan(seed=3, http_503_rate=0.3))
    assert {r.outcome for r in results} == {"created"}
    assert_each_once(org, _expected())
    assert gw.retries == len(sleeps) > 0
    assert gw.api_calls == 5 + gw.retries
    assert gw.api_calls <= 5 * 6


def test_fault_503_always_gives_up_with_a_clear_error() -> None:
    with pytest.raises(RetriesExhaustedError) as info:
        _run_with_faults(FaultPlan(seed=1, http_503_rate=1.0), max_attempts=5)
    assert info.value.context.http_status == 503
    assert "5 attempts" in str(info.value)


def test_fault_invalid_session_relogs_in() -> None:
    org, gw, results, _ = _run_with_faults(FaultPlan(seed=4, invalid_session_after=2), password_settings)
    assert {r.outcome for r in results} == {"created"}
    assert gw.logins == 2
    assert gw.api_calls == 5 + 1
    assert_each_once(org, _expected())


def test_fault_invalid_session_with_token_auth_stops_clearly() -> None:
    org = FakeSalesforce(faults=FaultPlan(seed=4, invalid_session_after=2))
    with org:
        gw = SalesforceGateway.connect(token_settings(org), sleep=Sleeps())
        with pytest.raises(AuthenticationError, match="cannot log in again"):
            gw.upsert("Account", EXT, accounts(N))
        assert gw.api_calls == 3
    assert_each_once(org, _expected()[:400])  # the two calls before the expiry went through


def test_fault_unable_to_lock_row_resends_only_locked_records() -> None:
    org, gw, results, _ = _run_with_faults(FaultPlan(seed=5, unable_to_lock_row_rate=0.05))
    assert {r.outcome for r in results} == {"created"}
    assert_each_once(org, _expected())
    assert gw.retries > 0
    written = sum(c.records for c in org.request_log if c.method == "PATCH")
    assert written < N * 1.2  # only locked records were sent again, not whole chunks


def test_fault_unable_to_lock_row_everywhere_rejects_per_record() -> None:
    _org, gw, results, _ = _run_with_faults(FaultPlan(seed=5, unable_to_lock_row_rate=1.0), max_attempts=3)
    assert {r.status_code for r in results} == {"UNABLE_TO_LOCK_ROW"}
    assert all("3 attempts" in (r.message or "") for r in results)
    assert gw.api_calls == 5 * 3


def test_fault_concurrent_request_limit_is_retried() -> None:
    org, gw, results, _ = _run_with_faults(FaultPlan(seed=6, concurrent_limit_rate=0.3))
    assert {r.outcome for r in results} == {"created"}
    assert_each_once(org, _expected())
    assert gw.retries > 0


def test_fault_total_requests_stops_at_once() -> None:
    org = FakeSalesforce(faults=FaultPlan(seed=7, total_requests_after=3))
    sleeps = Sleeps()
    with org:
        gw = SalesforceGateway.connect(token_settings(org), sleep=sleeps)
        with pytest.raises(ApiAllowanceExhaustedError, match="daily API allowance"):
            gw.upsert("Account", EXT, accounts(N))
        assert gw.api_calls == 4
    assert sleeps == []
    assert_each_once(org, _expected()[:600])


def test_fault_slow_responses_time_out_and_are_retried() -> None:
    org, gw, results, _ = _run_with_faults(FaultPlan(seed=8, slow_response_rate=0.3, slow_seconds=60), read_timeout=2.0)
    assert {r.outcome for r in results} <= {"created", "updated"}  # a lost answer makes the retry an update
    assert_each_once(org, _expected())
    assert gw.retries > 0


def test_budget_ceiling_stops_cleanly() -> None:
    org = FakeSalesforce(daily_api_limit=10)
    with org:
        gw = SalesforceGateway.connect(token_settings(org, api_usage_ceiling=0.5), sleep=Sleeps())
        with pytest.raises(ApiBudgetExceededError, match="ceiling"):
            gw.upsert("Account", EXT, accounts(2 * N), mode="collections")
        assert gw.api_usage is not None and gw.api_usage.used == 5
        assert gw.api_calls == 5
    assert_each_once(org, _expected())  # the first 5 chunks, nothing of the rest


@pytest.mark.parametrize(
    "plan",
    [
        FaultPlan(seed=1, http_503_rate=0.3),
        FaultPlan(seed=2, unable_to_lock_row_rate=0.05),
        FaultPlan(seed=3, slow_response_rate=0.3, slow_seconds=60),
        FaultPlan(seed=4, concurrent_limit_rate=0.3),
    ],
    ids=["503", "lock", "slow", "concurrent"],
)
def test_bulk_under_faults_nothing_lost_nothing_duplicated(plan: FaultPlan) -> None:
    records = accounts(1200)
    with FakeSalesforce(faults=plan) as org:
        gw = SalesforceGateway.connect(token_settings(org, read_timeout=2.0), sleep=Sleeps())
        results = gw.upsert("Account", EXT, records, mode="bulk")
        assert {r.outcome for r in results} == {"created"}
        assert gw.retries > 0
        assert gw.api_calls < 40
    assert_each_once(org, [r[EXT] for r in records])


def test_relationship_by_external_id_in_both_modes() -> None:
    deal = OrgSchema.from_mapping(
        {
            "objects": {
                "Deal__c": {
                    "fields": {
                        "Deal_Number__c": {"type": "string", "length": 40, "external_id": True, "unique": True},
                        "Partner_Account__c": {
                            "type": "reference",
                            "reference_to": "Account",
                            "relationship_name": "Partner_Account__r",
                        },
                    }
                }
            }
        },
        check_references=False,
    )
    with FakeSalesforce(default_org_schema().merge(deal)) as org:
        gw = SalesforceGateway.connect(token_settings(org), sleep=Sleeps())
        (partner,) = gw.upsert("Account", EXT, [{EXT: "P/1", "Name": "Partner"}])
        for mode in ("collections", "bulk"):
            results = gw.upsert(
                "Deal__c",
                "Deal_Number__c",
                [
                    {"Deal_Number__c": f"D1-{mode}", "Name": "deal", "Partner_Account__r": {EXT: "P/1"}},
                    {"Deal_Number__c": f"D2-{mode}", "Name": "deal", "Partner_Account__r": {EXT: "NOPE"}},
                ],
                mode=mode,
            )  # type: ignore[arg-type]
            assert [r.outcome for r in results] == ["created", "rejected"], results
            assert results[1].message and "NOPE" in results[1].message
        links = {r["Deal_Number__c"]: r["Partner_Account__c"] for r in org.records("Deal__c")}
    assert links == {"D1-collections": partner.salesforce_id, "D1-bulk": partner.salesforce_id}


def test_duplicate_external_ids_in_one_call_are_rejected_per_record(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    records = [{EXT: "DUP", "Name": "a"}, {EXT: "UNIQUE", "Name": "b"}, {EXT: "DUP", "Name": "c"}]
    for mode in ("collections", "bulk"):
        results = gw.upsert("Account", EXT, records, mode=mode)  # type: ignore[arg-type]
        assert [r.outcome for r in results] == [
            "rejected",
            "created" if mode == "collections" else "updated",
            "rejected",
        ]
        assert results[0].status_code == results[2].status_code == "DUPLICATE_EXTERNAL_ID"


def test_bad_soql_is_a_fatal_error_with_salesforce_message(fake: FakeSalesforce) -> None:
    gw = SalesforceGateway.connect(token_settings(fake), sleep=Sleeps())
    with pytest.raises(SalesforceApiError) as info:
        list(gw.query("SELECT Bogus__c FROM Account"))
    assert info.value.context.status_code in {"INVALID_FIELD", "MALFORMED_QUERY"}
    assert info.value.context.sf_message
    assert gw.api_calls == 1
