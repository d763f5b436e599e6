"""End-to-end sync figures: portal -> engine (encrypting) -> gateway -> FakeSalesforce over HTTP.

For each backend (a SQLite portal + SQLite state store, or a PostgreSQL portal + PostgreSQL state
store in a private schema created and dropped here) and each size, two phases of ``sfsync run``
(both directions, production defaults: batches of 10,000 rows, Bulk API 2.0 above 2,000):

* initial load: every registration created in Salesforce, every Salesforce Id written back;
* incremental cycle: 1% of the rows edited in the portal, then one cycle.

Printed per phase: seconds, records/s, API calls, calls/record, peak RSS of the sync process
(VmHWM, reset at the start of the phase; ``ru_maxrss`` is the whole process's high-water mark),
and the tracemalloc peak (Python allocations during the phase). Then the growth of both per
10,000 records between sizes: it must stay near zero (the engine streams).

So that the memory figures are the engine's own, FakeSalesforce runs in a separate process
behind a local HTTP server (it holds every record, and materialises query results, as an org
would on its side), and the portal is filled by another process beforehand. Rows are generated
here with numbered customer names (``_demo_data`` has ~16k distinct names; 100k need more).

    .venv/bin/python bench/sync_bench.py [--sizes 1000,10000,100000] [--backends sqlite,postgresql]
        [--postgres-url postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--no-tracemalloc]

Figures are client-side against an in-memory org on localhost; a real org adds latency per call.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings, SyncSettings
from sfsync.crypto import Keyring
from sfsync.mapping import load_mappings
from sfsync.portal import SqlPortal
from sfsync.salesforce import SalesforceGateway
from sfsync.services.demo_data import PARTNERS
from sfsync.sync import EngineOptions, StateStore, SyncEngine, SyncOptions
from sfsync.sync._protect import KeyringProtector
from sfsync.testing import FakeSalesforce

REPO = Path(__file__).resolve().parents[1]
MAPPING = "deal_registration"
PHASES = ("initial", "incremental", "steady")
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
_FORK = multiprocessing.get_context("fork")


# ------------------------------------------------------------------ FakeSalesforce in its own process


def _serve_fake(conn: Connection) -> None:
    offset = [timedelta(0)]
    # The org's clock can be moved on, so the incremental cycle happens "later" than the initial
    # load, as it does in production (otherwise the pull's overlap window re-reads the whole load).
    fake = FakeSalesforce(page_size=2000, clock=lambda: datetime.now(UTC) + offset[0])
    for number, name, _tier in PARTNERS:
        fake.insert("Account", {"Name": name, "Partner_Number__c": number, "IsPartner": True})
    lock = threading.Lock()  # the fake is not thread-safe; the threads only keep connections apart

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with lock:
                status, headers, payload = self._answer(body)
            data = payload.encode() if isinstance(payload, str) else payload
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, body: bytes | None) -> tuple[int, dict[str, str], str | bytes]:
            if self.path.startswith("/_bench/advance/"):
                offset[0] += timedelta(minutes=int(self.path.rsplit("/", 1)[1]))
                return 200, {}, "{}"
            if self.path == "/_bench/stats":
                numbers = [r["Registration_Number__c"] for r in fake.records("Deal_Registration__c")]
                return 200, {}, json.dumps({"records": len(numbers), "distinct": len(set(numbers))})
            prepared = requests.Request(
                self.command, fake.instance_url + self.path, headers=dict(self.headers.items()), data=body
            ).prepare()
            status, headers, payload = fake._api_callback(prepared)
            return status, headers, payload

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    conn.send((server.server_address[1], fake.access_token))
    server.serve_forever()


# ------------------------------------------------------------------ the portal


def portable_ddl() -> list[str]:
    """The shipped DDL split on ";\\n", without comment-only pieces (PostgreSQL refuses those)."""
    text = (REPO / "mappings" / "portal_schema.sql").read_text(encoding="utf-8")
    return [
        s
        for s in text.split(";\n")
        if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())
    ]


def _deal_rows(size: int, now: datetime, chunk: int) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(size)
    countries = (("US", "#####"), ("DE", "#####"), ("GB", "EC# #AA"), ("FR", "75###"))
    lines = ("servers", "storage", "networking", "pcs")
    rows: list[dict[str, Any]] = []
    for index in range(size):
        domain = f"customer{index:07d}.example"
        country, pattern = countries[index % len(countries)]
        postal = "".join(str(rng.randint(0, 9)) if c == "#" else "K" if c == "A" else c for c in pattern)
        submitted = (now - timedelta(days=60) + timedelta(seconds=index * 37 % (59 * 86400))).replace(
            tzinfo=None, microsecond=0
        )
        rows.append(
            {
                "registration_number": f"DR-{index + 1:07d}",
                "partner_number": PARTNERS[index % len(PARTNERS)][0],
                "end_customer_name": f"Customer {index:07d} {('Inc.', 'GmbH', 'Ltd', 'SA')[index % 4]}",
                "end_customer_website": f"https://www.{domain}/",
                "end_customer_domain": domain,
                "end_customer_country": country,
                "end_customer_postal_code": postal,
                "end_customer_duns": f"{rng.randint(10**8, 10**9 - 1)}" if index % 3 else None,
                "product_lines": ",".join(rng.sample(lines, rng.randint(1, 3))),
                "amount": Decimal(rng.randrange(15_000, 900_000, 500)),
                "currency": "USD",
                "expected_close_date": (now + timedelta(days=rng.randint(20, 180))).date(),
                "extension_requested": False,
                "competitive_notes": "Competing bid from a direct rep expected; partner owns the relationship.",
                "customer_contact_name": f"Contact {index:07d}",
                "customer_contact_email": f"buyer{index}@{domain}",
                "customer_contact_phone": f"+1 555 {index % 10000:04d}",
                "submitted_at": submitted,
                "updated_at": submitted,
            }
        )
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


def _fill_portal(url: str, size: int, now: datetime) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for statement in portable_ddl():
            connection.exec_driver_sql(statement)
        created = (now - timedelta(days=400)).replace(tzinfo=None, microsecond=0)
        metadata = sa.MetaData()
        partners = sa.Table("partners", metadata, autoload_with=connection)
        deals = sa.Table("deal_registrations", metadata, autoload_with=connection)
        connection.execute(
            partners.insert(),
            [
                {"partner_number": n, "name": name, "tier": tier, "active": True, "created_at": created,
                 "updated_at": created}
                for n, name, tier in PARTNERS
            ],
        )
        for rows in _deal_rows(size, now, 5000):
            connection.execute(deals.insert(), rows)
    engine.dispose()


def _edit_one_percent(url: str, size: int, when: datetime, first: int) -> int:
    """Edit every 100th registration from ``first`` on (spread over the table, as real edits are)."""
    numbers = [f"DR-{i:07d}" for i in range(first, size + 1, 100)]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for start in range(0, len(numbers), 500):
            connection.execute(
                sa.text(
                    "UPDATE deal_registrations SET amount = amount + 1, updated_at = :t "
                    "WHERE registration_number IN :n"
                ).bindparams(sa.bindparam("n", expanding=True)),
                {"t": when.replace(tzinfo=None, microsecond=0), "n": numbers[start : start + 500]},
            )
    engine.dispose()
    return len(numbers)


# ------------------------------------------------------------------ measuring


def _vm(field: str) -> float:
    """A /proc/self/status figure in MiB (VmHWM: peak RSS, VmRSS: current RSS)."""
    match = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so each phase gets its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _phase(engine: SyncEngine, trace: bool) -> dict[str, Any]:
    _reset_peak_rss()
    batches: list[tuple[str, float]] = []
    # RSS after every batch: flat from the first batch to the last when the engine streams
    engine.progress = lambda label, _count: batches.append((label.rsplit(" ", 1)[-1], round(_vm("VmRSS"), 1)))
    rss_before = _vm("VmRSS")
    if trace:
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    report = engine.run(SyncOptions(mappings=(MAPPING,), direction="both"))
    seconds = time.perf_counter() - started
    push, pull = report.summary(MAPPING, "push"), report.summary(MAPPING, "pull")
    result: dict[str, Any] = {
        "seconds": seconds,
        "api_calls": report.api_calls,
        "created": push.created,
        "updated": push.updated,
        "read": push.read,
        "written_back": pull.written_back,
        "pull_read": pull.read,
        "push_calls": push.api_calls,
        "pull_calls": pull.api_calls,
        "rejected": report.rejected,
        "rss_before_mib": rss_before,
        "peak_rss_mib": _vm("VmHWM"),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_batches_mib": batches,
    }
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        result["traced_peak_mib"] = (peak - traced_before) / 2**20
        result["traced_retained_mib"] = (current - traced_before) / 2**20
    return result


def measure(backend: str, size: int, postgres_url: str, trace: bool, batch_size: int) -> dict[str, Any]:
    """One backend and size in this (fresh) process; returns the figures."""
    root = Path(tempfile.mkdtemp(prefix="sfsync-bench-"))
    schema = f"sfsync_bench_{uuid.uuid4().hex[:10]}"
    admin: sa.Engine | None = None
    parent, child = _FORK.Pipe()
    server = _FORK.Process(target=_serve_fake, args=(child,), daemon=True)
    server.start()
    try:
        if backend == "sqlite":
            portal_url = f"sqlite:///{root / 'portal.db'}"
            state_url = f"sqlite:///{root / 'state.db'}"
        else:
            admin = sa.create_engine(postgres_url)
            with admin.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            separator = "&" if "?" in postgres_url else "?"
            portal_url = state_url = f"{postgres_url}{separator}options=-csearch_path%3D{schema}"
        now = datetime.now(UTC)
        filler = _FORK.Process(target=_fill_portal, args=(portal_url, size, now))
        filler.start()
        filler.join()
        if filler.exitcode != 0:
            raise RuntimeError("filling the portal failed")
        port, token = parent.recv()
        instance = f"http://127.0.0.1:{port}"
        gateway = SalesforceGateway.connect(
            SalesforceSettings(auth=AuthMode.TOKEN, instance_url=instance, access_token=SecretStr(token),
                               bulk_poll_seconds=0.05)
        )
        sync = SyncSettings()  # production defaults (overlap window)
        engine = SyncEngine(
            mappings=load_mappings([REPO / "mappings"]),
            portal=SqlPortal(portal_url),
            state=StateStore(state_url),
            salesforce=gateway,
            protector=KeyringProtector(Keyring.generate()),
            options=EngineOptions(overlap=timedelta(seconds=sync.overlap_seconds), batch_size=batch_size),
        )
        if trace:
            tracemalloc.start()
        initial = _phase(engine, trace)
        stats = requests.get(f"{instance}/_bench/stats", timeout=60).json()
        if not stats["records"] == stats["distinct"] == size or initial["rejected"]:
            raise RuntimeError(f"initial load incomplete: {stats}, {initial['rejected']} rejected")
        # The next cycle, 30 minutes later: 1% of the registrations were edited meanwhile. Its pull
        # still re-reads every record the load stamped within the overlap window behind the pull
        # watermark (the whole load); the cycle after that ("steady") shows the usual cost.
        phases: dict[str, dict[str, Any]] = {"initial": initial}
        for name, minutes, first in (("incremental", 30, 1), ("steady", 60, 51)):
            requests.get(f"{instance}/_bench/advance/30", timeout=60)
            changed = _edit_one_percent(portal_url, size, now + timedelta(minutes=minutes), first)
            phases[name] = _phase(engine, trace)
            phases[name]["changed"] = changed
            if phases[name]["updated"] != changed:
                raise RuntimeError(f"{name} cycle updated {phases[name]['updated']} of {changed} edited rows")
        engine.portal.close()
        engine.state.close()
        return {"backend": backend, "size": size, "batch_size": batch_size, **phases}
    finally:
        server.terminate()
        server.join()
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
        shutil.rmtree(root, ignore_errors=True)


# ------------------------------------------------------------------ the table


def _row(result: dict[str, Any], phase: str) -> str:
    figures = result[phase]
    records = result["size"] if phase == "initial" else figures["changed"]
    traced = f"{figures['traced_peak_mib']:9.1f}" if "traced_peak_mib" in figures else f"{'-':>9}"
    return (
        f"{result['backend']:<10} {result['size']:>8,} {phase:<11} {figures['seconds']:8.2f} "
        f"{records / figures['seconds']:>9,.0f} {figures['api_calls']:>6} {figures['api_calls'] / records:>9.4f} "
        f"{figures['peak_rss_mib']:>9.1f} {figures['peak_rss_mib'] - figures['rss_before_mib']:>8.1f} {traced}"
    )


def print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'backend':<10} {'records':>8} {'phase':<11} {'seconds':>8} {'records/s':>9} {'calls':>6} "
        f"{'calls/rec':>9} {'peakRSS':>9} {'RSS+':>8} {'traced':>9}"
    )
    print(f"{'':<10} {'':>8} {'':<11} {'':>8} {'':>9} {'':>6} {'':>9} {'MiB':>9} {'MiB':>8} {'MiB':>9}")
    for result in results:
        for phase in PHASES:
            print(_row(result, phase))
    print(
        "\nmemory growth per 10,000 more records (~0 means the engine streams; one batch of "
        "sync.batch_size rows is the plateau). Peak RSS of the initial load (a later phase's peak RSS "
        "is the load's high-water mark: freed memory stays with the process), traced peak of each phase:"
    )
    for backend in dict.fromkeys(r["backend"] for r in results):
        mine = sorted((r for r in results if r["backend"] == backend), key=lambda r: r["size"])
        for small, large in itertools.pairwise(mine):
            per = (large["size"] - small["size"]) / 10_000
            rss = (large["initial"]["peak_rss_mib"] - small["initial"]["peak_rss_mib"]) / per
            parts = [f"RSS {rss:+.2f} MiB"]
            for phase in PHASES:
                if "traced_peak_mib" in large[phase]:
                    traced = (large[phase]["traced_peak_mib"] - small[phase]["traced_peak_mib"]) / per
                    parts.append(f"traced {phase} {traced:+.2f} MiB")
            print(f"  {backend:<10} {small['size']:>7,} -> {large['size']:>7,}: " + ", ".join(parts))
    print("\nRSS (MiB) after each batch of the initial load (push batches, then pull batches):")
    for result in results:
        batches = result["initial"].get("rss_after_batches_mib") or []
        for direction in ("push", "pull"):
            values = [rss for label, rss in batches if label == direction]
            if values:
                shown = values if len(values) <= 12 else [*values[:6], "...", *values[-5:]]
                print(f"  {result['backend']:<10} {result['size']:>8,} {direction}: {' '.join(str(v) for v in shown)}")


def _child(command: list[str]) -> dict[str, Any] | None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{' '.join(command[2:4])}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the second, traced pass per measurement (no traced-peak column)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: BACKEND:SIZE in a fresh process
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    parser.add_argument("--batch-size", type=int, default=SyncSettings().batch_size,
                        help="engine batch size (default: the sync.batch_size default); memory plateaus at one batch")
    args = parser.parse_args()
    trace = not args.no_tracemalloc
    if args.one:
        backend, size = args.one.split(":")
        print(json.dumps(measure(backend, int(size), args.postgres_url, trace, args.batch_size)))
        return
    results: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}")
        for size in (int(s) for s in args.sizes.split(",")):
            # a fresh process per measurement: peak RSS and ru_maxrss start from zero
            command = [sys.executable, __file__, "--one", f"{backend}:{size}", "--postgres-url", args.postgres_url,
                       "--batch-size", str(args.batch_size)]
            # Timing and RSS come from a pass without tracemalloc (it slows the run ~3x and its own
            # tables inflate RSS); the traced peaks from a second pass with it.
            result = _child([*command, "--no-tracemalloc"])
            if result is None:
                continue
            if trace:
                traced = _child(command)
                if traced is not None:
                    for phase in PHASES:
                        result[phase]["traced_peak_mib"] = traced[phase]["traced_peak_mib"]
                        result[phase]["traced_retained_mib"] = traced[phase]["traced_retained_mib"]
            results.append(result)
            print("\n".join(_row(result, phase) for phase in PHASES), flush=True)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
