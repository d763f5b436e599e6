# ruff: noqa: E501
"""The shipped match model, fitted by ``bench/conflicts_bench.py --fit`` on the bench corpus (seed 1):
u from 200,000 random pairs, m from the labelled true pairs (mixed with 1 % of u: a level no match
showed weighs log2(0.01)), prior from the blocked candidates. An org replaces it with
``matching.model`` in the rules file."""

from __future__ import annotations

from ._weights import Component, MatchModel

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = MatchModel(
    prior=0.006901,
    m={
        Component.ACCOUNT_ID: {'agree': 0.090895, 'disagree': 0.909105},
        Component.DUNS: {'agree': 0.990098, 'disagree': 0.009902},
        Component.WEBSITE: {'own_agree': 0.871977, 'tenant_agree': 0.118122, 'same_platform': 2.1e-05, 'own_disagree': 0.00988},
        Component.NAME: {'exact': 0.670692, 'reordered': 0.073317, 'alternate': 0.03379, 'close': 0.083518, 'legal_conflict': 1e-06, 'partial': 0.007651, 'weak': 0.131031},
        Component.POSTAL_CODE: {'agree': 0.990099, 'disagree': 0.009901},
        Component.COUNTRY: {'agree': 0.991098, 'disagree': 0.008902},
    },
    u={
        Component.ACCOUNT_ID: {'agree': 2.5e-05, 'disagree': 0.999975},
        Component.DUNS: {'agree': 1e-06, 'disagree': 0.999999},
        Component.WEBSITE: {'own_agree': 0.000169, 'tenant_agree': 4.8e-05, 'same_platform': 0.002029, 'own_disagree': 0.997754},
        Component.NAME: {'exact': 0.000107, 'reordered': 5e-06, 'alternate': 5e-06, 'close': 3.1e-05, 'legal_conflict': 1e-06, 'partial': 7.7e-05, 'weak': 0.999774},
        Component.POSTAL_CODE: {'agree': 0.000103, 'disagree': 0.999897},
        Component.COUNTRY: {'agree': 0.10096, 'disagree': 0.89904},
    },
)  # fmt: skip
