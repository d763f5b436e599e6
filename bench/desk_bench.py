"""Channel desk page timings with 10,000 registrations pending (prints figures; asserts nothing).

    .venv/bin/python bench/desk_bench.py [--pending 10000] [--repeat 5]

Builds a sample desk (local org file) with that many pending registrations, then times, through the
ASGI test client: the first queue page (cold: the org file is loaded and every pending row of both
registration objects read), further queue pages and filters (warm: the short-lived queue cache), the queue
with per-region SLA calendars (each registration's deadline under its partner region's calendar, computed
once), a region-scoped manager's queue, a deal and an account registration page (decrypt, triage, conflicts,
audit) and a decision (one conditional PATCH, the org file saved). CPU time (user+sys) is printed beside
the wall time: the machine is shared, so CPU time is the steadier figure.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from desk_sample import SAMPLE_PASSWORD, build_sample_desk

from sfsync.config import load_settings
from sfsync.desk.app import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def timed(label: str, repeat: int, action: Callable[[], object]) -> None:
    samples, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        action()
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    print(
        f"{label:<56} median {statistics.median(samples):8.1f} ms   max {max(samples):8.1f} ms   "
        f"cpu {statistics.median(cpu):8.1f} ms   (n={repeat})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sample = build_sample_desk(Path(tmp) / "desk", pending=args.pending, cheap_hashes=True)
        print(
            f"sample desk with {sample.pending:,} pending registrations built in {time.perf_counter() - started:.1f} s"
        )
        size = (Path(tmp) / "desk" / "org.json").stat().st_size
        print(f"org file: {size / 1e6:.1f} MB")
        desk = create_app(load_settings(sample.config, environ={}), cookie_secure=False)
        client = TestClient(desk.app)
        client.post("/login", data={"username": "manager", "password": SAMPLE_PASSWORD}, follow_redirects=False)

        def queue(path: str) -> Callable[[], object]:
            def get() -> object:
                response = client.get(path)
                if response.status_code != 200:
                    raise SystemExit(f"{path}: HTTP {response.status_code}")
                return response

            return get

        timed("server start: org loaded, pending read, deadlines (warm)", 1, desk.warm)
        timed("queue page 1, first request after start", 1, queue("/"))
        page = client.get("/").text
        pages = int(re.search(r"page 1 of (\d+)", page).group(1))  # type: ignore[union-attr]
        print(f"queue: {pages} pages of {desk.desk.page_size}")
        timed("queue page 1, warm", args.repeat, queue("/"))
        timed(f"queue page {pages // 2}, warm", args.repeat, queue(f"/?page={pages // 2}"))
        timed("queue filtered by tier + product line", args.repeat, queue("/?tier=Gold&product_line=Servers"))
        desk.org._queue_cache_seconds = 0.0  # every request asks the org what changed
        timed("queue page 1, refreshed (rows changed since last read)", args.repeat, queue("/"))
        desk.org._queue = None
        timed("queue page 1, full re-read of every pending row", 1, queue("/"))
        desk.org._queue_cache_seconds = 2.0
        timed("queue page 1, kind=account", args.repeat, queue("/?kind=account"))
        scoped = TestClient(desk.app)
        scoped.post("/login", data={"username": "emea-manager", "password": SAMPLE_PASSWORD}, follow_redirects=False)

        def scoped_queue() -> object:
            return scoped.get("/")

        timed("queue page 1, region-scoped manager (EMEA)", args.repeat, scoped_queue)
        # Per-region calendars: every pending registration's deadline under its partner's region, cold.
        from sfsync.desk.sla import Calendars

        regional = type(desk.desk).model_validate(
            {
                **desk.desk.model_dump(),
                "calendars": {
                    "EMEA": {"timezone": "Europe/Berlin", "holidays": ["2026-12-25"]},
                    "APAC": {"timezone": "Asia/Tokyo", "day_start": "09:00", "day_end": "18:00"},
                },
            }
        )

        def cold_calendars() -> object:
            desk.calendars = Calendars(regional)
            desk._deadlines.clear()
            return queue("/")()

        timed("queue page 1, 3 region calendars, deadlines cold", args.repeat, cold_calendars)
        timed("queue page 1, 3 region calendars, deadlines cached", args.repeat, queue("/"))
        number = sample.numbers["clean"]
        timed("registration page (decrypt, triage, audit)", args.repeat, queue(f"/registrations/{number}"))
        account = sample.numbers["account_clean"]
        timed("account registration page", args.repeat, queue(f"/account-registrations/{account}"))
        form = client.get(f"/registrations/{number}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        modstamp = re.search(r'name="modstamp" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]

        def decide() -> object:
            return client.post(
                f"/registrations/{number}/decision",
                follow_redirects=False,
                data={"csrf": csrf, "modstamp": modstamp, "action": "approve", "protection_days": "90"},
            )

        timed("decision (one conditional PATCH + org file saved)", 1, decide)
        desk.org.close()


if __name__ == "__main__":
    main()
