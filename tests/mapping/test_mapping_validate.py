"""Offline validation: one test per check, each with a mapping that fails it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _mapping_helpers import BASE, SHIPPED, line_of, with_fields

from sfsync.mapping import (
    FieldProblem,
    MappingSet,
    ValidationReport,
    collect_mappings,
    register_transform,
    validate_offline,
)

Check = Callable[[str], ValidationReport]


def only_error(report: ValidationReport) -> FieldProblem:
    assert len(report.errors) == 1, [str(p) for p in report.errors]
    return report.errors[0]


def test_shipped_mappings_are_clean(shipped: MappingSet) -> None:
    mapping_set, report = collect_mappings([SHIPPED])
    report.merge(validate_offline(mapping_set))
    assert report.problems == [], [str(p) for p in report.problems]
    assert set(report.mappings_checked) == set(shipped.names())


def test_base_is_clean(check: Check) -> None:
    assert check(BASE).problems == []


# ------------------------------------------------------------------ ownership and targets


def test_same_field_owned_by_both_sides(check: Check) -> None:
    text = with_fields("""
        - column: name_back
          field: Name__c
          type: string
          owner: salesforce
    """)
    problem = only_error(check(text))
    assert problem.code == "duplicate_target"
    assert "owned by both sides" in problem.message
    assert problem.line == line_of(text, "field: Name__c", 2)


def test_duplicate_target_same_owner(check: Check) -> None:
    text = with_fields("""
        - column: other
          field: Name__c
          type: string
          owner: portal
    """)
    problem = only_error(check(text))
    assert "already mapped by entry 1" in problem.message and problem.code == "duplicate_target"


def test_external_id_mapped_as_field(check: Check) -> None:
    text = with_fields("""
        - {column: number, field: Number__c, type: string, owner: portal}
    """)
    assert "is the external id" in only_error(check(text)).message


def test_blind_index_used_twice_and_mapped(check: Check) -> None:
    text = with_fields("""
        - column: a
          field: A__c
          type: string
          length: 255
          owner: portal
          encrypt: {blind_index: {field: X_BIdx__c, normalizer: exact}}
        - column: b
          field: B__c
          type: string
          length: 255
          owner: portal
          encrypt: {blind_index: {field: X_BIdx__c, normalizer: exact}}
        - {column: c, field: X_BIdx__c, type: string, owner: portal}
    """)
    messages = [p.message for p in check(text).errors]
    assert any("is used twice" in m for m in messages)
    assert any("also mapped as a field" in m for m in messages)


def test_record_type_id_with_record_type(check: Check) -> None:
    text = with_fields(
        """
        - {column: rt, field: RecordTypeId, type: reference, owner: portal}
    """,
        BASE.replace("  external_id_field: Number__c\n", "  external_id_field: Number__c\n  record_type: Deal\n"),
    )
    assert "RecordTypeId is set from salesforce.record_type" in only_error(check(text)).message


def test_column_written_back_twice(check: Check) -> None:
    text = with_fields("""
        - {column: status, field: A__c, type: string, owner: salesforce}
        - {column: status, field: B__c, type: string, owner: salesforce}
    """)
    problem = only_error(check(text))
    assert "already written back by A__c" in problem.message
    assert problem.line == line_of(text, "field: B__c")


@pytest.mark.parametrize("column", ["id", "updated_at", "number"])
def test_salesforce_may_not_write_key_columns(check: Check, column: str) -> None:
    text = with_fields(f"""
        - {{column: {column}, field: A__c, type: string, owner: salesforce}}
    """)
    assert "Salesforce may not write the portal's" in only_error(check(text)).message


def test_column_ping_pong(check: Check) -> None:
    text = with_fields("""
        - {column: name, field: Back__c, type: string, owner: salesforce}
    """)
    problem = only_error(check(text))
    assert "ping-pong" in problem.message and problem.code == "ownership"


def test_two_enabled_mappings_write_the_same_column(tmp_path: Path) -> None:
    second = with_fields("""
        - {column: status, field: Status__c, type: string, owner: salesforce}
    """)
    (tmp_path / "a.yaml").write_text(second)
    (tmp_path / "b.yaml").write_text(second.replace("name: demo", "name: demo_two"))
    mapping_set, _ = collect_mappings([tmp_path])
    problem = only_error(validate_offline(mapping_set))
    assert "also written back by mapping 'demo'" in problem.message
    assert "enabled: false" in (problem.hint or "")
    (tmp_path / "b.yaml").write_text(second.replace("name: demo", "name: demo_two\nenabled: false"))
    mapping_set, _ = collect_mappings([tmp_path])
    assert validate_offline(mapping_set).ok


# ------------------------------------------------------------------ direction


def test_read_only_mapping_must_pull(check: Check) -> None:
    text = """\
