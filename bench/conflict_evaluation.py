"""Metrics, bench-only matching helpers and model fitting over a labelled corpus (not shipped).

* ``evaluate``: precision / recall per category and overall (a false positive is every matched
  customer that is not the opportunity's own; a false negative an opportunity whose own customer
  was not matched);
* ``match_many``: the index over many queries, optionally in forked workers (copy-on-write index);
* ``match_all_pairs``: the naive baseline, every customer a candidate (same answers as blocking);
* ``fit``: u from random pairs, m and the prior by EM over the blocked candidate pairs.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from conflict_corpus import NEGATIVE, Corpus

from sfsync.conflicts import CustomerIndex, Match, MatchingRules, MatchModel, MatchQuery, fit_model
from sfsync.conflicts._weights import Component, estimate_u

__all__ = ["Metrics", "evaluate", "evaluate_keys", "fit", "match_all_pairs", "match_many"]


@dataclass
class Metrics:
    name: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    true_negatives: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        denom = self.true_positives + self.false_positives
        return self.true_positives / denom if denom else 1.0

    @property
    def recall(self) -> float:
        denom = self.true_positives + self.false_negatives
        return self.true_positives / denom if denom else 1.0


def evaluate(
    corpus: Corpus, results: Sequence[Sequence[Match]], *, block_only: float | None = None
) -> dict[str, Metrics]:
    """Per category and ``overall``. ``block_only``: count only matches at or above that probability."""
    return evaluate_keys(
        corpus,
        [{m.customer.key for m in found if block_only is None or m.probability >= block_only} for found in results],
    )


def evaluate_keys(corpus: Corpus, matched: Sequence[set[str]]) -> dict[str, Metrics]:
    """``evaluate`` over the matched customer keys per opportunity (any matcher: ours, splink, ...)."""
    table: dict[str, Metrics] = {"overall": Metrics("overall")}
    for opp, keys in zip(corpus.opportunities, matched, strict=True):
        cat = corpus.category[opp.id]
        row = table.setdefault(cat, Metrics(cat))
        target = corpus.truth[opp.id]
        for metrics in (row, table["overall"]):
            if target is not None:
                if target in keys:
                    metrics.true_positives += 1
                else:
                    metrics.false_negatives += 1
                    if len(metrics.examples) < 3:
                        metrics.examples.append(f"missed: {opp.account_name!r}")
            elif not keys:
                metrics.true_negatives += 1
            wrong = keys - {target}
            metrics.false_positives += len(wrong)
            if wrong and len(metrics.examples) < 3:
                metrics.examples.append(f"false: {opp.account_name!r} ~ {sorted(wrong)[:2]}")
    return table


_FORK: dict[str, tuple[CustomerIndex, Sequence[MatchQuery]]] = {}


def _match_range(bounds: tuple[int, int]) -> list[list[Match]]:
    index, queries = _FORK["job"]
    gc.disable()
    return [index.match(queries[i]) for i in range(*bounds)]


def match_many(index: CustomerIndex, queries: Sequence[MatchQuery], *, workers: int = 1) -> list[list[Match]]:
    """``match`` for each query, in order; ``workers > 1`` forks (POSIX), the index shared copy-on-write."""
    if workers <= 1 or len(queries) < 1000 or "fork" not in mp.get_all_start_methods():
        return [index.match(q) for q in queries]
    size = -(-len(queries) // (workers * 4))
    ranges = [(lo, min(lo + size, len(queries))) for lo in range(0, len(queries), size)]
    _FORK["job"] = (index, queries)
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_match_range, ranges)
    finally:
        _FORK.clear()
    return [found for part in parts for found in part]


def match_all_pairs(index: CustomerIndex, query: MatchQuery) -> list[Match]:
    """Naive baseline: every customer is a candidate."""
    prepared = index.prepare(query)
    if not prepared.has_evidence:
        return []
    return index.evaluate(prepared, range(len(index.customers)))


def fit(corpus: Corpus, matching: MatchingRules, *, random_pairs: int = 200_000, seed: int = 0) -> MatchModel:
    """u from random (opportunity, customer) pairs; m and the prior by EM over blocked candidates."""
    index = CustomerIndex(corpus.protected, matching, max_df=500)  # the blocking the shipped prior was fitted with
    rng = random.Random(seed)
    prepared = [index.prepare(MatchQuery.from_opportunity(o)) for o in corpus.opportunities]
    n = len(index.customers)
    randoms = [index.compare(prepared[rng.randrange(len(prepared))], rng.randrange(n))[0] for _ in range(random_pairs)]
    candidates = []
    for q in prepared:
        if q.has_evidence:
            candidates.extend(index.compare(q, i)[0] for i in index.candidates(q))
    return fit_model(candidates, randoms)


def fit_supervised(
    corpus: Corpus, matching: MatchingRules, *, random_pairs: int = 200_000, seed: int = 0
) -> MatchModel:
    """u from random pairs; m from the labelled true pairs; the prior from the blocked candidates."""
    index = CustomerIndex(corpus.protected, matching, max_df=500)  # the blocking the shipped prior was fitted with
    rng = random.Random(seed)
    by_key = {c.key: i for i, c in enumerate(index.customers)}
    prepared = [index.prepare(MatchQuery.from_opportunity(o)) for o in corpus.opportunities]
    n = len(index.customers)
    randoms = [index.compare(prepared[rng.randrange(len(prepared))], rng.randrange(n))[0] for _ in range(random_pairs)]
    u = estimate_u(randoms)
    true_pairs = [
        index.compare(q, by_key[t])[0]
        for q, o in zip(prepared, corpus.opportunities, strict=True)
        if (t := corpus.truth[o.id]) is not None
    ]
    m = smoothed_m(estimate_u(true_pairs), u, len(true_pairs))
    blocked = sum(len(index.candidates(q)) for q in prepared if q.has_evidence)
    return MatchModel(prior=min(0.5, max(1e-6, len(true_pairs) / max(blocked, 1))), m=m, u=u)


def smoothed_m(
    m: dict[Component, dict[str, float]], u: dict[Component, dict[str, float]], count: int, alpha: float = 0.01
) -> dict[Component, dict[str, float]]:
    """m with an ``alpha`` share of u's distribution mixed in: a level no labelled match showed is taken
    as ``alpha`` times as likely among matches as among non-matches (weight log2(alpha) ~ -6.6), never
    as impossible, nor as likely as the levels matches do show."""
    out: dict[Component, dict[str, float]] = {}
    for comp, levels in m.items():
        mixed = {lv: (p * count + alpha * u[comp][lv] * count) / (count * (1 + alpha)) for lv, p in levels.items()}
        total = sum(mixed.values())
        out[comp] = {lv: max(p / total, 1e-6) for lv, p in mixed.items()}
    return out


def negatives() -> tuple[str, ...]:
    return NEGATIVE
