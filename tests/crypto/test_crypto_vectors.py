"""crypto/vectors.json: checked by sfsync here and by the standalone script a reviewer runs."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sfsync.crypto import DecryptionError, FieldCipher, FieldContext, KeyMaterial, Keyring, KeyState, build_aad

ROOT = Path(__file__).resolve().parents[2]
VECTORS = json.loads((ROOT / "crypto" / "vectors.json").read_text(encoding="utf-8"))


def _single_key_cipher(key_id: str, key_hex: str) -> FieldCipher:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    keyring = Keyring([KeyMaterial(key_id, KeyState.ACTIVE, created, None, bytes.fromhex(key_hex))], {None: key_id},
                      bytes(32))
    return FieldCipher(keyring)


def _full_keyring() -> FieldCipher:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    keys = [KeyMaterial(k, KeyState.ACTIVE, created, None, bytes.fromhex(v)) for k, v in VECTORS["keys"].items()]
    return FieldCipher(Keyring(keys, {None: keys[0].key_id}, bytes(32)))


def test_vector_file_covers_the_cases() -> None:
    reasons = {v["reason"] for v in VECTORS["invalid"]}
    assert {"tampered", "wrong_aad", "unknown_key", "truncated", "bad_version", "wrong_key", "malformed",
            "not_a_token"} <= reasons
    assert any(len(v["key_id"]) == 12 for v in VECTORS["valid"])
    assert any(v["plaintext"] == "" for v in VECTORS["valid"])
    assert any(not v["plaintext"].isascii() for v in VECTORS["valid"])


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vectors(vector: dict[str, Any]) -> None:
    ctx = FieldContext(vector["sobject"], vector["field"], vector["record_key"])
    assert build_aad(vector["key_id"], ctx.sobject, ctx.field, ctx.record_key).hex() == vector["aad_hex"]
    cipher = _single_key_cipher(vector["key_id"], vector["key_hex"])
    assert cipher.encrypt_at(vector["plaintext"], ctx, nonce=bytes.fromhex(vector["nonce_hex"])) == vector["token"]
    assert _full_keyring().decrypt(vector["token"], ctx) == vector["plaintext"]


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vectors(vector: dict[str, Any]) -> None:
    ctx = FieldContext(vector["sobject"], vector["field"], vector["record_key"])
    with pytest.raises(DecryptionError):
        _full_keyring().decrypt(vector["token"], ctx)


def test_standalone_checker_passes() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "crypto" / "verify_vectors.py")],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT / "crypto",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 failure(s)" in result.stdout
    assert result.stdout.count("ok  ") == 3 * len(VECTORS["valid"]) + len(VECTORS["invalid"])


def test_standalone_checker_catches_a_bad_vector(tmp_path: Path) -> None:
    broken = json.loads(json.dumps(VECTORS))
    token = broken["valid"][0]["token"]
    broken["valid"][0]["token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    broken["invalid"].append({**broken["invalid"][0], "name": "actually_valid", "token": VECTORS["valid"][0]["token"],
                              "sobject": VECTORS["valid"][0]["sobject"], "field": VECTORS["valid"][0]["field"],
                              "record_key": VECTORS["valid"][0]["record_key"]})
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    result = subprocess.run([sys.executable, str(ROOT / "crypto" / "verify_vectors.py"), str(path)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "FAIL valid/ascii: encrypt" in result.stdout and "FAIL invalid/actually_valid" in result.stdout


def test_checker_imports_nothing_from_sfsync() -> None:
    source = (ROOT / "crypto" / "verify_vectors.py").read_text(encoding="utf-8")
    assert "sfsync." not in source.replace("sfsync.crypto", "") and "import sfsync" not in source
