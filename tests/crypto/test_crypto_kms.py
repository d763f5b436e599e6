"""Envelope providers: AWS KMS through botocore's Stubber, Vault transit at the HTTP level."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
import responses
from botocore.stub import ANY, Stubber
from pydantic import SecretStr

from sfsync.crypto import (
    AwsKmsKeyWrapper,
    EnvelopeKeyProvider,
    FieldCipher,
    FieldContext,
    KeyringError,
    VaultTransitKeyWrapper,
)

KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/test-key"


class _FakeKms:
    """Stands in for the KMS service behind the Stubber: remembers what it 'encrypted'."""

    def __init__(self) -> None:
        self.blobs: dict[bytes, tuple[bytes, dict[str, str]]] = {}

    def encrypt(self, plaintext: bytes, context: dict[str, str]) -> bytes:
        blob = os.urandom(48)
        self.blobs[blob] = (plaintext, context)
        return blob


def _kms_client() -> Any:
    return boto3.client("kms", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def test_aws_kms_envelope_round_trip(tmp_path: Path, ctx: FieldContext) -> None:
    client = _kms_client()
    fake = _FakeKms()
    path = tmp_path / "keyring.json"
    with Stubber(client) as stub:
        # create(): integrity key, index key, one data key -> three Encrypt calls
        for _ in range(3):
            stub.add_response(
                "encrypt",
                {"CiphertextBlob": b"", "KeyId": KMS_KEY},
                {"KeyId": KMS_KEY, "Plaintext": ANY, "EncryptionContext": ANY},
            )
        # Capture what is wrapped by wrapping the client call.
        original = client.encrypt
        calls: list[dict[str, Any]] = []

        def encrypt(**kwargs: Any) -> dict[str, Any]:
            response = original(**kwargs)
            blob = fake.encrypt(kwargs["Plaintext"], kwargs["EncryptionContext"])
            calls.append(kwargs)
            return {**response, "CiphertextBlob": blob}

        client.encrypt = encrypt
        provider = EnvelopeKeyProvider(path, AwsKmsKeyWrapper(client, KMS_KEY))
        keyring = provider.create()
        stub.assert_no_pending_responses()
    assert {c["EncryptionContext"]["sfsync:purpose"] for c in calls} == {"integrity", "index", "data"}
    assert any(c["EncryptionContext"]["sfsync:key_id"] == keyring.primary_id for c in calls)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    document = json.loads(path.read_text())
    assert document["wrapper"] == {"kind": "aws-kms", "key_id": KMS_KEY}

    token = FieldCipher(keyring).encrypt("notes", ctx)
    client2 = _kms_client()
    with Stubber(client2) as stub:
        for wrapped in [document["integrity_key"], document["index_key"]["wrapped"], document["keys"][0]["wrapped"]]:
            blob = base64.b64decode(wrapped)
            plaintext, context = fake.blobs[blob]
            stub.add_response(
                "decrypt",
                {"Plaintext": plaintext, "KeyId": KMS_KEY},
                {"CiphertextBlob": blob, "EncryptionContext": context, "KeyId": KMS_KEY},
            )
        loaded = EnvelopeKeyProvider(path, AwsKmsKeyWrapper(client2, KMS_KEY)).load()
        stub.assert_no_pending_responses()
    assert FieldCipher(loaded).decrypt(token, ctx) == "notes"


def test_aws_kms_errors_become_keyring_errors(tmp_path: Path) -> None:
    client = _kms_client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "encrypt",
            service_error_code="AccessDeniedException",
            service_message="User arn:aws:iam::111122223333:user/x is not authorized",
            http_status_code=400,
        )
        provider = EnvelopeKeyProvider(tmp_path / "k.json", AwsKmsKeyWrapper(client, KMS_KEY))
        with pytest.raises(KeyringError, match="AccessDeniedException") as info:
            provider.create()
    assert "arn:aws:iam" not in str(info.value)
    assert not (tmp_path / "k.json").exists()


def test_aws_kms_decrypt_error_and_wrong_provider(tmp_path: Path, provider: Any) -> None:
    client = _kms_client()
    wrapper = AwsKmsKeyWrapper(client, KMS_KEY)
    with Stubber(client) as stub:
        stub.add_client_error("decrypt", service_error_code="InvalidCiphertextException", http_status_code=400)
        with pytest.raises(KeyringError, match="InvalidCiphertextException"):
            wrapper.unwrap(base64.b64encode(b"x" * 40).decode(), {"sfsync:key_id": "k1"})
    # A file made by the local provider is refused by the KMS provider.
    provider.create()
    with pytest.raises(KeyringError, match="not AWS KMS"):
        EnvelopeKeyProvider(provider.path, wrapper).load()
    with pytest.raises(KeyringError, match="alias/other"):
        AwsKmsKeyWrapper(client, "alias/other").check_params({"kind": "aws-kms", "key_id": KMS_KEY})


VAULT = "https://vault.example.test:8200"


def _vault_transit(rsps: responses.RequestsMock, store: dict[str, bytes]) -> None:
    def encrypt(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        assert request.headers["X-Vault-Token"] == "vault-test-token"
        plaintext = base64.b64decode(json.loads(request.body or b"{}")["plaintext"])
        ciphertext = "vault:v1:" + base64.b64encode(os.urandom(40)).decode()
        store[ciphertext] = plaintext
        return 200, {}, json.dumps({"data": {"ciphertext": ciphertext, "key_version": 1}})

    def decrypt(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        ciphertext = json.loads(request.body or b"{}")["ciphertext"]
        if ciphertext not in store:
            return 400, {}, json.dumps({"errors": ["invalid ciphertext: unable to decrypt"]})
        return 200, {}, json.dumps({"data": {"plaintext": base64.b64encode(store[ciphertext]).decode()}})

    rsps.add_callback(responses.POST, f"{VAULT}/v1/transit/encrypt/sfsync-kek", callback=encrypt)
    rsps.add_callback(responses.POST, f"{VAULT}/v1/transit/decrypt/sfsync-kek", callback=decrypt)


def _vault_wrapper(**kwargs: Any) -> VaultTransitKeyWrapper:
    return VaultTransitKeyWrapper(VAULT, SecretStr("vault-test-token"), "sfsync-kek", requests.Session(), **kwargs)


def test_vault_transit_round_trip(tmp_path: Path, ctx: FieldContext) -> None:
    store: dict[str, bytes] = {}
    path = tmp_path / "keyring.json"
    with responses.RequestsMock() as rsps:
        _vault_transit(rsps, store)
        keyring = EnvelopeKeyProvider(path, _vault_wrapper()).create()
        token = FieldCipher(keyring).encrypt("notes", ctx)
        loaded = EnvelopeKeyProvider(path, _vault_wrapper()).load()
    assert FieldCipher(loaded).decrypt(token, ctx) == "notes"
    text = path.read_text()
    assert "vault:v1:" in text and "vault-test-token" not in text
    assert json.loads(text)["wrapper"] == {"kind": "vault-transit", "mount": "transit", "key_name": "sfsync-kek"}


def test_vault_errors_carry_no_secrets(tmp_path: Path) -> None:
    with responses.RequestsMock() as rsps:
        rsps.add(
            responses.POST, f"{VAULT}/v1/transit/encrypt/sfsync-kek", status=403, json={"errors": ["permission denied"]}
        )
        with pytest.raises(KeyringError, match="HTTP 403: permission denied") as info:
            EnvelopeKeyProvider(tmp_path / "k.json", _vault_wrapper()).create()
    assert "vault-test-token" not in str(info.value)
    assert not (tmp_path / "k.json").exists()


def test_vault_retries_5xx_then_succeeds() -> None:
    wrapper = _vault_wrapper()
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{VAULT}/v1/transit/encrypt/sfsync-kek", status=503)
        rsps.add(
            responses.POST, f"{VAULT}/v1/transit/encrypt/sfsync-kek", json={"data": {"ciphertext": "vault:v1:abc"}}
        )
        assert wrapper.wrap(b"k" * 32, {}) == "vault:v1:abc"
        assert len(rsps.calls) == 2


def test_vault_gives_up_after_attempts_and_on_connection_errors() -> None:
    wrapper = _vault_wrapper(attempts=2)
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{VAULT}/v1/transit/decrypt/sfsync-kek", body=requests.ConnectionError("refused"))
        rsps.add(responses.POST, f"{VAULT}/v1/transit/decrypt/sfsync-kek", body=requests.ConnectionError("refused"))
        with pytest.raises(KeyringError, match="ConnectionError"):
            wrapper.unwrap("vault:v1:abc", {})
    with pytest.raises(KeyringError, match="not a Vault"):
        wrapper.unwrap("garbage", {})


def test_vault_bad_answer_and_settings() -> None:
    wrapper = _vault_wrapper(namespace="team-a")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, f"{VAULT}/v1/transit/encrypt/sfsync-kek", body="<html>")
        with pytest.raises(KeyringError, match="unexpected answer"):
            wrapper.wrap(b"k" * 32, {})
        assert rsps.calls[0].request.headers["X-Vault-Namespace"] == "team-a"
    with pytest.raises(ValueError):
        VaultTransitKeyWrapper("ftp://x", SecretStr(secrets.token_hex(8)), "k")
    with pytest.raises(ValueError):
        VaultTransitKeyWrapper(VAULT, SecretStr(secrets.token_hex(8)), "../sys")
    assert "vault-test-token" not in repr(wrapper)
