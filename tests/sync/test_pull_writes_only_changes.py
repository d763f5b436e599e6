"""The push links new records in the portal; the pull writes only what the portal does not hold
yet, and its ledger never keeps a hash that would hide a Salesforce decision (law 2)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import REPO, World, make_world

from sfsync.mapping import load_mappings
from sfsync.sync._engine import SyncOptions
from sfsync.sync._state import StateStore

MAPPING = "deal_registration"
OBJECT = "Deal_Registration__c"
DEALS = 12


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, deals=DEALS)


def portal_by_key(world: World) -> dict[str, dict[str, Any]]:
    return {str(row["registration_number"]): row for row in world.portal_rows()}


def ledger_entry(world: World, key: str) -> Any:
    return StateStore(world.state_url).ledger_rows(MAPPING, [key])[key]


def test_after_one_run_the_portal_holds_every_id_and_the_pull_found_nothing_to_write(world: World) -> None:
    report = world.run()
    push = report.summary(MAPPING, "push")
    pull = report.summary(MAPPING, "pull")
    assert push.created == DEALS
    ids = {key: record["Id"] for key, record in world.deals_in_salesforce().items()}
    assert {key: row["salesforce_id"] for key, row in portal_by_key(world).items()} == ids
    # the push wrote the Ids: the pull reads back what the portal holds
    assert pull.written_back == 0
    assert pull.unchanged == DEALS
    # nothing learnt by that pull: the ledger keeps no pull hash, so the next pull compares again
    assert all(ledger_entry(world, key).pull_hash is None for key in ids)


def test_a_push_only_mapping_does_not_get_its_link_column_written(tmp_path: Path) -> None:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    deal = mappings / "deal_registration.yaml"
    text = deal.read_text()
    assert "\ndirection: both\n" in text
    deal.write_text(text.replace("\ndirection: both\n", "\ndirection: push\n", 1))
    for world in make_world(tmp_path, deals=DEALS):
        world.mappings = load_mappings([mappings])
        report = world.run()
        assert report.summary(MAPPING, "push").created == DEALS
        assert len(world.deals_in_salesforce()) >= DEALS
        assert [row["salesforce_id"] for row in world.portal_rows()] == [None] * DEALS


def test_a_link_the_portal_refuses_leaves_the_push_done_and_the_pull_dead_letters_it(world: World) -> None:
    # The portal refuses any Salesforce Id (as a constraint would): the push must not fail for it.
    world.portal_execute(
        "CREATE TRIGGER refuse_link BEFORE UPDATE OF salesforce_id ON deal_registrations "
        "WHEN NEW.salesforce_id IS NOT NULL BEGIN SELECT RAISE(ABORT, 'link refused'); END"
    )
    report = world.run()
    push = report.summary(MAPPING, "push")
    assert push.created == DEALS
    assert push.rejected == 0
    assert len(world.deals_in_salesforce()) == DEALS
    assert [row["salesforce_id"] for row in world.portal_rows()] == [None] * DEALS
    # the pull meets the same refusal and dead-letters each record, as before the push wrote Ids
    pull = report.summary(MAPPING, "pull")
    assert pull.rejected == DEALS
    letters = StateStore(world.state_url).dead_letters(mapping=MAPPING, direction="pull")
    assert len(letters) == DEALS
    # once the portal takes them, the retry of those letters writes every Id and settles them
    world.portal_execute("DROP TRIGGER refuse_link")
    retry_now = world.engine(clock=lambda: datetime.now(UTC) + timedelta(hours=1))  # backoff over
    again = retry_now.run(SyncOptions(mappings=(MAPPING,))).summary(MAPPING, "pull")
    ids = {key: record["Id"] for key, record in world.deals_in_salesforce().items()}
    assert {key: row["salesforce_id"] for key, row in portal_by_key(world).items()} == ids
    assert again.written_back == DEALS
    assert StateStore(world.state_url).dead_letters(mapping=MAPPING, direction="pull") == []


def test_a_decision_after_the_first_load_is_written_back_though_the_ledger_has_no_pull_hash(world: World) -> None:
    world.run()
    assert ledger_entry(world, "DR-000004").pull_hash is None
    record = world.deals_in_salesforce()["DR-000004"]
    world.fake.update(
        OBJECT,
        record["Id"],
        {"Status__c": "Approved", "Protection_Start__c": "2026-11-20", "Protection_End__c": "2027-02-18"},
    )
    pull = world.run().summary(MAPPING, "pull")
    assert pull.written_back == 1
    row = portal_by_key(world)["DR-000004"]
    assert row["status"] == "approved"
    assert (str(row["protection_start"]), str(row["protection_end"])) == ("2026-11-20", "2027-02-18")
    # learnt something: the hash is kept, and the next pull skips the record by it
    assert ledger_entry(world, "DR-000004").pull_hash is not None
    quiet = world.run().summary(MAPPING, "pull")
    assert quiet.written_back == 0


def test_a_return_to_older_values_is_written_though_the_portal_held_the_values_between(world: World) -> None:
    world.run()
    record_id = world.deals_in_salesforce()["DR-000007"]["Id"]
    world.fake.update(OBJECT, record_id, {"Status__c": "Approved"})
    assert world.run().summary(MAPPING, "pull").written_back == 1
    hash_of_approved = ledger_entry(world, "DR-000007").pull_hash
    assert hash_of_approved is not None
    # The portal's status is edited locally to what Salesforce then says: the pull finds the
    # portal equal, writes nothing, but must remember the new hash.
    world.portal_execute("UPDATE deal_registrations SET status = 'rejected' WHERE registration_number = 'DR-000007'")
    world.fake.update(OBJECT, record_id, {"Status__c": "Rejected"})
    between = world.run().summary(MAPPING, "pull")
    assert between.written_back == 0
    assert ledger_entry(world, "DR-000007").pull_hash not in (None, hash_of_approved)
    # Salesforce goes back to Approved: a stale hash of Approved would call that unchanged.
    world.fake.update(OBJECT, record_id, {"Status__c": "Approved"})
    back = world.run().summary(MAPPING, "pull")
    assert back.written_back == 1
    assert portal_by_key(world)["DR-000007"]["status"] == "approved"


def test_a_salesforce_delete_of_a_record_already_unlinked_settles_in_the_ledger(world: World) -> None:
    world.run()
    record_id = world.deals_in_salesforce()["DR-000009"]["Id"]
    # the link is already gone in the portal, and the default policy (clear_link) sets no deleted_at
    world.portal_execute("UPDATE deal_registrations SET salesforce_id = NULL WHERE registration_number = 'DR-000009'")
    world.fake.delete(OBJECT, record_id)
    pull = world.run().summary(MAPPING, "pull")
    assert pull.deleted == 1
    assert pull.written_back == 0  # nothing to write: the portal holds no link
    entry = ledger_entry(world, "DR-000009")
    assert entry.deleted is True
    assert entry.salesforce_id is None
    row = portal_by_key(world)["DR-000009"]
    assert row["salesforce_id"] is None
    assert row["deleted_at"] is None
    assert StateStore(world.state_url).dead_letters(mapping=MAPPING) == []
    # settled: the next pull does not count it deleted again
    assert world.run().summary(MAPPING, "pull").deleted == 0
