"""The sync engine against a real SQLite portal, a real state store and FakeSalesforce.

Each law in docs/design.md the engine is responsible for has a test here that fails if it is broken.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from workspace_helpers import World, make_world

from sfsync.crypto import DecryptionError, FieldCipher, FieldContext
from sfsync.errors import ApiAllowanceExhaustedError, LockHeldError
from sfsync.sync._engine import SyncOptions
from sfsync.sync._state import StateStore
from sfsync.testing import FaultPlan


def test_first_run_creates_every_row_once_in_ceil_n_over_200_calls(world: World) -> None:
    report = world.run(direction="push")
    push = report.summary("deal_registration", "push")
    assert push.read == 40
    assert push.created == 40
    assert push.rejected == 0
    assert len(world.deals_in_salesforce()) == 40
    # one collection upsert; the record type lookup is not needed for this mapping
    assert push.api_calls == 1


def test_law3_rerun_without_changes_writes_nothing(world: World) -> None:
    world.run()
    log_before = len(world.fake.request_log)
    report = world.run()
    push = report.summary("deal_registration", "push")
    pull = report.summary("deal_registration", "pull")
    assert push.created == push.updated == 0
    assert pull.written_back == 0
    writes = [c for c in world.fake.request_log[log_before:] if c.method in ("PATCH", "POST", "PUT", "DELETE")]
    assert writes == []


def test_edit_in_portal_updates_only_that_record(world: World) -> None:
    world.run()
    later = (datetime.now(UTC) + timedelta(minutes=10)).replace(tzinfo=None)
    world.portal_execute(
        "UPDATE deal_registrations SET amount = 999999, updated_at = :t WHERE registration_number = 'DR-000005'",
        t=later,
    )
    report = world.run(direction="push")
    push = report.summary("deal_registration", "push")
    assert push.updated == 1
    assert push.created == 0
    record = world.deals_in_salesforce()["DR-000005"]
    assert float(world.plain(record, "Amount__c") or "nan") == 999999
    assert record["Amount_Band__c"] == "500k-1M"


def test_law4_pull_writes_back_only_salesforce_owned_fields(world: World) -> None:
    world.run()
    record = world.deals_in_salesforce()["DR-000007"]
    world.fake.update(
        "Deal_Registration__c",
        record["Id"],
        {
            "Status__c": "Approved",
            "Decision_Reason__c": "ok",
            "Protection_End__c": "2027-02-18",
            # a portal-owned field changed in Salesforce by someone: must NOT reach the portal
            "Amount__c": "1",
        },
    )
    before = {r["registration_number"]: r for r in world.portal_rows()}["DR-000007"]
    report = world.run()
    pull = report.summary("deal_registration", "pull")
    assert pull.written_back == 1
    after = {r["registration_number"]: r for r in world.portal_rows()}["DR-000007"]
    assert after["status"] == "approved"
    assert str(after["protection_end"]) == "2027-02-18"
    assert after["amount"] == before["amount"]
    assert after["salesforce_id"] == record["Id"]
    # echo suppression: the write-back is not pushed back, and the next run is quiet
    push = report.summary("deal_registration", "push")
    assert push.updated == 0
    quiet = world.run()
    assert quiet.summary("deal_registration", "pull").written_back == 0
    assert quiet.summary("deal_registration", "push").updated == 0


def test_law1_no_plaintext_leaves_the_process(world: World, caplog: pytest.LogCaptureFixture) -> None:
    secret_note = "SECRET-NOTE-7f3a: customer budget is 2.4M"
    secret_contact = "secret.person.91c2@leak-check.example"
    world.portal_execute(
        "UPDATE deal_registrations SET competitive_notes = :n, customer_contact_email = :e "
        "WHERE registration_number = 'DR-000001'",
        n=secret_note,
        e=secret_contact,
    )
    # and one that Salesforce rejects, so a dead letter is written for a record holding secrets
    world.portal_execute(
        "UPDATE deal_registrations SET competitive_notes = :n, partner_number = 'P-999' "
        "WHERE registration_number = 'DR-000002'",
        n=secret_note,
    )
    caplog.set_level(logging.DEBUG)
    world.run()
    payloads: list[str] = []
    for call in world.fake.request_log:
        payloads.append(json.dumps(call.__dict__, default=str))
    for record in world.fake.records("Deal_Registration__c"):
        payloads.append(json.dumps(record, default=str))
    state_dump: list[str] = []
    engine = sa.create_engine(world.state_url)
    with engine.connect() as connection:
        for table in sa.inspect(engine).get_table_names():
            state_dump.extend(
                json.dumps(dict(r), default=str)
                for r in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()
            )
    engine.dispose()
    letters = StateStore(world.state_url).dead_letters()
    assert any(letter.record_key == "DR-000002" for letter in letters)
    haystacks = [*payloads, *state_dump, caplog.text, *(letter.model_dump_json() for letter in letters)]
    for secret in (secret_note, secret_contact, "SECRET-NOTE", "leak-check"):
        assert not any(secret in text for text in haystacks), secret


def test_law7_ciphertext_is_bound_to_record_and_field(world: World) -> None:
    world.run(direction="push")
    deals = world.deals_in_salesforce()
    token = deals["DR-000001"]["Customer_Contact_Email__c"]
    cipher = FieldCipher(world.keyring)
    right = FieldContext("Deal_Registration__c", "Customer_Contact_Email__c", "DR-000001")
    assert "@" in cipher.decrypt(token, right)
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, FieldContext("Deal_Registration__c", "Customer_Contact_Email__c", "DR-000002"))
    with pytest.raises(DecryptionError):
        cipher.decrypt(token, FieldContext("Deal_Registration__c", "Customer_Contact_Name__c", "DR-000001"))


def test_rejected_record_is_dead_lettered_and_others_sync(world: World) -> None:
    world.portal_execute(
        "UPDATE deal_registrations SET partner_number = 'P-999' WHERE registration_number = 'DR-000003'"
    )
    report = world.run(direction="push")
    push = report.summary("deal_registration", "push")
    assert push.rejected == 1
    assert push.created == 39
    assert report.exit_code == 1
    letters = StateStore(world.state_url).dead_letters()
    assert [(d.record_key, d.direction) for d in letters] == [("DR-000003", "push")]
    assert letters[0].status_code
    assert letters[0].message


def test_dead_letter_is_retried_when_due_and_resolved(world: World) -> None:
    world.portal_execute(
        "UPDATE deal_registrations SET partner_number = 'P-999' WHERE registration_number = 'DR-000003'"
    )
    world.run(direction="push")
    # fixed in the portal without touching updated_at: only the dead-letter retry can pick it up
    world.portal_execute(
        "UPDATE deal_registrations SET partner_number = 'P-001' WHERE registration_number = 'DR-000003'"
    )
    store = StateStore(world.state_url)
    store.request_retry()
    report = world.run(direction="push")
    push = report.summary("deal_registration", "push")
    assert push.retried == 1
    assert push.created == 1
    assert store.dead_letters() == []
    assert "DR-000003" in world.deals_in_salesforce()


def test_dry_run_writes_nothing_anywhere(world: World) -> None:
    report = world.run(dry_run=True)
    assert report.outcome == "dry_run"
    push = report.summary("deal_registration", "push")
    assert push.created == 40
    assert {c.action for c in push.plan} == {"create"}
    assert world.fake.records("Deal_Registration__c") == []
    store = StateStore(world.state_url)
    assert store.runs() == []
    assert store.get_watermark("deal_registration", "push") is None


def test_law2_crash_mid_run_then_rerun_syncs_every_record_once(tmp_path: Path) -> None:
    # The daily allowance runs out during the first run: fatal, clean stop.
    for world in make_world(tmp_path, deals=600, faults=FaultPlan(total_requests_after=2)):
        with pytest.raises(ApiAllowanceExhaustedError):
            world.engine(batch_size=100).run(SyncOptions(mappings=("deal_registration",), direction="push"))
        synced_before = len(world.deals_in_salesforce())
        assert 0 < synced_before < 600
        store = StateStore(world.state_url)
        watermark = store.get_watermark("deal_registration", "push")
        # the watermark never passed a row that is neither synced nor dead-lettered
        rows = world.portal_rows()
        unsynced = [r for r in rows if r["registration_number"] not in world.deals_in_salesforce()]
        assert unsynced
        assert watermark is None or all(
            datetime.fromisoformat(str(r["updated_at"])).replace(tzinfo=UTC) >= watermark for r in unsynced
        )
        # allowance back (next day): the rerun finishes the job, nothing duplicated
        world.fake.set_faults(FaultPlan())
        report = world.engine(batch_size=100).run(SyncOptions(mappings=("deal_registration",), direction="push"))
        deals = world.fake.records("Deal_Registration__c")
        numbers = [d["Registration_Number__c"] for d in deals]
        assert len(numbers) == len(set(numbers)) == 600
        assert report.summary("deal_registration", "push").rejected == 0


def test_lock_held_by_another_run_is_fatal(world: World) -> None:
    store = StateStore(world.state_url)
    with store.lock("sync", holder="other-host:1", lease_seconds=600, timeout_seconds=0), pytest.raises(LockHeldError):
        world.run()


def test_portal_soft_delete_withdraws_in_salesforce(world: World) -> None:
    world.run(direction="push")
    later = (datetime.now(UTC) + timedelta(minutes=10)).replace(tzinfo=None)
    world.portal_execute(
        "UPDATE deal_registrations SET deleted_at = :t, updated_at = :t WHERE registration_number = 'DR-000004'",
        t=later,
    )
    report = world.run(direction="push")
    assert report.summary("deal_registration", "push").withdrawn == 1
    assert world.deals_in_salesforce()["DR-000004"]["Withdrawn_At__c"]
    again = world.run(direction="push")
    assert again.summary("deal_registration", "push").withdrawn == 0


def test_salesforce_delete_clears_the_portal_link(world: World) -> None:
    world.run()
    record = world.deals_in_salesforce()["DR-000008"]
    world.fake.delete("Deal_Registration__c", record["Id"])
    report = world.run()
    assert report.summary("deal_registration", "pull").deleted == 1
    row = {r["registration_number"]: r for r in world.portal_rows()}["DR-000008"]
    assert row["salesforce_id"] is None


def test_unknown_mapping_is_a_usage_error(world: World) -> None:
    from sfsync.errors import UsageError

    with pytest.raises(UsageError, match="unknown mapping"):
        world.run(mappings=("nope",))


def test_run_history_records_counts(world: World) -> None:
    report = world.run()
    runs = StateStore(world.state_url).runs()
    assert runs[0].run_id == report.run_id
    assert runs[0].outcome == "ok"
    assert runs[0].api_calls == report.api_calls
    summary: dict[str, Any] = runs[0].summary or {}
    assert summary["summaries"][0]["created"] == 40


def test_a_run_tunes_the_garbage_collector_and_restores_it() -> None:
    """The run's GC setting (fewer gen-0 collections, the heap before it frozen) is undone after
    it, also when runs overlap, and a collector turned off stays off."""
    import gc

    from sfsync.sync._engine import _gc_for_bulk_work

    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with _gc_for_bulk_work():
        assert gc.get_threshold()[0] >= 20_000
        assert gc.get_freeze_count() >= frozen
        with _gc_for_bulk_work():  # an overlapping run
            assert gc.get_threshold()[0] >= 20_000
        assert gc.get_threshold()[0] >= 20_000  # the first run is still going
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    with pytest.raises(RuntimeError), _gc_for_bulk_work():
        raise RuntimeError("a failed run restores it too")
    assert gc.get_threshold() == before
    gc.disable()
    try:
        with _gc_for_bulk_work():
            assert not gc.isenabled()
            assert gc.get_threshold() == before
    finally:
        gc.enable()
    # a host's own freeze is left as it was
    gc.freeze()
    try:
        host_frozen = gc.get_freeze_count()
        with _gc_for_bulk_work():
            pass
        assert gc.get_freeze_count() == host_frozen
    finally:
        gc.unfreeze()


def test_a_run_shortens_the_thread_switch_interval_and_restores_it() -> None:
    """Worker threads waiting on Salesforce get the interpreter back within 1 ms during a run;
    the host's interval comes back after it (overlapping runs included), and a host that set a
    shorter one keeps it."""
    import sys

    from sfsync.sync._engine import _gc_for_bulk_work

    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        with _gc_for_bulk_work():
            assert sys.getswitchinterval() == pytest.approx(0.001)
            with _gc_for_bulk_work():  # an overlapping run
                assert sys.getswitchinterval() == pytest.approx(0.001)
            assert sys.getswitchinterval() == pytest.approx(0.001)  # the first run is still going
        assert sys.getswitchinterval() == pytest.approx(0.005)
        with pytest.raises(RuntimeError), _gc_for_bulk_work():
            raise RuntimeError("a failed run restores it too")
        assert sys.getswitchinterval() == pytest.approx(0.005)
        sys.setswitchinterval(0.0005)
        with _gc_for_bulk_work():
            assert sys.getswitchinterval() == pytest.approx(0.0005)
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    finally:
        sys.setswitchinterval(before)
