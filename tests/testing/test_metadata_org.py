"""Law 9: the fake org is exactly the exported metadata plus the standard objects.

Each test edits the export the way an admin's deployment could differ, and checks the fake
behaves as that org would: what the XML lacks (a default, an External ID flag, a field), the org
lacks too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce, SchemaError, export_org_metadata, org_schema_from_metadata

FIELDS = "force-app/main/default/objects/Deal_Registration__c/fields"


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return export_org_metadata(tmp_path / "sfdx")


def _api_upsert(fake: FakeSalesforce, obj: str, ext: str, record: dict[str, object]) -> list[dict[str, object]]:
    api = Api(fake)
    body = {"allOrNone": False, "records": [{"attributes": {"type": obj}, **record}]}
    response = api.call("PATCH", f"composite/sobjects/{obj}/{ext}", json=body)
    assert response.status_code == 200, response.text
    result: list[dict[str, object]] = response.json()
    return result


def test_a_picklist_without_a_default_is_null_on_create_and_a_declared_default_is_used(export: Path) -> None:
    with FakeSalesforce.from_metadata(export) as fake:
        account = fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        [created] = _api_upsert(
            fake,
            "Deal_Registration__c",
            "Registration_Number__c",
            {"Registration_Number__c": "DR-1", "Partner_Account__c": account},
        )
        assert created["success"], created
        assert fake.get("Deal_Registration__c", str(created["id"]))["Status__c"] is None
    status = export / FIELDS / "Status__c.field-meta.xml"
    text = status.read_text()
    # An admin marks "Submitted" as the default value before deploying: now the org has one.
    status.write_text(
        text.replace(
            "<fullName>Submitted</fullName>\n                <default>false</default>",
            "<fullName>Submitted</fullName>\n                <default>true</default>",
            1,
        )
    )
    assert "<default>true</default>" in status.read_text()
    with FakeSalesforce.from_metadata(export) as fake:
        account = fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        [created] = _api_upsert(
            fake,
            "Deal_Registration__c",
            "Registration_Number__c",
            {"Registration_Number__c": "DR-1", "Partner_Account__c": account},
        )
        assert fake.get("Deal_Registration__c", str(created["id"]))["Status__c"] == "Submitted"


def test_without_the_external_id_flag_the_upsert_fails(export: Path) -> None:
    path = export / FIELDS / "Registration_Number__c.field-meta.xml"
    path.write_text(re.sub(r"<externalId>true</externalId>", "<externalId>false</externalId>", path.read_text()))
    with FakeSalesforce.from_metadata(export) as fake:
        api = Api(fake)
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": "Deal_Registration__c"}, "Registration_Number__c": "DR-1"}],
        }
        response = api.call("PATCH", "composite/sobjects/Deal_Registration__c/Registration_Number__c", json=body)
        assert "INVALID_FIELD" in response.text


def test_a_field_the_export_lacks_does_not_exist(export: Path) -> None:
    (export / FIELDS / "Conflict_Flag__c.field-meta.xml").unlink()
    (export / "force-app/main/default/objects/Account/fields/Partner_Number__c.field-meta.xml").unlink()
    with FakeSalesforce.from_metadata(export) as fake:
        assert fake.schema.objects["Deal_Registration__c"].field("Conflict_Flag__c") is None
        with pytest.raises(Exception, match="Partner_Number__c"):
            fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        response = Api(fake).query("SELECT Conflict_Flag__c FROM Deal_Registration__c")
        assert response.status_code == 400 and "INVALID_FIELD" in response.text


def test_standard_objects_carry_no_custom_field_the_export_did_not_write(export: Path) -> None:
    schema = org_schema_from_metadata(export)
    exported = {(p.parts[-3], p.name.removesuffix(".field-meta.xml")) for p in export.rglob("*.field-meta.xml")}
    custom = {(o.name, f.name) for o in schema.objects.values() for f in o.fields.values() if f.is_custom}
    assert custom == exported
    assert schema.objects["Lead"].record_types == ()  # the disabled Lead variant is not deployed


def test_auto_number_names_and_bad_metadata(export: Path, tmp_path: Path) -> None:
    with FakeSalesforce.from_metadata(export) as fake:
        account = fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        first = fake.insert("Deal_Registration__c", {"Registration_Number__c": "DR-1", "Partner_Account__c": account})
        second = fake.insert("Deal_Registration__c", {"Registration_Number__c": "DR-2"})
        names = [fake.get("Deal_Registration__c", i)["Name"] for i in (first, second)]
        assert names == ["DR-0000001", "DR-0000002"]
    broken = export / FIELDS / "Amount__c.field-meta.xml"
    broken.write_text("<CustomField><unclosed>")
    with pytest.raises(SchemaError, match="Amount__c"):
        org_schema_from_metadata(export)
    with pytest.raises(SchemaError, match="no such metadata folder"):
        org_schema_from_metadata(tmp_path / "missing")


def test_entity_expansion_is_refused(export: Path) -> None:
    bomb = export / FIELDS / "Amount__c.field-meta.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        "<CustomField><fullName>&b;</fullName></CustomField>"
    )
    with pytest.raises(SchemaError):
        org_schema_from_metadata(export)


def test_saved_org_reloads_with_its_metadata(export: Path, tmp_path: Path) -> None:
    fake = FakeSalesforce.from_metadata(export)
    fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
    path = export.parent / "org.json"
    fake.save(path)
    again = FakeSalesforce.load(path)
    assert again.metadata_dir is not None and again.metadata_dir.resolve() == export.resolve()
    assert again.schema == fake.schema
    assert [r["Partner_Number__c"] for r in again.records("Account")] == ["P-1"]
