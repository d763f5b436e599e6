"""StateStore on SQLite and PostgreSQL: watermarks, ledger, dead letters, runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from sfsync.errors import FatalError
from sfsync.sync._state import DeadLetter, LedgerEntry, RunRecord, StateStore

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'sfsync-state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[StateStore]:
    s = StateStore(store_url, clock=clock)
    yield s
    s.close()


def letter(
    key: str = "R-1",
    *,
    direction: str = "push",
    mapping: str = "deals",
    code: str = "STRING_TOO_LONG",
    message: str = "Partner_Notes__c: data value too large",
    fields: tuple[str, ...] = ("Partner_Notes__c",),
) -> DeadLetter:
    return DeadLetter(
        mapping=mapping, direction=direction, record_key=key, status_code=code, message=message, fields=fields
    )


# -- watermarks ------------------------------------------------------------------------------------


def test_watermarks(store: StateStore) -> None:
    assert store.get_watermark("deals", "push") is None
    store.set_watermark("deals", "push", T0)
    store.set_watermark("deals", "pull", T0 + timedelta(hours=1))
    store.set_watermark("accounts", "push", T0 - timedelta(days=1))
    # Given in UTC+02:00, returned as the same instant in UTC.
    store.set_watermark("deals", "push", (T0 + timedelta(minutes=5)).astimezone(timezone(timedelta(hours=2))))
    value = store.get_watermark("deals", "push")
    assert value == T0 + timedelta(minutes=5)
    assert value is not None and value.utcoffset() == timedelta(0)
    assert store.get_watermark("deals", "pull") == T0 + timedelta(hours=1)
    assert store.watermarks() == {
        ("deals", "push"): T0 + timedelta(minutes=5),
        ("deals", "pull"): T0 + timedelta(hours=1),
        ("accounts", "push"): T0 - timedelta(days=1),
    }
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_watermark("deals", "push", datetime(2024, 1, 1))


def test_watermark_keeps_microseconds(store: StateStore) -> None:
    value = T0 + timedelta(microseconds=123456)
    store.set_watermark("deals", "push", value)
    assert store.get_watermark("deals", "push") == value


# -- ledger ----------------------------------------------------------------------------------------


def test_ledger_upsert_is_idempotent(store: StateStore) -> None:
    entries = [
        LedgerEntry(
            mapping="deals", external_id=f"R-{i}", salesforce_id=f"006{i:015d}", push_hash=f"h{i}", last_pushed_at=T0
        )
        for i in range(5)
    ]
    store.save_ledger(entries)
    store.save_ledger(entries)
    got = store.ledger("deals", [e.external_id for e in entries] + ["R-missing"])
    assert got == {e.external_id: e for e in entries}
    assert store.all_ledger_keys("deals") == {f"R-{i}" for i in range(5)}
    assert store.all_ledger_keys("accounts") == set()

    changed = entries[2].model_copy(
        update={"pull_hash": "p2", "last_pulled_at": T0 + timedelta(hours=1), "deleted": True}
    )
    store.save_ledger([changed])
    assert store.ledger("deals", ["R-2"])["R-2"] == changed
    assert store.ledger("deals", ["R-1"])["R-1"] == entries[1]
    # Two versions of one record in one call: the last wins, as with two calls.
    store.save_ledger([entries[3], entries[3].model_copy(update={"push_hash": "latest"})])
    assert store.ledger("deals", ["R-3"])["R-3"].push_hash == "latest"
    store.save_ledger([])
    with sa.create_engine(store.url).connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM sfsync_ledger")).scalar()
    assert count == 5


def test_ledger_is_per_mapping_and_chunks_large_lookups(store: StateStore) -> None:
    store.save_ledger([LedgerEntry(mapping="deals", external_id=f"R-{i}", salesforce_id=f"S{i}") for i in range(1200)])
    store.save_ledger([LedgerEntry(mapping="accounts", external_id="R-1", salesforce_id="A1")])
    got = store.ledger("deals", [f"R-{i}" for i in range(0, 1300)])
    assert len(got) == 1200
    assert store.ledger("accounts", ["R-1"])["R-1"].salesforce_id == "A1"
    by_sf = store.ledger_by_salesforce_id("deals", ["S7", "S1199", "A1"])
    assert {k: v.external_id for k, v in by_sf.items()} == {"S7": "R-7", "S1199": "R-1199"}


def test_ledger_refuses_naive_datetimes() -> None:
    with pytest.raises(ValidationError):
        LedgerEntry(mapping="deals", external_id="R-1", last_pushed_at=datetime(2024, 1, 1))


# -- dead letters ------------------------------------------------------------------------------------


def test_dead_letter_insert_bump_backoff_and_exhaustion(store: StateStore, clock: Clock) -> None:
    first = store.record_dead_letter(letter(), backoff_seconds=60, max_backoff_seconds=300, max_attempts=4)
    assert first.id is not None
    assert (first.attempts, first.state) == (1, "open")
    assert first.first_seen == first.last_seen == T0
    assert first.next_attempt_at == T0 + timedelta(seconds=60)
    assert first.fields == ("Partner_Notes__c",)

    delays = []
    for _ in range(3):
        clock.advance(1000)
        bumped = store.record_dead_letter(
            letter(code="FIELD_CUSTOM_VALIDATION_EXCEPTION"),
            backoff_seconds=60,
            max_backoff_seconds=300,
            max_attempts=4,
        )
        assert bumped.id == first.id and bumped.first_seen == T0 and bumped.last_seen == clock.now
        assert bumped.next_attempt_at is not None
        delays.append((bumped.next_attempt_at - clock.now).total_seconds())
    assert delays == [120, 240, 300]  # doubled, then capped
    assert bumped.attempts == 4 and bumped.state == "exhausted"
    assert bumped.status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"  # the latest failure is shown
    assert len(store.dead_letters()) == 1


def test_due_dead_letters(store: StateStore, clock: Clock) -> None:
    a = store.record_dead_letter(letter("R-a"), backoff_seconds=60)
    b = store.record_dead_letter(letter("R-b"), backoff_seconds=600)
    store.record_dead_letter(letter("R-c", direction="pull"), backoff_seconds=0)
    store.record_dead_letter(letter("R-d", mapping="accounts"), backoff_seconds=0)
    assert store.due_dead_letters("deals", "push", clock.now, max_attempts=5) == []
    clock.advance(60)
    assert [x.record_key for x in store.due_dead_letters("deals", "push", clock.now, 5)] == ["R-a"]
    assert [x.record_key for x in store.due_dead_letters("deals", "pull", clock.now, 5)] == ["R-c"]
    clock.advance(600)
    assert [x.id for x in store.due_dead_letters("deals", "push", clock.now, 5)] == [a.id, b.id]
    # A lower max_attempts in the configuration stops retries of letters already past it.
    assert store.due_dead_letters("deals", "push", clock.now, max_attempts=1) == []


def test_exhausted_letters_wait_for_an_operator(store: StateStore, clock: Clock) -> None:
    for _ in range(2):
        last = store.record_dead_letter(letter(), backoff_seconds=1, max_attempts=2)
    assert last.state == "exhausted"
    clock.advance(10_000)
    assert store.due_dead_letters("deals", "push", clock.now, max_attempts=2) == []
    assert store.request_retry(last.id) == 1
    retried = store.dead_letter(last.id or 0)
    assert retried is not None and retried.state == "retry_requested" and retried.next_attempt_at == clock.now
    assert [x.id for x in store.due_dead_letters("deals", "push", clock.now, max_attempts=2)] == [last.id]
    # Failing again goes straight back to exhausted, with one more attempt counted.
    again = store.record_dead_letter(letter(), backoff_seconds=1, max_attempts=2)
    assert (again.attempts, again.state) == (3, "exhausted")


def test_request_retry_all_and_discard(store: StateStore, clock: Clock) -> None:
    a = store.record_dead_letter(letter("R-a"))
    b = store.record_dead_letter(letter("R-b"))
    c = store.record_dead_letter(letter("R-c"))
    assert store.discard(c.id or 0) is True
    assert store.discard(9999) is False
    assert store.request_retry() == 2  # discarded letters are not swept up by --all
    assert store.request_retry(9999) == 0
    assert {x.record_key: x.state for x in store.dead_letters()} == {"R-a": "retry_requested", "R-b": "retry_requested"}
    assert [x.id for x in store.due_dead_letters("deals", "push", clock.now, 5)] == [a.id, b.id]
    everything = store.dead_letters(states=("open", "retry_requested", "exhausted", "discarded"))
    assert len(everything) == 3
    assert store.dead_letter_counts() == {("deals", "push", "retry_requested"): 2, ("deals", "push", "discarded"): 1}
    # A discarded record that fails again comes back as a fresh letter.
    clock.advance(5)
    fresh = store.record_dead_letter(letter("R-c"))
    assert (fresh.id, fresh.attempts, fresh.state, fresh.first_seen) == (c.id, 1, "open", clock.now)


def test_resolve_dead_letters(store: StateStore) -> None:
    store.record_dead_letter(letter("R-a"))
    store.record_dead_letter(letter("R-b"))
    store.record_dead_letter(letter("R-a", direction="pull"))
    assert store.resolve_dead_letter("deals", "push", "R-a") is True
    assert store.resolve_dead_letter("deals", "push", "R-a") is False
    assert store.resolve_dead_letters("deals", "push", ["R-b", "R-x"]) == 1
    assert [(x.direction, x.record_key) for x in store.dead_letters()] == [("pull", "R-a")]


def test_dead_letters_filter_by_mapping(store: StateStore) -> None:
    store.record_dead_letter(letter("R-a"))
    store.record_dead_letter(letter("R-b", mapping="accounts"))
    assert [x.record_key for x in store.dead_letters(mapping="accounts")] == ["R-b"]


def test_dead_letters_hold_field_names_never_values(store: StateStore, store_url: str) -> None:
    """Law 1 at the store's edge: a value passed where field names belong is refused."""
    secret = "Acme Corp is about to buy 400 servers"
    with pytest.raises(ValidationError, match="field names"):
        letter(fields=("Partner_Notes__c", secret))
    with pytest.raises(ValidationError, match="field names"):
        letter(fields=("4111 1111 1111 1111",))
    store.record_dead_letter(letter(message="x" * 5000))
    stored = store.dead_letters()[0]
    assert len(stored.message) == 2000 and stored.message.endswith("…")
    if store_url.startswith("sqlite"):
        store.close()
        assert secret.encode() not in Path(store_url.removeprefix("sqlite:///")).read_bytes()


