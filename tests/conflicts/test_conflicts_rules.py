from __future__ import annotations

from pathlib import Path

import pytest
from conflict_builders import RULES_YAML, make_opp

from sfsync.conflicts import ConflictKind, Rules, Severity, load_rules, parse_rules
from sfsync.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_rules_file_is_valid() -> None:
    rules = load_rules(REPO / "mappings" / "conflict_rules.yaml")
    assert rules.minimum_usd() == 50000
    assert "storage" in rules.always_protected_product_lines
    assert rules.severity[ConflictKind.DEAL_REGISTRATION] is Severity.BLOCK
    assert rules.matching.hosts().find("gmail.com") is not None
    assert rules.matching.hosts().find("sites.google.com") is not None


def test_defaults_fill_unnamed_severities() -> None:
    rules = parse_rules("direct_owner: {roles: [Rep]}\nseverity: {named_account: block}\n")
    assert rules.severity[ConflictKind.NAMED_ACCOUNT] is Severity.BLOCK
    assert rules.severity[ConflictKind.DEAL_REGISTRATION] is Severity.BLOCK
    assert rules.severity[ConflictKind.PARTNER_OF_RECORD] is Severity.WARN


@pytest.mark.parametrize(
    ("text", "line", "column", "needle"),
    [
        ("version: 1\ndirect_owner:\n  roles: [Rep]\nstages:\n  exclde: [Closed Lost]\n", 5, 3, "stages.exclde"),
        ("direct_owner:\n  roles: [Rep]\nmatching:\n  block_probability: 1.5\n", 4, 22, "matching.block_probability"),
        ("direct_owner:\n  roles: [Rep]\nseverity:\n  deal_registration: stop\n", 4, 22, "severity"),
        ("direct_owner: {}\n", 1, 15, "direct_owner"),
        ("direct_owner: {roles: [Rep]}\nas_of: {timezone: Mars/Olympus}\n", 2, 19, "unknown time zone"),
        ("direct_owner: {roles: [Rep]}\nminimum_deal_size: {amount: 1, currency: EUR}\n", None, None, "exchange rate"),
        ("direct_owner: {roles: [Rep]}\nmatching:\n  ignore_domains: [not a domain]\n", 3, 19, "not a domain"),
        ("direct_owner:\n  roles: [Rep\n", 3, 1, "not valid YAML"),
        ("- a list\n", 1, None, "must be a YAML mapping"),
        ("stages: {}\n", None, None, "direct_owner"),
    ],
)
def test_rules_errors_name_file_line_and_column(text: str, line: int | None, column: int | None, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(text, "rules.yaml")
    err = info.value
    assert err.context.file == "rules.yaml"
    if line is not None:
        assert err.context.line == line, str(err)
    if column is not None:
        assert err.context.column == column, str(err)
    assert needle in str(err)
    assert "rules.yaml" in str(err)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_direct_owner_by_role_profile_or_field(rules: Rules) -> None:
    owner = rules.direct_owner
    assert owner.matches(make_opp(owner_role="direct sales rep"))
    assert owner.matches(make_opp(owner_role="Partner Manager", owner_profile="Direct Sales"))
    assert owner.matches(make_opp(owner_role=None, fields={"Owner.Sales_Channel__c": "Direct"}))
    assert not owner.matches(make_opp(owner_role="Partner Manager", fields={"Owner.Sales_Channel__c": "Channel"}))
    assert not owner.matches(make_opp(owner_role=None))


def test_stages_in_scope(rules: Rules) -> None:
    assert rules.stages.in_scope("Prospecting")
    assert not rules.stages.in_scope("closed won")
    only = parse_rules("direct_owner: {roles: [R]}\nstages: {include: [Qualification], exclude: []}\n")
    assert only.stages.in_scope("Qualification")
    assert not only.stages.in_scope("Prospecting")


def test_currency_conversion(rules: Rules) -> None:
    from decimal import Decimal

    assert rules.to_usd(Decimal(100), "eur") == Decimal("110.00")
    assert rules.to_usd(Decimal(100), None) == Decimal(100)
    assert rules.to_usd(Decimal(100), "XYZ") is None


def test_test_rules_parse() -> None:
    assert parse_rules(RULES_YAML).minimum_usd() == 50000
