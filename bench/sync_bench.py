"""Sync at the speed of the pipe: sfsync against the raw Bulk 2.0 floor, side by side, one run.

For each size (default 10k, 50k, 100k deal registrations) and backend (SQLite portal + state
store by default; PostgreSQL in a private schema with ``--backends postgresql``), three
contenders, each in a fresh process against a fresh FakeSalesforce in its own process behind
local HTTP (so the org's CPU is not the contender's), with the same rows in the portal:

* ``sfsync``: ``SyncEngine.run`` both directions with production defaults (batches of 10,000,
  Bulk API 2.0 above 2,000 rows both ways, four jobs in flight, 12 of 18 fields encrypted under
  the partner's key, 3 of them with a public band): the initial load, then a cycle with 1% edited,
  then an idle cycle;
* ``raw``: simple-salesforce's own ``bulk2`` upsert of the same rows (mapped, not encrypted,
  built before its clock starts): no mapping, no encryption, no state — the floor;
* ``rest``: one ``PATCH sobjects/{Obj}/{ExtId}/{value}`` per record, on a sample
  (``--rest-sample``) extrapolated linearly.

Printed: seconds, records/s, API calls, peak RSS (VmHWM of the contender's process, reset when
its clock starts) and the ratio to the raw floor (best raw run), with the min-max over
``--repeat`` runs, and the CPU seconds of the contender's process and of the org's ("CPU s
client+org": less inflated by other jobs than wall time, though two hyperthreads sharing a core
slow each other's CPU too); then the calls of the incremental and idle cycles, sfsync's stage
breakdown (portal read, mapping, encryption, CSV build, upload, server wait, state writes, the
portal's Salesforce Ids, pull) in busy seconds and in CPU seconds per step (and microseconds per
record), where the org sat idle during the load (before the first call, between calls, after the
last: from the org's own request times), and the RSS after each push batch (flat = the engine
streams).

    .venv/bin/python bench/sync_bench.py [--sizes 10000,50000,100000] [--repeat 2]
        [--backends sqlite,postgresql] [--contenders sfsync,raw,rest] [--parallel-jobs 4]

Figures are client-side against an in-memory org on localhost on a shared 2-core machine; a
real org adds latency per call and does its own processing in parallel.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
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
from simple_salesforce import Salesforce

from sfsync.config import AuthMode, SalesforceSettings, SyncSettings
from sfsync.crypto import Keyring
from sfsync.mapping import load_mappings
from sfsync.portal import SqlPortal
from sfsync.salesforce import SalesforceGateway
from sfsync.salesforce._bulk import csv_value
from sfsync.salesforce._bulk import flatten as bulk_flatten
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
    # When the org worked on a request (monotonic seconds, the same clock in every process on
    # Linux): with the contender's own start and end, where the org sat idle.
    busy: list[tuple[float, float]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with lock:
                began = time.monotonic()
                status, headers, payload = self._answer(body)
                if not self.path.startswith("/_bench/"):
                    busy.append((began, time.monotonic()))
            data = payload.encode() if isinstance(payload, str) else payload
            # send_response_only: the fake's own Date header (its clock, moved on by the bench)
            # is the org's clock the pull reads, not this server's.
            self.send_response_only(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _answer(self, body: bytes | None) -> tuple[int, dict[str, str], str | bytes]:
            if self.path.startswith("/_bench/advance/"):
                offset[0] += timedelta(minutes=int(self.path.rsplit("/", 1)[1]))
                return 200, {}, "{}"
            if self.path == "/_bench/busy":
                taken = list(busy)
                busy.clear()
                return 200, {}, json.dumps(taken)
            if self.path == "/_bench/stats":
                numbers = [r["Registration_Number__c"] for r in fake.records("Deal_Registration__c")]
                return (
                    200,
                    {},
                    json.dumps({"records": len(numbers), "distinct": len(set(numbers)), "api_calls": fake.api_calls}),
                )
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
                {
                    "partner_number": n,
                    "name": name,
                    "tier": tier,
                    "active": True,
                    "created_at": created,
                    "updated_at": created,
                }
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
                    "UPDATE deal_registrations SET amount = amount + 1, updated_at = :t WHERE registration_number IN :n"
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


def _cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (or of ``pid``), from /proc: load-independent,
    unlike wall time on a machine shared with other jobs."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so each phase gets its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _org_busy(intervals: list[list[float]], began: float, ended: float) -> dict[str, float]:
    """Seconds the org worked on the run's requests, and where it sat idle: before the first
    request, between requests (the client preparing, recording, polling late), after the last."""
    spans = sorted((max(a, began), min(b, ended)) for a, b in intervals if b > began and a < ended)
    if not spans:
        return {"busy": 0.0, "idle_before": ended - began, "idle_between": 0.0, "idle_after": 0.0}
    busy, reach = 0.0, spans[0][0]
    for a, b in spans:
        busy += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    first, last = spans[0][0], reach
    return {
        "busy": busy,
        "idle_before": first - began,
        "idle_between": (last - first) - busy,
        "idle_after": ended - last,
    }


def _phase(engine: SyncEngine, trace: bool, org_pid: int | None = None, instance: str | None = None) -> dict[str, Any]:
    _reset_peak_rss()
    batches: list[tuple[str, float]] = []
    # RSS after every batch: flat from the first batch to the last when the engine streams
    engine.progress = lambda label, _count: batches.append((label.rsplit(" ", 1)[-1], round(_vm("VmRSS"), 1)))
    rss_before = _vm("VmRSS")
    if trace:
        tracemalloc.reset_peak()
        traced_before = tracemalloc.get_traced_memory()[0]
    cpu_before, org_before = _cpu_seconds(), _cpu_seconds(org_pid) if org_pid else 0.0
    if instance:
        requests.get(f"{instance}/_bench/busy", timeout=60)  # forget the requests before the run
    started, began = time.perf_counter(), time.monotonic()
    report = engine.run(SyncOptions(mappings=(MAPPING,), direction="both"))
    seconds, ended = time.perf_counter() - started, time.monotonic()
    cpu = _cpu_seconds() - cpu_before
    org_cpu = _cpu_seconds(org_pid) - org_before if org_pid else 0.0
    push, pull = report.summary(MAPPING, "push"), report.summary(MAPPING, "pull")
    result: dict[str, Any] = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "org_cpu_seconds": org_cpu,
        "api_calls": report.api_calls,
        "created": push.created,
        "updated": push.updated,
        "read": push.read,
        "written_back": pull.written_back,
        "pull_read": pull.read,
        "push_calls": push.api_calls,
        "pull_calls": pull.api_calls,
        "push_seconds": push.duration_seconds,
        "pull_seconds": pull.duration_seconds,
        "push_stages": push.stage_seconds,
        "pull_stages": pull.stage_seconds,
        "push_stage_cpu": push.stage_cpu_seconds,
        "pull_stage_cpu": pull.stage_cpu_seconds,
        "rejected": report.rejected,
        "rss_before_mib": rss_before,
        "peak_rss_mib": _vm("VmHWM"),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_batches_mib": batches,
    }
    if instance:
        result["org_busy"] = _org_busy(requests.get(f"{instance}/_bench/busy", timeout=60).json(), began, ended)
    if trace:
        current, peak = tracemalloc.get_traced_memory()
        result["traced_peak_mib"] = (peak - traced_before) / 2**20
        result["traced_retained_mib"] = (current - traced_before) / 2**20
    return result


class _World:
    """A fresh org (its own process, behind local HTTP) and a filled portal, for one contender."""

    def __init__(self, backend: str, size: int, postgres_url: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sfsync-bench-"))
        self.schema = f"sfsync_bench_{uuid.uuid4().hex[:10]}"
        self.admin: sa.Engine | None = None
        parent, child = _FORK.Pipe()
        self.server = _FORK.Process(target=_serve_fake, args=(child,), daemon=True)
        self.server.start()
        if backend == "sqlite":
            self.portal_url = f"sqlite:///{self.root / 'portal.db'}"
            self.state_url = f"sqlite:///{self.root / 'state.db'}"
        else:
            self.admin = sa.create_engine(postgres_url)
            with self.admin.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
            separator = "&" if "?" in postgres_url else "?"
            self.portal_url = self.state_url = f"{postgres_url}{separator}options=-csearch_path%3D{self.schema}"
        self.now = datetime.now(UTC)
        filler = _FORK.Process(target=_fill_portal, args=(self.portal_url, size, self.now))
        filler.start()
        filler.join()
        if filler.exitcode != 0:
            raise RuntimeError("filling the portal failed")
        port, self.token = parent.recv()
        self.instance = f"http://127.0.0.1:{port}"

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = requests.get(f"{self.instance}/_bench/stats", timeout=120).json()
        return result

    def gateway(self) -> SalesforceGateway:
        return SalesforceGateway.connect(
            SalesforceSettings(
                auth=AuthMode.TOKEN,
                instance_url=self.instance,
                access_token=SecretStr(self.token),
            )  # production defaults: Bulk jobs polled as the gateway learns the org's speed
        )

    def close(self) -> None:
        self.server.terminate()
        self.server.join()
        if self.admin is not None:
            with self.admin.begin() as connection:
                connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin.dispose()
        shutil.rmtree(self.root, ignore_errors=True)


def measure_sfsync(world: _World, size: int, trace: bool, batch_size: int, parallel_jobs: int) -> dict[str, Any]:
    sync = SyncSettings()  # production defaults
    engine = SyncEngine(
        mappings=load_mappings([REPO / "mappings"]),
        portal=SqlPortal(world.portal_url),
        state=StateStore(world.state_url),
        salesforce=world.gateway(),
        protector=KeyringProtector(Keyring.generate()),
        options=EngineOptions(
            overlap=timedelta(seconds=sync.overlap_seconds), batch_size=batch_size, parallel_jobs=parallel_jobs
        ),
    )
    if trace:
        tracemalloc.start()
    initial = _phase(engine, trace, world.server.pid, world.instance)
    stats = world.stats()
    if not stats["records"] == stats["distinct"] == size or initial["rejected"]:
        raise RuntimeError(f"initial load incomplete: {stats}, {initial['rejected']} rejected")
    # The next cycle, 30 minutes later: 1% of the registrations were edited meanwhile; then a
    # cycle with nothing changed anywhere (its calls are the idle cost).
    phases: dict[str, dict[str, Any]] = {"initial": initial}
    requests.get(f"{world.instance}/_bench/advance/30", timeout=60)
    changed = _edit_one_percent(world.portal_url, size, world.now + timedelta(minutes=30), 1)
    phases["incremental"] = _phase(engine, trace)
    phases["incremental"]["changed"] = changed
    if phases["incremental"]["updated"] != changed:
        raise RuntimeError(f"incremental cycle updated {phases['incremental']['updated']} of {changed} edited rows")
    requests.get(f"{world.instance}/_bench/advance/30", timeout=60)
    phases["idle"] = _phase(engine, trace)
    phases["idle"]["changed"] = 0
    if phases["idle"]["created"] + phases["idle"]["updated"] + phases["idle"]["written_back"]:
        raise RuntimeError(f"the idle cycle wrote: {phases['idle']}")
    engine.portal.close()
    engine.state.close()
    return phases


def _plain_records(world: _World, limit: int | None = None, *, flat: bool = True) -> list[dict[str, Any]]:
    """The portal rows as Salesforce records with the shipped mapping but no encryption (what a
    raw loader would send), built before the clock starts: the raw floor pays nothing for them."""
    mapping = load_mappings([REPO / "mappings"]).get(MAPPING)
    engine = sa.create_engine(world.portal_url)
    with engine.connect() as connection:
        query = "SELECT * FROM deal_registrations ORDER BY registration_number"
        rows = [dict(r) for r in connection.execute(sa.text(query)).mappings()]
    engine.dispose()
    records = []
    for row in rows[:limit]:
        payload = mapping.to_salesforce(row, is_create=True, record_type_id=None).payload
        record = {k: v for k, v in payload.items() if k != "RecordTypeId"}
        records.append(bulk_flatten(record) if flat else record)
    return records


def measure_raw(world: _World, size: int) -> dict[str, Any]:
    """simple-salesforce's own Bulk 2.0 upsert (``sf.bulk2``) of the same rows, plaintext."""
    records = [{k: csv_value(v) for k, v in r.items()} for r in _plain_records(world)]
    sf = Salesforce(instance=world.instance.removeprefix("http://"), session_id=world.token, version="61.0")
    sf.bulk2_url = f"{world.instance}/services/data/v61.0/jobs/"  # the fake speaks plain HTTP
    calls_before = world.stats()["api_calls"]
    _reset_peak_rss()
    cpu_before, org_before = _cpu_seconds(), _cpu_seconds(world.server.pid)
    started = time.perf_counter()
    # wait=0.05: the poll interval sfsync is given here too (simple-salesforce's default sleeps 5 s)
    jobs = sf.bulk2.Deal_Registration__c.upsert(records=records, external_id_field="Registration_Number__c", wait=0.05)  # type: ignore[operator]
    seconds = time.perf_counter() - started
    cpu, org_cpu = _cpu_seconds() - cpu_before, _cpu_seconds(world.server.pid) - org_before
    peak = _vm("VmHWM")
    stats = world.stats()
    failed = sum(int(j["numberRecordsFailed"]) for j in jobs)
    if failed or stats["records"] != size:
        raise RuntimeError(f"raw bulk2 upsert incomplete: {failed} failed, {stats}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "org_cpu_seconds": org_cpu,
        "api_calls": stats["api_calls"] - calls_before,
        "peak_rss_mib": peak,
        "jobs": len(jobs),
    }


