"""One scored match model (Fellegi–Sunter), not first-rule-wins.

Every candidate pair is compared component by component (AccountId, DUNS, website, name, postal
code, country); each component lands on one *level* ("agree", "disagree", "tenant_agree",
"reordered", ...). A level has two probabilities:

* ``m`` -- how often a true match shows that level;
* ``u`` -- how often two different companies show it.

The level's match weight is ``log2(m / u)``: agreement on something rare among non-matches counts
for a lot, disagreement on something matches nearly always share counts against. Weights add up
(with the prior odds) to the pair's log2 odds of being one company; the match probability is
``1 / (1 + 2 ** -total)``. A "missing" level (either side has no value) weighs 0.

``u`` is estimated from random pairs (nearly all non-matches, splink's ``estimate_u_using_random_sampling``),
``m`` and the prior by expectation–maximisation over the blocked candidate pairs with ``u`` fixed
(splink's ``estimate_parameters_using_expectation_maximisation``). ``bench/conflicts_bench.py --fit``
prints a fitted model as YAML for ``matching.model`` in the rules file; the shipped defaults below
were fitted that way. Fixed parameters at scan time keep scores -- and so evidence hashes and
channel managers' decisions -- stable from one run to the next.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "COMPONENT_LEVELS",
    "MISSING",
    "Component",
    "MatchModel",
    "fit_model",
]

MISSING = "missing"
_FLOOR = 1e-6


class Component(StrEnum):
    ACCOUNT_ID = "account_id"
    DUNS = "duns"
    WEBSITE = "website"
    NAME = "name"
    POSTAL_CODE = "postal_code"
    COUNTRY = "country"


# Levels per component, most agreeing first; MISSING last.
COMPONENT_LEVELS: dict[Component, tuple[str, ...]] = {
    Component.ACCOUNT_ID: ("agree", "disagree", MISSING),
    Component.DUNS: ("agree", "disagree", MISSING),
    # own_agree: the same own domain; tenant_agree: the same tenant of a shared host (weaker);
    # same_platform: both on one shared host, different tenants; own_disagree: two different own domains.
    Component.WEBSITE: ("own_agree", "tenant_agree", "same_platform", "own_disagree", MISSING),
    # exact: same tokens after normalisation; reordered: same words, another order; alternate: a
    # trading (DBA) name equals the other name; close: a typo in a distinctive word; legal_conflict:
    # the names differ only in legal-form words each keeps as part of its name; partial / weak: less.
    Component.NAME: ("exact", "reordered", "alternate", "close", "legal_conflict", "partial", "weak", MISSING),
    Component.POSTAL_CODE: ("agree", "disagree", MISSING),
    Component.COUNTRY: ("agree", "disagree", MISSING),
}

Vector = tuple[str, ...]  # one level per component, in COMPONENT_LEVELS order
_COMPONENTS = tuple(COMPONENT_LEVELS)


class MatchModel(BaseModel):
    """Prior and m/u probabilities per component level (``missing`` levels are implicit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prior: float = Field(gt=0, lt=1)
    m: dict[Component, dict[str, float]]
    u: dict[Component, dict[str, float]]

    @model_validator(mode="after")
    def _complete(self) -> MatchModel:
        for table_name, table in (("m", self.m), ("u", self.u)):
            for comp, levels in COMPONENT_LEVELS.items():
                given = table.get(comp, {})
                wanted = set(levels) - {MISSING}
                if set(given) != wanted:
                    raise ValueError(f"{table_name}.{comp.value}: need exactly the levels {sorted(wanted)}")
                if any(not 0 < p <= 1 for p in given.values()):
                    raise ValueError(f"{table_name}.{comp.value}: probabilities must be in (0, 1]")
        return self

    def weight(self, component: Component, level: str) -> float:
        """log2(m/u) of a level; 0 for a missing value."""
        if level == MISSING:
            return 0.0
        return math.log2(self.m[component][level] / self.u[component][level])

    def weights(self) -> dict[Component, dict[str, float]]:
        return {c: {lv: self.weight(c, lv) for lv in lvs} for c, lvs in COMPONENT_LEVELS.items()}

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1 - self.prior))

    def total(self, vector: Sequence[str]) -> float:
        return self.prior_weight + sum(self.weight(c, lv) for c, lv in zip(_COMPONENTS, vector, strict=True))

    @staticmethod
    def probability_of(total: float) -> float:
        if total > 60:
            return 1.0
        if total < -60:
            return 0.0
        return 1.0 / (1.0 + math.pow(2.0, -total))

    def to_yaml_dict(self) -> dict[str, object]:
        return {
            "prior": round(self.prior, 6),
            "m": {c.value: {k: round(v, 6) for k, v in lv.items()} for c, lv in self.m.items()},
            "u": {c.value: {k: round(v, 6) for k, v in lv.items()} for c, lv in self.u.items()},
        }


