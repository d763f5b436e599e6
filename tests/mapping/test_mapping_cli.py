"""`sfsync mappings ...` through the real CLI app."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _mapping_helpers import BASE, SHIPPED, line_of
from typer.testing import CliRunner

from sfsync.cli import app, main
from sfsync.mapping import mapping_json_schema

runner = CliRunner()
DEAL_ROW = Path(__file__).parent / "golden" / "deal_registration.json"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder: a copy of the shipped mappings, a SQLite portal with sample rows, sfsync.toml."""
    shutil.copytree(SHIPPED, tmp_path / "mappings")
    (tmp_path / "sfsync.toml").write_text('[portal]\nurl = "sqlite:///portal.db"\n\n[mappings]\npaths = ["mappings"]\n')
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    with engine.begin() as connection:
        for path in (SHIPPED / "portal_schema.sql", SHIPPED / "sample_partners.sql"):
            text = "\n".join(x for x in path.read_text().splitlines() if not x.lstrip().startswith("--"))
            for statement in (s.strip() for s in text.split(";\n")):
                if statement:
                    connection.exec_driver_sql(statement)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    for name in ("SFSYNC_CONFIG", "SFSYNC_MAPPINGS__PATHS", "SFSYNC_PORTAL__URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_validate_clean(project: Path) -> None:
    result = runner.invoke(app, ["mappings", "validate"])
    assert result.exit_code == 0, result.output
    assert "OK: 4 mapping(s) valid" in result.stdout


def test_validate_json(project: Path) -> None:
    result = runner.invoke(app, ["mappings", "validate", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["errors"] == 0 and len(data["mappings"]) == 4


def test_validate_broken_exit_1_every_problem(project: Path) -> None:
    path = project / "mappings" / "deal_registration.yaml"
    text = path.read_text().replace(
        "    owner: salesforce\n    label: Decided At", "    owner: sf\n    label: Decided At"
    )
    text = text.replace("type: multipicklist", "type: multipiklist", 1)
    path.write_text(text)
    result = runner.invoke(app, ["mappings", "validate"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    err = result.stderr
    assert f"deal_registration.yaml:{line_of(text, 'owner: sf')}:" in err
    assert "did you mean 'multipicklist'?" in err
    assert "2 error(s)" in err
    assert "Traceback" not in result.output


def test_validate_bad_yaml_via_main_has_no_traceback(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mappings" / "deal_registration.yaml").write_text("name: x\n  bad: [indent\n")
    assert main(["mappings", "validate"]) == 1
    captured = capsys.readouterr()
    assert "YAML syntax error" in captured.err and "Traceback" not in captured.err + captured.out


def test_validate_explicit_paths(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(BASE)
    result = runner.invoke(app, ["mappings", "validate", str(tmp_path / "m.yaml")])
    assert result.exit_code == 0, result.output


def test_list(project: Path) -> None:
    result = runner.invoke(app, ["mappings", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["deal_registration_lead"]["enabled"] is False
    assert rows["direct_opportunities"]["portal_table"] == "(read-only)"
    assert rows["deal_registration"]["encrypted"] == 12
    assert runner.invoke(app, ["mappings", "list"]).exit_code == 0


def test_list_broken_mapping_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "mappings" / "deal_registration.yaml").write_text(BASE.replace("owner: portal", "owner: x"))
    assert main(["mappings", "list"]) == 2
    assert "owner" in capsys.readouterr().err


def test_preview_record_masks_encrypted_values(project: Path) -> None:
    row = json.loads(DEAL_ROW.read_text())["portal_row"]
    record = project / "row.json"
    record.write_text(json.dumps(row))
    result = runner.invoke(
        app, ["mappings", "preview", "--mapping", "deal_registration", "--record", str(record), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["payload"]["End_Customer_Name__c"] == "<encrypted: 15 bytes>"
    assert "End_Customer_Name_BIdx__c" not in data["payload"]  # no reader, so no blind index
    assert data["payload"]["Amount__c"] == "<encrypted: 9 bytes>"
    assert data["payload"]["Amount_Band__c"] == "100k-250k"
    assert data["read_back"]["product_lines"] == "servers,storage,pcs"
    assert data["read_back"]["end_customer_name"] == "<encrypted: 15 bytes>"
    assert data["write_back"]["Status__c"] == "status"
    for secret in ("Acme Foods", "Jane Roe", "Incumbent", "acmefoods"):
        assert secret not in result.stdout
    human = runner.invoke(app, ["mappings", "preview", "-m", "deal_registration", "--record", str(record)])
    assert human.exit_code == 0 and "<encrypted: 15 bytes>" in human.stdout and "Jane Roe" not in human.stdout


def test_preview_portal_id_and_salesforce_record(project: Path) -> None:
    sf_record = project / "sf.json"
    sf_record.write_text(json.dumps(json.loads(DEAL_ROW.read_text())["salesforce_record"]))
    result = runner.invoke(
        app,
        [
            "mappings",
            "preview",
            "-m",
            "deal_registration",
            "--portal-id",
            "DR-000002",
            "--salesforce-record",
            str(sf_record),
            "--json",
            "--update",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["external_id"] == "DR-000002" and data["operation"] == "update"
    assert "Submitted_At__c" not in data["payload"]
    assert data["payload"]["Partner_Account__r"] == {"Partner_Number__c": "P-002"}
    assert data["salesforce_to_portal"]["values"]["status"] == "approved"


def test_preview_record_problems_exit_1(project: Path) -> None:
    row = json.loads(DEAL_ROW.read_text())["portal_row"] | {"expected_close_date": "someday"}
    (project / "row.json").write_text(json.dumps(row))
    result = runner.invoke(app, ["mappings", "preview", "-m", "deal_registration", "--record", "row.json"])
    assert result.exit_code == 1
    assert "Expected_Close_Date__c" in result.stderr and "someday" not in result.output


def test_preview_read_only_mapping(project: Path) -> None:
    opp = json.loads((Path(__file__).parent / "golden" / "direct_opportunities.json").read_text())
    (project / "opp.json").write_text(json.dumps(opp["salesforce_record"]))
    result = runner.invoke(app, ["mappings", "preview", "-m", "direct_opportunities", "--record", "opp.json", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["salesforce_to_portal"]["values"]["owner_sales_channel"] == "Direct"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-m", "deal_registration"], "exactly one of"),
        (["-m", "nope", "--record", "row.json"], "no mapping named 'nope'"),
        (["-m", "deal_registration", "--portal-id", "DR-404"], "no row with registration_number = 'DR-404'"),
        (["-m", "deal_registration", "--record", "missing.json"], "cannot read"),
        (["-m", "deal_registration", "--record", "bad.json"], "not valid JSON"),
        (["-c", "other.toml", "-m", "deal_registration", "--portal-id", "DR-1"], "does not exist"),
    ],
)
def test_preview_usage_errors(project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    (project / "row.json").write_text("{}")
    (project / "bad.json").write_text("{nope")
    (project / "other.toml").write_text('[portal]\nurl = "sqlite:///nowhere.db"\n')
    options = args[:2] if args[0] == "-c" else []
    assert main([*options, "mappings", "preview", *args[len(options) :]]) == 2
    assert not (project / "nowhere.db").exists()
    assert message in capsys.readouterr().err


def test_schema_command_and_shipped_schema_current(tmp_path: Path) -> None:
    result = runner.invoke(app, ["mappings", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "sfsync field mapping"
    assert schema["additionalProperties"] is False
    assert {"name", "portal", "salesforce", "fields"} <= set(schema["properties"])
    assert schema == mapping_json_schema()
    shipped = json.loads((SHIPPED / "mapping.schema.json").read_text())
    assert shipped == schema, "run `sfsync mappings schema -o mappings/mapping.schema.json`"
    out = tmp_path / "s.json"
    assert runner.invoke(app, ["mappings", "schema", "--output", str(out)]).exit_code == 0
    assert json.loads(out.read_text()) == schema


def test_export_metadata(project: Path) -> None:
    project_dir = project / "sfdx"
    result = runner.invoke(app, ["mappings", "export-metadata", "--out", str(project_dir)])
    assert result.exit_code == 0, result.output
    # The deploy command, runnable as printed.
    assert f"cd {project_dir} && sf project deploy start --manifest manifest/package.xml" in result.stdout
    assert "sf org assign permset --name sfsync_Integration" in result.stdout
    out = project_dir / "force-app" / "main" / "default"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.xml")}
    assert "objects/Deal_Registration__c/Deal_Registration__c.object-meta.xml" in files
    assert "objects/Account_Registration__c/Account_Registration__c.object-meta.xml" in files
    # the disabled Lead variant is not deployed by default: nothing on Lead at all
    assert not any(f.startswith("objects/Lead/") for f in files)
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    for relative in files:
        ET.parse(out / relative)  # well formed
    # complete: every custom field of every mapping (and every blind index) has a file
    from sfsync.mapping import load_mappings

    for mapping in load_mappings([SHIPPED]):
        obj = mapping.salesforce.object
        for fm in mapping.fields:
            if fm.field.endswith("__c") and "." not in fm.field:
                assert f"objects/{obj}/fields/{fm.field}.field-meta.xml" in files, (obj, fm.field)
            if fm.blind_index:
                assert f"objects/{obj}/fields/{fm.blind_index.field}.field-meta.xml" in files
            if fm.band:
                assert f"objects/{obj}/fields/{fm.band.field}.field-meta.xml" in files
    # what the issue found missing: custom fields on standard objects, the conflict object
    for needed in (
        "objects/Account/fields/Partner_Number__c.field-meta.xml",
        "objects/Opportunity/fields/Product_Lines__c.field-meta.xml",
        "objects/Opportunity/fields/Partner_Account__c.field-meta.xml",
        "objects/User/fields/Sales_Channel__c.field-meta.xml",
        "objects/Channel_Conflict__c/Channel_Conflict__c.object-meta.xml",
        "objects/Channel_Conflict__c/fields/Conflict_Key__c.field-meta.xml",
        "objects/Channel_Conflict__c/fields/Status__c.field-meta.xml",
    ):
        assert needed in files, needed

    def read(path: str) -> ET.Element:
        return ET.parse(out / path).getroot()

    ext = read("objects/Deal_Registration__c/fields/Registration_Number__c.field-meta.xml")
    assert ext.findtext("m:externalId", namespaces=ns) == "true" and ext.findtext("m:unique", namespaces=ns) == "true"
    partner = read("objects/Account/fields/Partner_Number__c.field-meta.xml")
    assert partner.findtext("m:externalId", namespaces=ns) == "true"
    key = read("objects/Channel_Conflict__c/fields/Conflict_Key__c.field-meta.xml")
    assert key.findtext("m:externalId", namespaces=ns) == "true"
    notes = read("objects/Deal_Registration__c/fields/Competitive_Notes__c.field-meta.xml")
    assert notes.findtext("m:type", namespaces=ns) == "LongTextArea"
    assert int(notes.findtext("m:length", namespaces=ns) or 0) >= 32000
    name = read("objects/Deal_Registration__c/fields/End_Customer_Name__c.field-meta.xml")
    assert name.findtext("m:type", namespaces=ns) == "Text" and name.findtext("m:length", namespaces=ns) == "255"
    band = read("objects/Deal_Registration__c/fields/Amount_Band__c.field-meta.xml")
    assert band.findtext("m:type", namespaces=ns) == "Text" and band.findtext("m:length", namespaces=ns) == "40"
    assert not (out / "objects/Deal_Registration__c/fields/End_Customer_Name_BIdx__c.field-meta.xml").exists()
    status = read("objects/Deal_Registration__c/fields/Status__c.field-meta.xml")
    values = [v.findtext("m:fullName", namespaces=ns) for v in status.iterfind(".//m:value", ns)]
    assert values == ["Submitted", "Under Review", "Approved", "Rejected", "Expired", "Withdrawn"]
    assert {v.findtext("m:default", namespaces=ns) for v in status.iterfind(".//m:value", ns)} == {"false"}
    lookup = read("objects/Deal_Registration__c/fields/Partner_Account__c.field-meta.xml")
    assert lookup.findtext("m:referenceTo", namespaces=ns) == "Account"
    # metadata's relationshipName is the child side, unique per parent object
    relationship_names = [
        read(f"objects/{o}/fields/Partner_Account__c.field-meta.xml").findtext("m:relationshipName", namespaces=ns)
        for o in ("Deal_Registration__c", "Account_Registration__c", "Opportunity", "Channel_Conflict__c")
    ]
    assert len(set(relationship_names)) == 4, relationship_names
    custom_object = read("objects/Deal_Registration__c/Deal_Registration__c.object-meta.xml")
    assert custom_object.findtext("m:nameField/m:type", namespaces=ns) == "AutoNumber"

    # the SFDX project around it: sfdx-project.json and a manifest naming every component
    project_json = json.loads((project_dir / "sfdx-project.json").read_text())
    assert project_json["packageDirectories"] == [{"default": True, "path": "force-app"}]
    manifest = ET.parse(project_dir / "manifest" / "package.xml").getroot()
    members = {
        (t.findtext("m:name", namespaces=ns), m.text)
        for t in manifest.iterfind("m:types", ns)
        for m in t.iterfind("m:members", ns)
    }
    for relative in files:
        parts = relative.split("/")
        if parts[0] == "objects" and parts[2] == "fields":
            assert ("CustomField", f"{parts[1]}.{parts[3].removesuffix('.field-meta.xml')}") in members
        elif parts[0] == "objects" and parts[2].endswith(".object-meta.xml"):
            assert ("CustomObject", parts[1]) in members
        elif parts[0] == "permissionsets":
            assert ("PermissionSet", parts[1].removesuffix(".permissionset-meta.xml")) in members


def test_export_metadata_include_disabled(project: Path) -> None:
    project_dir = project / "sfdx"
    result = runner.invoke(app, ["mappings", "export-metadata", "--out", str(project_dir), "--include-disabled"])
    assert result.exit_code == 0, result.output
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    out = project_dir / "force-app" / "main" / "default"
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.xml")}
    assert "objects/Lead/Lead.object-meta.xml" not in files  # standard objects: fields only
    assert "objects/Lead/fields/Deal_Registration_Number__c.field-meta.xml" in files
    # a Lead record type needs a lead process to deploy
    record_type = ET.parse(out / "objects/Lead/recordTypes/Deal_Registration.recordType-meta.xml").getroot()
    process = record_type.findtext("m:businessProcess", namespaces=ns)
    assert process == "sfsync_Deal_Registration"
    bp = ET.parse(out / f"objects/Lead/businessProcesses/{process}.businessProcess-meta.xml").getroot()
    values = [
        (v.findtext("m:fullName", namespaces=ns), v.findtext("m:default", namespaces=ns))
        for v in bp.iterfind("m:values", ns)
    ]
    assert values[0] == ("Open - Not Contacted", "true") and len(values) == 4
    manifest = (project_dir / "manifest" / "package.xml").read_text()
    assert "<members>Lead.sfsync_Deal_Registration</members>" in manifest
    assert "<members>Lead.Deal_Registration</members>" in manifest


def _permissions(path: Path) -> tuple[dict[str, tuple[bool, bool]], dict[str, dict[str, bool]]]:
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    root = ET.parse(path).getroot()
    fields = {
        str(e.findtext("m:field", namespaces=ns)): (
            e.findtext("m:readable", namespaces=ns) == "true",
            e.findtext("m:editable", namespaces=ns) == "true",
        )
        for e in root.iterfind("m:fieldPermissions", ns)
    }
    objects = {
        str(e.findtext("m:object", namespaces=ns)): {
            c.tag.split("}")[1]: c.text == "true" for c in e if c.tag.split("}")[1].startswith("allow")
        }
        for e in root.iterfind("m:objectPermissions", ns)
    }
    return fields, objects


def test_export_permission_sets(project: Path) -> None:
    from sfsync.mapping import load_mappings

    project_dir = project / "sfdx"
    assert runner.invoke(app, ["mappings", "export-metadata", "--out", str(project_dir)]).exit_code == 0
    sets = project_dir / "force-app" / "main" / "default" / "permissionsets"
    integration = _permissions(sets / "sfsync_Integration.permissionset-meta.xml")
    manager = _permissions(sets / "sfsync_Channel_Manager.permissionset-meta.xml")
    rep = _permissions(sets / "sfsync_Direct_Rep.permissionset-meta.xml")
    shipped = load_mappings([SHIPPED]).get("deal_registration")
    hidden = {f"Deal_Registration__c.{fm.field}" for fm in shipped.fields if fm.encrypted} | {
        f"Deal_Registration__c.{fm.blind_index.field}" for fm in shipped.fields if fm.blind_index
    }
    assert "Deal_Registration__c.End_Customer_Name__c" in hidden and len(hidden) >= 8
    # the integration user reads and writes all of it
    for name in hidden:
        assert integration[0][name] == (True, True)
    assert integration[1]["Channel_Conflict__c"]["allowEdit"]
    assert integration[0]["Opportunity.Product_Lines__c"] == (True, False)  # read, never written
    # a direct rep never reads ciphertext or a blind index
    assert not hidden & set(rep[0])
    assert rep[0]["Deal_Registration__c.Protection_End__c"] == (True, False)
    assert rep[0]["Channel_Conflict__c.Partner_Name__c"] == (True, False)
    assert not any(edit for _read, edit in rep[0].values())
    # channel managers: decisions on registrations, the conflict status
    assert manager[0]["Deal_Registration__c.Status__c"] == (True, True)
    assert manager[0]["Channel_Conflict__c.Status__c"] == (True, True)
    assert manager[0]["Channel_Conflict__c.Conflict_Key__c"] == (True, False)
    assert not hidden & set(manager[0])
    assert manager[1]["Channel_Conflict__c"]["allowEdit"] and not manager[1]["Channel_Conflict__c"]["allowDelete"]


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["mappings", "--help"])
    assert result.exit_code == 0
    for command in ("validate", "preview", "schema", "list", "export-metadata"):
        assert command in result.stdout


def test_validate_online_against_fake_org(
    project: Path, monkeypatch: pytest.MonkeyPatch, fake_salesforce_env: dict[str, str]
) -> None:
    pytest.importorskip("sfsync.salesforce")
    for name, value in fake_salesforce_env.items():
        monkeypatch.setenv(name, value)
    result = runner.invoke(app, ["mappings", "validate", "--online", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    path = project / "mappings" / "deal_registration.yaml"
    path.write_text(path.read_text().replace("field: Amount__c", "field: Amount_Typo__c"))
    result = runner.invoke(app, ["mappings", "validate", "--online"])
    assert result.exit_code == 1
    assert "has no field Amount_Typo__c; did you mean 'Amount__c'?" in result.stderr


def test_metadata_and_fake_org_schema_agree() -> None:
    """Law 9: the default fake org is exactly the standard objects plus what the export declares."""
    from sfsync.conflicts import conflict_org_fields, conflict_org_objects
    from sfsync.mapping import load_mappings, metadata_files
    from sfsync.salesforce import DESK_READS
    from sfsync.testing import default_org_schema, standard_org_schema

    files = metadata_files(
        load_mappings([SHIPPED]), objects=conflict_org_objects(), fields=(*conflict_org_fields(), *DESK_READS)
    )
    org = default_org_schema()
    standard = standard_org_schema()
    exported: dict[str, set[str]] = {}
    for path in files:
        if "/fields/" in path:
            obj, _, name = path.split("/objects/", 1)[1].split("/")
            exported.setdefault(obj, set()).add(name.removesuffix(".field-meta.xml"))
    for name, obj in org.objects.items():
        custom = {f for f in obj.fields if f.endswith("__c")}
        assert custom == exported.get(name, set()), (name, custom ^ exported.get(name, set()))
        if name in standard.objects:
            assert set(obj.fields) - custom == set(standard.objects[name].fields), name
    # no picklist in the org has a default the export did not declare
    for obj in org.objects.values():
        for field in obj.fields.values():
            if field.is_custom and field.type in ("picklist", "multipicklist"):
                assert field.default is None, (obj.name, field.name)


def _env_for(fake: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSYNC_SALESFORCE__AUTH", "token")
    monkeypatch.setenv("SFSYNC_SALESFORCE__INSTANCE_URL", fake.instance_url)
    monkeypatch.setenv("SFSYNC_SALESFORCE__ACCESS_TOKEN", fake.access_token)
    monkeypatch.setenv("SFSYNC_SALESFORCE__API_VERSION", fake.api_version)


def test_validate_online_names_each_missing_piece_and_the_deploy_command(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An org with only the mappings' own objects (what the old export deployed) lacks the
    conflict object and the custom fields on standard objects the scan reads: each is named."""
    from sfsync.mapping import export_metadata, load_mappings
    from sfsync.testing import FakeSalesforce

    partial = project / "partial"
    export_metadata(load_mappings([SHIPPED]), partial)  # without the conflict scan's declarations
    with FakeSalesforce.from_metadata(partial) as fake:
        _env_for(fake, monkeypatch)
        result = runner.invoke(app, ["mappings", "validate", "--online"])
        assert result.exit_code == 1, result.output
        for piece in (
            "object Channel_Conflict__c",
            "Opportunity has no field Product_Lines__c",
            "Opportunity has no field Partner_Account__c",
            "User has no field Sales_Channel__c",
            "Account has no field Named_Account__c",
        ):
            assert piece in result.stderr, piece
        assert "piece(s) missing from the org" in result.stderr
        assert "sf project deploy start --manifest manifest/package.xml" in result.stderr
        data = json.loads(runner.invoke(app, ["mappings", "validate", "--online", "--json"]).stdout)
        assert any("sf project deploy start" in command for command in data["deploy_commands"])
        fields = {p["field"] for p in data["problems"]}
        assert "User.Sales_Channel__c" in fields and "Channel_Conflict__c" in json.dumps(data["problems"])
        # a field the read-only Opportunity mapping reads is named under that mapping
        assert any(
            p["mapping"] == "direct_opportunities" and p["field"] == "Product_Lines__c" for p in data["problems"]
        )

    # A bare org (standard objects only): the mappings' own objects are missing too.
    from sfsync.testing import standard_org_schema

    with FakeSalesforce(standard_org_schema()) as bare:
        _env_for(bare, monkeypatch)
        result = runner.invoke(app, ["mappings", "validate", "--online"])
        assert result.exit_code == 1
        assert "Deal_Registration__c" in result.stderr and "Account has no field Partner_Number__c" in result.stderr

    # After deploying the full export: clean.
    full = project / "full"
    assert runner.invoke(app, ["mappings", "export-metadata", "--out", str(full)]).exit_code == 0
    with FakeSalesforce.from_metadata(full) as deployed:
        _env_for(deployed, monkeypatch)
        result = runner.invoke(app, ["mappings", "validate", "--online", "--json"])
        assert result.exit_code == 0, result.output
        assert "deploy_commands" not in json.loads(result.stdout)