def measure_rest(world: _World, size: int, sample: int) -> dict[str, Any]:
    """One record per call (``PATCH sobjects/{Obj}/{ExtId}/{value}``) on the first ``sample``
    rows, extrapolated linearly to ``size`` (100k single calls would take the bench an hour)."""
    records = _plain_records(world, limit=min(sample, size), flat=False)
    gateway = world.gateway()
    _reset_peak_rss()
    started = time.perf_counter()
    for index, record in enumerate(records):
        result = gateway._upsert_single("Deal_Registration__c", "Registration_Number__c", record, index)
        if result.outcome == "rejected":
            raise RuntimeError(f"REST upsert rejected: {result.status_code} {result.message}")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds * size / len(records),
        "measured_rows": len(records),
        "measured_seconds": seconds,
        "api_calls": size,
        "peak_rss_mib": _vm("VmHWM"),
    }


def measure(
    contender: str,
    backend: str,
    size: int,
    postgres_url: str,
    trace: bool,
    batch_size: int,
    parallel_jobs: int,
    rest_sample: int,
) -> dict[str, Any]:
    """One contender, backend and size in this (fresh) process; returns the figures."""
    world = _World(backend, size, postgres_url)
    try:
        if contender == "sfsync":
            figures = measure_sfsync(world, size, trace, batch_size, parallel_jobs)
        elif contender == "raw":
            figures = {"initial": measure_raw(world, size)}
        else:
            figures = {"initial": measure_rest(world, size, rest_sample)}
        return {"contender": contender, "backend": backend, "size": size, "batch_size": batch_size, **figures}
    finally:
        world.close()


