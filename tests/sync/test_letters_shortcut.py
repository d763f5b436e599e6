"""The engine skips resolving dead letters for a mapping and direction that has none, and still
resolves every letter there is: one added during the run, one left by an earlier run or another
process between two runs of the same engine, and a discarded one (law 2, law 5)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import World, make_world

from sfsync.sync._engine import SyncOptions
from sfsync.sync._state import DeadLetter, StateStore

MAPPING = "deal_registration"
OBJECT = "Deal_Registration__c"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path, deals=6)


def _letter(key: str, direction: str = "pull") -> DeadLetter:
    return DeadLetter(mapping=MAPPING, direction=direction, record_key=key, status_code="X", message="m")


def test_a_letter_added_during_the_run_is_resolved(world: World) -> None:
    engine = world.engine()
    store: Any = engine.state  # its methods are wrapped below
    now = datetime.now(UTC)
    calls: list[tuple[str, str]] = []
    original = store.resolve_dead_letters

    def counting(mapping: str, direction: str, keys: object) -> int:
        calls.append((mapping, direction))
        return int(original(mapping, direction, keys))

    store.resolve_dead_letters = counting
    # no letters yet: the store is asked once, and the resolve is skipped
    engine._resolve_dead_letters(MAPPING, "pull", ["DR-000001"])
    engine._resolve_dead_letters(MAPPING, "pull", ["DR-000002"])
    assert calls == []
    # a record fails during the run; a later batch of the same run syncs it
    engine._dead_letter(MAPPING, "pull", "DR-000001", "PORTAL_REJECTED", "refused", ("Status__c",), now)
    assert [x.record_key for x in store.dead_letters(direction="pull")] == ["DR-000001"]
    engine._resolve_dead_letters(MAPPING, "pull", ["DR-000001"])
    assert calls == [(MAPPING, "pull")]
    assert store.dead_letters(direction="pull") == []
    # the other direction keeps its own answer
    engine._resolve_dead_letters(MAPPING, "push", ["DR-000001"])
    assert calls == [(MAPPING, "pull")]


@pytest.mark.parametrize("discarded", [False, True])
def test_letters_left_between_runs_of_one_engine_are_resolved(world: World, discarded: bool) -> None:
    engine = world.engine()
    options = SyncOptions(mappings=(MAPPING,))
    assert engine.run(options).outcome == "ok"  # no letters: this run learnt "none"
    store = StateStore(world.state_url)
    # Another process (an earlier run, say) left letters for records that now sync.
    pushed = store.record_dead_letter(_letter("DR-000003", "push"))
    pulled = store.record_dead_letter(_letter("DR-000004", "pull"))
    if discarded:
        assert pushed.id is not None and pulled.id is not None
        store.discard(pushed.id)
        store.discard(pulled.id)
    world.portal_execute(
        "UPDATE deal_registrations SET end_customer_name = 'Renamed Ltd', updated_at = :now "
        "WHERE registration_number = 'DR-000003'",
        now=datetime.now(UTC).replace(tzinfo=None),
    )
    record_id = str(world.deals_in_salesforce()["DR-000004"]["Id"])
    world.fake.update(OBJECT, record_id, {"Status__c": "Approved"})
    report = engine.run(options)
    assert report.outcome == "ok", report
    assert report.summary(MAPPING, "push").updated >= 1
    assert report.summary(MAPPING, "pull").written_back >= 1
    assert store.dead_letters(states=("open", "retry_requested", "exhausted", "discarded")) == []
    store.close()


def test_a_run_without_letters_asks_the_store_once_per_direction(world: World) -> None:
    engine = world.engine(batch_size=2)
    store: Any = engine.state  # its methods are wrapped below
    asked: list[tuple[str, str]] = []
    resolved: list[tuple[str, str]] = []
    has, resolve = store.has_dead_letters, store.resolve_dead_letters

    def counting_has(mapping: str, direction: str) -> bool:
        asked.append((mapping, direction))
        return bool(has(mapping, direction))

    def counting_resolve(mapping: str, direction: str, keys: object) -> int:
        resolved.append((mapping, direction))
        return int(resolve(mapping, direction, keys))

    store.has_dead_letters = counting_has
    store.resolve_dead_letters = counting_resolve
    report = engine.run(SyncOptions(mappings=(MAPPING,)))
    assert report.outcome == "ok"
    assert report.summary(MAPPING, "push").created == 6
    assert report.summary(MAPPING, "pull").unchanged == 6  # the push wrote the Ids already
    assert sorted(asked) == [(MAPPING, "pull"), (MAPPING, "push")]
    assert resolved == []
