"""When to ask whether a Bulk API 2.0 job is done.

Every status request is an API call, and every poll that comes late is time the pipeline waits
for nothing. A fixed interval with backoff gets one of the two wrong: start at 2 s and a job that
takes 2.1 s is seen at 5 s; start at 50 ms and a job of a minute costs dozens of calls. So the
org's speed is learned from the jobs already done in this process (seconds per row, per kind of
job and object): a job of ``n`` rows is first asked about just before it should be done, then
at short steps, then with backoff if the org is slower than before. Until the first job is done
a job is asked about at once, then after ``bulk_poll_seconds``, backing off by half each time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

__all__ = ["PollPlanner"]

_FLOOR = 0.1  # seconds: never poll more often than this
_BACKOFF = 1.5
_FIRST_AT = 0.9  # of the expected duration
_STEP = 0.15  # of the expected duration, between polls once the job should be done
_STEADY_UNTIL = 2.0  # expected durations; slower than that, the steps back off again


class PollPlanner:
    """Poll delays for Bulk jobs, learned per key (``"ingest:Deal_Registration__c"``).

    Thread-safe: the push pipeline runs several jobs at once on worker threads.
    """

    def __init__(self, first_delay: float, cap: float) -> None:
        self.first_delay = first_delay
        self.cap = cap
        self.floor = min(_FLOOR, first_delay)
        self._seconds_per_row: dict[str, float] = {}
        self._lock = threading.Lock()

    def expected_seconds(self, key: str, rows: int) -> float | None:
        """How long a job of ``rows`` rows should take, from the jobs seen so far (None: unknown)."""
        with self._lock:
            rate = self._seconds_per_row.get(key)
        return None if rate is None or rows <= 0 else rate * rows

    def delays(self, key: str, rows: int) -> Iterator[float]:
        """The wait before each status request of a job of ``rows`` rows (endless).

        Unknown speed: at once (a small job may already be done), then ``first_delay``, backing
        off. Known speed: just before the job should be done (at once if that is under the
        floor), then steps of a seventh of the expected time, backing off after twice it."""
        expected = self.expected_seconds(key, rows)
        if expected is None:
            yield 0.0
            delay = self.first_delay
            while True:
                yield delay
                delay = min(delay * _BACKOFF, self.cap)
        first = _FIRST_AT * expected
        yield min(first, self.cap) if first >= self.floor else 0.0
        step = min(max(self.floor, _STEP * expected), self.cap)
        elapsed = first
        while elapsed < _STEADY_UNTIL * expected:
            yield step
            elapsed += step
        delay = step
        while True:
            delay = min(delay * _BACKOFF, self.cap)
            yield delay

    def observe(self, key: str, rows: int, still_running_at: float, done_at: float) -> None:
        """A job of ``rows`` rows was seen running ``still_running_at`` seconds after it was
        closed (0: never) and done at ``done_at``: it took about the midpoint."""
        if rows <= 0 or done_at <= 0:
            return
        estimate = (still_running_at + done_at) / 2 / rows
        with self._lock:
            old = self._seconds_per_row.get(key)
            # Half the weight on the newest job: the org's load changes, one odd job does not rule.
            self._seconds_per_row[key] = estimate if old is None else (old + estimate) / 2