# ------------------------------------------------------------------ the tables

STAGES = (
    "portal_read",
    "state_reads",
    "mapping",
    "encryption",
    "csv_build",
    "upload",
    "server_wait",
    "results",
    "state_writes",
    "portal_link",
    "pipeline_wait",
)
PULL_STAGES = ("query", "server_wait", "write_back", "state_writes")  # query includes server_wait


def _spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(min(values), fmt)}-{format(max(values), fmt)}"


def print_tables(results: list[dict[str, Any]]) -> None:
    print("\nInitial load, side by side (a range is min-max over the repeats):")
    print(
        f"{'backend':<10} {'records':>8} {'contender':<22} {'seconds':>13} {'records/s':>13} {'calls':>7} "
        f"{'peakRSS MiB':>13} {'x raw':>11} {'CPU s client+org (x raw)':>26}"
    )
    keys = sorted({(r["backend"], r["size"]) for r in results}, key=lambda k: (k[0], k[1]))
    for backend, size in keys:
        mine = [r for r in results if r["backend"] == backend and r["size"] == size]
        raw = [r["initial"]["seconds"] for r in mine if r["contender"] == "raw"]
        raw_best = min(raw) if raw else None
        for contender, label in (
            ("sfsync", "sfsync run (both ways)"),
            ("raw", "raw Bulk 2.0 (bulk2)"),
            ("rest", "REST one per call"),
        ):
            runs = [r for r in mine if r["contender"] == contender]
            if not runs:
                continue
            seconds = [r["initial"]["seconds"] for r in runs]
            rates = [size / s for s in seconds]
            rss = [r["initial"]["peak_rss_mib"] for r in runs]
            ratio = _spread([s / min(raw) for s in seconds], ".2f") if raw else "-"
            calls = runs[0]["initial"]["api_calls"]
            if "cpu_seconds" in runs[0]["initial"]:
                client = _spread([r["initial"]["cpu_seconds"] for r in runs], ".1f")
                org = _spread([r["initial"]["org_cpu_seconds"] for r in runs], ".1f")
                cpu = f"{client}+{org}"
                raw_cpu = [
                    r["initial"]["cpu_seconds"] + r["initial"]["org_cpu_seconds"]
                    for r in mine
                    if r["contender"] == "raw" and "cpu_seconds" in r["initial"]
                ]
                if raw_cpu:
                    totals = [r["initial"]["cpu_seconds"] + r["initial"]["org_cpu_seconds"] for r in runs]
                    cpu += f" ({_spread([t / min(raw_cpu) for t in totals], '.2f')}x)"
            else:
                cpu = "-"
            note = f"  (extrapolated from {runs[0]['initial']['measured_rows']:,} rows)" if contender == "rest" else ""
            print(
                f"{backend:<10} {size:>8,} {label:<22} {_spread(seconds, '.1f'):>13} {_spread(rates, ',.0f'):>13} "
                f"{calls:>7} {_spread(rss, '.0f'):>13} {ratio:>11} {cpu:>26}{note}"
            )
        if raw_best is not None:
            sf = [r for r in mine if r["contender"] == "sfsync"]
            if sf:
                push = [r["initial"]["push_seconds"] / raw_best for r in sf]
                print(
                    f"{'':<10} {'':>8} {'  push phase alone':<22} {'':>13} {'':>13} {'':>7} {'':>13} "
                    f"{_spread(push, '.2f'):>11}"
                )
    sf_runs = [r for r in results if r["contender"] == "sfsync"]
    if not sf_runs:
        return
    print("\nsfsync cycles after the load (calls per mapping and direction: push, pull):")
    print(
        f"{'backend':<10} {'records':>8} {'phase':<12} {'seconds':>13} {'changed':>8} {'push calls':>10} "
        f"{'pull calls':>10} {'pull read':>10}"
    )
    for r in sf_runs:
        for phase in ("incremental", "idle"):
            f = r[phase]
            print(
                f"{r['backend']:<10} {r['size']:>8,} {phase:<12} {f['seconds']:>13.2f} {f['changed']:>8} "
                f"{f['push_calls']:>10} {f['pull_calls']:>10} {f['pull_read']:>10}"
            )
    print(
        "\nWhere the initial load's time goes (seconds of busy time per step, summed over threads; the "
        "push steps overlap, so they add up to more than the push's wall time):"
    )
    for r in sf_runs:
        f = r["initial"]
        push = " ".join(f"{k}={f['push_stages'].get(k, 0):.1f}" for k in STAGES)
        pull = " ".join(f"{k}={f['pull_stages'].get(k, 0):.1f}" for k in PULL_STAGES)
        print(f"  {r['backend']} {r['size']:,}: push {f['push_seconds']:.1f}s wall [{push}]")
        print(
            f"  {'':<{len(r['backend'])}} {'':>{len(format(r['size'], ','))}}  pull {f['pull_seconds']:.1f}s wall "
            f"[{pull}] read {f['pull_read']:,} rows in {f['pull_calls']} calls"
        )
    print(
        "\nThe same steps in CPU seconds of the threads that ran them (load-independent: what each step "
        "costs; us/record in brackets):"
    )
    for r in sf_runs:
        f = r["initial"]
        size = r["size"]
        for direction, order in (("push", STAGES), ("pull", PULL_STAGES)):
            cpu = f.get(f"{direction}_stage_cpu") or {}
            steps = " ".join(f"{k}={cpu.get(k, 0):.2f}({1e6 * cpu.get(k, 0) / size:.0f})" for k in order if k in cpu)
            print(f"  {r['backend']} {size:,} {direction}: {sum(cpu.values()):.2f}s [{steps}]")
        print(
            f"  {r['backend']} {size:,} process: client {f['cpu_seconds']:.2f}s "
            f"({1e6 * f['cpu_seconds'] / size:.0f} us/record), org {f['org_cpu_seconds']:.2f}s"
        )
        busy = f.get("org_busy")
        if busy:
            print(
                f"  {r['backend']} {size:,} org: busy {busy['busy']:.2f}s of {f['seconds']:.2f}s; idle "
                f"{busy['idle_before']:.2f}s before the first call, {busy['idle_between']:.2f}s between calls, "
                f"{busy['idle_after']:.2f}s after the last (the pull writing back)"
            )
    print("\nRSS (MiB) after each batch of the initial load (flat = the engine streams):")
    for r in sf_runs:
        values = [rss for label, rss in r["initial"].get("rss_after_batches_mib") or [] if label == "push"]
        shown = values if len(values) <= 12 else [*values[:6], "...", *values[-5:]]
        print(f"  {r['backend']:<10} {r['size']:>8,} push: {' '.join(str(v) for v in shown)}")