# -- runs --------------------------------------------------------------------------------------------


def test_runs_history(store: StateStore) -> None:
    assert store.runs() == []
    for i in range(3):
        store.start_run(f"run-{i}", T0 + timedelta(minutes=i), {"direction": "both", "dry_run": False})
    store.finish_run("run-0", T0 + timedelta(seconds=30), "ok", {"deals": {"push": {"created": 3}}}, 7)
    store.finish_run("run-1", T0 + timedelta(minutes=1, seconds=9), "rejected", {"deals": {}}, 2)
    runs = store.runs()
    assert [r.run_id for r in runs] == ["run-2", "run-1", "run-0"]
    assert runs[0] == RunRecord(
        run_id="run-2", started_at=T0 + timedelta(minutes=2), args={"direction": "both", "dry_run": False}
    )
    assert runs[0].outcome == "running" and runs[0].ended_at is None
    assert runs[2].summary == {"deals": {"push": {"created": 3}}} and runs[2].api_calls == 7
    assert runs[2].ended_at == T0 + timedelta(seconds=30)
    assert [r.run_id for r in store.runs(limit=1)] == ["run-2"]


def test_abandoned_runs_and_pruning(store: StateStore) -> None:
    for i in range(5):
        store.start_run(f"run-{i}", T0 + timedelta(minutes=i), {})
    store.finish_run("run-0", T0 + timedelta(seconds=5), "ok", {}, 1)
    assert store.close_abandoned_runs(except_run="run-4") == 3
    assert [r.outcome for r in store.runs()] == ["running", "crashed", "crashed", "crashed", "ok"]
    assert store.prune_runs(keep=2) == 3
    assert [r.run_id for r in store.runs()] == ["run-4", "run-3"]
    assert store.prune_runs(keep=2) == 0
    assert store.prune_runs(keep=0) == 2
    with pytest.raises(ValueError, match="keep"):
        store.prune_runs(keep=-1)


def test_run_args_and_summary_are_stored_as_json(store: StateStore) -> None:
    store.start_run("run-x", T0, {"config": Path("/etc/sfsync.toml"), "since": T0, "mappings": ("deals",)})
    store.finish_run("run-x", T0 + timedelta(seconds=1), "ok", {"duration": timedelta(seconds=1)}, 0)
    (run,) = store.runs()
    assert run.args == {"config": "/etc/sfsync.toml", "since": "2024-03-01 12:00:00+00:00", "mappings": ["deals"]}
    assert run.summary == {"duration": "0:00:01"}


# -- failures ----------------------------------------------------------------------------------------


def test_unreachable_store_is_fatal_and_hides_the_password() -> None:
    with pytest.raises(FatalError) as excinfo:
        StateStore("postgresql+psycopg2://sfsync:pa55word@127.0.0.1:1/none?connect_timeout=2")
    assert "pa55word" not in str(excinfo.value)
    assert excinfo.value.exit_code == 3


def test_store_creates_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    with StateStore(f"sqlite:///{path}") as s:
        assert s.schema_version == StateStore.latest_schema_version()
    assert path.exists()
