"""`sfsync crypto verify | status | rotate | reencrypt` against a local org after a real sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workspace_helpers import build_local_dir, rotate_every_group

from sfsync.cli import main
from sfsync.errors import EXIT_OK, EXIT_REJECTED
from sfsync.testing import FakeSalesforce


@pytest.fixture
def synced(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    local = build_local_dir(tmp_path)
    assert main(["--config", str(local / "sfsync.toml"), "run", "--json"]) == EXIT_OK
    capsys.readouterr()
    return local / "sfsync.toml"


def test_verify_clean_after_sync(synced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(synced), "crypto", "verify", "--decrypt-check", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["total"] > 0
    assert sum(report["key_ids"].values()) > 0


def test_verify_finds_plaintext_tamper_and_moved_values(synced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    org = synced.parent / "org.json"
    fake = FakeSalesforce.load(org)
    deals = sorted(fake.records("Deal_Registration__c"), key=lambda r: r["Registration_Number__c"])
    first, second, third = deals[0], deals[1], deals[2]
    fake.update("Deal_Registration__c", first["Id"], {"Customer_Contact_Name__c": "Plain Text Leak"})
    token = second["Customer_Contact_Email__c"]
    fake.update("Deal_Registration__c", second["Id"], {"Customer_Contact_Email__c": token[:-3] + "AAA"})
    fake.update(
        "Deal_Registration__c", third["Id"], {"Customer_Contact_Email__c": deals[3]["Customer_Contact_Email__c"]}
    )
    fake.save(org)
    markdown = synced.parent / "verify.md"
    code = main(["--config", str(synced), "crypto", "verify", "--decrypt-check", "--json", "--markdown", str(markdown)])
    assert code == EXIT_REJECTED
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["clean"] is False
    assert "Plain Text Leak" not in out
    assert "Plain Text Leak" not in markdown.read_text()
    kinds = {f["kind"] for field in report["fields"] for f in field.get("findings", [])}
    assert "not_a_token" in kinds or "plaintext" in " ".join(kinds)


def test_rotate_then_reencrypt_moves_every_value(synced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(synced)
    assert main(["--config", config, "crypto", "status", "--json"]) == EXIT_OK
    before = json.loads(capsys.readouterr().out)["values_per_key"]
    assert sum(before.values()) > 0
    moved = rotate_every_group(synced)
    capsys.readouterr()
    assert main(["--config", config, "crypto", "reencrypt"]) == EXIT_OK
    first = capsys.readouterr().out
    assert "rewrote" in first
    assert main(["--config", config, "crypto", "reencrypt"]) == EXIT_OK
    assert "0 values under older keys" in capsys.readouterr().out
    assert main(["--config", config, "crypto", "status", "--json"]) == EXIT_OK
    after = json.loads(capsys.readouterr().out)["values_per_key"]
    assert not set(after) & set(moved)
    assert {moved[k]: n for k, n in before.items()} == after
    assert main(["--config", config, "crypto", "verify", "--decrypt-check"]) == EXIT_OK
