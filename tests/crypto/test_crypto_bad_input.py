"""Issue 5, "Bad input": through the real CLI, against a local org after `sfsync run`.

A corrupted keyring, a wrong master key, a missing key id, a truncated or non-base64 value, and
plaintext where ciphertext is expected each give a clear error naming the file, or the object,
field and record (never the value), exit 3 with no traceback, and no partial write.

Decision for `reencrypt` with undecryptable values in Salesforce: by default it plans every
value before the first write and stops (exit 3) at the first value it cannot decrypt, with
nothing written; `--skip-invalid` rewrites the others, leaves those untouched, lists each by
object, field, record and reason on stderr, and exits 1.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import build_local_dir, rotate_every_group

from sfsync.cli import main
from sfsync.errors import EXIT_FATAL, EXIT_OK, EXIT_REJECTED
from sfsync.testing import FakeSalesforce

OBJ = "Deal_Registration__c"
ENCRYPTED_OBJECTS = ("Deal_Registration__c", "Account_Registration__c")
SECRET_LEAK = "Plaintext Customer Leak 7731"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synced working directory per module; each test works on a copy."""
    local: Path = build_local_dir(tmp_path_factory.mktemp("synced"))
    assert main(["--config", str(local / "sfsync.toml"), "run", "--json"]) == EXIT_OK
    return local


