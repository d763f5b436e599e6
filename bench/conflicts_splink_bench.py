"""splink (DuckDB backend) beside our Fellegi–Sunter matcher, on the same hard corpus (prints; never fails).

    .venv/bin/pip install -e '.[bench]'          # splink, duckdb (not part of the test install)
    .venv/bin/python bench/conflicts_splink_bench.py [--customers 3000 --opportunities 4000 --seeds 1,2]

Both models see the same records and the same normalisation: company names through
``sfsync.text.company`` (legal forms, abbreviations, accents, DBA names), websites through
``site_identity`` (own registrable domain, or a tenant key on a shared host), postal codes, ISO
countries, D-U-N-S numbers, account ids. What differs is the model:

* **ours**: ``CustomerIndex`` (blocking, token-aligned name levels, m/u weights fitted once and
  shipped, the law-11 guard), exactly what ``sfsync conflicts scan`` runs;
* **splink**: a ``link_only`` model with the same components -- name (exact with term-frequency
  adjustment, the same words reordered, Jaro-Winkler >= 0.95 / 0.88, else), website (own domain with
  term-frequency adjustment, same tenant, same platform, two own domains, else), postal code (with
  term-frequency adjustment), country, DUNS, account id -- blocked on account id, DUNS, site, the
  whole name, its first and last words, and postal code + country; trained as splink's tutorials do:
  the prior from deterministic rules (recall 0.8), u by random sampling (2 M pairs), m by EM in
  four sessions (blocked on name, on site, on postal code + country, on country). Trained on the first seed
  only; its threshold is the one with the best F1 on that seed, and 0.9 (our review threshold) is
  printed too. Both are timed the same way: training (splink) or index build (ours) + matching.

P/R are counted as in ``conflicts_bench.py``: a false positive is every matched customer that is
not the opportunity's own; a false negative an opportunity whose own customer was not matched.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from conflict_corpus import Corpus, generate  # noqa: E402
from conflict_evaluation import Metrics, evaluate_keys, match_many  # noqa: E402

from sfsync.conflicts import (  # noqa: E402
    CustomerIndex,
    MatchingRules,
    MatchQuery,
    load_rules,
    normalize_country,
    normalize_duns,
    normalize_postal,
)
from sfsync.text.company import company_name  # noqa: E402
from sfsync.text.domain import SharedHosts, site_identity  # noqa: E402

__all__ = ["Row", "compare", "print_table", "splink_available"]

THRESHOLDS = (0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999)
INSTALL_HINT = "splink not installed: `.venv/bin/pip install -e '.[bench]'` (splink on DuckDB) to print the comparison"


def splink_available() -> bool:
    try:
        import duckdb  # noqa: F401
        import splink  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Row:
    model: str
    seed: int
    threshold: float
    precision: float
    recall: float
    seconds: float
    note: str = ""
    weak: str = ""  # categories where this model falls below 0.99 precision or recall


def _record(
    uid: str,
    name: str | None,
    website: str | None,
    country: str | None,
    postal: str | None,
    duns: str | None,
    account: str | None,
    hosts: SharedHosts,
) -> dict[str, Any]:
    nm = company_name(name)
    site = site_identity(website, hosts)
    tokens = nm.tokens
    return {
        "unique_id": uid,
        "name": nm.norm or None,
        "name_sorted": " ".join(sorted(tokens)) or None,
        "first_word": tokens[0] if tokens else None,
        "last_word": tokens[-1] if tokens else None,
        "site": site.key if site else None,
        "platform": site.platform if site else None,
        "postal": normalize_postal(postal),
        "country": normalize_country(country),
        "duns": normalize_duns(duns),
        "account": account.strip()[:15] if account else None,
    }


def _tables(corpus: Corpus, hosts: SharedHosts) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    protected = [
        _record(c.key, c.name, c.website, c.country, c.postal_code, c.duns, c.account_id, hosts)
        for c in corpus.protected
    ]
    opportunities = [
        _record(
            o.id,
            o.account_name,
            o.account_website,
            o.account_country,
            o.account_postal_code,
            o.account_duns,
            o.account_id,
            hosts,
        )
        for o in corpus.opportunities
    ]
    return protected, opportunities


def _settings() -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name").configure(tf_adjustment_column="name"),
            cll.ExactMatchLevel("name_sorted").configure(label_for_charts="same words, another order"),
            cll.JaroWinklerLevel("name", 0.95),
            cll.JaroWinklerLevel("name", 0.88),
            cll.ElseLevel(),
        ],
    )
    website = cl.CustomComparison(
        output_column_name="site",
        comparison_levels=[
            cll.NullLevel("site"),
            cll.CustomLevel('"site_l" = "site_r" AND "platform_l" IS NULL', "same own domain").configure(
                tf_adjustment_column="site"
            ),
            cll.CustomLevel('"site_l" = "site_r"', "same tenant of a shared host"),
            cll.CustomLevel('"platform_l" = "platform_r"', "same platform, other tenant"),
            cll.CustomLevel('"platform_l" IS NULL AND "platform_r" IS NULL', "two own domains"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_only",
        comparisons=[
            name,
            website,
            cl.ExactMatch("postal").configure(term_frequency_adjustments=True),
            cl.ExactMatch("country"),
            cl.ExactMatch("duns"),
            cl.ExactMatch("account"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("account"),
            block_on("duns"),
            block_on("site"),
            block_on("name"),
            block_on("first_word"),
            block_on("last_word"),
            block_on("postal", "country"),
        ],
        retain_matching_columns=False,
    )


def _arrow(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    columns = list(rows[0])
    return pa.table({c: pa.array([r[c] for r in rows], type=pa.string()) for c in columns})


def _train(corpus: Corpus, hosts: SharedHosts) -> Any:
    """A trained splink linker's settings (JSON-able dict), trained on ``corpus``."""
    from splink import DuckDBAPI, Linker, block_on

    protected, opportunities = _tables(corpus, hosts)
    db = DuckDBAPI()
    linker = Linker(
        [db.register(_arrow(protected), table_name="protected"), db.register(_arrow(opportunities), table_name="opps")],
        _settings(),
        log_level=logging.ERROR,
    )
    linker.training.estimate_probability_two_random_records_match(
        [block_on("account"), block_on("duns"), block_on("site", "name"), block_on("name", "country")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    for rule in (block_on("name"), block_on("site"), block_on("postal", "country"), block_on("country")):
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    return linker.misc.save_model_to_json()


def _predict(settings: Any, corpus: Corpus, hosts: SharedHosts, threshold: float) -> list[list[tuple[str, float]]]:
    """Per opportunity (corpus order), the (customer key, probability) pairs splink scores >= threshold."""
    from splink import DuckDBAPI, Linker

    protected, opportunities = _tables(corpus, hosts)
    db = DuckDBAPI()
    linker = Linker(
        [db.register(_arrow(protected), table_name="protected"), db.register(_arrow(opportunities), table_name="opps")],
        settings,
        log_level=logging.ERROR,
    )
    found: dict[str, list[tuple[str, float]]] = {}
    table = linker.inference.predict(threshold_match_probability=threshold).as_pyarrow_table()
    data = table.select(["unique_id_l", "unique_id_r", "source_dataset_l", "match_probability"]).to_pylist()
    for row in data:
        left_is_protected = row["source_dataset_l"] == "protected"
        customer, opp = (
            (row["unique_id_l"], row["unique_id_r"]) if left_is_protected else (row["unique_id_r"], row["unique_id_l"])
        )
        found.setdefault(opp, []).append((customer, float(row["match_probability"])))
    return [found.get(o.id, []) for o in corpus.opportunities]


def _table(corpus: Corpus, found: Sequence[Sequence[tuple[str, float]]], threshold: float) -> dict[str, Metrics]:
    return evaluate_keys(corpus, [{k for k, p in pairs if p >= threshold} for pairs in found])


def _metrics(corpus: Corpus, found: Sequence[Sequence[tuple[str, float]]], threshold: float) -> Metrics:
    return _table(corpus, found, threshold)["overall"]


def _weak(table: dict[str, Metrics]) -> str:
    return ", ".join(
        f"{k} P {m.precision:.2f} R {m.recall:.2f}"
        for k, m in sorted(table.items())
        if k != "overall" and min(m.precision, m.recall) < 0.99
    )


def compare(customers: int, opportunities: int, seeds: Sequence[int], matching: MatchingRules) -> list[Row]:
    """Ours and splink on the same corpora; splink trained on ``seeds[0]`` only."""
    logging.getLogger("splink").setLevel(logging.ERROR)
    hosts = matching.hosts()
    corpora = {seed: generate(customers, opportunities, seed) for seed in seeds}
    rows: list[Row] = []
    for seed, corpus in corpora.items():
        started = time.perf_counter()
        index = CustomerIndex(corpus.protected, matching)
        results = match_many(index, [MatchQuery.from_opportunity(o) for o in corpus.opportunities])
        seconds = time.perf_counter() - started
        table = evaluate_keys(corpus, [{m.customer.key for m in found} for found in results])
        o = table["overall"]
        rows.append(Row("ours (Fellegi–Sunter)", seed, matching.review_probability, o.precision, o.recall, seconds,
                        "index build + match", _weak(table)))  # fmt: skip
    if not splink_available():
        return rows
    started = time.perf_counter()
    settings = _train(corpora[seeds[0]], hosts)
    train_seconds = time.perf_counter() - started
    scored: dict[int, tuple[list[list[tuple[str, float]]], float]] = {}
    for seed, corpus in corpora.items():
        started = time.perf_counter()
        scored[seed] = (_predict(settings, corpus, hosts, min(THRESHOLDS)), time.perf_counter() - started)

    def f1(m: Metrics) -> float:
        return 2 * m.precision * m.recall / (m.precision + m.recall) if m.precision + m.recall else 0.0

    tuning = corpora[seeds[0]]
    best = max(THRESHOLDS, key=lambda t: f1(_metrics(tuning, scored[seeds[0]][0], t)))
    for threshold, how in ((best, "best F1 on the tuning seed"), (matching.review_probability, "our review threshold")):
        for seed, corpus in corpora.items():
            table = _table(corpus, scored[seed][0], threshold)
            m = table["overall"]
            rows.append(Row("splink (DuckDB)", seed, threshold, m.precision, m.recall,
                            train_seconds + scored[seed][1], f"{how}; train {train_seconds:.1f} s + predict",
                            _weak(table)))  # fmt: skip
    return rows


def print_table(rows: Sequence[Row], seeds: Sequence[int]) -> None:
    print(f"  {'model':22s} {'seed':>4s} {'threshold':>9s} {'precision':>9s} {'recall':>7s} {'seconds':>7s}  note")
    for r in rows:
        tag = "" if r.seed != seeds[0] else " (tuning)"
        print(
            f"  {r.model:22s} {r.seed:4d} {r.threshold:9.3f} {r.precision:9.4f} {r.recall:7.4f} {r.seconds:7.2f}  "
            f"{r.note}{tag}"
        )
        if r.weak:
            print(f"  {'':22s} below 0.99: {r.weak}")
    if not any(r.model.startswith("splink") for r in rows):
        print(f"  {INSTALL_HINT}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--opportunities", type=int, default=4000)
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--rules", default=str(HERE.parent / "mappings" / "conflict_rules.yaml"))
    args = parser.parse_args()
    matching = load_rules(args.rules).matching
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(
        f"splink vs ours: {args.customers:,} protected x {args.opportunities:,} opportunities, seeds {seeds} "
        f"(splink trained on seed {seeds[0]}); cpus={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}"
    )
    print_table(compare(args.customers, args.opportunities, seeds, matching), seeds)


if __name__ == "__main__":
    main()
