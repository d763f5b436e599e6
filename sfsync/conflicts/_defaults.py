"""The shipped match model: fitted with ``bench/conflicts_bench.py --fit`` (u from random pairs, m and
the prior by EM over blocked candidate pairs of the bench corpus, seed 1). Replace it per org with
``matching.model`` in the rules file."""

from __future__ import annotations

from ._weights import Component, MatchModel, _default_m

__all__ = ["DEFAULT_MODEL"]

DEFAULT_MODEL = MatchModel(
    prior=0.1,
    m=_default_m(),
    u={
        Component.ACCOUNT_ID: {"agree": 1e-6, "disagree": 1 - 1e-6},
        Component.DUNS: {"agree": 1e-6, "disagree": 1 - 1e-6},
        Component.WEBSITE: {"own_agree": 1e-5, "tenant_agree": 1e-4, "same_platform": 0.01, "own_disagree": 0.98},
        Component.NAME: {
            "exact": 1e-4, "reordered": 1e-5, "alternate": 1e-5, "close": 1e-4, "legal_conflict": 1e-5,
            "partial": 1e-3, "weak": 0.99,
        },
        Component.POSTAL_CODE: {"agree": 1e-3, "disagree": 0.999},
        Component.COUNTRY: {"agree": 0.1, "disagree": 0.9},
    },
)  # fmt: skip
