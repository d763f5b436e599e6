"""``sfsync conflicts scan | list`` in a working directory whose org is a local file (org.json),
end to end with ``sfsync run``: push the registrations, approve them in Salesforce, scan, and see
the conflict flag arrive in the portal."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from org_world import NAMED_ACCOUNTS_CSV, REPO, create_portal, seed_org, write_rules

from sfsync.cli import main
from sfsync.errors import EXIT_OK, EXIT_USAGE
from sfsync.services.connect import save_fake_org
from sfsync.sync._state import StateStore
from sfsync.testing import FakeSalesforce

CONFIG = """\
[salesforce]
fake_org = "org.json"
[portal]
url = "sqlite:///portal.db"
[state]
url = "sqlite:///state.db"
[mappings]
paths = ["{mappings}"]
[crypto]
keyring = "keys/keyring.json"
master_key_file = "keys/master.key"
[conflicts]
rules = "rules.yaml"
named_accounts = "{named}"
"""


def _workdir(root: Path, *, named: str = "named.csv") -> Path:
    now = datetime.now(UTC)
    create_portal(f"sqlite:///{root / 'portal.db'}", now)
    fake = FakeSalesforce()
    seed_org(fake, now.date(), registrations_in_salesforce=False)
    save_fake_org(fake, root / "org.json")
    (root / "keys").mkdir()
    master = root / "keys" / "master.key"
    master.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    os.chmod(master, 0o600)
    (root / "named.csv").write_text(NAMED_ACCOUNTS_CSV, encoding="utf-8")
    write_rules(root / "rules.yaml")
    (root / "sfsync.toml").write_text(CONFIG.format(mappings=REPO / "mappings", named=named), encoding="utf-8")
    # The key holder creates the keyring, which approves the shipped field policy (issue 12): `run` needs it.
    assert main(["--config", str(root / "sfsync.toml"), "crypto", "keygen"]) == 0
    return root


def _cli(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(root / "sfsync.toml"), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _approve_in_salesforce(root: Path) -> None:
    """What the channel team does in Salesforce: approve DR-000001 (in window), DR-000002 (already
    expired) and AR-000001, with their protection windows."""
    today = datetime.now(UTC).date()
    windows = {
        ("Deal_Registration__c", "DR-000001"): (today - timedelta(days=9), today + timedelta(days=80)),
        ("Deal_Registration__c", "DR-000002"): (today - timedelta(days=95), today - timedelta(days=5)),
        ("Account_Registration__c", "AR-000001"): (today - timedelta(days=30), today + timedelta(days=335)),
    }
    fake = FakeSalesforce.load(root / "org.json")
    for (obj, number), (start, end) in windows.items():
        record = next(r for r in fake.records(obj) if r["Registration_Number__c"] == number)
        fake.update(
            obj,
            record["Id"],
            {
                "Status__c": "Approved",
                "Decided_At__c": datetime.now(UTC).isoformat(),
                "Protection_Start__c": start.isoformat(),
                "Protection_End__c": end.isoformat(),
            },
        )
    save_fake_org(fake, root / "org.json")


def _portal_flags(root: Path) -> dict[str, bool]:
    engine = sa.create_engine(f"sqlite:///{root / 'portal.db'}")
    with engine.connect() as connection:
        rows = [
            *connection.execute(sa.text("SELECT registration_number, conflict_flag FROM deal_registrations")),
            *connection.execute(sa.text("SELECT registration_number, conflict_flag FROM account_registrations")),
        ]
    engine.dispose()
    return {str(n): bool(f) for n, f in rows}


def _conflict_records(root: Path) -> list[dict[str, Any]]:
    return FakeSalesforce.load(root / "org.json").records("Channel_Conflict__c")


def test_channel_manager_flow_scan_list_and_flag_reaches_the_portal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _workdir(tmp_path)
    assert _cli(root, capsys, "run", "--json")[0] == EXIT_OK
    _approve_in_salesforce(root)
    assert _cli(root, capsys, "run", "--json")[0] == EXIT_OK

    code, out, err = _cli(root, capsys, "conflicts", "scan", "--json")
    assert code == EXIT_OK, err
    summary = json.loads(out)
    assert summary["by_kind"] == {
        "deal_registration": 1,
        "account_registration": 1,
        "second_partner": 1,
        "named_account": 2,
    }
    assert summary["created"] == 5 and summary["flags_set"] == 5 and summary["full"] is True
    assert summary["skipped_reasons"]["not enough evidence"] == 1
    details = {d["kind"]: d for d in summary["details"] if d["kind"] != "named_account"}
    assert details["deal_registration"]["registration_number"] == "DR-000001"
    assert details["deal_registration"]["partner_name"] == "Northwind Solutions"
    assert details["account_registration"]["registration_number"] == "AR-000001"
    assert details["second_partner"]["other_registration_number"] == "DR-000001"
    assert len(_conflict_records(root)) == 5

    # The next sync carries Salesforce's flag back to the portal.
    assert _cli(root, capsys, "run", "--json")[0] == EXIT_OK
    assert _portal_flags(root) == {
        "DR-000001": True,
        "DR-000002": False,
        "DR-000003": True,
        "DR-000004": True,
        "DR-000005": True,
        "AR-000001": True,
    }

    code, out, _ = _cli(root, capsys, "conflicts", "list", "--json")
    rows = json.loads(out)
    assert code == EXIT_OK and len(rows) == 5 and {r["Status__c"] for r in rows} == {"Open"}
    code, out, _ = _cli(root, capsys, "conflicts", "list", "--status", "Dismissed", "--json")
    assert json.loads(out) == []

    # Rerun: nothing new, nothing duplicated.
    code, out, _ = _cli(root, capsys, "conflicts", "scan", "--json")
    again = json.loads(out)
    assert again["created"] == again["updated"] == again["flags_set"] == again["flags_cleared"] == 0
    assert again["full"] is False
    assert len(_conflict_records(root)) == 5

    # A person dismisses the account-registration conflict: a full rescan leaves it dismissed,
    # and the flag goes away in Salesforce and then in the portal.
    fake = FakeSalesforce.load(root / "org.json")
    record = next(r for r in fake.records("Channel_Conflict__c") if r["Registration_Number__c"] == "AR-000001")
    fake.update("Channel_Conflict__c", record["Id"], {"Status__c": "Dismissed"})
    save_fake_org(fake, root / "org.json")
    code, out, _ = _cli(root, capsys, "conflicts", "scan", "--full", "--json")
    assert json.loads(out)["reopened"] == 0 and json.loads(out)["flags_cleared"] == 1
    assert _cli(root, capsys, "run")[0] == EXIT_OK
    assert _portal_flags(root)["AR-000001"] is False


def test_human_output_names_partner_of_record_and_protection_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _workdir(tmp_path)
    _cli(root, capsys, "run")
    _approve_in_salesforce(root)
    _cli(root, capsys, "run")
    code, out, _ = _cli(root, capsys, "conflicts", "scan")
    out = " ".join(out.split())  # the console wraps at its width
    assert code == EXIT_OK
    assert "partner of record Northwind Solutions" in out and "registered first: DR-000001" in out
    assert "Northwind Solutions" in out and "DR-000001" in out
    assert (datetime.now(UTC).date() + timedelta(days=80)).isoformat() in out
    assert "5 conflicts: 5 new" in out and "not enough evidence" in out
    code, out, _ = _cli(root, capsys, "conflicts", "list")
    out = " ".join(out.split())
    assert code == EXIT_OK and "5 conflict records" in out and "status Open" in out


def test_dry_run_writes_no_conflict_no_flag_no_watermark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _workdir(tmp_path)
    _cli(root, capsys, "run")
    _approve_in_salesforce(root)
    _cli(root, capsys, "run")
    code, out, _ = _cli(root, capsys, "conflicts", "scan", "--dry-run", "--json")
    summary = json.loads(out)
    assert code == EXIT_OK and summary["dry_run"] is True and summary["created"] == 5
    assert _conflict_records(root) == []
    fake = FakeSalesforce.load(root / "org.json")
    assert not any(r["Conflict_Flag__c"] for r in fake.records("Deal_Registration__c"))
    with StateStore(f"sqlite:///{root / 'state.db'}") as store:
        assert store.get_watermark("conflicts", "pull") is None
    code, out, _ = _cli(root, capsys, "conflicts", "scan", "--dry-run")
    assert code == EXIT_OK and "dry run: nothing written" in out


def test_rules_file_with_an_error_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _workdir(tmp_path)
    write_rules(root / "rules.yaml", broken=True)
    line = next(i for i, text in enumerate((root / "rules.yaml").read_text().splitlines(), 1) if "maybe" in text)
    code, out, err = _cli(root, capsys, "conflicts", "scan")
    assert code == EXIT_USAGE
    assert f"rules.yaml:{line}:" in err and "require_product_line_overlap" in err
    assert "Traceback" not in err + out
    assert _conflict_records(root) == []


def test_missing_named_accounts_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _workdir(tmp_path, named="missing.csv")
    code, out, err = _cli(root, capsys, "conflicts", "scan", "--json")
    assert code == EXIT_USAGE
    assert "missing.csv" in err and "Traceback" not in err + out
    assert _conflict_records(root) == []


def test_named_accounts_file_with_an_error_exits_2_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _workdir(tmp_path)
    (root / "named.csv").write_text("name,domain,colour\nWayne Energy,wayneenergy.example,red\n", encoding="utf-8")
    code, _, err = _cli(root, capsys, "conflicts", "scan")
    assert code == EXIT_USAGE
    assert "named.csv:2" in err
