# ruff: noqa: E501
"""The shipped match model, fitted by ``bench/conflicts_bench.py --fit`` on the bench corpus (seed 1):
u from 200,000 random pairs, m from the labelled true pairs (smoothed 1 %), prior from the blocked
candidates. An org replaces it with ``matching.model`` in the rules file."""

from __future__ import annotations

from ._weights import Component, MatchModel

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = MatchModel(
    prior=0.005774,
    m={
        Component.ACCOUNT_ID: {'agree': 0.099091, 'disagree': 0.900909},
        Component.DUNS: {'agree': 0.99505, 'disagree': 0.00495},
        Component.WEBSITE: {'own_agree': 0.945305, 'tenant_agree': 0.049744, 'same_platform': 0.002475, 'own_disagree': 0.002475},
        Component.NAME: {'exact': 0.651422, 'reordered': 0.063021, 'alternate': 0.057363, 'close': 0.086909, 'legal_conflict': 0.001414, 'partial': 0.01713, 'weak': 0.122741},
        Component.POSTAL_CODE: {'agree': 0.99505, 'disagree': 0.00495},
        Component.COUNTRY: {'agree': 0.99505, 'disagree': 0.00495},
    },
    u={
        Component.ACCOUNT_ID: {'agree': 1e-06, 'disagree': 0.999999},
        Component.DUNS: {'agree': 1e-06, 'disagree': 0.999999},
        Component.WEBSITE: {'own_agree': 0.003911, 'tenant_agree': 1e-06, 'same_platform': 0.002224, 'own_disagree': 0.993864},
        Component.NAME: {'exact': 0.000122, 'reordered': 5e-06, 'alternate': 1e-05, 'close': 1.5e-05, 'legal_conflict': 2.6e-05, 'partial': 0.000112, 'weak': 0.999709},
        Component.POSTAL_CODE: {'agree': 8.5e-05, 'disagree': 0.999915},
        Component.COUNTRY: {'agree': 0.100394, 'disagree': 0.899606},
    },
)  # fmt: skip
