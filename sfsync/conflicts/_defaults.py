# ruff: noqa: E501
"""The shipped match model, fitted by ``bench/conflicts_bench.py --fit`` on the bench corpus (seed 1):
u from 200,000 random pairs, m from the labelled true pairs (mixed with 1 % of u: a level no match
showed weighs log2(0.01)), prior from the blocked candidates. An org replaces it with
``matching.model`` in the rules file."""

from __future__ import annotations

from ._weights import Component, MatchModel

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = MatchModel(
    prior=0.00569,
    m={
        Component.ACCOUNT_ID: {'agree': 0.085241, 'disagree': 0.914759},
        Component.DUNS: {'agree': 0.990098, 'disagree': 0.009902},
        Component.WEBSITE: {'own_agree': 0.882838, 'tenant_agree': 0.107261, 'same_platform': 0.000109, 'own_disagree': 0.009793},
        Component.NAME: {'exact': 0.662218, 'reordered': 0.07358, 'alternate': 0.045826, 'close': 0.08068, 'legal_conflict': 1e-06, 'partial': 0.00581, 'weak': 0.131887},
        Component.POSTAL_CODE: {'agree': 0.990099, 'disagree': 0.009901},
        Component.COUNTRY: {'agree': 0.991094, 'disagree': 0.008906},
    },
    u={
        Component.ACCOUNT_ID: {'agree': 2.9e-05, 'disagree': 0.999971},
        Component.DUNS: {'agree': 1e-06, 'disagree': 0.999999},
        Component.WEBSITE: {'own_agree': 0.000101, 'tenant_agree': 1.7e-05, 'same_platform': 0.01087, 'own_disagree': 0.989012},
        Component.NAME: {'exact': 7.2e-05, 'reordered': 1e-05, 'alternate': 1e-06, 'close': 2e-05, 'legal_conflict': 1e-06, 'partial': 6.1e-05, 'weak': 0.999834},
        Component.POSTAL_CODE: {'agree': 9.7e-05, 'disagree': 0.999903},
        Component.COUNTRY: {'agree': 0.100553, 'disagree': 0.899447},
    },
)  # fmt: skip
