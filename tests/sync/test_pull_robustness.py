"""Pull robustness: a value from Salesforce the portal cannot take dead-letters only its record.

The org is the shipped export (law 9); the bad values are ones a real org can hold: a protection
end before its start (the portal has a CHECK), a cleared status where the mapping declares no
null policy (the portal column is NOT NULL), and a picklist value an admin added in Salesforce
that the mapping's value map does not know.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from workspace_helpers import REPO, World, make_world

from sfsync.mapping import load_mappings
from sfsync.sync._engine import SyncOptions
from sfsync.sync._state import StateStore

MAPPING = "deal_registration"
OBJECT = "Deal_Registration__c"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO / "mappings", mappings)
    deal = mappings / "deal_registration.yaml"
    text = deal.read_text()
    # No null policy on the status (the shipped file says `keep`), and a value map without
    # "Expired", as if an admin had added that value in Salesforce after the mapping was written.
    text = text.replace("    on_null: keep", "    # on_null removed for this test", 1)
    text = text.replace("          Expired: expired\n", "", 1)
    deal.write_text(text)
    yield from make_world(tmp_path, deals=12)


def _edited(world: World) -> None:
    """Switch to the edited mappings (after a first run with the shipped ones)."""
    world.mappings = load_mappings([world.root / "mappings"])


def _ids(world: World) -> dict[str, str]:
    """Registration number -> Salesforce Id, after giving every record a status: the edited
    mapping has no null policy, so a never-decided (null) status would be rejected too."""
    ids = {number: str(record["Id"]) for number, record in world.deals_in_salesforce().items()}
    for record_id in ids.values():
        world.fake.update(OBJECT, record_id, {"Status__c": "Submitted"})
    return ids


def test_bad_values_dead_letter_their_records_and_the_rest_lands(world: World) -> None:
    first = world.run()
    assert first.outcome == "ok", first
    _edited(world)
    ids = _ids(world)
    good = ["DR-000002", "DR-000003", "DR-000004"]
    today = date(2026, 11, 20)
    for number in good:
        world.fake.update(
            OBJECT,
            ids[number],
            {
                "Status__c": "Approved",
                "Protection_Start__c": today.isoformat(),
                "Protection_End__c": (today + timedelta(days=90)).isoformat(),
            },
        )
    world.fake.update(
        OBJECT,
        ids["DR-000005"],
        {"Status__c": "Approved", "Protection_Start__c": "2026-11-20", "Protection_End__c": "2026-01-01"},
    )  # end before start
    world.fake.update(OBJECT, ids["DR-000006"], {"Status__c": "Approved"})
    world.fake.update(OBJECT, ids["DR-000006"], {"Status__c": None})  # a cleared status
    world.fake.update(OBJECT, ids["DR-000007"], {"Status__c": "Expired"})  # not in the value map

    report = world.run(direction="pull")
    pull = report.summary(MAPPING, "pull")
    assert report.outcome == "rejected"
    assert pull.rejected == 3
    rows = {r["registration_number"]: r for r in world.portal_rows()}
    for number in good:
        assert rows[number]["status"] == "approved", number
        assert str(rows[number]["protection_end"]).startswith("2027-02-18")
    assert rows["DR-000005"]["status"] == "submitted" and rows["DR-000005"]["protection_end"] is None
    assert rows["DR-000006"]["status"] == "submitted"
    assert rows["DR-000007"]["status"] == "submitted"

    store = StateStore(world.state_url)
    letters = {x.record_key: x for x in store.dead_letters(direction="pull")}
    assert set(letters) == {"DR-000005", "DR-000006", "DR-000007"}
    assert store.dead_letters(direction="push") == []
    assert letters["DR-000005"].status_code == "PORTAL_REJECTED"
    assert "CHECK constraint" in letters["DR-000005"].message
    assert letters["DR-000006"].status_code == "PORTAL_REJECTED"
    assert "NOT NULL" in letters["DR-000006"].message and "status" in letters["DR-000006"].message
    assert letters["DR-000007"].status_code == "INVALID_VALUE"
    assert "not in the `map`" in letters["DR-000007"].message and letters["DR-000007"].fields == ("Status__c",)
    for letter in letters.values():  # never SQL or its parameters
        assert "UPDATE" not in letter.message and "SET" not in letter.message
        assert "[parameters" not in letter.message and "2026-01-01" not in letter.message
    # law 2: the watermark moved past records that are either written back or dead-lettered
    assert report.summary(MAPPING, "pull").watermark is not None

    # Nothing changes in Salesforce: the next run neither rewrites the good ones nor retries
    # the bad ones before their backoff.
    quiet = world.run(direction="pull").summary(MAPPING, "pull")
    assert quiet.written_back == 0 and quiet.rejected == 0

    # Salesforce is fixed; an operator asks for a retry: the letters are read again by key.
    world.fake.update(OBJECT, ids["DR-000005"], {"Protection_End__c": "2027-01-01"})
    world.fake.update(OBJECT, ids["DR-000006"], {"Status__c": "Rejected"})
    assert store.request_retry() == 3
    fixed = world.run(direction="pull", full=False)
    rows = {r["registration_number"]: r for r in world.portal_rows()}
    assert str(rows["DR-000005"]["protection_end"]).startswith("2027-01-01")
    assert rows["DR-000006"]["status"] == "rejected"
    remaining = {x.record_key for x in store.dead_letters(direction="pull")}
    assert remaining == {"DR-000007"}  # still an unknown value: still dead-lettered
    assert fixed.summary(MAPPING, "pull").rejected == 1
    store.close()


def test_retry_requested_pull_letter_is_read_by_key_even_when_unchanged(world: World) -> None:
    world.run()
    _edited(world)
    ids = _ids(world)
    world.fake.update(OBJECT, ids["DR-000003"], {"Status__c": "Expired"})
    assert world.run(direction="pull").summary(MAPPING, "pull").rejected == 1
    # The mapping is fixed (Expired is mapped again); Salesforce does not change.
    world.mappings = load_mappings([REPO / "mappings"])
    store = StateStore(world.state_url)
    # Move the pull watermark past every record, so only the retry can bring it back.
    store.set_watermark(MAPPING, "pull", datetime.now(UTC) + timedelta(days=1))
    assert world.run(direction="pull").summary(MAPPING, "pull").read == 0
    assert store.request_retry() == 1
    report = world.run(direction="pull")
    summary = report.summary(MAPPING, "pull")
    assert summary.retried == 1 and summary.read == 1
    assert summary.rejected == 0 and report.outcome == "ok"
    assert {r["registration_number"]: r["status"] for r in world.portal_rows()}["DR-000003"] == "expired"
    assert store.dead_letters(direction="pull") == []
    store.close()


def test_dry_run_reports_the_rejection_without_recording_it(world: World) -> None:
    world.run()
    _edited(world)
    world.fake.update(OBJECT, _ids(world)["DR-000002"], {"Status__c": "Expired"})
    report = world.engine().run(SyncOptions(mappings=(MAPPING,), direction="pull", dry_run=True))
    plan = report.summary(MAPPING, "pull").plan
    assert [(c.action, c.external_id) for c in plan if c.action == "reject"] == [("reject", "DR-000002")]
    assert "Expired" not in plan[0].reason or plan[0].action != "reject"
    assert StateStore(world.state_url).dead_letters() == []


def test_portal_withdraw_sets_the_withdrawn_status(world: World) -> None:
    world.run()
    world.portal_execute(
        "UPDATE deal_registrations SET deleted_at = :t, updated_at = :t WHERE registration_number = 'DR-000004'",
        t="2026-11-29 10:00:00",
    )
    report = world.run()
    assert report.summary(MAPPING, "push").withdrawn == 1
    record = world.deals_in_salesforce()["DR-000004"]
    assert record["Status__c"] == "Withdrawn" and record["Withdrawn_At__c"]
    # The decision comes back like any other; a second run writes nothing.
    world.run()
    rows = {r["registration_number"]: r for r in world.portal_rows()}
    assert rows["DR-000004"]["status"] == "withdrawn"
    mark = len(world.fake.request_log)
    world.run()
    assert [c for c in world.fake.request_log[mark:] if c.method in ("PATCH", "POST", "DELETE")] == []
