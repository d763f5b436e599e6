"""`sfsync mappings ...` through the real CLI app."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

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
    text = path.read_text().replace("    owner: salesforce\n    label: Decided At",
                                    "    owner: sf\n    label: Decided At")
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
    result = runner.invoke(app, ["mappings", "preview", "--mapping", "deal_registration", "--record", str(record),
                                 "--json"])
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
    result = runner.invoke(app, ["mappings", "preview", "-m", "deal_registration", "--portal-id", "DR-000002",
                                 "--salesforce-record", str(sf_record), "--json", "--update"])
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
    result = runner.invoke(app, ["mappings", "preview", "-m", "direct_opportunities", "--record", "opp.json",
                                 "--json"])
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
def test_preview_usage_errors(project: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                              message: str) -> None:
    (project / "row.json").write_text("{}")
    (project / "bad.json").write_text("{nope")
    (project / "other.toml").write_text('[portal]\nurl = "sqlite:///nowhere.db"\n')
    options = args[:2] if args[0] == "-c" else []
    assert main([*options, "mappings", "preview", *args[len(options):]]) == 2
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
    out = project / "force-app" / "main" / "default"
    result = runner.invoke(app, ["mappings", "export-metadata", "--out", str(out)])
    assert result.exit_code == 0, result.output
    files = {p.relative_to(out).as_posix() for p in out.rglob("*.xml")}
    assert "objects/Deal_Registration__c/Deal_Registration__c.object-meta.xml" in files
    assert "objects/Account_Registration__c/Account_Registration__c.object-meta.xml" in files
    assert "objects/Lead/recordTypes/Deal_Registration.recordType-meta.xml" in files
    assert "objects/Lead/Lead.object-meta.xml" not in files  # standard objects: fields only
    ns = {"m": "http://soap.sforce.com/2006/04/metadata"}
    for relative in files:
        ET.parse(out / relative)  # well formed
    # complete: every custom field of every mapping (and every blind index) has a file
    from sfsync.mapping import load_mappings

    for mapping in load_mappings([SHIPPED]):
        obj = mapping.salesforce.object
        for fm in mapping.fields:
            if fm.field.endswith("__c") and "." not in fm.field and not (fm.type == "reference" and not fm.lookup):
                if fm.type in ("picklist", "multipicklist") and not fm.values:
                    continue
                assert f"objects/{obj}/fields/{fm.field}.field-meta.xml" in files, (obj, fm.field)
            if fm.blind_index:
                assert f"objects/{obj}/fields/{fm.blind_index.field}.field-meta.xml" in files
            if fm.band:
                assert f"objects/{obj}/fields/{fm.band.field}.field-meta.xml" in files

    def read(path: str) -> ET.Element:
        return ET.parse(out / path).getroot()

    ext = read("objects/Deal_Registration__c/fields/Registration_Number__c.field-meta.xml")
    assert ext.findtext("m:externalId", namespaces=ns) == "true" and ext.findtext("m:unique", namespaces=ns) == "true"
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
    lookup = read("objects/Deal_Registration__c/fields/Partner_Account__c.field-meta.xml")
    assert lookup.findtext("m:referenceTo", namespaces=ns) == "Account"
    assert lookup.findtext("m:relationshipName", namespaces=ns) == "Partner_Account"
    custom_object = read("objects/Deal_Registration__c/Deal_Registration__c.object-meta.xml")
    assert custom_object.findtext("m:nameField/m:type", namespaces=ns) == "AutoNumber"


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["mappings", "--help"])
    assert result.exit_code == 0
    for command in ("validate", "preview", "schema", "list", "export-metadata"):
        assert command in result.stdout


def test_validate_online_against_fake_org(project: Path, monkeypatch: pytest.MonkeyPatch,
                                          fake_salesforce_env: dict[str, str]) -> None:
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
    """mappings -> SFDX metadata and partner_program.yaml (FakeSalesforce) describe the same fields."""
    from sfsync.mapping import load_mappings, metadata_files
    from sfsync.testing import default_org_schema

    files = metadata_files(load_mappings([SHIPPED]))
    org = default_org_schema()
    for obj in ("Deal_Registration__c", "Account_Registration__c", "Lead"):
        exported = {path.rsplit("/", 1)[1].removesuffix(".field-meta.xml")
                    for path in files if path.startswith(f"objects/{obj}/fields/")}
        in_fake = {name for name in org.objects[obj].fields if name.endswith("__c")}
        assert exported <= in_fake, exported - in_fake
        if obj != "Lead":
            assert in_fake == exported, in_fake ^ exported
