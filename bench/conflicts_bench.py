"""Channel-conflict matcher: accuracy per category on the hard corpus (tuning seed and an untouched
seed), the EM-vs-supervised fit comparison, and speed (prints; never fails).

    .venv/bin/python bench/conflicts_bench.py [--customers 3000 --opportunities 4000]
        [--seeds 1,2] [--scale-opportunities 100000 --scale-protected 1000000] [--workers 2] [--fit]

1. For each seed: generates the corpus (bench/conflict_corpus.py), builds the index, matches every
   opportunity, prints precision / recall overall and per category (seed 1 is the one the shipped
   model was fitted on; seed 2 is never tuned on).
2. ``--fit``: fits the model on seed 1 twice -- unsupervised EM (u from random pairs, m by EM over the
   blocked candidates) and m from the labelled pairs (mixed with 1 % of u) -- prints both figures on
   both seeds and the YAML for ``matching.model`` (the shipped default is the second).
3. Speed: index build + match of ``--scale-opportunities`` x ``--scale-protected`` (0 to skip), wall
   and CPU seconds and peak RSS.

4. splink vs ours on the same corpora (``bench/conflicts_splink_bench.py``: splink on DuckDB, trained
   on the tuning seed, P/R and time beside ours), when splink is installed (``pip install -e '.[bench]'``);
   otherwise the line says how to get it. ``--no-splink`` skips it.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import yaml  # noqa: E402
from conflict_corpus import NEGATIVE, POSITIVE, generate  # noqa: E402
from conflict_evaluation import Metrics, evaluate, fit, fit_supervised, match_many  # noqa: E402
from conflicts_splink_bench import INSTALL_HINT, compare, print_table, splink_available  # noqa: E402

from sfsync.conflicts import CustomerIndex, MatchingRules, MatchQuery  # noqa: E402


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _table(table: dict[str, Metrics]) -> None:
    print(
        f"  {'category':18s} {'kind':4s} {'precision':>9s} {'recall':>7s} {'TP':>6s} {'FP':>5s} {'FN':>5s} {'TN':>6s}"
    )
    for key in (*POSITIVE, *NEGATIVE, "overall"):
        if key not in table:
            continue
        m = table[key]
        kind = "+" if key in POSITIVE else "-" if key in NEGATIVE else ""
        print(
            f"  {key:18s} {kind:4s} {m.precision:9.4f} {m.recall:7.4f} {m.true_positives:6d} "
            f"{m.false_positives:5d} {m.false_negatives:5d} {m.true_negatives:6d}"
        )


def _accuracy(customers: int, opportunities: int, seeds: list[int], matching: MatchingRules) -> None:
    for seed in seeds:
        corpus = generate(customers, opportunities, seed)
        index = CustomerIndex(corpus.protected, matching)
        results = match_many(index, [MatchQuery.from_opportunity(o) for o in corpus.opportunities])
        table = evaluate(corpus, results)
        blocked = evaluate(corpus, results, block_only=matching.block_probability)["overall"]
        # Seed 1 is the one the shipped model was fitted and tuned on; every other seed is untouched.
        tag = "tuning seed" if seed == 1 else "untouched seed"
        o = table["overall"]
        print(
            f"\nseed {seed} ({tag}): {len(corpus.protected):,} protected x {len(corpus.opportunities):,} "
            f"opportunities: P {o.precision:.4f} R {o.recall:.4f} (review band included); "
            f"block only: P {blocked.precision:.4f} R {blocked.recall:.4f}"
        )
        _table(table)


def _fit(customers: int, opportunities: int, seeds: list[int], matching: MatchingRules) -> None:
    corpus = generate(customers, opportunities, seeds[0])
    for label, model in (
        ("EM (unsupervised m)", fit(corpus, matching)),
        ("supervised m", fit_supervised(corpus, matching)),
    ):
        scored = matching.model_copy(update={"model": model})
        line = []
        for seed in seeds:
            test = generate(customers, opportunities, seed)
            res = match_many(
                CustomerIndex(test.protected, scored), [MatchQuery.from_opportunity(o) for o in test.opportunities]
            )
            o = evaluate(test, res)["overall"]
            line.append(f"seed {seed}: P {o.precision:.4f} R {o.recall:.4f}")
        print(f"\nfit {label}: " + "; ".join(line))
        print(yaml.safe_dump({"model": model.to_yaml_dict()}, sort_keys=True))


def _cpu() -> float:
    """CPU seconds (user + sys) of this process and of its finished workers."""
    me, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + workers.ru_utime + workers.ru_stime


def _speed(opportunities: int, protected: int, workers: int, matching: MatchingRules) -> None:
    started = time.perf_counter()
    corpus = generate(protected, opportunities, 7)
    print(
        f"\nspeed corpus {protected:,} protected x {opportunities:,} opportunities generated in "
        f"{time.perf_counter() - started:.1f} s (not timed); rss {_peak_mb():,.0f} MB"
    )
    load = os.getloadavg()[0]
    wall0, cpu0 = time.perf_counter(), _cpu()
    index = CustomerIndex(corpus.protected, matching, workers=workers)
    build, build_cpu = time.perf_counter() - wall0, _cpu() - cpu0
    queries = [MatchQuery.from_opportunity(o) for o in corpus.opportunities]
    wall1, cpu1 = time.perf_counter(), _cpu()
    results = match_many(index, queries, workers=workers)
    match, match_cpu = time.perf_counter() - wall1, _cpu() - cpu1
    print(
        f"  index build {build:.1f} s wall ({build_cpu:.1f} s CPU); match {match:.1f} s wall ({match_cpu:.1f} s CPU); "
        f"{workers} workers; TOTAL {build + match:.1f} s wall, {build_cpu + match_cpu:.1f} s CPU (user+sys, workers "
        f"included); load average {load:.2f} -> {os.getloadavg()[0]:.2f}; peak rss {_peak_mb():,.0f} MB "
        f"(this process; each forked worker shares its pages copy-on-write); "
        f"{sum(1 for r in results if r):,} opportunities matched"
    )


def _scan_size(customers: int, opportunities: int, matching: MatchingRules) -> None:
    """The CLI scan's library part at the issue's size: index build + match, one process."""
    corpus = generate(customers, opportunities, 11)
    wall0 = time.perf_counter()
    index = CustomerIndex(corpus.protected, matching)
    for opp in corpus.opportunities:
        index.match(MatchQuery.from_opportunity(opp))
    print(
        f"\nlibrary match {len(corpus.protected):,} protected x {len(corpus.opportunities):,} opportunities: "
        f"{time.perf_counter() - wall0:.2f} s wall (index build + match, 1 process; Salesforce and portal "
        "reads not included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--opportunities", type=int, default=4000)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--scale-opportunities", type=int, default=100_000)
    parser.add_argument("--scale-protected", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--no-splink", action="store_true", help="skip the splink-vs-ours comparison")
    parser.add_argument("--rules", default=str(HERE.parent / "mappings" / "conflict_rules.yaml"))
    args = parser.parse_args()
    from sfsync.conflicts import load_rules

    matching = load_rules(args.rules).matching
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(
        f"conflicts bench: cpus={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}; "
        f"block >= {matching.block_probability}, review >= {matching.review_probability}"
    )
    _accuracy(args.customers, args.opportunities, seeds, matching)
    _scan_size(2600, 3000, matching)
    if seeds and not args.no_splink:
        print(f"\nsplink vs ours ({args.customers:,} protected x {args.opportunities:,} opportunities, same data):")
        if splink_available():
            print_table(compare(args.customers, args.opportunities, seeds, matching), seeds)
        else:
            print(f"  {INSTALL_HINT}")
    if args.fit:
        _fit(args.customers, args.opportunities, seeds, matching)
    if args.scale_opportunities and args.scale_protected:
        _speed(args.scale_opportunities, args.scale_protected, args.workers, matching)


if __name__ == "__main__":
    main()
