"""Issue 5, "Done when": the security reviewer's walkthrough, step by step, through the real CLI.

1. check the known-answer vectors with an independent AES-GCM (the standalone checker);
2. sync a local org, then plant a plaintext value, a tampered token and a token moved from
   another record;
3. ``sfsync crypto verify --json --decrypt-check`` reports exactly those three, nothing else;
4. repair (a full resync rewrites the portal's values), rotate, reencrypt, and
   ``sfsync crypto status --json`` shows every stored value under the new primary.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import build_local_dir, rotate_every_group

from sfsync.cli import main
from sfsync.errors import EXIT_OK, EXIT_REJECTED
from sfsync.testing import FakeSalesforce

ROOT = Path(__file__).resolve().parents[2]
OBJ = "Deal_Registration__c"
LEAK = "Quartzline Dental Holdings — planted plaintext"


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def _findings(report: dict[str, Any]) -> set[tuple[str, str, str, str]]:
    return {
        (finding["kind"], field["sobject"], field["field"], finding["record_key"])
        for field in report["fields"]
        for finding in field["findings"]
    }


def test_security_reviewer_walkthrough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 1. the vectors, checked with nothing but `cryptography`'s AES-GCM
    checked = subprocess.run(
        [sys.executable, str(ROOT / "crypto" / "verify_vectors.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0 and "0 failure(s)" in checked.stdout, checked.stdout + checked.stderr

    # 2. a synced org, clean to start with
    config = build_local_dir(tmp_path) / "sfsync.toml"
    crypto = ["--config", str(config), "crypto"]
    assert main(["--config", str(config), "run", "--json"]) == EXIT_OK
    capsys.readouterr()
    assert main([*crypto, "verify", "--json", "--decrypt-check"]) == EXIT_OK
    clean = _json(capsys)
    assert clean["clean"] is True and _findings(clean) == set()
    scanned = sum(f["total"] for f in clean["fields"])
    tokens = sum(clean["key_ids"].values())
    assert tokens > 0

    org = tmp_path / "org.json"
    fake = FakeSalesforce.load(org)
    deals = sorted(fake.records(OBJ), key=lambda r: str(r["Registration_Number__c"]))
    leak, tampered, moved, source = deals[2], deals[7], deals[11], deals[12]
    fake.update(OBJ, leak["Id"], {"Customer_Contact_Name__c": LEAK})
    token = str(tampered["End_Customer_Domain__c"])
    # one payload character changed (the first of the nonce), as a careless or hostile admin would
    flipped = "A" if token[14] != "A" else "B"
    fake.update(OBJ, tampered["Id"], {"End_Customer_Domain__c": token[:14] + flipped + token[15:]})
    # a valid token of another record, same field: only the AAD (record key) tells them apart
    moved_field = "Customer_Contact_Email__c"
    assert source[moved_field] and source[moved_field] != moved[moved_field]
    fake.update(OBJ, moved["Id"], {moved_field: source[moved_field]})
    fake.save(org)

    # 3. exactly the three planted problems, by kind, object, field and record key
    markdown = tmp_path / "verify.md"
    assert main([*crypto, "verify", "--json", "--decrypt-check", "--markdown", str(markdown)]) == EXIT_REJECTED
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["clean"] is False and report["decrypt_checked"] is True
    assert _findings(report) == {
        ("not_a_token", OBJ, "Customer_Contact_Name__c", str(leak["Registration_Number__c"])),
        ("auth_failure", OBJ, "End_Customer_Domain__c", str(tampered["Registration_Number__c"])),
        ("auth_failure", OBJ, moved_field, str(moved["Registration_Number__c"])),
    }
    problems = sum(
        f["not_a_token"] + f["malformed"] + f["unknown_key"] + f["destroyed_key"] + f["auth_failures"]
        for f in report["fields"]
    )
    assert problems == 3
    assert sum(f["total"] for f in report["fields"]) == scanned
    assert LEAK not in out and LEAK not in markdown.read_text(encoding="utf-8")
    assert "| not_a_token |" in markdown.read_text(encoding="utf-8")

    # 4. repair, rotate, reencrypt: status moves to the new key
    assert main(["--config", str(config), "run", "--json", "--full"]) == EXIT_OK
    capsys.readouterr()
    assert main([*crypto, "verify", "--json", "--decrypt-check"]) == EXIT_OK
    assert _findings(_json(capsys)) == set()
    assert main([*crypto, "status", "--json"]) == EXIT_OK
    before = _json(capsys)
    # Per-partner keys: every value is under its partner's primary, none under the shared key.
    partner_primaries = {k["key_id"] for k in before["keys"] if k["primary"] and k["partner"]}
    assert sum(before["values_per_key"].values()) == tokens and set(before["values_per_key"]) <= partner_primaries
    assert len(before["values_per_key"]) > 1

    moved = rotate_every_group(config)
    capsys.readouterr()
    assert main([*crypto, "reencrypt"]) == EXIT_OK
    assert f"{tokens} values under older keys; rewrote {tokens}" in capsys.readouterr().out
    assert main([*crypto, "status", "--json"]) == EXIT_OK
    after = _json(capsys)
    assert sum(after["values_per_key"].values()) == tokens
    assert set(after["values_per_key"]) <= set(moved.values()) and not set(after["values_per_key"]) & set(moved)
    states = {k["key_id"]: k["state"] for k in after["keys"]}
    assert all(states[old] == "decrypt_only" and states[new] == "active" for old, new in moved.items())

    assert main([*crypto, "verify", "--json", "--decrypt-check"]) == EXIT_OK
    final = _json(capsys)
    assert final["clean"] is True and final["key_ids"] == after["values_per_key"]
    assert main([*crypto, "reencrypt"]) == EXIT_OK  # idempotent: nothing left to move
    assert "0 values under older keys" in capsys.readouterr().out