name: ro
direction: both
salesforce: {object: Opportunity, external_id_field: Id}
fields:
  - {column: name, field: Name, type: string, owner: salesforce}
"""
    assert "can only pull" in only_error(check(text)).message


def test_read_only_mapping_cannot_have_portal_owned_fields(check: Check) -> None:
    text = """\
name: ro
direction: pull
salesforce: {object: Opportunity, external_id_field: Id}
fields:
  - {column: name, field: Name, type: string, owner: portal}
"""
    assert "only pulls" in only_error(check(text)).message


def test_syncing_mapping_needs_a_real_external_id(check: Check) -> None:
    text = BASE.replace("external_id_field: Number__c", "external_id_field: Id")
    assert "upserts need an external id field" in only_error(check(text)).message


def test_push_only_salesforce_owned_is_a_warning(check: Check) -> None:
    text = with_fields(
        """
        - {column: status, field: Status__c, type: string, owner: salesforce}
    """,
        BASE.replace("direction: both", "direction: push"),
    )
    report = check(text)
    assert report.ok
    assert "never read" in report.warnings[0].message


# ------------------------------------------------------------------ field shape


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("{column: a, field: Account.Name, type: string, owner: portal}", "follows a relationship"),
        ("{column: a, field: Id, type: id, owner: portal}", "an Id is set by Salesforce"),
        ("{column: a, field: A__c, type: string, owner: salesforce, on_create_only: true}", "on_create_only applies"),
        ("{column: a, field: A__c, type: date, length: 10, owner: portal}", "length applies to text fields"),
        ("{column: a, field: A__c, type: string, length: 300, owner: portal}", "at most 255 characters"),
        ("{column: a, field: A__c, type: string, precision: 5, owner: portal}", "precision/scale apply to numbers"),
        ("{column: a, field: A__c, type: double, precision: 5, scale: 6, owner: portal}", "scale is larger"),
        ("{column: a, field: A__c, type: string, values: [x], owner: portal}", "values apply to picklists"),
        ("{field: A__c, type: string, owner: portal}", "no `column` to read the value from"),
        ("{field: A__c, type: string, owner: salesforce}", "no `column` to write the value to"),
    ],
)
def test_field_shape_checks(check: Check, entry: str, expected: str) -> None:
    text = with_fields(f"- {entry}\n")
    problem = only_error(check(text))
    assert expected in problem.message
    assert problem.line == line_of(text, entry[:20])
    assert problem.hint, "every problem says how to fix it"


def test_constant_needs_no_column(check: Check) -> None:
    text = with_fields("""
        - {field: Source__c, type: string, owner: portal, transforms: [{constant: Portal}]}
    """)
    assert check(text).problems == []


# ------------------------------------------------------------------ transforms and types


def test_transform_applied_to_the_wrong_type(check: Check) -> None:
    text = with_fields("""
        - column: when
          field: When__c
          type: date
          owner: portal
          transforms: [date, upper]
    """)
    problem = only_error(check(text))
    assert "`upper` works on text values, but receives a date here" in problem.message
    assert problem.code == "type"


def test_chain_result_does_not_fit_the_field(check: Check) -> None:
    text = with_fields("""
        - column: a
          field: A__c
          type: boolean
          owner: portal
          transforms: [date]
    """)
    assert "produce a date, which a boolean field cannot hold" in only_error(check(text)).message


def test_several_columns_need_concat(check: Check) -> None:
    text = with_fields("""
        - {column: [first, last], field: Full__c, type: string, owner: portal}
    """)
    assert "several columns give a list" in only_error(check(text)).message
    assert "concat" in (only_error(check(text)).hint or "")
    ok = with_fields("""
        - {column: [first, last], field: Full__c, type: string, owner: portal, transforms: [{concat: " "}]}
    """)
    assert check(ok).problems == []


def test_lookup_rules(check: Check) -> None:
    text = with_fields("""
        - column: partner
          field: Partner__c
          type: string
          owner: portal
          transforms: [{lookup: Account.Partner_Number__c}, trim]
    """)
    messages = [p.message for p in check(text).errors]
    assert any("must be the last transform" in m for m in messages)
    assert any("writes a reference field" in m for m in messages)


def test_unregistered_python_transform(check: Check) -> None:
    text = with_fields("""
        - {column: a, field: A__c, type: string, owner: portal, transforms: [{python: nope_not_there}]}
    """)
    assert "is not registered" in only_error(check(text)).message


def test_python_transform_bad_args(check: Check) -> None:
    @register_transform("tests.mapping.pad_validate")
    def pad(value: Any, *, width: int) -> str:
        return str(value).rjust(width)

    bad = with_fields("""
        - {column: a, field: A__c, type: string, owner: portal, transforms: [{python: tests.mapping.pad_validate}]}
    """)
    assert "does not accept these args" in only_error(check(bad)).message
    good = bad.replace("tests.mapping.pad_validate}", "tests.mapping.pad_validate, args: {width: 5}}")
    assert check(good).problems == []


def test_map_value_not_in_picklist(check: Check) -> None:
    text = with_fields("""
        - column: stage
          field: Stage__c
          type: picklist
          values: [Open, Closed]
          owner: portal
          transforms:
            - map: {o: Open, c: Closd}
              default: Opn
    """)
    problems = check(text).errors
    assert len(problems) == 2
    assert {p.line for p in problems} == {line_of(text, "map: {o: Open"), line_of(text, "default: Opn")}
    assert any("'Closd'" in p.message and "did you mean 'Closed'?" in (p.hint or "") for p in problems)


def test_salesforce_owned_map_keys_must_be_picklist_values(check: Check) -> None:
    text = with_fields("""
        - column: status
          field: Status__c
          type: picklist
          values: [Approved, Rejected]
          owner: salesforce
          transforms: [{map: {Aproved: approved, Rejected: rejected}}]
    """)
    assert (
        "map key 'Aproved' is not a value of the picklist; did you mean 'Approved'?" in only_error(check(text)).message
    )


def test_bad_default(check: Check) -> None:
    text = with_fields("""
        - {column: n, field: N__c, type: int, owner: portal, default: many}
    """)
    problem = only_error(check(text))
    assert "'many' cannot be written to this int field" in problem.message
    assert problem.line == line_of(text, "default: many")


# ------------------------------------------------------------------ encryption


def test_ciphertext_must_fit_declared_length(check: Check) -> None:
    text = with_fields("""
        - column: notes
          field: Notes__c
          type: string
          length: 255
          owner: portal
          encrypt: {max_plaintext_bytes: 200}
    """)
    problem = only_error(check(text))
    assert problem.code == "ciphertext_too_long"
    from sfsync.crypto._sizes import max_ciphertext_length

    needed = max_ciphertext_length(200)
    assert f"200 bytes of plaintext encrypt to {needed} characters, but the field holds 255" in problem.message
    assert "lower max_plaintext_bytes to 149" in (problem.hint or "")
    assert "textarea" in (problem.hint or "")
    assert problem.line == line_of(text, "max_plaintext_bytes: 200")


def test_encrypt_true_derives_the_plaintext_limit(check: Check, write_yaml: Callable[..., Path]) -> None:
    text = with_fields("""
        - {column: notes, field: Notes__c, type: string, length: 255, owner: portal, encrypt: true}
    """)
    assert check(text).problems == []
    from sfsync.mapping import load_mappings

    fm = load_mappings([write_yaml(text)]).get("demo").field_for("Notes__c")
    assert fm.max_plaintext_bytes == 149


def test_field_too_short_for_any_ciphertext(check: Check) -> None:
    text = with_fields("""
        - {column: code, field: Code__c, type: string, length: 20, owner: portal, encrypt: true}
    """)
    assert "cannot hold any ciphertext" in only_error(check(text)).message


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "{column: a, field: A__c, type: string, length: 255, owner: salesforce, encrypt: true}",
            "only portal-owned fields are encrypted",
        ),
        ("{column: a, field: A__c, type: email, owner: portal, encrypt: true}", "must be string or textarea"),
        ("{column: a, field: A__c, type: date, owner: portal, encrypt: true}", "must be string or textarea"),
    ],
)
def test_encryption_shape(check: Check, entry: str, expected: str) -> None:
    report = check(with_fields(f"- {entry}\n"))
    assert any(expected in p.message for p in report.errors), [str(p) for p in report.errors]


def test_encrypt_without_length_is_a_warning(check: Check) -> None:
    report = check(with_fields("- {column: a, field: A__c, type: string, owner: portal, encrypt: true}\n"))
    assert report.ok
    assert "validate --online" in report.warnings[0].message


def test_blind_index_naming_warning(check: Check) -> None:
    text = with_fields("""
        - column: name2
          field: Name2__c
          type: string
          length: 255
          owner: portal
          encrypt:
            blind_index: {field: Name2_Hash__c, normalizer: company_name, bits: 16, reader: the duplicate check job}
    """)
    report = check(text)
    assert report.ok, [str(p) for p in report.problems]
    assert "_BIdx__c convention" in report.warnings[0].message


def test_blind_index_spec_bounds(check: Check) -> None:
    text = with_fields("""
        - column: name2
          field: Name2__c
          type: string
          length: 255
          owner: portal
          encrypt: {blind_index: {field: Name2_BIdx__c, normalizer: soundex, bits: 4}}
    """)
    messages = " ".join(p.message for p in check(text).errors)
    assert "'soundex' is not allowed here" in messages
    assert "greater than or equal to 8" in messages


def test_encrypted_fields_api(shipped: MappingSet) -> None:
    mapping = shipped.get("deal_registration")
    encrypted = {fm.salesforce_field: fm for fm in mapping.encrypted_fields()}
    assert set(encrypted) == {
        "End_Customer_Name__c",
        "End_Customer_Website__c",
        "End_Customer_Domain__c",
        "End_Customer_DUNS__c",
        "End_Customer_Country__c",
        "End_Customer_Postal_Code__c",
        "Amount__c",
        "Expected_Close_Date__c",
        "Competitive_Notes__c",
        "Customer_Contact_Name__c",
        "Customer_Contact_Email__c",
        "Customer_Contact_Phone__c",
    }
    name = encrypted["End_Customer_Name__c"]
    assert name.blind_index is None  # nothing reads an index, so none is written (finding 7)
    assert name.encrypt_spec is not None and name.encrypt_spec.max_plaintext_bytes == 149
    assert all(fm.encrypt_spec is not None and fm.encrypt_spec.per_partner_key for fm in encrypted.values())
    assert all(fm.owner == "portal" for fm in encrypted.values())


def test_report_json_and_text(check: Check) -> None:
    import json

    report = check(BASE.replace("owner: portal", "owner: both"))
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["errors"] == 1
    [problem] = data["problems"]
    assert problem["file"].endswith("demo.yaml") and problem["line"] == line_of(BASE, "owner: portal")
    assert problem["mapping"] == "demo" and problem["field"] == "Name__c"
    assert str(report.errors[0]).startswith(f"{problem['file']}:{problem['line']}:{problem['column']}: error:")


def test_per_partner_key_needs_partner_column(check: Check) -> None:
    text = with_fields("""
        - column: notes
          field: Notes__c
          type: textarea
          length: 32768
          owner: portal
          encrypt: {per_partner_key: true}
    """)
    problem = only_error(check(text))
    assert "per-partner keys" in problem.message and "partner_column" in (problem.hint or "")
    fixed = text.replace("  external_id_column: number\n", "  external_id_column: number\n  partner_column: partner\n")
    assert check(fixed).problems == []


def test_python_transform_found_through_entry_points(check: Check, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from sfsync.mapping import _transforms

    class FakeEntryPoint:
        def load(self) -> None:
            register_transform("tests.mapping.from_entry_point")(lambda value: value)

    monkeypatch.setattr(_transforms, "_entry_points_loaded", False)
    monkeypatch.setattr(
        importlib.metadata, "entry_points", lambda group: [FakeEntryPoint()] if group == "sfsync.transforms" else []
    )
    text = with_fields("""
        - {column: a, field: A__c, type: string, owner: portal, transforms: [{python: tests.mapping.from_entry_point}]}
    """)
    assert check(text).problems == []


def test_pull_map_after_split_checks_keys(check: Check) -> None:
    text = with_fields("""
        - column: lines
          field: Lines__c
          type: multipicklist
          values: [Servers, Storage]
          owner: salesforce
          transforms: [{split: ";"}, {map: {Servers: servers, Storag: storage}}, {concat: ","}]
    """)
    problem = only_error(check(text))
    assert "map key 'Storag' is not a value of the picklist; did you mean 'Storage'?" in problem.message


# ------------------------------------------------------------------ on_null (what a pulled null means)


@pytest.mark.parametrize(
    ("extra", "code", "needle"),
    [
        ("on_null: default", "on_null", "needs a `default`"),
        ("on_null: keep\n          default: x", "on_null", "used only with `on_null: default`"),
        ("default: x", "on_null", "used only with `on_null: default`"),
    ],
)
def test_on_null_policy_is_checked_offline(check: Check, extra: str, code: str, needle: str) -> None:
    text = with_fields(f"""
        - column: decision
          field: Decision__c
          type: string
          owner: salesforce
          {extra}
    """)
    problem = only_error(check(text))
    assert problem.code == code and needle in problem.message
    assert problem.line is not None


def test_on_null_on_a_portal_owned_field(check: Check) -> None:
    text = with_fields("""
        - column: notes
          field: Notes__c
          type: string
          owner: portal
          on_null: keep
    """)
    problem = only_error(check(text))
    assert problem.code == "ownership" and "Salesforce-owned" in problem.message


def test_on_null_unknown_value_names_the_choices(check: Check) -> None:
    text = with_fields("""
        - column: decision
          field: Decision__c
          type: string
          owner: salesforce
          on_null: ignore
    """)
    problem = only_error(check(text))
    assert "keep" in problem.message and "reject" in problem.message


@pytest.mark.parametrize(
    ("policy", "expected"), [("keep", "absent"), ("default", "pending"), ("reject", "error"), (None, None)]
)
def test_on_null_applies_on_pull(tmp_path: Path, policy: str | None, expected: str | None) -> None:
    from sfsync.mapping import RecordMappingError

    line = f"\n          on_null: {policy}" if policy else ""
    default = "\n          default: pending" if policy == "default" else ""
    text = with_fields(f"""
        - column: decision
          field: Decision__c
          type: string
          owner: salesforce{line}{default}
    """)
    path = tmp_path / "m.yaml"
    path.write_text(text)
    mapping_set, report = collect_mappings([path])
    assert report.errors == [], [str(p) for p in report.errors]
    mapping = mapping_set.all()[0]
    record = {"Decision__c": None}
    if expected == "error":
        with pytest.raises(RecordMappingError, match="on_null: reject"):
            mapping.to_portal(record)
        return
    values = mapping.to_portal(record)
    if expected == "absent":
        assert "decision" not in values
    else:
        assert values["decision"] == expected
    assert mapping.to_portal({"Decision__c": "Go"})["decision"] == "Go"
