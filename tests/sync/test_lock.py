"""The lease lock: exclusion, waiting, expiry and takeover, renewal — on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sfsync.errors import LockHeldError
from sfsync.sync._state import StateStore

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sfsync-state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[StateStore]:
    s = StateStore(store_url)
    yield s
    s.close()


def test_acquire_release_and_reacquire(store: StateStore) -> None:
    clock = Clock()
    with store.lock(holder="run-a", lease_seconds=60, timeout_seconds=0, clock=clock) as lock:
        assert lock.held and lock.expires_at == T0 + timedelta(seconds=60)
        holder = store.lock_holder()
        assert holder is not None and holder[0] == "run-a"
    assert not lock.held
    assert store.lock_holder() is None
    with store.lock(holder="run-b", lease_seconds=60, timeout_seconds=0, clock=clock):
        assert store.lock_holder() is not None
    # Different lock names are independent.
    with (
        store.lock("sync", holder="a", lease_seconds=60, timeout_seconds=0, clock=clock),
        store.lock("conflicts", holder="b", lease_seconds=60, timeout_seconds=0, clock=clock),
    ):
        pass


def test_second_run_waits_then_gives_up(store: StateStore) -> None:
    clock = Clock()
    with store.lock(holder="host1:123:run-a", lease_seconds=900, timeout_seconds=0, clock=clock):
        waiter = store.lock(
            holder="host2:456:run-b",
            lease_seconds=900,
            timeout_seconds=5,
            clock=clock,
            sleep=clock.sleep,
            poll_seconds=2,
        )
        with pytest.raises(LockHeldError) as excinfo:
            waiter.acquire()
    message = str(excinfo.value)
    assert "another run (holder host1:123:run-a, since 2024-03-01T12:00:00+00:00)" in message
    assert "it expires at 2024-03-01T12:15:00+00:00" in message
    assert "waited 5 s" in message
    assert excinfo.value.exit_code == 3
    assert clock.sleeps == [2, 2, 1]  # polled until exactly the timeout
    assert not waiter.held


def test_waiter_gets_the_lock_when_it_is_released(store: StateStore) -> None:
    clock = Clock()
    first = store.lock(holder="a", lease_seconds=900, timeout_seconds=0, clock=clock).acquire()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if clock.now >= T0 + timedelta(seconds=3):
            first.release()

    second = store.lock(holder="b", lease_seconds=900, timeout_seconds=60, clock=clock, sleep=sleep, poll_seconds=1)
    with second:
        assert second.held
        assert clock.now == T0 + timedelta(seconds=3)


def test_expired_lease_is_taken_over_and_renew_then_fails(store: StateStore) -> None:
    clock = Clock()
    crashed = store.lock(holder="a", lease_seconds=60, timeout_seconds=0, clock=clock).acquire()
    clock.now += timedelta(seconds=30)
    assert crashed.renew() == clock.now + timedelta(seconds=60)  # renew extends from now
    clock.now += timedelta(seconds=61)
    taker = store.lock(holder="b", lease_seconds=60, timeout_seconds=0, clock=clock).acquire()
    assert taker.held
    with pytest.raises(LockHeldError, match=r"lost the 'sync' lock.*holder b"):
        crashed.renew()
    assert not crashed.held
    crashed.release()  # the loser must not free the winner's lock
    holder = store.lock_holder()
    assert holder is not None and holder[0] == "b"
    taker.renew()
    taker.release()
    assert store.lock_holder() is None


def test_renewed_lease_is_not_taken_over(store: StateStore) -> None:
    clock = Clock()
    lock = store.lock(holder="a", lease_seconds=60, timeout_seconds=0, clock=clock).acquire()
    for _ in range(5):
        clock.now += timedelta(seconds=50)
        lock.renew()
    with pytest.raises(LockHeldError):
        store.lock(holder="b", lease_seconds=60, timeout_seconds=0, clock=clock).acquire()
    lock.release()


def test_lock_released_when_the_body_raises(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.lock(holder="a", lease_seconds=60, timeout_seconds=0):
        raise RuntimeError("boom")
    assert store.lock_holder() is None


def test_renew_without_holding_raises(store: StateStore) -> None:
    with pytest.raises(LockHeldError, match="not held"):
        store.lock(holder="a", lease_seconds=60, timeout_seconds=0).renew()


def test_bad_lock_arguments(store: StateStore) -> None:
    with pytest.raises(ValueError, match="lease"):
        store.lock(holder="a", lease_seconds=0, timeout_seconds=0)
    with pytest.raises(ValueError, match="timeout"):
        store.lock(holder="a", lease_seconds=1, timeout_seconds=-1)
    with pytest.raises(ValueError, match="holder"):
        store.lock(holder="", lease_seconds=1, timeout_seconds=0)


def test_two_processes_contend_exactly_one_wins(store_url: str) -> None:
    """Real clocks, separate engines, started together: one holds it, the other waits, then fails."""
    StateStore(store_url).close()
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    release = threading.Event()

    def run(name: str) -> None:
        store = StateStore(store_url)
        try:
            barrier.wait()
            started = time.monotonic()
            try:
                with store.lock(holder=name, lease_seconds=60, timeout_seconds=0.6, poll_seconds=0.05):
                    results[name] = "won"
                    release.wait(timeout=5)
            except LockHeldError as exc:
                waited = time.monotonic() - started
                results[name] = f"lost after {waited:.1f}s: {exc}"
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("run-a", "run-b")]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    release.set()
    for t in threads:
        t.join(timeout=10)
    outcomes = sorted(results.values())
    assert len(outcomes) == 2
    assert outcomes[1] == "won"
    assert outcomes[0].startswith("lost after")
    waited = float(outcomes[0].split()[2].rstrip("s:"))
    assert waited >= 0.5  # it did wait for the timeout
    winner = next(n for n, r in results.items() if r == "won")
    assert f"holder {winner}" in outcomes[0]


def test_mutual_exclusion_under_contention(store_url: str) -> None:
    """Several workers, separate engines, many acquire/release rounds: never two inside at once."""
    StateStore(store_url).close()
    inside = 0
    max_inside = 0
    entries = 0
    guard = threading.Lock()
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        nonlocal inside, max_inside, entries
        store = StateStore(store_url)
        try:
            for _ in range(8):
                with store.lock(holder=f"w{n}", lease_seconds=30, timeout_seconds=30, poll_seconds=0.005):
                    with guard:
                        inside += 1
                        entries += 1
                        max_inside = max(max_inside, inside)
                    time.sleep(0.002)
                    with guard:
                        inside -= 1
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert entries == 32
    assert max_inside == 1


def _contend(url: str, name: str, start: float, results: Any) -> None:
    """Body of one contending OS process: wait for the common start, try for 0.6 s, report."""
    store = StateStore(url)
    try:
        time.sleep(max(0.0, start - time.time()))
        try:
            with store.lock(holder=name, lease_seconds=60, timeout_seconds=0.6, poll_seconds=0.05):
                results.put((name, "won"))
                time.sleep(1.5)  # hold it past the other's timeout
        except LockHeldError as exc:
            results.put((name, f"lost: {exc}"))
    finally:
        store.close()


def test_two_os_processes_contend(store_url: str) -> None:
    StateStore(store_url).close()
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start = time.time() + 0.3
    procs = [ctx.Process(target=_contend, args=(store_url, n, start, results)) for n in ("p1", "p2")]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=20) for _ in procs)
    for p in procs:
        p.join(timeout=20)
        assert p.exitcode == 0
    assert sorted(o == "won" for o in outcomes.values()) == [False, True]
    winner = next(n for n, o in outcomes.items() if o == "won")
    loser = next(o for o in outcomes.values() if o != "won")
    assert f"holder {winner}" in loser and "it expires at" in loser
