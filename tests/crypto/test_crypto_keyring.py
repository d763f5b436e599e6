"""Keyring files: wrapping by the master key, permissions, integrity, atomic writes."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from sfsync.crypto import FieldCipher, FieldContext, Keyring, KeyringError, KeyState, LocalKeyringProvider


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_create_load_round_trip(provider: LocalKeyringProvider, ctx: FieldContext) -> None:
    created = provider.create()
    assert _mode(provider.path) == 0o600
    token = FieldCipher(created).encrypt("secret notes", ctx)
    loaded = provider.load()
    assert loaded.primary_id == created.primary_id and loaded.ids == created.ids
    assert loaded.index_key == created.index_key
    assert FieldCipher(loaded).decrypt(token, ctx) == "secret notes"


def test_file_holds_no_key_material(provider: LocalKeyringProvider, master_key: SecretStr) -> None:
    keyring = provider.create()
    keyring.rotate("acme")
    provider.save(keyring)
    text = provider.path.read_text()
    for key in keyring.keys:
        assert key.secret is not None
        assert key.secret.hex() not in text
        for encoded in (key.secret.hex(), __import__("base64").b64encode(key.secret).decode()):
            assert encoded not in text
    assert keyring.index_key.hex() not in text
    assert master_key.get_secret_value() not in text


def test_create_refuses_to_overwrite(provider: LocalKeyringProvider) -> None:
    provider.create()
    before = provider.path.read_bytes()
    with pytest.raises(KeyringError, match="refusing to overwrite"):
        provider.create()
    assert provider.path.read_bytes() == before


def test_state_changes_persist(provider: LocalKeyringProvider) -> None:
    keyring = provider.create()
    first = keyring.primary_id
    second = keyring.rotate()
    acme = keyring.rotate("acme")
    keyring.set_state(first, KeyState.DESTROYED)
    provider.save(keyring)
    loaded = provider.load()
    assert loaded.primary_id == second and loaded.primary_for("acme") == acme
    destroyed = loaded.get(first)
    assert destroyed is not None and destroyed.state is KeyState.DESTROYED and destroyed.secret is None
    assert json.loads(provider.path.read_text())["keys"][0]["wrapped"] is None or all(
        e["wrapped"] is None for e in json.loads(provider.path.read_text())["keys"] if e["id"] == first
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700])
def test_group_or_other_access_is_refused(provider: LocalKeyringProvider, mode: int) -> None:
    provider.create()
    os.chmod(provider.path, mode)
    if mode & 0o077 == 0:
        provider.load()
        return
    with pytest.raises(KeyringError, match="chmod 600"):
        provider.load()


def test_wrong_master_key(provider: LocalKeyringProvider) -> None:
    provider.create()
    wrong = LocalKeyringProvider(provider.path, SecretStr(secrets.token_urlsafe(32)))
    with pytest.raises(KeyringError, match="wrong master key") as info:
        wrong.load()
    assert str(provider.path) in str(info.value)


def test_short_master_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyringError, match="too short"):
        LocalKeyringProvider(tmp_path / "k.json", SecretStr("short"))
    with pytest.raises(TypeError):
        LocalKeyringProvider(tmp_path / "k.json", "a-plain-string-master-key")  # type: ignore[arg-type]


def test_missing_file(provider: LocalKeyringProvider) -> None:
    with pytest.raises(KeyringError, match="keygen"):
        provider.load()


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "[]",
        lambda text: "not json at all",
        lambda text: json.dumps({**json.loads(text), "version": 99}),
        lambda text: json.dumps({**json.loads(text), "format": "other"}),
    ],
)
def test_corrupted_file(provider: LocalKeyringProvider, corrupt: object) -> None:
    provider.create()
    provider.path.write_text(corrupt(provider.path.read_text()))  # type: ignore[operator]
    with pytest.raises(KeyringError):
        provider.load()


@pytest.mark.parametrize("edit", ["state", "primary", "swap_wrapped", "drop_key"])
def test_edits_to_the_file_are_detected(provider: LocalKeyringProvider, edit: str) -> None:
    keyring = provider.create()
    old = keyring.primary_id
    keyring.rotate()
    provider.save(keyring)
    document = json.loads(provider.path.read_text())
    keys = document["keys"]
    if edit == "state":
        keys[0]["state"] = "active"
    elif edit == "primary":
        document["primary"] = old
    elif edit == "swap_wrapped":
        keys[0]["wrapped"], keys[1]["wrapped"] = keys[1]["wrapped"], keys[0]["wrapped"]
    else:
        document["keys"] = keys[1:]
    provider.path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="modified"):
        provider.load()


def test_atomic_write_leaves_no_temp_files_and_keeps_0600(provider: LocalKeyringProvider) -> None:
    keyring = provider.create()
    for _ in range(3):
        keyring.rotate()
        provider.save(keyring)
    assert [p.name for p in provider.path.parent.iterdir()] == ["keyring.json"]
    assert _mode(provider.path) == 0o600


def test_failed_write_keeps_the_old_file(provider: LocalKeyringProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = provider.create()
    before = provider.path.read_bytes()
    keyring.rotate()

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        provider.save(keyring)
    assert provider.path.read_bytes() == before
    assert [p.name for p in provider.path.parent.iterdir()] == ["keyring.json"]


def test_default_scrypt_cost(tmp_path: Path, master_key: SecretStr) -> None:
    provider = LocalKeyringProvider(tmp_path / "keyring.json", master_key)
    provider.create()
    assert json.loads(provider.path.read_text())["wrapper"]["n"] == 2**15
    assert provider.load().primary_id


def test_keyring_rules() -> None:
    keyring = Keyring.generate()
    assert len(keyring) == 1 and keyring.primary_id in keyring
    assert keyring.primary_id.startswith("k") and len(keyring.primary_id) <= 12
    assert keyring.index_key not in {k.secret for k in keyring.keys}
    partner = keyring.rotate("acme")
    assert partner.startswith("p") and keyring.partners == ("acme",)
    with pytest.raises(KeyringError):
        keyring.destroy_partner("nobody")
    with pytest.raises(KeyringError, match="primary"):
        keyring.set_state(partner, KeyState.DESTROYED)
    with pytest.raises(ValueError):
        keyring.rotate(" acme ")


def test_keyring_errors_and_reprs_hold_no_secrets(provider: LocalKeyringProvider, master_key: SecretStr) -> None:
    keyring = provider.create()
    wrong_key = secrets.token_urlsafe(32)
    with pytest.raises(KeyringError) as info:
        LocalKeyringProvider(provider.path, SecretStr(wrong_key), scrypt_n=2**10).load()
    texts = [str(info.value), repr(info.value), repr(provider), repr(keyring), repr(keyring.keys)]
    for text in texts:
        assert master_key.get_secret_value() not in text and wrong_key not in text
        for key in keyring.keys:
            assert key.secret is not None and key.secret.hex() not in text and repr(key.secret) not in text
        assert keyring.index_key.hex() not in text


def test_locked_serialises_changes(provider: LocalKeyringProvider) -> None:
    import threading
    import time

    provider.create()
    order: list[str] = []

    def other() -> None:
        with provider.locked():
            order.append("other")

    with provider.locked():
        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.1)
        order.append("first")
    thread.join(timeout=5)
    assert order == ["first", "other"]
    assert _mode(provider.path.with_name("keyring.json.lock")) == 0o600


def test_saving_again_derives_the_master_key_once(
    provider: LocalKeyringProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """scrypt is slow on purpose (~0.15 s): a first sync that creates a key per partner saves the keyring
    once per partner, and must not pay it each time."""
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    derivations: list[int] = []
    real_derive = Scrypt.derive

    def counting_derive(self: Scrypt, key_material: bytes) -> bytes:
        derivations.append(1)
        return real_derive(self, key_material)

    monkeypatch.setattr(Scrypt, "derive", counting_derive)
    keyring = provider.create()
    for partner in ("P-001", "P-002", "P-003", "P-004"):
        keyring.rotate(partner)
        provider.save(keyring)
    assert len(derivations) == 1
    loaded = provider.load()
    assert loaded.partners == keyring.partners and loaded.ids == keyring.ids
