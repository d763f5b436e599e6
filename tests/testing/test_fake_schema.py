"""The schema format: loading, merging files, system fields, errors naming the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.testing import FakeSalesforce, OrgSchema, SchemaError, default_org_schema, load_org_schema


def test_default_schema_has_the_standard_objects_and_system_fields() -> None:
    schema = default_org_schema()
    for name in ("User", "UserRole", "Profile", "RecordType", "Account", "Contact", "Opportunity", "Lead"):
        obj = schema.get(name)
        assert obj is not None, name
        for system in ("Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"):
            assert system in obj.fields
    account = schema.objects["Account"]
    assert account.fields["OwnerId"].effective_relationship_name == "Owner"
    assert account.fields["Partner_Number__c"].external_id
    assert "OwnerId" not in schema.objects["User"].fields
    opp = schema.objects["Opportunity"]
    assert opp.fields["Product_Lines__c"].values == ("Servers", "Storage", "Networking", "PCs", "Software", "Services")
    assert opp.fields["StageName"].required and opp.fields["CloseDate"].type == "date"
    assert schema.objects["Contact"].fields["Name"].compound == ("FirstName", "LastName")
    # Case-insensitive lookups, like Salesforce.
    assert schema.get("account") is account
    assert account.field("partner_number__c") is account.fields["Partner_Number__c"]


def test_only_standard_objects_are_packaged_as_yaml() -> None:
    """Law 9: no hand-written custom schema; standard.yaml holds standard fields only."""
    from importlib import resources

    folder = resources.files("sfsync.testing").joinpath("schemas")
    files = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".yaml"))
    assert files == ["standard.yaml"]
    standard = load_org_schema(Path(str(folder)))
    custom = [f"{o.name}.{f.name}" for o in standard.objects.values() for f in o.fields.values() if f.is_custom]
    assert custom == [] and not any(o.is_custom or o.record_types for o in standard.objects.values())
    # The default org is the standard objects plus the shipped export, nothing else.
    default = default_org_schema()
    assert set(default.objects) - set(standard.objects) == {
        "Deal_Registration__c",
        "Account_Registration__c",
        "Channel_Conflict__c",
    }


def test_files_merge_fields_of_the_same_object(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "objects:\n  Widget__c:\n    fields:\n      Size__c: {type: int}\n      Color__c: {type: string, length: 10}\n"
    )
    (tmp_path / "b.yaml").write_text(
        "objects:\n  Widget__c:\n    label: Widget\n    fields:\n      Color__c: {type: string, length: 20}\n"
        "  Account:\n    fields:\n      Widget__c: {type: reference, reference_to: Widget__c}\n"
    )
    schema = load_org_schema(tmp_path, include_default=True)
    widget = schema.objects["Widget__c"]
    assert widget.display_label == "Widget"
    assert widget.is_custom
    assert widget.fields["Size__c"].type == "int"
    assert widget.fields["Color__c"].effective_length == 20
    assert widget.prefix.startswith("a") and len(widget.prefix) == 3
    account = schema.objects["Account"]
    assert "Partner_Number__c" not in account.fields  # standard objects only: no custom field
    assert "Widget__c" in account.fields
    assert account.fields["Widget__c"].effective_relationship_name == "Widget__r"


def test_extend_keeps_compound_names_and_system_fields() -> None:
    schema = default_org_schema().extend({"objects": {"Contact": {"fields": {"Title": {"type": "string"}}}}})
    contact = schema.objects["Contact"]
    assert contact.fields["Name"].compound == ("FirstName", "LastName")
    assert "Title" in contact.fields and "AccountId" in contact.fields


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("objects: [1, 2]", "'objects'"),
        ("objects:\n  X__c:\n    fields:\n      F__c: {type: blob}\n", "X__c"),
        ("objects:\n  X__c:\n    fields:\n      F__c: {type: reference, reference_to: Nope__c}\n", "Nope__c"),
        ("objects:\n  X__c:\n    fields:\n      F__c: {type: picklist, restricted: true}\n", "F__c"),
        ("objects:\n  X__c:\n    colour: red\n", "X__c"),
        ("objects: {X__c: {fields: {F: {type: string}}}\n", "invalid YAML"),
    ],
)
def test_bad_schema_files_name_the_problem(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SchemaError) as info:
        load_org_schema(path, include_default=True)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_a_custom_schema_drives_the_fake() -> None:
    schema = default_org_schema().extend(
        {
            "objects": {
                "Registration__c": {
                    "name_field": None,
                    "fields": {
                        "Registration_Id__c": {"type": "string", "length": 36, "external_id": True, "unique": True},
                        "Partner__c": {"type": "reference", "reference_to": "Account"},
                        "Amount__c": {"type": "currency"},
                        "Expires__c": {"type": "date"},
                    },
                }
            }
        }
    )
    with FakeSalesforce(schema) as fake:
        partner = fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        rid = fake.insert(
            "Registration__c",
            {"Registration_Id__c": "R-1", "Partner__r": {"Partner_Number__c": "P-1"}, "Amount__c": 10},
        )
        record = fake.get("Registration__c", rid)
        assert record["Partner__c"] == partner
        assert "Name" not in record
        assert rid.startswith(schema.objects["Registration__c"].prefix)


def test_org_schema_is_frozen() -> None:
    schema = default_org_schema()
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError on assignment
        schema.objects = {}  # type: ignore[misc]
    assert isinstance(schema, OrgSchema)
