"""crypto/vectors/*.json: checked by sfsync here and by the standalone script a reviewer runs."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sfsync.crypto import (
    BlindIndexer,
    DecryptionError,
    FieldCipher,
    FieldContext,
    KeyMaterial,
    Keyring,
    KeyState,
    build_aad,
    normalize_for_index,
)

ROOT = Path(__file__).resolve().parents[2]
VECTOR_DIR = ROOT / "crypto" / "vectors"
INVALID_FILES = ("tampered.json", "wrong_aad.json", "unknown_key.json", "malformed.json")


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))
    return document


VALID = _load("valid.json")
INVALID = [(name, v) for name in INVALID_FILES for v in _load(name)["vectors"]]
BLIND = _load("blind_index.json")


def _single_key_cipher(key_id: str, key_hex: str) -> FieldCipher:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    keyring = Keyring(
        [KeyMaterial(key_id, KeyState.ACTIVE, created, None, bytes.fromhex(key_hex))], {None: key_id}, bytes(32)
    )
    return FieldCipher(keyring)


def _full_keyring() -> FieldCipher:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    keys = [KeyMaterial(k, KeyState.ACTIVE, created, None, bytes.fromhex(v)) for k, v in VALID["keys"].items()]
    return FieldCipher(Keyring(keys, {None: keys[0].key_id}, bytes(32)))


def test_vector_files_are_split_by_kind_and_cover_the_cases() -> None:
    assert sorted(p.name for p in VECTOR_DIR.glob("*.json")) == sorted(
        ["valid.json", "blind_index.json", "key_wrap.json", *INVALID_FILES]
    )
    assert not (ROOT / "crypto" / "vectors.json").exists()
    for name in INVALID_FILES:
        document = _load(name)
        assert document["kind"] == name.removesuffix(".json") and document["expect"] == "reject"
        assert document["keys"] == VALID["keys"]  # each file stands alone
        assert document["vectors"]
    reasons = {v["reason"] for _, v in INVALID}
    assert {
        "tampered",
        "wrong_aad",
        "unknown_key",
        "truncated",
        "bad_version",
        "wrong_key",
        "malformed",
        "not_a_token",
        "invalid_utf8",
    } <= reasons
    assert any(len(v["key_id"]) == 12 for v in VALID["vectors"])
    assert any(v["plaintext"] == "" for v in VALID["vectors"])
    assert any(not v["plaintext"].isascii() for v in VALID["vectors"])
    names = [v["name"] for _, v in INVALID] + [v["name"] for v in VALID["vectors"]]
    assert len(names) == len(set(names))
    assert len({v["token"] for name, v in INVALID if name != "wrong_aad.json"}) == len(
        [v for name, v in INVALID if name != "wrong_aad.json"]
    )


@pytest.mark.parametrize("vector", VALID["vectors"], ids=lambda v: v["name"])
def test_valid_vectors(vector: dict[str, Any]) -> None:
    ctx = FieldContext(vector["sobject"], vector["field"], vector["record_key"])
    assert build_aad(vector["key_id"], ctx.sobject, ctx.field, ctx.record_key).hex() == vector["aad_hex"]
    cipher = _single_key_cipher(vector["key_id"], vector["key_hex"])
    token = cipher.encrypt_at(vector["plaintext"], ctx, nonce=bytes.fromhex(vector["nonce_hex"]))
    assert token == vector["token"]
    raw = bytes.fromhex(vector["nonce_hex"] + vector["ciphertext_hex"] + vector["tag_hex"])
    assert token.endswith(base64.urlsafe_b64encode(raw).rstrip(b"=").decode())
    assert _full_keyring().decrypt(vector["token"], ctx) == vector["plaintext"]


@pytest.mark.parametrize(("file", "vector"), INVALID, ids=lambda v: v["name"] if isinstance(v, dict) else v)
def test_invalid_vectors(file: str, vector: dict[str, Any]) -> None:
    ctx = FieldContext(vector["sobject"], vector["field"], vector["record_key"])
    with pytest.raises(DecryptionError) as info:
        _full_keyring().decrypt(vector["token"], ctx)
    assert str(info.value).startswith("value could not be decrypted")
    assert vector["token"] not in str(info.value)


@pytest.mark.parametrize("vector", BLIND["vectors"], ids=lambda v: v["name"])
def test_blind_index_vectors(vector: dict[str, Any]) -> None:
    indexer = BlindIndexer(bytes.fromhex(BLIND["index_key_hex"]))
    assert normalize_for_index(vector["value"], vector["kind"]) == vector["normalized"]
    message = indexer.message(vector["normalized"], vector["kind"], sobject=vector["sobject"], field=vector["field"])
    assert message.hex() == vector["message_hex"]
    index = indexer.index(
        vector["value"],
        vector["kind"],
        vector["bits"],
        sobject=vector["sobject"],
        field=vector["field"],
        encoding=vector["encoding"],
    )
    assert index == vector["index"]


def test_sfsync_regenerates_the_same_vectors(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "crypto" / "make_vectors.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7/7 vector files match" in result.stdout


def _checker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "crypto" / "verify_vectors.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT / "crypto",
    )


def test_standalone_checker_passes() -> None:
    result = _checker()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "7 file(s), 0 failure(s)" in result.stdout
    wrap = _load("key_wrap.json")
    expected = (
        5 * len(VALID["vectors"])
        + len(INVALID)
        + 3 * len(BLIND["vectors"])
        + 1
        + 3 * len(wrap["vectors"])
        + 1
        + len(wrap["derived_keys"]["vectors"])
    )
    assert result.stdout.count("ok  ") == expected


def test_standalone_checker_catches_bad_vectors(tmp_path: Path) -> None:
    for name in ("valid.json", "tampered.json", "blind_index.json"):
        shutil.copy(VECTOR_DIR / name, tmp_path / name)
    valid = _load("valid.json")
    token = valid["vectors"][0]["token"]
    valid["vectors"][0]["token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    (tmp_path / "valid.json").write_text(json.dumps(valid), encoding="utf-8")
    tampered = _load("tampered.json")
    good = VALID["vectors"][0]
    tampered["vectors"].append(
        {
            **tampered["vectors"][0],
            "name": "actually_valid",
            "token": good["token"],
            "sobject": good["sobject"],
            "field": good["field"],
            "record_key": good["record_key"],
        }
    )
    (tmp_path / "tampered.json").write_text(json.dumps(tampered), encoding="utf-8")
    blind = _load("blind_index.json")
    blind["vectors"][0]["index"] = "00000"
    (tmp_path / "blind_index.json").write_text(json.dumps(blind), encoding="utf-8")
    result = _checker(str(tmp_path))
    assert result.returncode == 1
    assert "FAIL valid/ascii: encrypt" in result.stdout
    assert "FAIL tampered/actually_valid" in result.stdout
    assert "FAIL blind_index/domain_url: index" in result.stdout
    # one file on its own works too
    assert _checker(str(VECTOR_DIR / "malformed.json")).returncode == 0


def test_checker_imports_nothing_from_sfsync() -> None:
    source = (ROOT / "crypto" / "verify_vectors.py").read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports and not any("sfsync" in line for line in imports)
    assert all(
        line.split()[1].split(".")[0]
        in {
            "__future__",
            "base64",
            "hashlib",
            "hmac",
            "json",
            "math",
            "re",
            "struct",
            "sys",
            "pathlib",
            "typing",
            "cryptography",
        }
        for line in imports
    )


def test_key_wrap_vectors_open_with_sfsync_and_fail_when_altered(tmp_path: Path) -> None:
    from pydantic import SecretStr

    from sfsync.crypto._providers import _MasterKeyWrapper

    document = _load("key_wrap.json")
    wrapper = _MasterKeyWrapper(SecretStr(document["master_key"]), bytes.fromhex(document["salt_hex"]), document["n"])
    for vector in document["vectors"]:
        assert wrapper.unwrap(vector["wrapped"], vector["context"]).hex() == vector["plaintext_hex"]
    broken = json.loads(json.dumps(document))
    broken["vectors"][0]["plaintext_hex"] = "00" * 32
    broken["keyring_mac"]["body"]["generation"] = 2
    (tmp_path / "key_wrap.json").write_text(json.dumps(broken), encoding="utf-8")
    result = _checker(str(tmp_path))
    assert result.returncode == 1
    assert "FAIL key_wrap/data_key: unwrap" in result.stdout and "FAIL key_wrap/keyring_mac" in result.stdout


@pytest.mark.parametrize("vector", VALID["vectors"], ids=lambda v: v["name"])
def test_record_sealer_gives_the_vector_tokens(vector: dict[str, Any]) -> None:
    """The batch path (one sealer per key and object, the AAD prefix built once) is bit-for-bit
    the single-value recipe: same token for the same key, place and nonce."""
    cipher = _single_key_cipher(vector["key_id"], vector["key_hex"])
    other = "Other_Field__c" if vector["field"] != "Other_Field__c" else "Another_Field__c"
    sealer = cipher.sealer(vector["sobject"], [other, vector["field"]])
    nonce = bytes.fromhex(vector["nonce_hex"])
    plaintext = vector["plaintext"].encode("utf-8")
    tokens = sealer.seal(vector["record_key"], [(1, plaintext), (0, plaintext)], nonces=nonce * 2)
    assert tokens[0] == vector["token"]
    # the other field's token is bound to that field, not to the vector's
    ctx = FieldContext(vector["sobject"], other, vector["record_key"])
    assert tokens[1] != tokens[0]
    assert _full_keyring().decrypt(tokens[1], ctx) == vector["plaintext"]


def test_record_sealer_draws_a_fresh_nonce_per_value() -> None:
    cipher = _full_keyring()
    sealer = cipher.sealer("Deal_Registration__c", ["A__c", "B__c"])
    tokens = sealer.seal("DR-1", [(0, b"same"), (1, b"same"), (0, b"same")])
    assert len(set(tokens)) == 3
    nonces = {base64.urlsafe_b64decode(t.split(".")[2] + "==")[:12] for t in tokens}
    assert len(nonces) == 3
    for token, field in zip(tokens, ("A__c", "B__c", "A__c"), strict=True):
        assert cipher.decrypt(token, FieldContext("Deal_Registration__c", field, "DR-1")) == "same"
    with pytest.raises(ValueError, match="record key"):
        sealer.seal("", [(0, b"x")])
    with pytest.raises(ValueError, match="12 bytes"):
        sealer.seal("DR-1", [(0, b"x")], nonces=b"short")
    with pytest.raises(ValueError, match="API name"):
        cipher.sealer("Deal_Registration__c", ["not a field"])
