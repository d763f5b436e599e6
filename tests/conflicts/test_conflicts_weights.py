"""The Fellegi–Sunter model: weights, probabilities, EM recovering known parameters, rules override."""

from __future__ import annotations

import math
import random

import pytest
from pydantic import ValidationError

from sfsync.conflicts import COMPONENT_LEVELS, Component, MatchModel, fit_model, parse_rules
from sfsync.conflicts._defaults import DEFAULT_MODEL
from sfsync.conflicts._weights import MISSING

COMPONENTS = list(COMPONENT_LEVELS)


def _draw(rng: random.Random, table: dict[Component, dict[str, float]], missing: float) -> tuple[str, ...]:
    out = []
    for comp in COMPONENTS:
        if rng.random() < missing:
            out.append(MISSING)
            continue
        levels = table[comp]
        out.append(rng.choices(list(levels), list(levels.values()))[0])
    return tuple(out)


def _truth() -> MatchModel:
    m: dict[Component, dict[str, float]] = {}
    u: dict[Component, dict[str, float]] = {}
    for comp, levels in COMPONENT_LEVELS.items():
        wanted = [lv for lv in levels if lv != MISSING]
        # matches: mostly the first (agreeing) level; non-matches: mostly the last (disagreeing) one
        m_raw = [0.7 if i == 0 else 0.3 / (len(wanted) - 1) for i in range(len(wanted))]
        u_raw = [0.9 if i == len(wanted) - 1 else 0.1 / (len(wanted) - 1) for i in range(len(wanted))]
        m[comp] = dict(zip(wanted, m_raw, strict=True))
        u[comp] = dict(zip(wanted, u_raw, strict=True))
    return MatchModel(prior=0.2, m=m, u=u)


def test_em_recovers_known_m_and_prior_from_unlabelled_pairs() -> None:
    truth = _truth()
    rng = random.Random(3)
    candidates = [_draw(rng, truth.m if rng.random() < truth.prior else truth.u, 0.2) for _ in range(20_000)]
    randoms = [_draw(rng, truth.u, 0.2) for _ in range(20_000)]
    fitted = fit_model(candidates, randoms)
    assert fitted.prior == pytest.approx(truth.prior, abs=0.02)
    for comp in COMPONENTS:
        for level, p in truth.m[comp].items():
            assert fitted.m[comp][level] == pytest.approx(p, abs=0.04), (comp, level)


def test_weights_and_probability() -> None:
    model = DEFAULT_MODEL
    assert model.weight(Component.DUNS, MISSING) == 0.0
    agree, disagree = model.weight(Component.DUNS, "agree"), model.weight(Component.DUNS, "disagree")
    assert agree > 0 > disagree
    assert model.weight(Component.WEBSITE, "own_disagree") < 0
    total = model.total(("agree", MISSING, MISSING, "exact", MISSING, "agree"))
    assert MatchModel.probability_of(total) == pytest.approx(1 / (1 + 2**-total))
    assert MatchModel.probability_of(1000) == 1.0 and MatchModel.probability_of(-1000) == 0.0
    assert math.isclose(model.prior_weight, math.log2(model.prior / (1 - model.prior)))


def test_model_refuses_incomplete_tables() -> None:
    data = DEFAULT_MODEL.to_yaml_dict()
    del data["m"]["duns"]["agree"]  # type: ignore[index]
    with pytest.raises(ValidationError, match="need exactly the levels"):
        MatchModel.model_validate(data)


def test_rules_file_may_carry_its_own_model() -> None:
    import yaml

    text = "direct_owner: {roles: [Rep]}\nmatching:\n" + "\n".join(
        "  " + line for line in yaml.safe_dump({"model": DEFAULT_MODEL.to_yaml_dict()}).splitlines()
    )
    rules = parse_rules(text)
    assert rules.matching.match_model() == DEFAULT_MODEL
    assert parse_rules("direct_owner: {roles: [Rep]}\n").matching.match_model() is DEFAULT_MODEL