def _child(command: list[str]) -> dict[str, Any] | None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"{' '.join(command[2:4])}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000,100000")
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--contenders", default="sfsync,raw,rest")
    parser.add_argument("--repeat", type=int, default=2, help="runs per contender and size (the spread is shown)")
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--tracemalloc", action="store_true", help="trace Python allocations (slows the run ~3x)")
    parser.add_argument("--rest-sample", type=int, default=2000, help="rows the one-per-call baseline sends")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: CONTENDER:BACKEND:SIZE in a fresh process
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    parser.add_argument("--batch-size", type=int, default=SyncSettings().batch_size)
    parser.add_argument("--parallel-jobs", type=int, default=SyncSettings().parallel_jobs)
    args = parser.parse_args()
    if args.one:
        contender, backend, size = args.one.split(":")
        print(
            json.dumps(
                measure(
                    contender,
                    backend,
                    int(size),
                    args.postgres_url,
                    args.tracemalloc,
                    args.batch_size,
                    args.parallel_jobs,
                    args.rest_sample,
                )
            )
        )
        return
    results: list[dict[str, Any]] = []
    for backend in args.backends.split(","):
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}")
        for size in (int(s) for s in args.sizes.split(",")):
            for attempt in range(args.repeat):
                for contender in args.contenders.split(","):
                    if contender == "rest" and attempt:
                        continue  # extrapolated from a sample: once is enough
                    # a fresh process per measurement: peak RSS starts from zero
                    command = [
                        sys.executable,
                        __file__,
                        "--one",
                        f"{contender}:{backend}:{size}",
                        "--postgres-url",
                        args.postgres_url,
                        "--batch-size",
                        str(args.batch_size),
                        "--parallel-jobs",
                        str(args.parallel_jobs),
                        "--rest-sample",
                        str(args.rest_sample),
                    ]
                    if args.tracemalloc:
                        command.append("--tracemalloc")
                    result = _child(command)
                    if result is not None:
                        results.append(result)
                        print(
                            f"{contender:<7} {backend:<10} {size:>8,} run {attempt + 1}: "
                            f"{result['initial']['seconds']:.2f}s, {result['initial']['api_calls']} calls, "
                            f"{result['initial']['peak_rss_mib']:.0f} MiB",
                            flush=True,
                        )
    print_tables(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
