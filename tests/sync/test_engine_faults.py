"""The sync engine under crashes, Salesforce faults, overlapping runs and a real PostgreSQL.

Laws 2 (nothing lost), 3 (idempotent writes) and 5 (every failure classified) from docs/design.md,
issue 4 item 8. One mocking layer: FakeSalesforce serves HTTP; crashes are injected with
``monkeypatch`` on the real portal, state store and gateway objects.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from workspace_helpers import NOW, REPO, World, make_world

from sfsync.config import AuthMode, SalesforceSettings
from sfsync.crypto import FieldCipher, FieldContext, Keyring
from sfsync.errors import (
    EXIT_FATAL,
    ApiAllowanceExhaustedError,
    AuthenticationError,
    FatalError,
    LockHeldError,
    RetriesExhaustedError,
)
from sfsync.mapping import load_mappings
from sfsync.portal import SqlPortal
from sfsync.salesforce import SalesforceGateway
from sfsync.services.demo_data import create_portal, seed_org
from sfsync.sync._engine import SyncOptions
from sfsync.sync._report import RunReport
from sfsync.sync._state import StateStore
from sfsync.testing import FakeSalesforce, FaultPlan

MAPPING = "deal_registration"
OBJECT = "Deal_Registration__c"
UPSERT_PATH = f"/composite/sobjects/{OBJECT}/Registration_Number__c"
WRITES = ("PATCH", "POST", "PUT", "DELETE")


class SimulatedCrash(RuntimeError):
    """The process dies here (not an sfsync error: the engine cannot tidy up after it)."""


# ---------------------------------------------------------------------------------- helpers


def upsert_calls(world: World, since: int = 0) -> list[int]:
    """Records per upsert call (sObject Collections) made after request-log index ``since``."""
    return [
        c.records
        for c in world.fake.request_log[since:]
        if c.method == "PATCH" and c.path.endswith(UPSERT_PATH) and c.status == 200
    ]


def writes_since(world: World, since: int) -> list[str]:
    return [f"{c.method} {c.path}" for c in world.fake.request_log[since:] if c.method in WRITES]


def _utc(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def later(minutes: int = 10) -> datetime:
    """A portal timestamp (naive UTC) after every seeded one."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(tzinfo=None, microsecond=0)


def run_push(world: World, **engine: Any) -> RunReport:
    report: RunReport = world.engine(**engine).run(SyncOptions(mappings=(MAPPING,), direction="push"))
    return report


def assert_mirrored(world: World) -> None:
    """Every live portal row is in Salesforce exactly once with the portal's values; the ledger,
    the watermark and the dead letters agree; and one more run writes nothing."""
    rows = {str(r["registration_number"]): r for r in world.portal_rows() if r["deleted_at"] is None}
    records = world.fake.records(OBJECT)
    numbers = [str(r["Registration_Number__c"]) for r in records]
    assert len(numbers) == len(set(numbers)), "a registration exists twice in Salesforce"
    assert set(numbers) == set(rows)
    cipher = FieldCipher(world.keyring)
    for record in records:
        key = str(record["Registration_Number__c"])
        row = rows[key]
        assert float(world.plain(record, "Amount__c") or "nan") == float(row["amount"]), key
        assert world.plain(record, "End_Customer_Country__c") == row["end_customer_country"]
        name = cipher.decrypt(record["End_Customer_Name__c"], FieldContext(OBJECT, "End_Customer_Name__c", key))
        assert name == row["end_customer_name"].strip()
    store = StateStore(world.state_url)
    try:
        ledger = store.ledger(MAPPING, list(rows))
        by_number = {str(r["Registration_Number__c"]): r["Id"] for r in records}
        assert {k: e.salesforce_id for k, e in ledger.items()} == by_number
        assert all(e.push_hash for e in ledger.values())
        newest = max(_utc(r["updated_at"]) for r in world.portal_rows())
        assert store.get_watermark(MAPPING, "push") == newest
        assert store.dead_letters() == []
    finally:
        store.close()
    mark = len(world.fake.request_log)
    quiet = run_push(world)
    assert quiet.summary(MAPPING, "push").written == 0
    assert writes_since(world, mark) == []


def assert_watermark_behind_unsynced(world: World) -> None:
    """Law 2 right after a crash: no row that is neither synced nor dead-lettered lies strictly
    before the push watermark (rows at it are re-read)."""
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
        and (str(r["registration_number"]) not in ledger or ledger[str(r["registration_number"])].salesforce_id is None)
    ]
    if watermark is not None:
        assert all(_utc(r["updated_at"]) >= watermark for r in unsynced)


