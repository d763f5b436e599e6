"""``sfsync crypto …`` through typer's CliRunner on the real ``sfsync`` app."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sfsync.cli import app
from sfsync.crypto import FieldCipher, FieldContext, KeyringError, KeyState, LocalKeyringProvider
from sfsync.errors import ConfigError, UsageError

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("SFSYNC_"):
            monkeypatch.delenv(name)
    return {
        "SFSYNC_CRYPTO__KEYRING": str(tmp_path / "keys" / "keyring.json"),
        "SFSYNC_CRYPTO__MASTER_KEY": secrets.token_urlsafe(32),
    }


def _provider(env: dict[str, str]) -> LocalKeyringProvider:
    from pydantic import SecretStr

    return LocalKeyringProvider(Path(env["SFSYNC_CRYPTO__KEYRING"]), SecretStr(env["SFSYNC_CRYPTO__MASTER_KEY"]))


def _run(env: dict[str, str], *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["crypto", *args], env=env, input=input)


def test_new_master_key() -> None:
    first = runner.invoke(app, ["crypto", "keygen", "--new-master-key"])
    second = runner.invoke(app, ["crypto", "keygen", "--new-master-key"])
    assert first.exit_code == 0 and len(first.stdout.strip()) >= 43
    assert first.stdout != second.stdout


def test_keygen_status_rotate_destroy(env: dict[str, str]) -> None:
    result = _run(env, "keygen")
    assert result.exit_code == 0, result.output
    keyring = _provider(env).load()
    first = keyring.primary_id
    assert first in result.stdout
    assert env["SFSYNC_CRYPTO__MASTER_KEY"] not in result.output

    again = _run(env, "keygen")
    assert isinstance(again.exception, KeyringError)

    result = _run(env, "rotate")
    assert result.exit_code == 0 and "decrypt-only" in result.stdout
    second = _provider(env).load().primary_id
    assert second != first

    result = _run(env, "keygen", "--partner", "acme")
    assert result.exit_code == 0
    assert isinstance(_run(env, "keygen", "--partner", "acme").exception, UsageError)

    result = _run(env, "status", "--json")
    assert result.exit_code == 0
    status = json.loads(result.stdout)
    states = {k["key_id"]: (k["state"], k["primary"], k["partner"]) for k in status["keys"]}
    assert states[first] == ("decrypt_only", False, None)
    assert states[second] == ("active", True, None)
    assert any(p == "acme" and primary for _, primary, p in states.values())
    assert status["primary"] == second

    table = _run(env, "status")
    assert table.exit_code == 0 and first in table.stdout and "decrypt_only" in table.stdout

    aborted = _run(env, "destroy", first, input="n\n")
    assert aborted.exit_code != 0
    assert _provider(env).load().get(first).state is KeyState.DECRYPT_ONLY  # type: ignore[union-attr]
    result = _run(env, "destroy", first, "--yes")
    assert result.exit_code == 0
    assert _provider(env).load().get(first).state is KeyState.DESTROYED  # type: ignore[union-attr]

    refused = _run(env, "destroy", second, "--yes")
    assert isinstance(refused.exception, KeyringError)
    result = _run(env, "destroy", "--partner", "acme", "--yes")
    assert result.exit_code == 0 and _provider(env).load().primary_for("acme") is None
    assert isinstance(_run(env, "destroy", "--yes").exception, UsageError)


def test_missing_master_key(env: dict[str, str]) -> None:
    del env["SFSYNC_CRYPTO__MASTER_KEY"]
    result = _run(env, "keygen")
    assert isinstance(result.exception, ConfigError)


def test_wrong_master_key_exits_fatal_without_traceback(
    env: dict[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run(env, "keygen").exit_code == 0
    from sfsync.cli import main

    for name, value in {**env, "SFSYNC_CRYPTO__MASTER_KEY": secrets.token_urlsafe(32)}.items():
        monkeypatch.setenv(name, value)
    assert main(["crypto", "status"]) == 3
    err = capsys.readouterr().err
    assert "wrong master key" in err and "Traceback" not in err


def _write_values(path: Path, rows: Sequence[Mapping[str, str | None]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_verify_and_reencrypt_from_input(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "keygen").exit_code == 0
    keyring = _provider(env).load()
    cipher = FieldCipher(keyring)
    obj, field = "Deal_Registration__c", "Competitive_Notes__c"

    def row(record: str, value: str | None) -> dict[str, str | None]:
        return {"sobject": obj, "field": field, "record_key": record, "value": value}

    good = [row(f"DR-{n}", cipher.encrypt(f"secret {n}", FieldContext(obj, field, f"DR-{n}"))) for n in range(3)]
    clean = _write_values(tmp_path / "clean.jsonl", good)
    result = _run(env, "verify", "--input", str(clean), "--decrypt-check", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["clean"] is True

    moved = cipher.encrypt("moved secret", FieldContext(obj, field, "DR-0"))
    dirty = _write_values(tmp_path / "dirty.jsonl", [*good, row("DR-LEAK", "plaintext secret"), row("DR-9", moved)])
    report_md = tmp_path / "report.md"
    result = _run(env, "verify", "--input", str(dirty), "--decrypt-check", "--markdown", str(report_md))
    assert result.exit_code == 1
    text = report_md.read_text()
    assert "DR-LEAK" in text and "DR-9" in text
    for output in (text, result.output):
        assert "plaintext secret" not in output and "moved secret" not in output

    # Rotate, plan re-encryption, apply it, and the plan is empty afterwards.
    assert _run(env, "rotate").exit_code == 0
    plan_path = tmp_path / "plan.jsonl"
    result = _run(env, "reencrypt", "--input", str(clean), "--output", str(plan_path))
    assert result.exit_code == 0, result.output
    plan = [json.loads(line) for line in plan_path.read_text().splitlines()]
    new_primary = _provider(env).load().primary_id
    assert len(plan) == 3 and {p["new_key_id"] for p in plan} == {new_primary}
    assert all("secret" not in p["value"] for p in plan)
    applied = _write_values(tmp_path / "applied.jsonl", [row(p["record_key"], p["value"]) for p in plan])
    result = _run(env, "reencrypt", "--input", str(applied))
    assert result.exit_code == 0 and result.stdout == ""
    result = _run(env, "verify", "--input", str(applied), "--decrypt-check", "--json")
    assert json.loads(result.stdout)["key_ids"] == {new_primary: 3}


def test_verify_input_errors(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "keygen").exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sobject": "A", "field": "B", "record_key": "1", "value": null}\n{not json}\n')
    result = _run(env, "verify", "--input", str(bad))
    assert isinstance(result.exception, UsageError)
    assert result.exception.context.line == 2
    # without --input, verify reads Salesforce through the mappings; none are configured here
    result = _run(env, "verify")
    assert isinstance(result.exception, UsageError) and "mappings" in str(result.exception)
    bad.write_text('{"sobject": "Not An API Name", "field": "B", "record_key": "1", "value": null}\n')
    result = _run(env, "reencrypt", "--input", str(bad))
    assert isinstance(result.exception, UsageError) and result.exception.context.line == 1


def test_reencrypt_stops_at_invalid_values_unless_told(env: dict[str, str], tmp_path: Path) -> None:
    from sfsync.errors import DecryptionError

    assert _run(env, "keygen").exit_code == 0
    cipher = FieldCipher(_provider(env).load())
    obj, field = "Deal_Registration__c", "Competitive_Notes__c"
    token = cipher.encrypt("x", FieldContext(obj, field, "DR-1"))
    assert _run(env, "rotate").exit_code == 0
    rows = [
        {"sobject": obj, "field": field, "record_key": "DR-LEAK", "value": "plain secret"},
        {"sobject": obj, "field": field, "record_key": "DR-1", "value": token},
    ]
    path = _write_values(tmp_path / "v.jsonl", rows)
    result = _run(env, "reencrypt", "--input", str(path))
    assert isinstance(result.exception, DecryptionError) and "DR-LEAK" in str(result.exception)
    assert "plain secret" not in str(result.exception)
    result = _run(env, "reencrypt", "--input", str(path), "--skip-invalid")
    assert result.exit_code == 0
    assert [json.loads(line)["record_key"] for line in result.stdout.splitlines()] == ["DR-1"]


def test_verify_markdown_on_stdout_is_not_rewrapped(env: dict[str, str], tmp_path: Path) -> None:
    assert _run(env, "keygen").exit_code == 0
    rows = [
        {"sobject": "Deal_Registration__c", "field": "Competitive_Notes__c", "record_key": "DR-1", "value": "leaked"}
    ]
    result = _run(env, "verify", "--input", str(_write_values(tmp_path / "v.jsonl", rows)))
    assert result.exit_code == 1
    table_rows = [line for line in result.stdout.splitlines() if line.startswith("| Deal_Registration__c")]
    assert len(table_rows) == 2 and all(line.endswith("|") for line in table_rows)
    assert "leaked" not in result.stdout
