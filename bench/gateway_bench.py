"""Gateway benchmark: upserts into FakeSalesforce through sObject Collections and Bulk API 2.0.

Prints, per size and mode: API calls, API calls per record, client-side records/s (the fake
answers in-process, so this is the gateway + fake's CPU cost, not network time) and peak
traced memory (tracemalloc, measured in a separate run; it includes the fake's own storage).
A baseline in the same process upserts a 1k subsample one record per call
(``PATCH sobjects/Account/Partner_Number__c/{id}``), which is what a naive client does.

    .venv/bin/python bench/gateway_bench.py [--sizes 1000,10000,100000] [--no-memory]
"""

from __future__ import annotations

import argparse
import logging
import math
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.salesforce import RecordResult, SalesforceGateway
from sfsync.testing import FakeSalesforce

EXT = "Partner_Number__c"


def records(n: int) -> list[dict[str, Any]]:
    return [
        {
            EXT: f"P{i:07d}",
            "Name": f"Partner {i}",
            "BillingCountry": "DE",
            "Website": f"https://p{i}.example",
            "IsPartner": True,
        }
        for i in range(n)
    ]


def _run(
    n: int, action: Callable[[SalesforceGateway, list[dict[str, Any]]], list[RecordResult]], memory: bool
) -> dict[str, Any]:
    data = records(n)
    with FakeSalesforce(daily_api_limit=10_000_000) as fake:
        settings = SalesforceSettings(
            auth="token",
            instance_url=fake.instance_url,
            access_token=SecretStr(fake.access_token),
            api_version=fake.api_version,
        )
        gateway = SalesforceGateway.connect(settings, sleep=lambda _s: None)
        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        results = action(gateway, data)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        if memory:
            tracemalloc.stop()
        ok = sum(1 for r in results if r.outcome != "rejected")
        stored = len(fake.records("Account"))
    if ok != n or stored != n:
        raise SystemExit(f"benchmark run lost records: {ok} ok, {stored} stored, {n} sent")
    return {"calls": gateway.api_calls, "seconds": elapsed, "peak": peak}


def collections(gw: SalesforceGateway, data: list[dict[str, Any]]) -> list[RecordResult]:
    return gw.upsert("Account", EXT, data, mode="collections")


def bulk(gw: SalesforceGateway, data: list[dict[str, Any]]) -> list[RecordResult]:
    return gw.upsert("Account", EXT, data, mode="bulk")


def one_per_call(gw: SalesforceGateway, data: list[dict[str, Any]]) -> list[RecordResult]:
    return [gw._upsert_single("Account", EXT, record, index) for index, record in enumerate(data)]


def _line(label: str, n: int, figures: dict[str, Any], memory: bool) -> str:
    per_record = figures["calls"] / n
    rate = n / figures["seconds"] if figures["seconds"] > 0 else float("inf")
    mem = f"{figures['peak'] / 2**20:10.1f}" if memory else f"{'-':>10}"
    return f"{label:<22}{n:>9,}{figures['calls']:>9,}{per_record:>12.4f}{rate:>14,.0f}{mem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated record counts")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    logging.disable(logging.WARNING)
    memory = not args.no_memory
    print(f"{'mode':<22}{'records':>9}{'calls':>9}{'calls/rec':>12}{'records/s':>14}{'peak MiB':>10}")
    print("-" * 76)
    base_n = min(1000, *sizes)
    baseline = _run(base_n, one_per_call, False)
    if memory:
        baseline["peak"] = _run(base_n, one_per_call, True)["peak"]
    print(_line("baseline 1 rec/call", base_n, baseline, memory))
    base_rate = base_n / baseline["seconds"]
    for n in sizes:
        for label, action in (("collections (200/call)", collections), ("bulk 2.0", bulk)):
            figures = _run(n, action, False)
            if memory:
                figures["peak"] = _run(n, action, True)["peak"]
            if label.startswith("collections") and figures["calls"] != math.ceil(n / 200):
                raise SystemExit(f"expected {math.ceil(n / 200)} calls for {n} records, made {figures['calls']}")
            print(_line(label, n, figures, memory))
            rate = n / figures["seconds"]
            print(
                f"{'':<22}vs baseline: {baseline['calls'] / base_n / (figures['calls'] / n):,.0f}x fewer calls "
                f"per record, {rate / base_rate:,.1f}x records/s"
            )


if __name__ == "__main__":
    main()
