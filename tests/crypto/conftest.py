"""Fixtures for the crypto tests: generated keys only, never fixed secrets."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr

from sfsync.crypto import FieldCipher, FieldContext, Keyring, LocalKeyringProvider


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.generate()


@pytest.fixture
def cipher(keyring: Keyring) -> FieldCipher:
    return FieldCipher(keyring)


@pytest.fixture
def ctx() -> FieldContext:
    return FieldContext(sobject="Deal_Registration__c", field="Competitive_Notes__c", record_key="DR-000123")


@pytest.fixture
def master_key() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(32))


@pytest.fixture
def provider(tmp_path: Path, master_key: SecretStr) -> LocalKeyringProvider:
    # A cheap scrypt cost keeps the suite fast; the default cost is tested once on its own.
    return LocalKeyringProvider(tmp_path / "keys" / "keyring.json", master_key, scrypt_n=2**10)