@pytest.fixture
def synced(pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    local = tmp_path / "work"
    shutil.copytree(pristine, local)  # copy2 keeps the keyring's 0600 mode
    capsys.readouterr()
    return local / "sfsync.toml"


def _cli(config: Path, *args: str) -> int:
    return main(["--config", str(config), "crypto", *args])


def _org(config: Path) -> FakeSalesforce:
    return FakeSalesforce.load(config.parent / "org.json")


def _snapshot(config: Path) -> dict[str, list[dict[str, Any]]]:
    fake = _org(config)
    return {obj: sorted(fake.records(obj), key=lambda r: str(r["Id"])) for obj in ENCRYPTED_OBJECTS}


def _deals(fake: FakeSalesforce) -> list[dict[str, Any]]:
    return sorted(fake.records(OBJ), key=lambda r: str(r["Registration_Number__c"]))


def _plant(config: Path, field: str, make: Callable[[str], str], index: int = 0) -> str:
    """Replace one stored value with ``make(old token)``; returns the record key."""
    fake = _org(config)
    deal = _deals(fake)[index]
    fake.update(OBJ, deal["Id"], {field: make(str(deal[field]))})
    fake.save(config.parent / "org.json")
    return str(deal["Registration_Number__c"])


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "internal error" not in text


# -- the keyring ------------------------------------------------------------------------------

KEYRING_DAMAGE: dict[str, tuple[Callable[[Path], object], str]] = {
    "truncated_json": (lambda p: p.write_text(p.read_text()[:-40]), "corrupted"),
    "not_json": (lambda p: p.write_text("\x00\x01 garbage"), "corrupted"),
    "edited_state": (lambda p: p.write_text(p.read_text().replace('"active"', '"decrypt_only"', 1)), "modified"),
    "missing_entries": (
        lambda p: p.write_text(json.dumps({k: v for k, v in json.loads(p.read_text()).items() if k != "keys"})),
        "integrity",
    ),
    "other_format": (lambda p: p.write_text('{"format": "something-else"}'), "not an sfsync keyring"),
    "deleted": (lambda p: p.unlink(), "not found"),
    "group_readable": (lambda p: os.chmod(p, 0o640), "chmod 600"),
}


@pytest.mark.parametrize("damage", sorted(KEYRING_DAMAGE))
@pytest.mark.parametrize(
    "command", [("status",), ("verify", "--decrypt-check"), ("reencrypt",), ("rotate",)], ids=lambda c: c[0]
)
def test_damaged_keyring_exits_3_naming_the_file(
    synced: Path, capsys: pytest.CaptureFixture[str], damage: str, command: tuple[str, ...]
) -> None:
    keyring = synced.parent / "keys" / "keyring.json"
    before_org = _snapshot(synced)
    change, expected = KEYRING_DAMAGE[damage]
    change(keyring)
    damaged = keyring.read_bytes() if keyring.exists() else None
    assert _cli(synced, *command) == EXIT_FATAL
    captured = capsys.readouterr()
    assert str(keyring) in captured.err and expected in captured.err
    _no_traceback(captured.out + captured.err)
    # nothing written: neither the keyring (rotate) nor Salesforce (reencrypt)
    assert (keyring.read_bytes() if keyring.exists() else None) == damaged
    assert _snapshot(synced) == before_org


def test_wrong_master_key_exits_3_without_leaking_either_key(synced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = synced.parent / "keys" / "master.key"
    right = master.read_text()
    master.write_text("a-wrong-master-key-0123456789-abcdefghij")
    before = _snapshot(synced)
    for command in (("status",), ("verify",), ("reencrypt",), ("rotate",)):
        assert _cli(synced, *command) == EXIT_FATAL
        captured = capsys.readouterr()
        assert "wrong master key" in captured.err
        assert str(synced.parent / "keys" / "keyring.json") in captured.err
        assert right not in captured.out + captured.err and "a-wrong-master-key" not in captured.out + captured.err
        _no_traceback(captured.err)
    assert _snapshot(synced) == before
    # and the sync refuses too, before writing anything
    assert main(["--config", str(synced), "run", "--json", "--full"]) == EXIT_FATAL
    assert "wrong master key" in capsys.readouterr().err
    assert _snapshot(synced) == before


def test_corrupted_keyring_stops_the_sync_before_any_write(synced: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keyring = synced.parent / "keys" / "keyring.json"
    keyring.write_text(keyring.read_text()[:100])
    before = _snapshot(synced)
    assert main(["--config", str(synced), "run", "--json", "--full"]) == EXIT_FATAL
    captured = capsys.readouterr()
    assert str(keyring) in captured.err and "corrupted" in captured.err
    _no_traceback(captured.err)
    assert _snapshot(synced) == before


# -- stored values that are not good tokens ---------------------------------------------------

BAD_VALUES: dict[str, tuple[Callable[[str], str], str, str]] = {
    # name: (how the stored value is made from the good token, verify finding, reencrypt explanation)
    "plaintext": (lambda _token: SECRET_LEAK, "not_a_token", "not a token"),
    "truncated": (lambda token: token[:30], "malformed", "malformed token"),
    "non_base64": (lambda token: token[:-12] + "!!" + token[-10:], "malformed", "malformed token"),
    "missing_key_id": (
        lambda token: ".".join(["sfe1", "kmissing1", token.split(".")[2]]),
        "unknown_key",
        "key id kmissing1, which is not in the keyring",
    ),
    "tampered": (
        lambda token: token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"),
        "auth_failure",
        "fails authentication",
    ),
}


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_verify_names_each_bad_value_by_place_never_by_value(
    synced: Path, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    make, finding, _ = BAD_VALUES[bad]
    record = _plant(synced, "Customer_Contact_Name__c", make)
    planted = str(_deals(_org(synced))[0]["Customer_Contact_Name__c"])
    assert _cli(synced, "verify", "--json", "--decrypt-check") == EXIT_REJECTED
    out = capsys.readouterr().out
    report = json.loads(out)
    found = [
        (field["sobject"], field["field"], f["record_key"], f["kind"])
        for field in report["fields"]
        for f in field["findings"]
    ]
    assert found == [(OBJ, "Customer_Contact_Name__c", record, finding)]
    assert planted not in out and SECRET_LEAK not in out


@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_reencrypt_stops_before_writing_anything(synced: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    make, _, explanation = BAD_VALUES[bad]
    # The bad value sits on the *last* deal, so a writer that did not plan first would have
    # rewritten the others before meeting it.
    index = len(_deals(_org(synced))) - 1
    record = _plant(synced, "Customer_Contact_Email__c", make, index=index)
    planted = str(_deals(_org(synced))[index]["Customer_Contact_Email__c"])
    rotate_every_group(synced)
    before = _snapshot(synced)
    capsys.readouterr()
    assert _cli(synced, "reencrypt") == EXIT_FATAL
    captured = capsys.readouterr()
    assert f"object {OBJ}" in captured.err and f"'{record}'" in captured.err
    assert "Customer_Contact_Email__c" in captured.err and explanation in captured.err
    assert "nothing was written" in captured.err and "--skip-invalid" in captured.err
    assert planted not in captured.out + captured.err
    _no_traceback(captured.err)
    assert _snapshot(synced) == before


def test_reencrypt_skip_invalid_moves_the_rest_and_names_what_it_left(
    synced: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leak_record = _plant(synced, "Customer_Contact_Name__c", lambda _t: SECRET_LEAK, index=3)
    moved_record = _plant(
        synced,
        "Customer_Contact_Email__c",
        lambda _t: str(_deals(_org(synced))[5]["Customer_Contact_Email__c"]),
        index=4,
    )
    moved = rotate_every_group(synced)
    capsys.readouterr()

    assert _cli(synced, "reencrypt", "--skip-invalid", "--json") == EXIT_REJECTED
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert sorted((s["sobject"], s["field"], s["record_key"], s["reason"]) for s in result["skipped"]) == sorted(
        [
            (OBJ, "Customer_Contact_Name__c", leak_record, "not_a_token"),
            (OBJ, "Customer_Contact_Email__c", moved_record, "auth_failure"),
        ]
    )
    assert result["rewritten"] == result["planned"] > 0 and result["rejected"] == 0
    assert f"skipped {OBJ}.Customer_Contact_Name__c of record '{leak_record}'" in captured.err
    assert SECRET_LEAK not in captured.out + captured.err

    # the bad values are untouched; everything else moved to the new primary
    deals = {str(d["Registration_Number__c"]): d for d in _deals(_org(synced))}
    assert deals[leak_record]["Customer_Contact_Name__c"] == SECRET_LEAK
    old_key = str(deals[moved_record]["Customer_Contact_Email__c"]).split(".")[1]
    assert old_key in moved
    assert _cli(synced, "status", "--json") == EXIT_OK
    usage = json.loads(capsys.readouterr().out)["values_per_key"]
    assert usage[old_key] == 1 and usage["(not a token)"] == 1
    assert not {k for k in usage if k in moved} - {old_key}

    # a rerun plans nothing new and still names the two it cannot move
    assert _cli(synced, "reencrypt", "--skip-invalid") == EXIT_REJECTED
    captured = capsys.readouterr()
    assert "0 values under older keys" in captured.out and "skipped 2" in captured.out
    assert captured.err.count("skipped ") == 2
