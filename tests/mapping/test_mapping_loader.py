"""Loading mapping files: positions, friendly schema errors, one pass over every problem."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from _mapping_helpers import BASE, SHIPPED, line_of, with_fields

from sfsync.errors import MappingError
from sfsync.mapping import ValidationReport, collect_mappings, load_mappings


def test_base_fixture_loads(write_yaml: Callable[..., Path]) -> None:
    mapping_set = load_mappings([write_yaml(BASE)])
    mapping = mapping_set.get("demo")
    assert mapping.portal.table == "deals"
    assert mapping.salesforce.external_id_field == "Number__c"
    assert [fm.salesforce_field for fm in mapping.fields] == ["Name__c"]
    assert mapping.file is not None and mapping.file.endswith("demo.yaml")
    assert mapping.position("fields", 0, "owner") == (line_of(BASE, "owner: portal"), 12)
    assert mapping.position("fields", 0, "owner", key=True) == (line_of(BASE, "owner: portal"), 5)


def test_yaml_syntax_error_names_line_and_column(write_yaml: Callable[..., Path]) -> None:
    text = BASE.replace("  table: deals\n", "  table: deals\n   primary: x\n")  # bad indentation
    path = write_yaml(text)
    with pytest.raises(MappingError) as info:
        load_mappings([path])
    assert "YAML syntax error" in info.value.message
    assert info.value.context.file == str(path)
    assert info.value.context.line == line_of(text, "primary: x")
    assert info.value.context.column is not None
    assert "indentation" in info.value.message


def test_unknown_key_did_you_mean_points_at_the_key(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("    length: 80\n", "    lenght: 80\n")
    report = check(text)
    [problem] = report.errors
    assert "unknown key 'lenght'; did you mean 'length'?" in problem.message
    assert (problem.line, problem.col) == (line_of(text, "lenght"), 5)
    assert problem.mapping == "demo" and problem.field == "Name__c"
    assert problem.hint is not None and "allowed keys here" in problem.hint


def test_unknown_top_level_and_nested_keys(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("salesforce:\n", "salesforse: {}\nsalesforce:\n").replace(
        "  external_id_column: number\n", "  external_id_colum: number\n"
    )
    messages = [p.message for p in check(text).errors]
    assert any("unknown key 'salesforse'; did you mean 'salesforce'?" in m for m in messages)
    assert any("did you mean 'external_id_column'?" in m for m in messages)
    assert any("missing required key 'external_id_column'" in m for m in messages)


def test_missing_owner(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("    owner: portal\n", "")
    [problem] = check(text).errors
    assert "the field has no owner" in problem.message
    assert "owner: portal" in (problem.hint or "")
    assert problem.line == line_of(text, "- column: name")


def test_owner_both_is_rejected(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("owner: portal", "owner: both")
    [problem] = check(text).errors
    assert "exactly one owner" in problem.message
    assert (problem.line, problem.col) == (line_of(text, "owner: both"), 12)


def test_bad_literal_suggests(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("type: string", "type: strng").replace("direction: both", "direction: bth")
    messages = [p.message for p in check(text).errors]
    assert any("'strng' is not allowed here" in m and "did you mean 'string'?" in m for m in messages)
    assert any("'bth' is not allowed" in m and "did you mean 'both'?" in m for m in messages)


def test_unknown_transform(check: Callable[[str], ValidationReport]) -> None:
    text = with_fields("""
        - column: code
          field: Code__c
          type: string
          owner: portal
          transforms: [trm, {mapp: {a: b}}]
    """)
    problems = check(text).errors
    messages = sorted(p.message for p in problems)
    assert any("unknown transform 'trm'; did you mean 'trim'?" in m for m in messages)
    assert any("unknown transform 'mapp'; did you mean 'map'?" in m for m in messages)
    assert {p.line for p in problems} == {line_of(text, "transforms: [trm")}


def test_unknown_transform_option(check: Callable[[str], ValidationReport]) -> None:
    text = with_fields("""
        - column: status
          field: Status__c
          type: picklist
          owner: portal
          transforms:
            - map: {a: A}
              defualt: B
    """)
    [problem] = check(text).errors
    assert "unknown key 'defualt'; did you mean 'default'?" in problem.message
    assert problem.line == line_of(text, "defualt")


def test_wrong_value_type_in_union(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("    owner: portal\n", "    owner: portal\n    encrypt: maybe\n")
    [problem] = check(text).errors
    assert problem.message.startswith("fields.0.encrypt: invalid value")
    assert problem.line == line_of(text, "encrypt: maybe")


def test_nested_encrypt_typo(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("    owner: portal\n", "    owner: portal\n    encrypt: {max_plaintext_byte: 20}\n")
    [problem] = check(text).errors
    assert "did you mean 'max_plaintext_bytes'?" in problem.message


def test_duplicate_yaml_key(check: Callable[[str], ValidationReport]) -> None:
    text = BASE.replace("    length: 80\n", "    length: 80\n    length: 90\n")
    problems = check(text).problems
    [problem] = [p for p in problems if p.code == "yaml_duplicate"]
    assert "duplicate key 'length'" in problem.message
    assert problem.line == line_of(text, "length: 90")


def test_yaml_12_booleans_and_dates_stay_text(write_yaml: Callable[..., Path]) -> None:
    text = with_fields("""
        - column: country
          field: Country__c
          type: string
          owner: portal
          clear: a test value that is no partner data
          transforms:
            - map: {NO: Norway, yes: Yes, 2024-01-01: New year}
    """)
    mapping = load_mappings([write_yaml(text)]).get("demo")
    step = mapping.field_for("Country__c").steps[0]
    assert step.apply("NO") == "Norway"  # YAML 1.1 would have read NO as false
    assert step.apply("yes") == "Yes"
    assert step.apply("2024-01-01") == "New year"


def test_every_problem_in_one_pass(tmp_path: Path) -> None:
    """A copy of a shipped mapping broken five ways gives five precise messages at once."""
    text = (SHIPPED / "deal_registration.yaml").read_text()
    broken = (
        text.replace(
            "    owner: portal\n    required: true\n    label: End Customer Name",
            "    ownr: portal\n    required: true\n    label: End Customer Name",
        )
        .replace("pcs: PCs}", "pcs: PC}")
        .replace(
            "    encrypt: {max_plaintext_bytes: 16, per_partner_key: true}\n    account_field: DunsNumber",
            "    encrypt: {max_plaintext_bytes: 60, per_partner_key: true}\n    account_field: DunsNumber",
        )
        .replace(
            "    field: Conflict_Flag__c\n    type: boolean\n    owner: salesforce",
            "    field: Conflict_Flag__c\n    type: boolean\n    owner: both",
        )
        .replace("      - date: iso\n", "      - date: iso\n      - trim\n")
    )
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    from sfsync.mapping import validate_offline

    mapping_set, report = collect_mappings([path])
    report.merge(validate_offline(mapping_set))
    found = {p.line: p.message for p in report.errors}
    assert found[line_of(broken, "ownr: portal")].endswith("unknown key 'ownr'; did you mean 'owner'?")
    assert "no owner" in found[line_of(broken, "- column: end_customer_name")]
    assert "'PC'" in found[line_of(broken, "pcs: PC}")] and "did you mean" not in found[line_of(broken, "pcs: PC}")]
    assert "encrypt to 136 characters, but the field holds 80" in found[line_of(broken, "max_plaintext_bytes: 60")]
    assert "exactly one owner" in found[line_of(broken, "owner: both")]
    assert "`trim` works on text" in found[line_of(broken, "      - trim", 3)]
    assert len(report.errors) == 6
    assert all(p.file == str(path) and p.col is not None for p in report.errors)


def test_load_mappings_raises_with_position_of_first_problem(write_yaml: Callable[..., Path]) -> None:
    text = BASE.replace("owner: portal", "owner: nobody")
    path = write_yaml(text)
    with pytest.raises(MappingError) as info:
        load_mappings([path])
    assert info.value.context.file == str(path)
    assert info.value.context.line == line_of(text, "owner: nobody")
    assert info.value.context.mapping == "demo"
    assert "1 problem(s)" in str(info.value)


def test_directory_non_mapping_yaml_is_an_error_never_skipped(tmp_path: Path) -> None:
    """Finding 8: a mapping whose keys are misspelled used to be skipped with a warning (run synced nothing)."""
    (tmp_path / "demo.yaml").write_text(BASE)
    (tmp_path / "conflict_rules.yaml").write_text("rules: []\n")  # a known companion: no problem
    (tmp_path / "other.yaml").write_text("rules: []\n")
    (tmp_path / "notes.txt").write_text("ignored")
    mapping_set, report = collect_mappings([tmp_path])
    assert mapping_set.names() == ["demo"]
    [error] = report.errors
    assert "not a mapping file" in error.message and str(error.file).endswith("other.yaml")
    assert (error.line, error.col) == (1, 1)
    assert not report.ok


def test_explicit_non_mapping_file_is_an_error(write_yaml: Callable[..., Path]) -> None:
    mapping_set, report = collect_mappings([write_yaml("rules: []\n", "rules.yaml")])
    assert not report.ok and len(mapping_set) == 0


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    _, report = collect_mappings([tmp_path / "nope"])
    assert report.errors[0].code == "not_found"
    (tmp_path / "empty").mkdir()
    with pytest.raises(MappingError, match="no mapping files found"):
        load_mappings([tmp_path / "empty"])


def test_duplicate_mapping_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(BASE)
    mapping_set, report = collect_mappings([tmp_path])
    assert mapping_set.names() == ["demo"]
    [problem] = report.errors
    assert problem.code == "duplicate_name" and str(problem.file).endswith("b.yaml")


def test_mapping_set_api(shipped_copy: Path) -> None:
    mapping_set = load_mappings([shipped_copy])
    assert set(mapping_set.names()) == {
        "deal_registration",
        "deal_registration_lead",
        "account_registration",
        "direct_opportunities",
    }
    assert "deal_registration_lead" in mapping_set and len(mapping_set.all()) == 4
    # iterating gives what runs: the Lead variant ships disabled
    assert {m.name for m in mapping_set} == {"deal_registration", "account_registration", "direct_opportunities"}
    assert len(mapping_set) == 3
    assert {m.name for m in mapping_set.sync_mappings()} == {"deal_registration", "account_registration"}
    with pytest.raises(MappingError, match="no mapping named 'nope'"):
        mapping_set.get("nope")
    with pytest.raises(MappingError, match="read-only"):
        _ = mapping_set.get("direct_opportunities").portal


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(SHIPPED, target)
    return target


def test_non_mapping_top_level(write_yaml: Callable[..., Path]) -> None:
    _, report = collect_mappings([write_yaml("- a\n- b\n")])
    [problem] = report.errors
    assert "must be a YAML object" in problem.message


def test_recursive_alias_is_a_positioned_error(write_yaml: Callable[..., Path]) -> None:
    """Finding 8: a recursive alias used to be an internal error (RecursionError, exit 3)."""
    path = write_yaml("name: x\nsalesforce: &loop\n  object: [*loop]\nfields: []\n")
    _mapping_set, report = collect_mappings([path])
    [problem] = report.errors
    assert "recursive alias" in problem.message and (problem.line, problem.col) == (2, 13)
    with pytest.raises(MappingError) as excinfo:
        load_mappings([path])
    assert excinfo.value.exit_code == 2


def test_alias_bomb_is_refused_quickly(write_yaml: Callable[..., Path]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write_yaml("\n".join([*lines, "name: bomb", "fields: *a8", "salesforce: {object: A__c}"]) + "\n")
    mapping_set, report = collect_mappings([path])
    [problem] = report.errors
    assert "alias bomb" in problem.message and problem.line is not None and len(mapping_set) == 0
