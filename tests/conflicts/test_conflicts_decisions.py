"""The matcher's decisions are frozen: speed work (issue 11 item 6) must not change a single one.

The full decision list (matched customers, kinds, scores, probabilities, evidence) of two labelled
corpora is hashed and compared with the hash taken before the optimisations
(``bench/conflicts_decisions.py`` checks the larger corpora the same way).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conflicts_decisions import FROZEN, decision_lines, decisions_sha256

from sfsync.conflicts import CustomerIndex, MatchQuery, load_rules

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("seed", [1, 2])
def test_decisions_equal_the_frozen_snapshot(seed: int) -> None:
    matching = load_rules(REPO / "mappings" / "conflict_rules.yaml").matching
    assert decisions_sha256(800, 1000, seed, matching) == FROZEN[(800, 1000, seed)]


def test_the_snapshot_sees_a_changed_decision() -> None:
    # The hash covers evidence, not just who matched: a weight nudged by 0.01 changes it.
    from conflict_corpus import generate

    matching = load_rules(REPO / "mappings" / "conflict_rules.yaml").matching
    corpus = generate(200, 300, 1)
    index = CustomerIndex(corpus.protected, matching)
    queries = [MatchQuery.from_opportunity(o) for o in corpus.opportunities]
    before = decision_lines(index, queries)
    assert sum(1 for line in before if json.loads(line)[1]) > 100  # most opportunities matched something
    for key in index._weights:
        index._weights[key] += 0.01
    assert decision_lines(index, queries) != before
