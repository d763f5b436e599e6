"""The push pipeline under crashes, and the pull's transport and watermark (issue 14).

Law 2 (nothing lost, nothing duplicated) with several Bulk jobs in flight: the process "dies"
(an exception nothing in sfsync catches) at each boundary between the pipeline's steps — read,
map, fingerprint, protect, upload (on a worker thread), the org's processing, ledger, watermark —
then a rerun must leave every portal row in Salesforce exactly once, the ledger agreeing with the
org, the watermark at the newest row, and a third run writing nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import World, make_world

from sfsync.config import SalesforceSettings, Settings, SyncSettings
from sfsync.crypto import FieldCipher, FieldContext
from sfsync.errors import ErrorContext, SalesforceApiError
from sfsync.portal import SqlPortal
from sfsync.sync._engine import EngineOptions, SyncEngine, SyncOptions
from sfsync.sync._protect import KeyringProtector
from sfsync.sync._report import RunReport
from sfsync.sync._state import StateStore
from sfsync.testing import RecordedCall

MAPPING = "deal_registration"
OBJECT = "Deal_Registration__c"
WRITES = ("PATCH", "POST", "PUT", "DELETE")
# 450 rows read 200 at a time and sent in jobs of 100: jobs of 100, 100 | 100, 100 | 50; the
# 100-row jobs go through Bulk API 2.0 (threshold 50), the 50-row one through Collections.
PIPELINE = {"batch_size": 200, "job_size": 100, "parallel_jobs": 2}


class SimulatedCrash(RuntimeError):
    """The process dies here: nothing in sfsync handles it."""


@pytest.fixture
def bulk_world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, deals=450, settings={"bulk_threshold": 50, "bulk_poll_seconds": 0.01})


def _utc(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def run_push(world: World, **engine: Any) -> RunReport:
    report: RunReport = world.engine(**{**PIPELINE, **engine}).run(SyncOptions(mappings=(MAPPING,), direction="push"))
    return report


def writes_since(world: World, since: int) -> list[str]:
    return [f"{c.method} {c.path}" for c in world.fake.request_log[since:] if c.method in WRITES]


def assert_no_duplicates(world: World) -> None:
    numbers = [str(r["Registration_Number__c"]) for r in world.fake.records(OBJECT)]
    assert len(numbers) == len(set(numbers)), "a registration exists twice in Salesforce"


def assert_watermark_behind_unsynced(world: World) -> None:
    """Right after the crash: no row that is neither in the ledger with an Id nor dead-lettered
    lies strictly before the push watermark (rows at it are read again)."""
    store = StateStore(world.state_url)
    try:
        watermark = store.get_watermark(MAPPING, "push")
        rows = world.portal_rows()
        ledger = store.ledger(MAPPING, [str(r["registration_number"]) for r in rows])
        lettered = {d.record_key for d in store.dead_letters()}
    finally:
        store.close()
    unsynced = [
        r
        for r in rows
        if str(r["registration_number"]) not in lettered
        and (
            ledger.get(str(r["registration_number"])) is None or not ledger[str(r["registration_number"])].salesforce_id
        )
    ]
    if watermark is not None:
        assert all(_utc(r["updated_at"]) >= watermark for r in unsynced)


def assert_mirrored(world: World) -> None:
    rows = {str(r["registration_number"]): r for r in world.portal_rows() if r["deleted_at"] is None}
    records = world.fake.records(OBJECT)
    assert_no_duplicates(world)
    assert {str(r["Registration_Number__c"]) for r in records} == set(rows)
    cipher = FieldCipher(world.keyring)
    for record in records:
        key = str(record["Registration_Number__c"])
        assert float(world.plain(record, "Amount__c") or "nan") == float(rows[key]["amount"]), key
        name = cipher.decrypt(record["End_Customer_Name__c"], FieldContext(OBJECT, "End_Customer_Name__c", key))
        assert name == rows[key]["end_customer_name"].strip()
    store = StateStore(world.state_url)
    try:
        ledger = store.ledger(MAPPING, list(rows))
        assert {k: e.salesforce_id for k, e in ledger.items()} == {
            str(r["Registration_Number__c"]): r["Id"] for r in records
        }
        assert all(e.push_hash for e in ledger.values())
        assert store.get_watermark(MAPPING, "push") == max(_utc(r["updated_at"]) for r in world.portal_rows())
        assert store.dead_letters() == []
    finally:
        store.close()
    mark = len(world.fake.request_log)
    quiet = run_push(world)
    assert quiet.summary(MAPPING, "push").written == 0
    assert writes_since(world, mark) == []


def _nth_call(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    nth: int,
    *,
    after: bool = False,
    when: Callable[..., bool] = lambda *a, **k: True,
) -> dict[str, int]:
    """``owner.name`` dies on its ``nth`` matching call (``after``: once that call did its work)."""
    original = getattr(owner, name)
    seen = {"calls": 0}
    bound = not isinstance(owner, type)

    def crashing(*args: Any, **kwargs: Any) -> Any:
        call_args = args if bound else args[1:]
        if when(*call_args, **kwargs):
            seen["calls"] += 1
            if seen["calls"] == nth:
                if after:
                    original(*args, **kwargs)
                raise SimulatedCrash(f"killed {'after' if after else 'in'} {name} (call {nth})")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, crashing)
    return seen


def _crash_in_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The portal read dies after handing over two batches (jobs of both may be in flight)."""
    original = SqlPortal.changed_rows

    def crashing(self: SqlPortal, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        batches = original(self, *args, **kwargs)
        yield next(batches)
        yield next(batches)
        raise SimulatedCrash("killed while reading the third batch")

    monkeypatch.setattr(SqlPortal, "changed_rows", crashing)


def _is_upload(method: str, path: str, **_kwargs: Any) -> bool:
    return method == "PUT" and path.endswith("/batches")


def _is_results(method: str, path: str, **_kwargs: Any) -> bool:
    return method == "GET" and path.endswith("/successfulResults/")


STAGES = ["read", "map", "fingerprint", "protect", "upload", "org_processed", "ledger", "watermark", "after_watermark"]


@pytest.mark.parametrize("stage", STAGES)
def test_crash_at_each_pipeline_stage_then_rerun_syncs_every_record_exactly_once(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    world = bulk_world
    if stage == "read":
        _crash_in_read(monkeypatch)
    elif stage == "map":
        _nth_call(monkeypatch, SyncEngine, "_map_step", 3)
    elif stage == "fingerprint":
        _nth_call(monkeypatch, SyncEngine, "_fingerprint_step", 4)
    elif stage == "protect":
        _nth_call(monkeypatch, KeyringProtector, "protect", 250)  # mid-job, jobs 1-2 in flight
    elif stage == "upload":  # on a worker thread: job 3 is created, its upload never arrives
        _nth_call(monkeypatch, world.gateway, "_call", 3, when=_is_upload)
    elif stage == "org_processed":  # job 2 ran in Salesforce; its results are never read
        _nth_call(monkeypatch, world.gateway, "_call", 2, when=_is_results)
    elif stage == "ledger":
        _nth_call(monkeypatch, StateStore, "save_ledger", 2)
    elif stage == "watermark":
        _nth_call(monkeypatch, StateStore, "set_watermark", 1)
    elif stage == "after_watermark":
        _nth_call(monkeypatch, StateStore, "set_watermark", 1, after=True)

    with pytest.raises(SimulatedCrash):
        run_push(world)
    assert_no_duplicates(world)
    assert_watermark_behind_unsynced(world)
    store = StateStore(world.state_url)
    assert [r.outcome for r in store.runs()[:1]] == ["failed"]  # an unexpected error is recorded at once (issue 13)
    store.close()
    monkeypatch.undo()

    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert report.outcome == "ok"
    assert push.rejected == 0
    # nothing synced twice: the rerun sends only what the crashed run had not recorded
    assert push.created + push.updated + push.unchanged == 450 or push.created + push.updated <= 450
    assert_mirrored(world)


def test_a_failed_job_holds_the_watermark_while_later_jobs_are_recorded(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job 2 fails on its worker: jobs already in flight are still recorded in the ledger (the
    rerun skips them), but the watermark stays behind job 2's rows."""
    world = bulk_world
    _nth_call(monkeypatch, world.gateway, "_call", 2, when=_is_upload)
    with pytest.raises(SimulatedCrash):
        run_push(world, batch_size=100, job_size=100)
    store = StateStore(world.state_url)
    try:
        assert store.get_watermark(MAPPING, "push") is not None  # job 1 recorded, watermark after it
        ledgered = store.all_ledger_keys(MAPPING)
    finally:
        store.close()
    # job 1 is recorded; job 3 too if it was already in flight when job 2's failure surfaced
    assert len(ledgered) in (100, 200)
    assert_watermark_behind_unsynced(world)
    monkeypatch.undo()
    report = run_push(world)
    assert report.outcome == "ok"
    assert_mirrored(world)


@pytest.mark.parametrize(("failing_write", "parallel_jobs"), [(1, 2), (2, 2), (1, 3), (2, 3)])
def test_a_failed_ledger_write_holds_the_watermark_for_the_jobs_after_it(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch, failing_write: int, parallel_jobs: int
) -> None:
    """Law 2: a job whose ledger write fails is not recorded, so the jobs still in flight behind
    it (recorded while the pipeline winds down, the batch's last one moving the watermark) must
    not move the watermark past its rows."""
    world = bulk_world
    _nth_call(monkeypatch, StateStore, "save_ledger", failing_write)
    with pytest.raises(SimulatedCrash):
        run_push(world, batch_size=200, job_size=100, parallel_jobs=parallel_jobs)
    assert StateStore(world.state_url).get_watermark(MAPPING, "push") is None
    assert_watermark_behind_unsynced(world)
    monkeypatch.undo()
    assert run_push(world).outcome == "ok"
    assert_mirrored(world)


def test_the_pipeline_sends_each_job_once_and_in_bulk(bulk_world: World) -> None:
    world = bulk_world
    mark = len(world.fake.request_log)
    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert (push.created, push.rejected) == (450, 0)
    uploads = [c for c in world.fake.request_log[mark:] if c.method == "PUT" and c.path.endswith("/batches")]
    assert len(uploads) == 4  # four Bulk jobs of 100; the last 50 through Collections
    assert {"mapping", "encryption", "csv_build", "upload", "state_writes"} <= set(push.stage_seconds)
    assert_mirrored(world)


# ---------------------------------------------------------------------------------- the pull


def test_a_large_pull_goes_through_bulk_query_and_the_next_cycle_is_one_query_per_direction(
    bulk_world: World,
) -> None:
    world = bulk_world
    world.fake.page_size = 100  # REST would take five pages; above 100 rows the pull uses Bulk
    # The org's clock ticks 250 ms per reading: the load's last writes and the pull's query
    # fall in different whole seconds, as they do when a load takes longer than an instant.
    # (Records stamped in the very second of the previous pull query are read again.)
    clock = {"now": datetime(2026, 11, 21, 9, 0, tzinfo=UTC)}

    def ticking() -> datetime:
        clock["now"] += timedelta(milliseconds=250)
        return clock["now"]

    world.fake.clock = ticking
    engine = world.engine(**PIPELINE, pull_bulk_threshold=100)
    first = engine.run(SyncOptions(mappings=(MAPPING,)))
    pull = first.summary(MAPPING, "pull")
    # The push wrote each new record's Id to the portal; the pull read them all back and found
    # the portal holding every value already.
    assert pull.read >= 450 and pull.unchanged >= 450 and pull.written_back == 0
    query_jobs = [
        c for c in world.fake.request_log if c.method == "POST" and c.path.rstrip("/").endswith("/jobs/query")
    ]
    assert len(query_jobs) == 1
    # Every Salesforce Id is in the portal, and equal to what the Bulk query's CSV read back.
    rows = {str(r["registration_number"]): r for r in world.portal_rows()}
    ids = {str(r["Registration_Number__c"]): r["Id"] for r in world.fake.records(OBJECT)}
    assert all(rows[k]["salesforce_id"] == v for k, v in ids.items())

    mark = len(world.fake.request_log)
    idle = world.engine(**PIPELINE, pull_bulk_threshold=100).run(SyncOptions(mappings=(MAPPING,)))
    calls = world.fake.request_log[mark:]
    assert idle.summary(MAPPING, "push").api_calls == 0
    assert idle.summary(MAPPING, "pull").api_calls == 1  # one REST query: nothing re-read
    assert idle.summary(MAPPING, "pull").read == 0
    assert [c.method for c in calls] == ["GET"]


def test_the_pull_watermark_is_the_orgs_clock_not_the_local_one(bulk_world: World) -> None:
    world = bulk_world
    org_now = datetime(2031, 5, 6, 7, 8, 9, 654321, tzinfo=UTC)
    world.fake.clock = lambda: org_now  # the org's clock runs years ahead of this machine's
    report = world.run(direction="pull")
    assert report.summary(MAPPING, "pull").watermark == org_now.replace(microsecond=0)
    store = StateStore(world.state_url)
    assert store.get_watermark(MAPPING, "pull") == org_now.replace(microsecond=0)
    store.close()


def test_a_record_edited_in_salesforce_after_the_pull_is_read_by_the_next_one(bulk_world: World) -> None:
    world = bulk_world
    clock = {"now": datetime(2026, 11, 21, 9, 0, tzinfo=UTC)}
    world.fake.clock = lambda: clock["now"]
    world.run(direction="push")
    clock["now"] += timedelta(seconds=2)
    world.run(direction="pull")  # reads the load once; the next pull starts at 09:00:02
    record = world.fake.records(OBJECT)[7]
    clock["now"] += timedelta(seconds=1)
    world.fake.update(OBJECT, record["Id"], {"Status__c": "Approved"})
    report = world.run(direction="pull")
    pull = report.summary(MAPPING, "pull")
    assert pull.read == 1 and pull.written_back == 1
    row = next(r for r in world.portal_rows() if r["registration_number"] == record["Registration_Number__c"])
    assert row["status"] == "approved"


# ------------------------------------------------------------------ the first job, the defaults


def test_a_large_loads_first_job_is_one_bulk_job_just_above_the_upsert_threshold(bulk_world: World) -> None:
    """One batch of 450 rows in jobs of 200: the first job is ``threshold + 1`` = 51 rows (a fifth
    of a job, 40, would go through sObject Collections), then 200 and 199 — all Bulk jobs."""
    world = bulk_world
    mark = len(world.fake.request_log)
    report = run_push(world, batch_size=450, job_size=200, upsert_bulk_threshold=50)
    assert report.summary(MAPPING, "push").created == 450
    calls = world.fake.request_log[mark:]
    assert [c.path for c in calls if "/composite/sobjects/" in c.path] == []
    uploads = [c.records for c in calls if c.method == "PUT" and c.path.endswith("/batches")]
    assert sorted(uploads) == [51, 199, 200]
    assert_mirrored(world)


def test_four_push_jobs_are_in_flight_by_default() -> None:
    assert EngineOptions().parallel_jobs == 4
    assert SyncSettings().parallel_jobs == 4
    assert EngineOptions.from_settings(Settings()).parallel_jobs == 4


def test_the_upsert_threshold_comes_from_the_gateways_bulk_threshold() -> None:
    options = EngineOptions.from_settings(Settings(salesforce=SalesforceSettings(bulk_threshold=123)))
    assert (options.upsert_bulk_threshold, options.pull_bulk_threshold) == (123, 123)


# ------------------------------------------------------------------ the pull after a push


def _rest_queries(calls: list[RecordedCall]) -> list[RecordedCall]:
    """REST query calls (first pages and next pages), not Bulk API 2.0 query jobs."""
    return [c for c in calls if "/jobs/" not in c.path and {"query", "queryAll"} & set(c.path.split("/"))]


def _query_jobs(calls: list[RecordedCall]) -> list[RecordedCall]:
    return [c for c in calls if c.method == "POST" and c.path.rstrip("/").endswith("/jobs/query")]


def test_a_pull_after_pushing_more_than_the_threshold_goes_straight_to_a_bulk_query_job(bulk_world: World) -> None:
    """The 450 records the push just created are read back: the pull asks REST nothing first, its
    watermark is the org's clock when the job was created, and the idle cycle after it reads nothing."""
    world = bulk_world
    clock = {"now": datetime(2026, 11, 21, 9, 0, tzinfo=UTC)}

    def ticking() -> datetime:
        clock["now"] += timedelta(milliseconds=250)
        return clock["now"]

    world.fake.clock = ticking
    engine = world.engine(**PIPELINE, pull_bulk_threshold=100, upsert_bulk_threshold=50)
    mark = len(world.fake.request_log)
    report = engine.run(SyncOptions(mappings=(MAPPING,)))
    calls = world.fake.request_log[mark:]
    assert report.summary(MAPPING, "push").created == 450
    pull = report.summary(MAPPING, "pull")
    assert pull.read >= 450 and pull.unchanged >= 450  # the push wrote the Ids: nothing left to write
    assert _rest_queries(calls) == []
    assert len(_query_jobs(calls)) == 1
    assert pull.watermark is not None
    store = StateStore(world.state_url)
    try:
        assert store.get_watermark(MAPPING, "pull") == pull.watermark
    finally:
        store.close()

    mark = len(world.fake.request_log)
    idle = world.engine(**PIPELINE, pull_bulk_threshold=100).run(SyncOptions(mappings=(MAPPING,)))
    assert idle.summary(MAPPING, "pull").read == 0
    assert [c.method for c in world.fake.request_log[mark:]] == ["GET"]  # one REST query, nothing re-read


def test_a_dry_run_pull_still_asks_rest_first(bulk_world: World) -> None:
    """A dry run pushes nothing, so its pull knows nothing of its size: the REST probe decides."""
    world = bulk_world
    mark = len(world.fake.request_log)
    report = world.engine(**PIPELINE, pull_bulk_threshold=100).run(SyncOptions(mappings=(MAPPING,), dry_run=True))
    assert report.summary(MAPPING, "push").created == 450  # planned, not sent
    calls = world.fake.request_log[mark:]
    assert [c.method for c in _rest_queries(calls)] == ["GET"]
    assert _query_jobs(calls) == []


def test_a_pull_only_run_asks_rest_first_even_after_the_same_engine_pushed(bulk_world: World) -> None:
    """What one run pushed says nothing about the next run's pull: it probes with LIMIT threshold + 1."""
    world = bulk_world
    engine = world.engine(**PIPELINE, pull_bulk_threshold=100, upsert_bulk_threshold=50)
    assert engine.run(SyncOptions(mappings=(MAPPING,), direction="push")).summary(MAPPING, "push").created == 450
    mark = len(world.fake.request_log)
    report = engine.run(SyncOptions(mappings=(MAPPING,), direction="pull"))
    assert report.summary(MAPPING, "pull").read >= 450
    calls = world.fake.request_log[mark:]
    probes = _rest_queries(calls)
    assert [(c.method, c.records) for c in probes] == [("GET", 101)]
    assert calls.index(probes[0]) < calls.index(_query_jobs(calls)[0])


# ------------------------------------------------------------------ the pull's query, started early


def _hold_last_ledger_step(monkeypatch: pytest.MonkeyPatch, world: World, batches: int) -> dict[str, bool]:
    """The push's last recorded job waits (up to 5 s) for a Bulk query job to be created, and
    says whether one was: with the early start, the org gets the pull's query while the push
    still records; without it, the query would only come after the push."""
    seen = {"query_job_while_recording": False}
    recorded = {"jobs": 0}
    original = SyncEngine._ledger_step

    def holding(self: SyncEngine, *args: Any, **kwargs: Any) -> None:
        recorded["jobs"] += 1
        if recorded["jobs"] == batches:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not _query_jobs(list(world.fake.request_log)):
                time.sleep(0.01)
            seen["query_job_while_recording"] = bool(_query_jobs(list(world.fake.request_log)))
        original(self, *args, **kwargs)

    monkeypatch.setattr(SyncEngine, "_ledger_step", holding)
    return seen


def test_the_pull_query_starts_while_the_push_records_its_last_job(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bulk_world
    # 450 rows in one batch, jobs of 200 (the first 51 rows): three Bulk jobs, all sent
    seen = _hold_last_ledger_step(monkeypatch, world, batches=3)
    engine = world.engine(
        batch_size=450, job_size=200, parallel_jobs=4, upsert_bulk_threshold=50, pull_bulk_threshold=100
    )
    report = engine.run(SyncOptions(mappings=(MAPPING,)))
    assert seen["query_job_while_recording"]
    push, pull = report.summary(MAPPING, "push"), report.summary(MAPPING, "pull")
    assert push.created == 450 and push.rejected == 0
    assert pull.read == 450 and pull.unchanged == 450
    # the early query's calls are the pull's, not the push's
    assert push.api_calls + pull.api_calls == report.api_calls
    assert pull.api_calls >= 3  # create the query job, ask whether it is done, read its results
    assert all(r["salesforce_id"] for r in world.portal_rows())
    # the next cycle starts at the early query's clock: nothing is read twice
    mark = len(world.fake.request_log)
    idle = world.engine(batch_size=450, job_size=200).run(SyncOptions(mappings=(MAPPING,)))
    assert idle.summary(MAPPING, "pull").read <= 450  # at most the edge second, found unchanged
    assert idle.summary(MAPPING, "pull").written_back == 0
    assert [c.method for c in world.fake.request_log[mark:]] == ["GET"]


def test_the_pull_query_waits_for_a_withdrawal_the_push_sends_after_its_jobs(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A portal delete is propagated after the push's jobs: the pull's query is not started early,
    so it comes after the withdrawal, and the same run's pull reads the withdrawn record back."""
    world = bulk_world
    engine = world.engine(batch_size=450, job_size=200, upsert_bulk_threshold=50)
    engine.run(SyncOptions(mappings=(MAPPING,)))
    gone = str(world.portal_rows()[0]["registration_number"])
    world.portal_execute("DELETE FROM deal_registrations WHERE registration_number = :key", key=gone)
    world.portal_execute("UPDATE deal_registrations SET amount = amount + 1")  # every row pushed again
    mark = len(world.fake.request_log)
    report = world.engine(batch_size=450, job_size=200, upsert_bulk_threshold=50).run(SyncOptions(mappings=(MAPPING,)))
    assert report.summary(MAPPING, "push").withdrawn == 1
    calls = world.fake.request_log[mark:]
    queries = [i for i, c in enumerate(calls) if c in _query_jobs(calls) or c in _rest_queries(calls)]
    withdrawals = [i for i, c in enumerate(calls) if "/composite/sobjects/" in c.path and c.method == "PATCH"]
    assert withdrawals and queries and max(withdrawals) < min(queries)


def test_a_failed_early_query_fails_the_pull_after_the_push_is_recorded(
    bulk_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = bulk_world
    engine = world.engine(
        batch_size=450, job_size=200, parallel_jobs=4, upsert_bulk_threshold=50, pull_bulk_threshold=100
    )
    gateway: Any = engine.salesforce

    def refused(*_args: Any, **_kwargs: Any) -> Iterator[dict[str, Any]]:
        raise SalesforceApiError("bulk query: job ended in state Failed", ErrorContext())
        yield {}  # a generator, like the real one

    monkeypatch.setattr(gateway, "_bulk_query", refused)
    with pytest.raises(SalesforceApiError):
        engine.run(SyncOptions(mappings=(MAPPING,)))
    store = StateStore(world.state_url)
    try:
        assert len(store.all_ledger_keys(MAPPING)) == 450  # every pushed record is recorded
        assert store.get_watermark(MAPPING, "push") is not None
        assert store.get_watermark(MAPPING, "pull") is None  # the pull did not move
    finally:
        store.close()
