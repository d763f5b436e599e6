"""The shipped match model, fitted by ``bench/conflicts_bench.py --fit`` on the bench corpus (seed 1):
u from 200,000 random pairs, m from the labelled true pairs (smoothed 1 %), prior from the blocked
candidates. An org replaces it with ``matching.model`` in the rules file."""

from __future__ import annotations

from ._weights import Component, MatchModel

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = MatchModel(
    prior=0.005402,
    m={
        Component.ACCOUNT_ID: {'agree': 0.121837, 'disagree': 0.878163},
        Component.DUNS: {'agree': 0.99505, 'disagree': 0.00495},
        Component.WEBSITE: {'own_agree': 0.937055, 'tenant_agree': 0.057995, 'same_platform': 0.002475, 'own_disagree': 0.002475},
        Component.NAME: {'exact': 0.73992, 'reordered': 0.067195, 'alternate': 0.056345, 'close': 0.091608, 'legal_conflict': 0.001414, 'partial': 0.001414, 'weak': 0.042103},
        Component.POSTAL_CODE: {'agree': 0.99505, 'disagree': 0.00495},
        Component.COUNTRY: {'agree': 0.99505, 'disagree': 0.00495},
    },
    u={
        Component.ACCOUNT_ID: {'agree': 1e-06, 'disagree': 0.999999},
        Component.DUNS: {'agree': 1e-06, 'disagree': 0.999999},
        Component.WEBSITE: {'own_agree': 0.004026, 'tenant_agree': 1e-06, 'same_platform': 0.002779, 'own_disagree': 0.993195},
        Component.NAME: {'exact': 0.000143, 'reordered': 1.5e-05, 'alternate': 5e-06, 'close': 2.5e-05, 'legal_conflict': 1e-06, 'partial': 1e-06, 'weak': 0.999809},
        Component.POSTAL_CODE: {'agree': 0.000102, 'disagree': 0.999898},
        Component.COUNTRY: {'agree': 0.09976, 'disagree': 0.90024},
    },
)  # fmt: skip
