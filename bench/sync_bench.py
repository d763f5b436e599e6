"""End-to-end sync figures: portal (SQLite) -> engine (encrypting) -> gateway -> FakeSalesforce.

Prints, per size: first full push (records/s, API calls, calls per record), an idle rerun (API
calls, writes), an incremental run after 1% of rows changed, and peak memory; plus the same
first push without fingerprint skipping (`--full`) as the in-process baseline for the idle
ratio. Figures are client-side: a real org adds network latency per call.

    .venv/bin/python bench/sync_bench.py [--sizes 1000,10000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from sfsync._demo_data import create_portal
from sfsync.config import AuthMode, SalesforceSettings
from sfsync.crypto import Keyring
from sfsync.mapping import load_mappings
from sfsync.portal import SqlPortal
from sfsync.salesforce import SalesforceGateway
from sfsync.sync import StateStore, SyncEngine, SyncOptions
from sfsync.sync._protect import KeyringProtector
from sfsync.testing import FakeSalesforce

REPO = Path(__file__).resolve().parents[1]
MAPPING = "deal_registration"


def bench(size: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="sfsync-bench-"))
    try:
        portal_url = f"sqlite:///{root / 'portal.db'}"
        now = datetime.now(UTC)
        create_portal(portal_url, REPO / "mappings" / "portal_schema.sql", seed=1, now=now, deals=size, accounts=1)
        mappings = load_mappings([REPO / "mappings"])
        with FakeSalesforce() as fake:
            for number in (f"P-{i:03d}" for i in range(1, 13)):
                fake.insert("Account", {"Name": f"Partner {number}", "Partner_Number__c": number})
            gateway = SalesforceGateway.connect(
                SalesforceSettings(
                    auth=AuthMode.TOKEN, instance_url=fake.instance_url, access_token=SecretStr(fake.access_token)
                )
            )
            engine = SyncEngine(
                mappings=mappings,
                portal=SqlPortal(portal_url),
                state=StateStore(f"sqlite:///{root / 'state.db'}"),
                salesforce=gateway,
                protector=KeyringProtector(Keyring.generate()),
            )
            options = SyncOptions(mappings=(MAPPING,), direction="push")
            tracemalloc.start()
            started = time.perf_counter()
            first = engine.run(options)
            first_seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            push = first.summary(MAPPING, "push")

            started = time.perf_counter()
            idle = engine.run(options)
            idle_seconds = time.perf_counter() - started

            changed = max(1, size // 100)
            later = (now + timedelta(minutes=10)).replace(tzinfo=None)
            portal_engine = sa.create_engine(portal_url)
            with portal_engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "UPDATE deal_registrations SET amount = amount + 1, updated_at = :t "
                        "WHERE registration_number IN (SELECT registration_number FROM deal_registrations "
                        "ORDER BY registration_number LIMIT :n)"
                    ),
                    {"t": later, "n": changed},
                )
            portal_engine.dispose()
            started = time.perf_counter()
            incremental = engine.run(options)
            incremental_seconds = time.perf_counter() - started

            started = time.perf_counter()
            full = engine.run(SyncOptions(mappings=(MAPPING,), direction="push", full=True))
            full_seconds = time.perf_counter() - started

        inc = incremental.summary(MAPPING, "push")
        print(f"\n== {size:,} deal registrations (encrypting 8 fields + 3 blind indexes per record)")
        print(
            f"first push     : {push.created:,} created, {first.api_calls} API calls "
            f"({first.api_calls / size:.4f}/record), {size / first_seconds:,.0f} records/s, "
            f"peak memory {peak / 2**20:.1f} MiB"
        )
        print(
            f"idle rerun     : {idle.api_calls} API calls, "
            f"{sum(s.written for s in idle.summaries)} writes, {idle_seconds:.2f} s"
        )
        print(
            f"1% changed     : {inc.updated:,} updated of {inc.read:,} read, {incremental.api_calls} API calls, "
            f"{incremental_seconds:.2f} s"
        )
        print(
            f"--full baseline: {full.api_calls} API calls, {full_seconds:.2f} s; "
            f"idle/full API calls ratio {idle.api_calls / max(full.api_calls, 1):.3f}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        bench(size)


if __name__ == "__main__":
    main()
