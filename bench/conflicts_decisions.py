"""Decision snapshot of the conflict matcher: SHA-256 of every decision on the labelled corpus.

    .venv/bin/python bench/conflicts_decisions.py [--freeze]

Speed work on the matcher (issue 11 item 6) must not change a single decision. For each corpus
below (the bench's two accuracy seeds, the scan-size corpus and a larger blocking-heavy one) every
opportunity is matched and the full decision list -- matched customer, position, kind, score,
probability (``repr``, so every bit counts) and the whole evidence -- is serialised and hashed.
The hashes frozen in ``FROZEN`` were taken on main before the optimisations; the script prints
``OK`` or ``CHANGED`` per corpus and exits 1 on any change. ``--freeze`` prints fresh hashes.
``tests/conflicts/test_conflicts_decisions.py`` runs the small corpora of this check in the suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from conflict_corpus import generate  # noqa: E402

from sfsync.conflicts import CustomerIndex, Match, MatchingRules, MatchQuery, load_rules  # noqa: E402

# (customers, opportunities, seed) -> SHA-256 of the decisions, taken before the speed work.
FROZEN: dict[tuple[int, int, int], str] = {
    (3000, 4000, 1): "54228607c199bc8607815c1239b552e8b7c768a2b395c1005abd40be1df1f71f",
    (3000, 4000, 2): "777bc52ea3ad1a5cef5f44262bd8389d588f54240b72c9d32a4ec03f168b2a15",
    (2600, 3000, 11): "d720c2a05bab087a37e6b00effeeeb658c7c7c8fce54ed55dd20b5d5e13631ed",
    (60000, 6000, 7): "da6d8f0342416d86402888a80755b1be1ccbf6dcfe57e4963d663da0bbd2d3d5",
    (800, 1000, 1): "2fcdbe5c9c1a7044f727d134a1ab3b92039fc312fe80011640dd5a12b532fc49",
    (800, 1000, 2): "a08d610451d6973a105f7a22ca0e85d4d1c155f16686aff4453bcda5fc14be8f",
}


def decision_lines(index: CustomerIndex, queries: list[MatchQuery]) -> list[str]:
    """One JSON line per opportunity: every match with its full evidence, floats by ``repr``."""
    lines = []
    for n, query in enumerate(queries):
        found: list[Match] = index.match(query)
        lines.append(
            json.dumps(
                [
                    n,
                    [
                        [
                            m.customer.key,
                            m.position,
                            m.kind.value,
                            repr(m.score),
                            repr(m.probability),
                            m.evidence.model_dump_json(),
                        ]
                        for m in found
                    ],
                ],
                sort_keys=True,
            )
        )
    return lines


def decisions_sha256(
    customers: int, opportunities: int, seed: int, matching: MatchingRules, *, workers: int = 1
) -> str:
    corpus = generate(customers, opportunities, seed)
    index = CustomerIndex(corpus.protected, matching, workers=workers)
    queries = [MatchQuery.from_opportunity(o) for o in corpus.opportunities]
    digest = hashlib.sha256()
    for line in decision_lines(index, queries):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


CORPORA = ((3000, 4000, 1), (3000, 4000, 2), (2600, 3000, 11), (60000, 6000, 7))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--freeze", action="store_true", help="print fresh hashes instead of comparing")
    parser.add_argument("--rules", default=str(HERE.parent / "mappings" / "conflict_rules.yaml"))
    parser.add_argument("--workers", type=int, default=1, help="build the index in this many processes")
    args = parser.parse_args()
    matching = load_rules(args.rules).matching
    changed = False
    for size in CORPORA:
        started = time.perf_counter()
        sha = decisions_sha256(*size, matching, workers=args.workers)
        took = time.perf_counter() - started
        if args.freeze:
            print(f"    {size}: {sha!r},  # {took:.1f} s")
            continue
        ok = FROZEN.get(size) == sha
        changed = changed or not ok
        print(f"{size}: {'OK' if ok else 'CHANGED'} {sha} ({took:.1f} s)")
    if changed:
        sys.exit(1)


if __name__ == "__main__":
    main()