@pytest.fixture
def big_world(tmp_path: Path) -> Iterator[World]:
    """450 registrations: three collection calls (200 + 200 + 50) for one batch."""
    yield from make_world(tmp_path, deals=450)


# ---------------------------------------------------------------------------------- law 3


def test_ten_changed_rows_give_exactly_ten_upserts_then_a_rerun_makes_no_upsert_call(big_world: World) -> None:
    world = big_world
    first = run_push(world)
    assert first.summary(MAPPING, "push").created == 450
    assert upsert_calls(world) == [200, 200, 50]

    changed = [f"DR-{i:06d}" for i in range(3, 400, 40)]
    assert len(changed) == 10
    for number in changed:
        world.portal_execute(
            "UPDATE deal_registrations SET amount = amount + 7, updated_at = :t WHERE registration_number = :n",
            t=later(),
            n=number,
        )
    mark = len(world.fake.request_log)
    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert (push.updated, push.created, push.rejected) == (10, 0, 0)
    assert upsert_calls(world, mark) == [10]
    assert writes_since(world, mark) == [f"PATCH /services/data/v61.0{UPSERT_PATH}"]

    world.run()  # both directions: the first pull writes the Salesforce Ids back to the portal
    mark = len(world.fake.request_log)
    rerun = world.run()
    assert upsert_calls(world, mark) == []
    assert writes_since(world, mark) == []
    assert rerun.summary(MAPPING, "push").written == 0
    assert rerun.summary(MAPPING, "pull").written_back == 0
    assert_mirrored(world)


# ---------------------------------------------------------------------------------- law 2: crashes


