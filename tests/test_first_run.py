"""The first hour of a new user, against an org built only from what they deploy (law 9).

``sfsync mappings export-metadata`` -> an org holding exactly that metadata plus the standard
objects (and the partner Accounts the vendor already has) -> token auth as a user configures it ->
``sfsync run`` pushes, then pulls, both exit 0 -> a decision made in Salesforce comes back ->
``sfsync conflicts scan`` runs. Nothing here is seeded into a custom field or object the export
did not create; a picklist without a default stays null on create, as in a real org.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from workspace_helpers import NOW, REPO

from sfsync.cli import main
from sfsync.crypto import LocalKeyringProvider
from sfsync.errors import EXIT_OK
from sfsync.services.demo_data import PARTNERS, create_portal
from sfsync.testing import FakeSalesforce, standard_org_schema

CONFIG = """\
[salesforce]
auth = "token"
instance_url = "{instance_url}"
api_version = "{api_version}"

[portal]
url = "sqlite:///portal.db"

[state]
url = "sqlite:///state.db"

[mappings]
paths = ["mappings"]

[crypto]
keyring = "keys/keyring.json"
master_key_file = "keys/master.key"

[conflicts]
rules = "mappings/conflict_rules.yaml"
"""


def _portal_rows(root: Path) -> dict[str, dict[str, object]]:
    engine = sa.create_engine(f"sqlite:///{root / 'portal.db'}")
    with engine.connect() as connection:
        rows = {
            str(r["registration_number"]): dict(r)
            for r in connection.execute(sa.text("SELECT * FROM deal_registrations")).mappings()
        }
    engine.dispose()
    return rows


def _cli(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(root / "sfsync.toml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def new_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    shutil.copytree(REPO / "mappings", root / "mappings")
    create_portal(
        f"sqlite:///{root / 'portal.db'}",
        root / "mappings" / "portal_schema.sql",
        seed=11,
        now=NOW,
        deals=40,
        accounts=10,
    )
    keys = root / "keys"
    keys.mkdir(mode=0o700)
    master = keys / "master.key"
    master.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    os.chmod(master, 0o600)
    LocalKeyringProvider(keys / "keyring.json", SecretStr(master.read_text())).create()
    monkeypatch.chdir(root)
    for name in list(os.environ):
        if name.startswith("SFSYNC_"):
            monkeypatch.delenv(name)
    return root


def test_first_run_against_the_deployed_export(
    new_user: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = new_user
    # 1. The admin exports and deploys the metadata.
    code = main(["mappings", "export-metadata", "--out", str(root / "salesforce"), str(root / "mappings")])
    out = capsys.readouterr().out
    assert code == EXIT_OK and "sf project deploy start" in out

    # 2. The org is that deployment: standard objects plus the export, nothing hand-written.
    with FakeSalesforce.from_metadata(root / "salesforce") as org:
        standard = standard_org_schema()
        custom = {(o.name, f.name) for o in org.schema.objects.values() for f in o.fields.values() if f.is_custom}
        exported = {
            (p.parts[-3], p.name.removesuffix(".field-meta.xml"))
            for p in (root / "salesforce").rglob("*.field-meta.xml")
        }
        assert custom == exported
        assert set(org.schema.objects) - set(standard.objects) == {
            "Deal_Registration__c",
            "Account_Registration__c",
            "Channel_Conflict__c",
        }
        # The vendor's partner Accounts exist already (the partner number is what the export added).
        for number, name, _tier in PARTNERS:
            org.insert("Account", {"Name": name, "Partner_Number__c": number, "IsPartner": True})
        (root / "sfsync.toml").write_text(
            CONFIG.format(instance_url=org.instance_url, api_version=org.api_version), encoding="utf-8"
        )
        monkeypatch.setenv("SFSYNC_SALESFORCE__ACCESS_TOKEN", org.access_token)

        # 3. The mappings validate against it, online.
        code, out, err = _cli(root, capsys, "mappings", "validate", "--online")
        assert code == EXIT_OK, err

        # 4. A key holder reviews the field policy and approves it (law 10): no run sends partner data before.
        code, out, err = _cli(root, capsys, "run", "--direction", "push")
        assert code == 3 and "crypto policy approve" in err
        code, out, err = _cli(root, capsys, "crypto", "policy", "approve", "--yes")
        assert code == EXIT_OK, err

        # 5. The first run: push, then pull. Both exit 0.
        code, out, err = _cli(root, capsys, "run", "--direction", "push", "--json")
        assert code == EXIT_OK, err
        push = json.loads(out)
        created = {s["mapping"]: s["created"] for s in push["summaries"]}
        assert created == {"deal_registration": 40, "account_registration": 10}
        assert all(s["rejected"] == 0 for s in push["summaries"])
        # A picklist without a default is null on create, as in a real org.
        assert {r["Status__c"] for r in org.records("Deal_Registration__c")} == {None}

        code, out, err = _cli(root, capsys, "run", "--direction", "pull", "--json")
        assert code == EXIT_OK, err
        pull = json.loads(out)
        assert all(s["rejected"] == 0 for s in pull["summaries"]), pull
        rows = _portal_rows(root)
        assert {r["status"] for r in rows.values()} == {"submitted"}  # on_null: keep
        assert all(r["salesforce_id"] for r in rows.values())

        # 5. A decision in Salesforce comes back; the run is still clean.
        record = next(r for r in org.records("Deal_Registration__c") if r["Registration_Number__c"] == "DR-000001")
        org.update(
            "Deal_Registration__c",
            record["Id"],
            {"Status__c": "Approved", "Protection_Start__c": "2026-11-20", "Protection_End__c": "2027-02-18"},
        )
        code, out, err = _cli(root, capsys, "run", "--json")
        assert code == EXIT_OK, err
        assert _portal_rows(root)["DR-000001"]["status"] == "approved"
        code, out, err = _cli(root, capsys, "deadletters", "list", "--json")
        assert json.loads(out) == []

        # 6. A direct rep opens an Opportunity on that customer; the conflict scan flags it in
        #    the same org (Channel_Conflict__c and the registration's flag come from the export).
        deal = _portal_rows(root)["DR-000001"]
        rep = org.insert(
            "User",
            {
                "Username": "rep@vendor.example",
                "LastName": "Rep",
                "Email": "rep@vendor.example",
                "Sales_Channel__c": "Direct",
            },
        )
        account = org.insert(
            "Account", {"Name": str(deal["end_customer_name"]), "BillingCountry": str(deal["end_customer_country"])}
        )
        lines = ";".join(
            p.strip().capitalize() if p.strip() != "pcs" else "PCs" for p in str(deal["product_lines"]).split(",")
        )
        org.insert(
            "Opportunity",
            {
                "Name": "Direct deal",
                "AccountId": account,
                "OwnerId": rep,
                "StageName": "Prospecting",
                "CloseDate": "2027-01-15",
                "Amount": 250000,
                "Product_Lines__c": lines,
            },
        )
        code, out, err = _cli(root, capsys, "conflicts", "scan", "--json")
        assert code == EXIT_OK, err
        scan = json.loads(out)
        assert scan["rejected"] == 0 and scan["created"] >= 1, scan
        conflicts = org.records("Channel_Conflict__c")
        assert any(c["Registration_Number__c"] == "DR-000001" and c["Status__c"] == "Open" for c in conflicts)
        code, out, err = _cli(root, capsys, "run", "--json")
        assert code == EXIT_OK, err
        assert _portal_rows(root)["DR-000001"]["conflict_flag"] in (True, 1)
