from __future__ import annotations

from pathlib import Path

import pytest
from conflict_evaluation import NEGATIVE_VARIANTS, POSITIVE_VARIANTS, evaluate, generate, match_labelled

from sfsync.conflicts import CustomerIndex, NamedAccount, load_named_accounts
from sfsync.errors import ConfigError


def test_generator_is_deterministic_by_seed() -> None:
    a = generate(300, 200, seed=7)
    b = generate(300, 200, seed=7)
    c = generate(300, 200, seed=8)
    assert [p.name for p in a.protected] == [p.name for p in b.protected]
    assert [o.model_dump() for o in a.opportunities] == [o.model_dump() for o in b.opportunities]
    assert a.truth == b.truth
    assert [p.name for p in a.protected] != [p.name for p in c.protected]


def test_generator_covers_every_variant() -> None:
    labelled = generate(2000, 2000, seed=1)
    seen = set(labelled.variant.values())
    assert set(POSITIVE_VARIANTS) | set(NEGATIVE_VARIANTS) <= seen
    assert len({p.key for p in labelled.protected}) == 2000
    for opp_id, target in labelled.truth.items():
        assert (target is None) == (labelled.variant[opp_id] in NEGATIVE_VARIANTS)


def test_quality_targets_on_a_2k_set() -> None:
    labelled = generate(2000, 2000, seed=2024)
    table = evaluate(labelled, match_labelled(CustomerIndex(labelled.protected), labelled))
    overall = table["overall"]
    assert overall.precision >= 0.97, overall
    assert overall.recall >= 0.95, overall
    for kind in ("kind:account_id", "kind:duns", "kind:domain", "kind:name"):
        assert table[kind].precision >= 0.97, table[kind]
        assert table[kind].recall >= 0.95, table[kind]
    # every distractor family is rejected almost always
    for variant in ("variant:near_miss", "variant:other_country", "variant:junk"):
        if variant in table:
            assert table[variant].false_positives <= 2, table[variant]


def test_load_named_accounts_csv_and_yaml(tmp_path: Path) -> None:
    csv_file = tmp_path / "named.csv"
    csv_file.write_text("Name,Website,DUNS,Account_Id,Country\nGlobex Corp,globex.com,,,US\n\nInitech,,123456789,,\n")
    assert load_named_accounts(csv_file) == [
        NamedAccount(name="Globex Corp", domain="globex.com", country="US"),
        NamedAccount(name="Initech", duns="123456789"),
    ]
    yaml_file = tmp_path / "named.yaml"
    yaml_file.write_text("named_accounts:\n  - {name: Globex, domain: globex.com}\n  - account_id: 001000000000001\n")
    accounts = load_named_accounts(yaml_file)
    assert [a.name for a in accounts] == ["Globex", None]
    assert accounts[1].key == "NA-001000000000001"  # as written, not read as an octal number


@pytest.mark.parametrize(
    ("name", "text", "line", "needle"),
    [
        ("bad.csv", "name,colour\nGlobex,red\n", 2, "colour"),
        ("empty.csv", "name,domain\n,\nX,y\n,,extra\n", 4, "more values than header"),
        ("bad.yaml", "named_accounts:\n  - {name: A}\n  - {country: US}\n", 3, "at least one of"),
        ("bad.yaml", "named_accounts:\n  - {name: [A\n", 3, "not valid YAML"),
        ("list.yaml", "named_accounts: 5\n", 1, "must be a list"),
        ("named.txt", "x", None, ".csv, .yaml or .yml"),
    ],
)
def test_named_accounts_errors(tmp_path: Path, name: str, text: str, line: int | None, needle: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_named_accounts(path)
    assert needle in str(info.value)
    assert info.value.context.file == str(path)
    if line is not None:
        assert info.value.context.line == line