def _normalised(counts: Mapping[str, float], levels: Iterable[str], smoothing: float = 0.0) -> dict[str, float]:
    wanted = [lv for lv in levels if lv != MISSING]
    total = sum(counts.get(lv, 0.0) for lv in wanted)
    if total <= 0:
        return {lv: 1.0 / len(wanted) for lv in wanted}
    # A level never seen still gets a floor probability: log2(m/u) must stay finite. ``smoothing``
    # (a share of the total, spread over the levels) keeps one corpus from ruling a level impossible.
    pseudo = smoothing * total / len(wanted)
    raw = {lv: max((counts.get(lv, 0.0) + pseudo) / (total * (1 + smoothing)), _FLOOR) for lv in wanted}
    norm = sum(raw.values())
    return {lv: p / norm for lv, p in raw.items()}


def estimate_u(random_pairs: Iterable[Vector], smoothing: float = 0.0) -> dict[Component, dict[str, float]]:
    """u from random pairs: the level frequencies among (almost all) non-matching pairs."""
    counts: dict[Component, Counter[str]] = {c: Counter() for c in _COMPONENTS}
    for vector in random_pairs:
        for comp, level in zip(_COMPONENTS, vector, strict=True):
            counts[comp][level] += 1
    return {c: _normalised(counts[c], COMPONENT_LEVELS[c], smoothing) for c in _COMPONENTS}


def fit_model(
    candidate_pairs: Iterable[Vector],
    random_pairs: Iterable[Vector],
    *,
    start: MatchModel | None = None,
    iterations: int = 50,
    tolerance: float = 1e-6,
) -> MatchModel:
    """u from ``random_pairs``; m and the prior by EM over ``candidate_pairs`` (u held fixed)."""
    u = estimate_u(random_pairs)
    patterns = Counter(tuple(v) for v in candidate_pairs)
    if not patterns:
        raise ValueError("no candidate pairs to fit on")
    if start is None:
        start = MatchModel(prior=0.1, m=_default_m(), u=u)
    m = {c: dict(v) for c, v in start.m.items()}
    prior = start.prior
    for _ in range(iterations):
        model = MatchModel(prior=min(max(prior, _FLOOR), 1 - _FLOOR), m=m, u=u)
        weight_sum = 0.0
        level_mass: dict[Component, dict[str, float]] = {c: {} for c in _COMPONENTS}
        pairs = 0
        for vector, count in patterns.items():
            p = model.probability_of(model.total(vector))
            weight_sum += p * count
            pairs += count
            for comp, level in zip(_COMPONENTS, vector, strict=True):
                level_mass[comp][level] = level_mass[comp].get(level, 0.0) + p * count
        new_prior = weight_sum / pairs
        new_m = {c: _normalised(level_mass[c], COMPONENT_LEVELS[c]) for c in _COMPONENTS}
        delta = abs(new_prior - prior) + max(abs(new_m[c][lv] - m[c][lv]) for c in _COMPONENTS for lv in new_m[c])
        prior, m = new_prior, new_m
        if delta < tolerance:
            break
    return MatchModel(prior=min(max(prior, _FLOOR), 1 - _FLOOR), m=m, u=u)


def _default_m() -> dict[Component, dict[str, float]]:
    """EM starting point: matches mostly agree."""
    out: dict[Component, dict[str, float]] = {}
    for comp, levels in COMPONENT_LEVELS.items():
        wanted = [lv for lv in levels if lv != MISSING]
        # Geometric decay: the first (most agreeing) level is the likeliest for a match.
        raw = {lv: 0.5**i for i, lv in enumerate(wanted)}
        total = sum(raw.values())
        out[comp] = {lv: p / total for lv, p in raw.items()}
    return out
