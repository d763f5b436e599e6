"""Channel-conflict matcher: accuracy and speed figures (prints; never fails).

    .venv/bin/python bench/conflicts_bench.py [--opportunities 100000 --protected 1000000]
        [--workers 2] [--seed 1] [--baseline-opportunities 5] [--scorer-set 20000x5000]

1. Generates a labelled set (conflict_evaluation.generate) of ``--protected`` customers and
   ``--opportunities`` opportunities (generation is not timed).
2. Builds the blocking index (timed: wall and CPU) and matches every opportunity (timed, with
   ``--workers`` forked processes), then prints precision / recall / F1 per match kind (the rule
   that produced the match) and per generator variant, from that same large set.
3. A naive all-pairs baseline (every protected customer scored for each opportunity, same scorer)
   on a subsample of opportunities, with the speed ratio.
4. The name-scorer comparison (our token alignment vs rapidfuzz token_sort / token_set / WRatio /
   ratio) on a smaller labelled set, which is why the scan uses the scorer it uses.

Figures depend on the machine's load: the CPU seconds are printed beside the wall seconds.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conflict_evaluation import KindMetrics, LabelledSet, evaluate, generate

from sfsync.conflicts import CustomerIndex, MatchQuery
from sfsync.conflicts._score import NAME_SCORERS


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _table(title: str, table: dict[str, KindMetrics], prefix: str) -> None:
    print(f"\n{title}")
    print(f"  {'':26s} {'precision':>9s} {'recall':>7s} {'F1':>7s} {'TP':>8s} {'FP':>6s} {'FN':>6s} {'TN':>7s}")
    for key in sorted(k for k in table if k.startswith(prefix) or k == "overall"):
        m = table[key]
        print(f"  {key:26s} {m.precision:9.4f} {m.recall:7.4f} {m.f1:7.4f} "
              f"{m.true_positives:8d} {m.false_positives:6d} {m.false_negatives:6d} {m.true_negatives:7d}")


def _scorer_comparison(spec: str, seed: int) -> None:
    customers, opportunities = (int(x) for x in spec.lower().split("x"))
    labelled = generate(customers, opportunities, seed + 1)
    print(f"\nName scorer comparison on {customers:,} customers x {opportunities:,} opportunities "
          "(same blocking; name-only rule, threshold swept, best F1 shown)")
    print(f"  {'scorer':18s} {'threshold':>9s} {'precision':>9s} {'recall':>7s} {'F1':>7s}")
    for scorer in NAME_SCORERS:
        best: tuple[float, float, KindMetrics] | None = None
        index = CustomerIndex(labelled.protected, scorer=scorer)
        for threshold in (80, 85, 88, 90, 92, 95):
            index.matching = index.matching.model_copy(update={"name_threshold": threshold})
            found = [(o.id, index.match(MatchQuery.from_opportunity(o))) for o in labelled.opportunities]
            name = evaluate(labelled, found).get("kind:name", KindMetrics("kind:name"))
            if best is None or name.f1 > best[1]:
                best = (threshold, name.f1, name)
        assert best is not None
        t, _, m = best
        print(f"  {scorer:18s} {t:9.0f} {m.precision:9.4f} {m.recall:7.4f} {m.f1:7.4f}")


def _baseline(index: CustomerIndex, labelled: LabelledSet, count: int, indexed_rate: float) -> None:
    sample = labelled.opportunities[:: max(1, len(labelled.opportunities) // max(count, 1))][:count]
    started = time.perf_counter()
    same = 0
    for opp in sample:
        q = MatchQuery.from_opportunity(opp)
        slow = sorted(m.customer.key for m in index.match_all_pairs(q))
        fast = sorted(m.customer.key for m in index.match(q))
        same += slow == fast
    seconds = time.perf_counter() - started
    rate = len(sample) / seconds if seconds else float("inf")
    print(f"\nNaive all-pairs baseline ({len(sample)} opportunities x {len(index.customers):,} customers, "
          "same scorer):")
    print(f"  {seconds / len(sample):.3f} s per opportunity = {rate:,.2f} opportunities/s; "
          f"indexed: {indexed_rate:,.0f}/s; speed-up x{indexed_rate / rate:,.0f}")
    print(f"  blocking found the same matches as all-pairs for {same}/{len(sample)} sampled opportunities")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--protected", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-opportunities", type=int, default=5)
    parser.add_argument("--scorer-set", default="20000x5000", help="customers x opportunities, or 0 to skip")
    args = parser.parse_args()

    print(f"conflicts bench: {args.opportunities:,} opportunities x {args.protected:,} protected customers, "
          f"workers={args.workers}, cpus={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}")
    started = time.perf_counter()
    labelled = generate(args.protected, args.opportunities, args.seed)
    print(f"generated labelled set in {time.perf_counter() - started:.1f} s (not part of the timings); "
          f"rss {_peak_mb():,.0f} MB")

    gc.collect()
    gc.freeze()  # the generated set is long-lived: keep the collector off it during the timings
    rss_before = _peak_mb()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    index = CustomerIndex(labelled.protected)
    build_wall, build_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    print(f"\nindex build: {build_wall:.1f} s wall, {build_cpu:.1f} s CPU; {len(index.postings):,} name keys, "
          f"{len(index.deletions):,} typo keys, {len(index.by_domain):,} domains, {len(index.by_duns):,} DUNS; "
          f"peak rss {rss_before:,.0f} -> {_peak_mb():,.0f} MB")

    queries = [MatchQuery.from_opportunity(o) for o in labelled.opportunities]
    wall0, cpu0, child0 = time.perf_counter(), time.process_time(), _children_cpu()
    results = index.match_many(queries, workers=args.workers)
    match_wall = time.perf_counter() - wall0
    match_cpu = time.process_time() - cpu0 + _children_cpu() - child0
    rate = len(queries) / match_wall if match_wall else float("inf")
    found = sum(1 for r in results if r)
    print(f"matching: {match_wall:.1f} s wall, {match_cpu:.1f} s CPU (all processes) -> {rate:,.0f} opportunities/s; "
          f"{found:,} opportunities with a match")
    total = build_wall + match_wall
    verdict = "within" if total < 60 else "OVER"
    print(f"TOTAL build + scan: {total:.1f} s wall ({verdict} the 60 s target); peak rss {_peak_mb():,.0f} MB")

    table = evaluate(labelled, [(o.id, r) for o, r in zip(labelled.opportunities, results, strict=True)])
    _table("Accuracy per rule (match kind) on the full set:", table, "kind:")
    _table("Per generator variant (negatives: TN = correctly matched nothing, FP = wrongly matched):",
           table, "variant:")
    overall = table["overall"]
    ok = overall.precision >= 0.97 and overall.recall >= 0.95
    print(f"targets precision >= 0.97, recall >= 0.95: {'met' if ok else 'NOT met'}")

    if args.baseline_opportunities > 0:
        _baseline(index, labelled, args.baseline_opportunities, rate)
    if args.scorer_set not in ("0", ""):
        _scorer_comparison(args.scorer_set, args.seed)


if __name__ == "__main__":
    main()