def _crash_after_read(monkeypatch: pytest.MonkeyPatch, *, yield_first: bool) -> None:
    """changed_rows reads a batch, then the process dies (before pushing it, or after it)."""
    original = SqlPortal.changed_rows

    def crashing(self: SqlPortal, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        batches = original(self, *args, **kwargs)
        first = next(batches)
        if yield_first:
            yield first
        raise SimulatedCrash("killed after reading a batch")

    monkeypatch.setattr(SqlPortal, "changed_rows", crashing)


def _crash_mid_batch(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    """The gateway dies after the first of three 200-record collection calls of one batch."""
    gateway = world.gateway
    original = gateway._call
    seen = {"upserts": 0}

    def crashing(method: str, path: str, **kwargs: Any) -> Any:
        if method == "PATCH" and path.startswith("composite/sobjects/"):
            seen["upserts"] += 1
            if seen["upserts"] == 2:
                raise SimulatedCrash("killed between two collection calls")
        return original(method, path, **kwargs)

    monkeypatch.setattr(gateway, "_call", crashing)


def _crash_once(
    monkeypatch: pytest.MonkeyPatch, name: str, *, after: bool = False, when: Callable[..., bool] = lambda *a, **k: True
) -> None:
    """StateStore.<name> dies the first time it is called (``after``: once it has done its work)."""
    original = getattr(StateStore, name)
    fired = {"done": False}

    def crashing(self: StateStore, *args: Any, **kwargs: Any) -> Any:
        if not fired["done"] and when(*args, **kwargs):
            fired["done"] = True
            if after:
                original(self, *args, **kwargs)
            raise SimulatedCrash(f"killed {'after' if after else 'before'} {name}")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StateStore, name, crashing)


CRASH_POINTS = [
    "after_read_before_push",
    "between_batches",
    "mid_batch",
    "after_upsert_before_ledger",
    "after_ledger_before_watermark",
    "after_watermark",
]


# (records in Salesforce, ledger entries, watermark written) right after the crash
EXPECTED_AFTER_CRASH = {
    "after_read_before_push": (0, 0, False),
    "between_batches": (150, 150, True),
    "mid_batch": (200, 0, False),
    "after_upsert_before_ledger": (450, 0, False),
    "after_ledger_before_watermark": (150, 150, False),
    "after_watermark": (150, 150, True),
}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_law2_crash_at_every_step_then_rerun_syncs_every_record_exactly_once(
    big_world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    world = big_world
    batch_size = 2000
    if point == "after_read_before_push":
        _crash_after_read(monkeypatch, yield_first=False)
    elif point == "between_batches":
        _crash_after_read(monkeypatch, yield_first=True)
        batch_size = 150
    elif point == "mid_batch":
        _crash_mid_batch(monkeypatch, world)
    elif point == "after_upsert_before_ledger":
        _crash_once(monkeypatch, "save_ledger")
    elif point == "after_ledger_before_watermark":
        _crash_once(monkeypatch, "set_watermark")
        batch_size = 150
    elif point == "after_watermark":
        _crash_once(monkeypatch, "set_watermark", after=True)
        batch_size = 150

    # One batch in flight: the exact counts below are those of a crash with nothing else sent
    # (tests/sync/test_pipeline.py crashes the pipeline with several batches in flight).
    with pytest.raises(SimulatedCrash):
        run_push(world, batch_size=batch_size, parallel_jobs=1)
    # the crash hit the intended step: what reached Salesforce, the ledger and the watermark
    in_salesforce, ledgered, watermarked = EXPECTED_AFTER_CRASH[point]
    store = StateStore(world.state_url)
    assert len(world.fake.records(OBJECT)) == in_salesforce
    assert len(store.all_ledger_keys(MAPPING)) == ledgered
    assert (store.get_watermark(MAPPING, "push") is not None) == watermarked
    store.close()
    assert_watermark_behind_unsynced(world)
    monkeypatch.undo()

    mark = len(world.fake.request_log)
    report = run_push(world, batch_size=batch_size)
    push = report.summary(MAPPING, "push")
    assert push.rejected == 0
    assert report.outcome == "ok"
    # The rerun re-sends at most what the crashed run had not confirmed, each record once.
    assert sum(upsert_calls(world, mark)) == push.created + push.updated <= 450
    if point == "after_ledger_before_watermark":
        # the crashed run's first batch was confirmed in the ledger: the rerun skips it
        assert (push.unchanged, push.created) == (150, 300)
    if point == "after_watermark":
        assert push.created == 300
    runs = StateStore(world.state_url).runs()
    # an exception the engine did not expect is recorded as it happens ("failed", with its type), not
    # left "running" for the next run to mark "crashed" (that is for a process killed outright)
    assert [r.outcome for r in runs[:2]] == ["ok", "failed"]
    assert runs[1].summary is not None
    assert runs[1].summary["error_type"] == "SimulatedCrash"
    assert_mirrored(world)


@pytest.mark.slow
def test_law2_crash_after_a_bulk_job_ran_but_before_its_results_were_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the bulk threshold the upsert goes through Bulk API 2.0: Salesforce holds the rows,
    the results are never read; the rerun upserts again by external id, duplicating nothing."""
    for world in make_world(tmp_path, deals=2100, settings={"bulk_poll_seconds": 0.01}):

        def crashing(method: str, path: str, original: Any = world.gateway._call, **kwargs: Any) -> Any:
            if method == "GET" and path.endswith("/successfulResults/"):
                raise SimulatedCrash("killed before reading the bulk job's results")
            return original(method, path, **kwargs)

        monkeypatch.setattr(world.gateway, "_call", crashing)
        with pytest.raises(SimulatedCrash):
            run_push(world, batch_size=5000)
        assert len(world.fake.records(OBJECT)) == 2100
        assert StateStore(world.state_url).get_watermark(MAPPING, "push") is None
        monkeypatch.undo()
        report = run_push(world, batch_size=5000)
        push = report.summary(MAPPING, "push")
        assert (push.created, push.updated, push.rejected) == (0, 2100, 0)
        assert_mirrored(world)


def test_law2_killed_run_keeps_the_lock_until_its_lease_expires_then_a_rerun_finishes(
    big_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9: no finally block runs, so the lock row stays; the lease frees it."""
    world = big_world
    from sfsync.sync._lock import LeaseLock

    monkeypatch.setattr(LeaseLock, "release", lambda self: None)
    _crash_mid_batch(monkeypatch, world)
    with pytest.raises(SimulatedCrash):
        run_push(world, lock_lease_seconds=60)
    monkeypatch.undo()

    with pytest.raises(LockHeldError):
        run_push(world)
    assert len(world.fake.records(OBJECT)) == 200  # the second run wrote nothing

    # An hour later (on the state store's clock) the lease has expired.
    clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    report = run_push(world, state=StateStore(world.state_url, clock=clock))
    assert report.summary(MAPPING, "push").created == 250
    assert report.summary(MAPPING, "push").updated == 200
    assert_mirrored(world)


def test_law2_a_row_edited_while_the_run_reads_is_pushed_with_its_new_values(big_world: World) -> None:
    """The keyset read meets the edited row a second time, later in the same run: that second
    version must be pushed, since the watermark moves past it at the end of the run."""
    world = big_world
    # one row the partner touched an hour "later" than everything else: the run ends its
    # watermark there, so an edit made mid-run at +10 min falls outside the overlap window
    world.portal_execute(
        "UPDATE deal_registrations SET updated_at = :t WHERE registration_number = 'DR-000450'", t=later(60)
    )
    oldest = min(world.portal_rows(), key=lambda r: _utc(r["updated_at"]))["registration_number"]
    edited = threading.Event()

    def edit_once(_label: str, _count: int) -> None:
        if not edited.is_set():
            edited.set()
            world.portal_execute(
                "UPDATE deal_registrations SET amount = 424242, updated_at = :t WHERE registration_number = :n",
                t=later(10),
                n=oldest,
            )

    run_push(world, batch_size=100, progress=edit_once)
    assert edited.is_set()
    assert float(world.plain(world.deals_in_salesforce()[oldest], "Amount__c") or "nan") == 424242.0
    assert_mirrored(world)


def _approve(world: World, numbers: list[str]) -> None:
    deals = world.deals_in_salesforce()
    for number in numbers:
        world.fake.update(OBJECT, deals[number]["Id"], {"Status__c": "Approved", "Decision_Reason__c": "ok"})


@pytest.mark.parametrize("point", ["after_write_back_before_ledger", "before_pull_watermark"])
def test_law2_crash_in_the_pull_then_rerun_writes_every_decision_back(
    world: World, monkeypatch: pytest.MonkeyPatch, point: str
) -> None:
    world.run()
    approved = ["DR-000002", "DR-000011", "DR-000029"]
    _approve(world, approved)
    if point == "after_write_back_before_ledger":
        _crash_once(monkeypatch, "save_ledger")
    else:
        _crash_once(monkeypatch, "set_watermark", when=lambda mapping, direction, value: direction == "pull")
    with pytest.raises(SimulatedCrash):
        world.run(direction="pull")
    monkeypatch.undo()
    report = world.run()
    pull = report.summary(MAPPING, "pull")
    # the write-back may be repeated (same values) but is never lost
    assert pull.written_back <= len(approved)
    statuses = {r["registration_number"]: r["status"] for r in world.portal_rows()}
    assert all(statuses[n] == "approved" for n in approved)
    quiet = world.run()
    assert quiet.summary(MAPPING, "pull").written_back == 0
    assert quiet.summary(MAPPING, "push").written == 0


def test_bad_rows_are_dead_lettered_with_a_reason_and_the_rest_syncs(big_world: World) -> None:
    world = big_world
    too_long = "x" * 400  # more than the 149 plaintext bytes an encrypted Text(255) field holds
    world.portal_execute(
        "UPDATE deal_registrations SET customer_contact_name = :n WHERE registration_number = 'DR-000010'", n=too_long
    )
    world.portal_execute(  # Salesforce refuses the partner lookup
        "UPDATE deal_registrations SET partner_number = 'P-999' WHERE registration_number = 'DR-000020'"
    )
    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert (push.created, push.rejected) == (448, 2)
    assert report.exit_code == 1
    letters = {d.record_key: d for d in StateStore(world.state_url).dead_letters()}
    assert set(letters) == {"DR-000010", "DR-000020"}
    assert all(d.status_code and d.message for d in letters.values())
    assert too_long not in letters["DR-000010"].message
    # the watermark passed both: they are dead-lettered, not lost
    assert StateStore(world.state_url).get_watermark(MAPPING, "push") == max(
        _utc(r["updated_at"]) for r in world.portal_rows()
    )
    # the partner fixes both rows; the edit is picked up by the normal incremental read
    world.portal_execute(
        "UPDATE deal_registrations SET customer_contact_name = 'Ann Short', updated_at = :t "
        "WHERE registration_number = 'DR-000010'",
        t=later(),
    )
    world.portal_execute(
        "UPDATE deal_registrations SET partner_number = 'P-002', updated_at = :t "
        "WHERE registration_number = 'DR-000020'",
        t=later(),
    )
    again = run_push(world)
    assert again.summary(MAPPING, "push").created == 2
    assert_mirrored(world)


def test_portal_hard_delete_is_withdrawn_once(big_world: World) -> None:
    world = big_world
    run_push(world)
    world.portal_execute("DELETE FROM deal_registrations WHERE registration_number IN ('DR-000100', 'DR-000300')")
    report = run_push(world)
    assert report.summary(MAPPING, "push").withdrawn == 2
    deals = world.deals_in_salesforce()
    assert deals["DR-000100"]["Withdrawn_At__c"] and deals["DR-000300"]["Withdrawn_At__c"]
    mark = len(world.fake.request_log)
    again = run_push(world)
    assert again.summary(MAPPING, "push").withdrawn == 0
    assert writes_since(world, mark) == []
    store = StateStore(world.state_url)
    chunks = list(store.iter_ledger_keys(MAPPING, chunk=7, live_only=True))
    keys = [k for c in chunks for k in c]
    assert keys == sorted(keys) and len(keys) == len(set(keys)) == 448
    assert all(len(c) == 7 for c in chunks[:-1])
    assert len([k for c in store.iter_ledger_keys(MAPPING, chunk=1000) for k in c]) == 450


def _delete_from_portal(world: World, key: str) -> dict[str, Any]:
    """Hard-deletes a registration from the portal; returns the row as it was."""
    row = next(r for r in world.portal_rows() if r["registration_number"] == key)
    world.portal_execute("DELETE FROM deal_registrations WHERE registration_number = :k", k=key)
    return row


def _insert_into_portal(world: World, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    world.portal_execute(f"INSERT INTO deal_registrations ({columns}) VALUES ({values})", **row)


def _insert_during_the_read(
    monkeypatch: pytest.MonkeyPatch, world: World, row: dict[str, Any], *, after_the_scan: bool
) -> None:
    """The row comes back while the push reads changed rows: after the hard deletes were looked up,
    either once the last batch was read (the read cannot meet it) or before the first one."""
    original = SqlPortal.changed_rows

    def reading(self: SqlPortal, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        if not after_the_scan:
            _insert_into_portal(world, row)
        yield from original(self, *args, **kwargs)
        if after_the_scan:
            _insert_into_portal(world, row)

    monkeypatch.setattr(SqlPortal, "changed_rows", reading)


def test_a_row_back_in_the_portal_before_the_deletes_are_sent_is_not_withdrawn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted before the run, so found among the hard deletes before the read; back (with an
    updated-at behind the watermark, so the read does not meet it) before the deletes are sent."""
    run_push(world)
    store = StateStore(world.state_url)
    watermark = store.get_watermark(MAPPING, "push")
    store.close()
    assert watermark is not None
    row = _delete_from_portal(world, "DR-000005")
    row["updated_at"] = (watermark - timedelta(days=1)).replace(tzinfo=None)
    _insert_during_the_read(monkeypatch, world, row, after_the_scan=True)
    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert (push.withdrawn, push.created, push.updated) == (0, 0, 0)
    assert not world.deals_in_salesforce()["DR-000005"]["Withdrawn_At__c"]
    monkeypatch.undo()
    assert run_push(world).summary(MAPPING, "push").withdrawn == 0
    assert_mirrored(world)


def test_a_row_back_in_the_portal_and_met_by_the_read_is_pushed_not_withdrawn(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_push(world)
    row = _delete_from_portal(world, "DR-000005")
    row |= {"amount": 777777, "updated_at": later()}
    _insert_during_the_read(monkeypatch, world, row, after_the_scan=False)
    report = run_push(world)
    push = report.summary(MAPPING, "push")
    assert (push.withdrawn, push.updated) == (0, 1)
    record = world.deals_in_salesforce()["DR-000005"]
    assert not record["Withdrawn_At__c"]
    assert float(world.plain(record, "Amount__c") or "nan") == 777777
    monkeypatch.undo()
    assert_mirrored(world)


def test_a_row_deleted_while_the_push_reads_is_withdrawn_by_the_next_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hard deletes are looked up before the read: one that happens during the read is not seen
    by this run, and its ledger entry (still live) makes the next run withdraw it."""
    run_push(world)
    original = SqlPortal.changed_rows

    def reading(self: SqlPortal, *args: Any, **kwargs: Any) -> Iterator[list[dict[str, Any]]]:
        yield from original(self, *args, **kwargs)
        _delete_from_portal(world, "DR-000005")

    monkeypatch.setattr(SqlPortal, "changed_rows", reading)
    assert run_push(world).summary(MAPPING, "push").withdrawn == 0
    monkeypatch.undo()
    assert "DR-000005" not in {r["registration_number"] for r in world.portal_rows()}
    assert not world.deals_in_salesforce()["DR-000005"]["Withdrawn_At__c"]
    assert run_push(world).summary(MAPPING, "push").withdrawn == 1
    assert world.deals_in_salesforce()["DR-000005"]["Withdrawn_At__c"]


# ---------------------------------------------------------------------------------- Salesforce faults


def _gateway(world: World, **settings: Any) -> SalesforceGateway:
    """A gateway that can log in again (client credentials against the fake's My Domain)."""
    fake = world.fake
    return SalesforceGateway.connect(
        SalesforceSettings(
            auth=AuthMode.CLIENT_CREDENTIALS,
            instance_url=fake.instance_url,
            consumer_key=fake.consumer_key,
            consumer_secret=SecretStr(fake.consumer_secret),
            **settings,
        ),
        sleep=lambda _seconds: None,
    )


def test_transient_faults_503_concurrency_and_lost_answers_lose_and_duplicate_nothing(big_world: World) -> None:
    world = big_world
    gateway = _gateway(world, max_attempts=10, read_timeout=1.0)
    world.fake.set_faults(
        FaultPlan(seed=7, http_503_rate=0.3, concurrent_limit_rate=0.15, slow_response_rate=0.15, slow_seconds=5)
    )
    report = run_push(world, salesforce=gateway)
    assert report.outcome == "ok"
    assert report.summary(MAPPING, "push").created + report.summary(MAPPING, "push").updated == 450
    statuses = [c.status for c in world.fake.request_log]
    assert 503 in statuses and 403 in statuses
    assert gateway.retries > 0
    world.fake.set_faults(FaultPlan())
    assert_mirrored(world)


def test_401_in_mid_run_logs_in_again_and_finishes(big_world: World) -> None:
    world = big_world
    gateway = _gateway(world)
    logins = gateway.logins
    # the session dies on the second upsert call of the run
    world.fake.set_faults(FaultPlan(invalid_session_after=world.fake.api_calls + 1))
    report = run_push(world, salesforce=gateway)
    assert report.outcome == "ok"
    assert gateway.logins == logins + 1
    assert 401 in [c.status for c in world.fake.request_log]
    assert_mirrored(world)


def test_401_with_token_auth_is_fatal_and_a_rerun_with_a_fresh_token_finishes(big_world: World) -> None:
    world = big_world
    world.fake.set_faults(FaultPlan(invalid_session_after=world.fake.api_calls + 1))
    with pytest.raises(AuthenticationError) as caught:
        run_push(world)
    assert isinstance(caught.value, FatalError)
    assert caught.value.exit_code == EXIT_FATAL
    assert len(world.fake.records(OBJECT)) == 200
    assert_watermark_behind_unsynced(world)
    assert StateStore(world.state_url).runs()[0].outcome == "fatal"
    fresh = SalesforceGateway.connect(
        SalesforceSettings(
            auth=AuthMode.TOKEN,
            instance_url=world.fake.instance_url,
            access_token=SecretStr(world.fake.access_token),
        ),
        sleep=lambda _seconds: None,
    )
    world.fake.set_faults(FaultPlan())
    world = replace(world, gateway=fresh)
    report = run_push(world)
    assert report.outcome == "ok"
    assert_mirrored(world)


def test_lock_errors_per_record_are_retried_then_dead_lettered_and_a_later_run_finishes(big_world: World) -> None:
    world = big_world
    gateway = _gateway(world, max_attempts=2)
    world.fake.set_faults(FaultPlan(seed=3, unable_to_lock_row_rate=0.4))
    report = run_push(world, salesforce=gateway)
    push = report.summary(MAPPING, "push")
    store = StateStore(world.state_url)
    letters = store.dead_letters()
    assert push.rejected == len(letters) > 0
    assert report.outcome == "rejected"
    assert report.exit_code == 1
    assert {d.status_code for d in letters} == {"UNABLE_TO_LOCK_ROW"}
    assert all(d.message for d in letters)
    in_salesforce = set(world.deals_in_salesforce())
    lettered = {d.record_key for d in letters}
    # every record is either in Salesforce or dead-lettered, never both lost and forgotten
    assert in_salesforce | lettered == {r["registration_number"] for r in world.portal_rows()}
    assert not in_salesforce & lettered
    # the watermark moved over the dead-lettered rows (they are retried from the dead letters)
    assert store.get_watermark(MAPPING, "push") == max(_utc(r["updated_at"]) for r in world.portal_rows())

    world.fake.set_faults(FaultPlan())
    store.request_retry()
    mark = len(world.fake.request_log)
    again = run_push(world, salesforce=gateway)
    assert again.summary(MAPPING, "push").retried == len(letters)
    assert again.summary(MAPPING, "push").created == len(letters)
    assert sum(upsert_calls(world, mark)) == len(letters)
    assert again.outcome == "ok"
    assert_mirrored(world)


def test_allowance_exhausted_in_the_pull_stops_cleanly_and_the_next_day_finishes(world: World) -> None:
    world.run()
    approved = ["DR-000005", "DR-000017"]
    _approve(world, approved)
    store = StateStore(world.state_url)
    watermark = store.get_watermark(MAPPING, "pull")
    world.fake.set_faults(FaultPlan(total_requests_after=world.fake.api_calls))
    with pytest.raises(ApiAllowanceExhaustedError) as caught:
        world.run()
    assert isinstance(caught.value, FatalError)
    assert caught.value.exit_code == EXIT_FATAL
    assert store.runs()[0].outcome == "fatal"
    assert store.get_watermark(MAPPING, "pull") == watermark
    assert store.lock_holder() is None  # a clean stop releases the lock
    world.fake.set_faults(FaultPlan())
    world.fake.reset_api_usage()
    report = world.run()
    assert report.summary(MAPPING, "pull").written_back == len(approved)
    statuses = {r["registration_number"]: r["status"] for r in world.portal_rows()}
    assert [statuses[n] for n in approved] == ["approved", "approved"]


def test_retries_exhausted_is_fatal_and_loses_nothing(big_world: World) -> None:
    world = big_world
    gateway = _gateway(world, max_attempts=2)
    world.fake.set_faults(FaultPlan(seed=1, http_503_rate=1.0))
    with pytest.raises(RetriesExhaustedError) as caught:
        run_push(world, salesforce=gateway)
    assert caught.value.exit_code == EXIT_FATAL
    assert StateStore(world.state_url).runs()[0].outcome == "fatal"
    assert world.fake.records(OBJECT) == []
    assert StateStore(world.state_url).get_watermark(MAPPING, "push") is None
    world.fake.set_faults(FaultPlan())
    run_push(world, salesforce=gateway)
    assert_mirrored(world)


# ---------------------------------------------------------------------------------- overlapping runs


def test_two_overlapping_runs_never_both_write_the_second_exits_with_lock_held(big_world: World) -> None:
    world = big_world
    first_inside = threading.Event()
    second_done = threading.Event()
    errors: dict[str, BaseException] = {}

    def hold(_label: str, _count: int) -> None:
        first_inside.set()
        second_done.wait(timeout=20)

    def first() -> None:
        try:
            run_push(world, batch_size=150, progress=hold)
        except BaseException as exc:  # pragma: no cover - reported below
            errors["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(timeout=20)
    second_gateway = _gateway(world)
    calls = second_gateway.api_calls
    try:
        with pytest.raises(LockHeldError) as caught:
            run_push(world, salesforce=second_gateway)
    finally:
        second_done.set()
        thread.join(timeout=30)
    assert caught.value.exit_code == EXIT_FATAL
    assert "first" not in errors, errors.get("first")
    assert second_gateway.api_calls == calls  # the second run never talked to Salesforce
    assert_mirrored(world)


def test_a_second_run_that_waits_for_the_lock_finds_nothing_to_do(big_world: World) -> None:
    world = big_world
    first_inside = threading.Event()
    reports: dict[str, RunReport] = {}
    errors: dict[str, BaseException] = {}

    def hold(_label: str, _count: int) -> None:
        first_inside.set()
        threading.Event().wait(0.3)  # keep the lock a little while the second run waits

    def first() -> None:
        try:
            reports["first"] = run_push(world, batch_size=150, progress=hold)
        except BaseException as exc:  # pragma: no cover - reported below
            errors["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    assert first_inside.wait(timeout=20)
    second_gateway = _gateway(world)
    second = run_push(world, salesforce=second_gateway, lock_timeout_seconds=30)
    thread.join(timeout=30)
    assert "first" not in errors, errors.get("first")
    assert reports["first"].summary(MAPPING, "push").created == 450
    first_report = reports["first"]
    assert first_report.finished_at is not None
    assert second.started_at < first_report.finished_at  # it did overlap, and waited
    push = second.summary(MAPPING, "push")
    assert push.written == 0
    assert push.read == push.unchanged  # the overlap window re-read, the hashes skipped
    assert second_gateway.api_calls == 0
    assert_mirrored(world)


# ---------------------------------------------------------------------------------- PostgreSQL


def portable_ddl(root: Path) -> Path:
    """The shipped portal DDL without comment-only statements.

    A comment line of ``mappings/portal_schema.sql`` ends in ";", so splitting on ";\\n" yields a
    statement made only of comments, which SQLite ignores and psycopg2 refuses ("can't execute
    an empty query").
    """
    statements = (REPO / "mappings" / "portal_schema.sql").read_text(encoding="utf-8").split(";\n")
    real = [s for s in statements if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())]
    path = root / "portal_schema.sql"
    path.write_text(";\n".join(real), encoding="utf-8")
    return path


def postgres_world(root: Path, url: str, *, deals: int = 60) -> Iterator[World]:
    """Portal and state store in one private PostgreSQL schema (tables do not collide)."""
    registered = create_portal(url, portable_ddl(root), seed=3, now=NOW, deals=deals, accounts=5)
    with FakeSalesforce() as fake:
        seed_org(fake, registered, seed=3, today=NOW.date(), planted=2, noise=3)
        gateway = SalesforceGateway.connect(
            SalesforceSettings(
                auth=AuthMode.TOKEN, instance_url=fake.instance_url, access_token=SecretStr(fake.access_token)
            ),
            sleep=lambda _seconds: None,
        )
        yield World(root, url, url, fake, load_mappings([REPO / "mappings"]), Keyring.generate(), gateway)


@pytest.fixture
def pg_world(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    yield from postgres_world(tmp_path, postgres_url)


@pytest.mark.postgres
def test_postgres_initial_load_edits_on_both_sides_and_idle_rerun(pg_world: World) -> None:
    world = pg_world
    assert SqlPortal(world.portal_url).dialect == "postgresql"
    assert StateStore(world.state_url).dialect == "postgresql"
    first = world.run()
    assert first.summary(MAPPING, "push").created == 60
    assert_mirrored(world)

    # the partner edits a deal, the channel team approves another one
    world.portal_execute(
        "UPDATE deal_registrations SET amount = 123456, updated_at = :t WHERE registration_number = 'DR-000004'",
        t=later(),
    )
    _approve(world, ["DR-000009"])
    mark = len(world.fake.request_log)
    report = world.run()
    assert report.summary(MAPPING, "push").updated == 1
    assert upsert_calls(world, mark) == [1]
    assert report.summary(MAPPING, "pull").written_back == 1
    rows = {r["registration_number"]: r for r in world.portal_rows()}
    assert rows["DR-000009"]["status"] == "approved"
    assert rows["DR-000009"]["salesforce_id"] == world.deals_in_salesforce()["DR-000009"]["Id"]
    assert float(world.plain(world.deals_in_salesforce()["DR-000004"], "Amount__c") or "nan") == 123456.0

    mark = len(world.fake.request_log)
    quiet = world.run()
    assert writes_since(world, mark) == []
    assert quiet.summary(MAPPING, "push").written == quiet.summary(MAPPING, "pull").written == 0
    assert_mirrored(world)


@pytest.mark.postgres
def test_postgres_salesforce_delete_and_portal_soft_delete(pg_world: World) -> None:
    world = pg_world
    world.run()
    deals = world.deals_in_salesforce()
    world.fake.delete(OBJECT, deals["DR-000008"]["Id"])
    world.portal_execute(
        "UPDATE deal_registrations SET deleted_at = :t, updated_at = :t WHERE registration_number = 'DR-000012'",
        t=later(),
    )
    report = world.run()
    assert report.summary(MAPPING, "pull").deleted == 1
    assert report.summary(MAPPING, "push").withdrawn == 1
    rows = {r["registration_number"]: r for r in world.portal_rows()}
    assert rows["DR-000008"]["salesforce_id"] is None
    assert world.deals_in_salesforce()["DR-000012"]["Withdrawn_At__c"]
    mark = len(world.fake.request_log)
    again = world.run()
    assert writes_since(world, mark) == []
    assert again.summary(MAPPING, "push").withdrawn == 0
    assert again.summary(MAPPING, "pull").deleted == 0


@pytest.mark.postgres
def test_postgres_crash_before_the_ledger_write_then_rerun(pg_world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world = pg_world
    _crash_once(monkeypatch, "save_ledger")
    with pytest.raises(SimulatedCrash):
        run_push(world)
    assert len(world.fake.records(OBJECT)) == 60
    monkeypatch.undo()
    report = run_push(world)
    assert report.summary(MAPPING, "push").rejected == 0
    assert_mirrored(world)
