"""Which key provider the settings (and, for now, a few environment variables) ask for.

Until ``config.py`` grows the settings, the envelope providers are chosen by environment:

* ``SFSYNC_CRYPTO_PROVIDER``: ``local`` (default), ``aws-kms`` or ``vault-transit``
* ``SFSYNC_CRYPTO_KMS_KEY_ID``: KMS key id, ARN or alias (``aws-kms``; region etc. from the
  usual AWS environment)
* ``SFSYNC_CRYPTO_VAULT_URL``, ``SFSYNC_CRYPTO_VAULT_KEY`` (transit key name),
  ``SFSYNC_CRYPTO_VAULT_MOUNT`` (default ``transit``), token from ``SFSYNC_CRYPTO_VAULT_TOKEN``
  or ``VAULT_TOKEN``, namespace from ``VAULT_NAMESPACE``
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import requests
from pydantic import SecretStr

from sfsync.config import Settings
from sfsync.crypto._keyring import Keyring
from sfsync.crypto._providers import (
    AwsKmsKeyWrapper,
    EnvelopeKeyProvider,
    KeyProvider,
    LocalKeyringProvider,
    VaultTransitKeyWrapper,
)
from sfsync.errors import ConfigError, ErrorContext

__all__ = ["load_keyring", "provider_from_settings"]


def provider_from_settings(settings: Settings, environ: Mapping[str, str] | None = None) -> KeyProvider:
    env = os.environ if environ is None else environ
    kind = env.get("SFSYNC_CRYPTO_PROVIDER", "local").strip().lower() or "local"
    path = settings.crypto.keyring
    if kind == "local":
        if settings.crypto.master_key is None:
            raise ConfigError(
                "no master key: set SFSYNC_CRYPTO__MASTER_KEY or [crypto] master_key_file "
                "(make one with `sfsync crypto keygen --new-master-key`)",
                ErrorContext(field_name="crypto.master_key"),
            )
        return LocalKeyringProvider(path, settings.crypto.master_key)
    if kind == "aws-kms":
        key_id = env.get("SFSYNC_CRYPTO_KMS_KEY_ID")
        if not key_id:
            raise ConfigError("SFSYNC_CRYPTO_PROVIDER=aws-kms needs SFSYNC_CRYPTO_KMS_KEY_ID")
        try:
            import boto3
        except ModuleNotFoundError:
            raise ConfigError("the aws-kms provider needs boto3 (pip install 'sfsync[aws]')") from None
        return EnvelopeKeyProvider(path, AwsKmsKeyWrapper(boto3.client("kms"), key_id))
    if kind == "vault-transit":
        url = env.get("SFSYNC_CRYPTO_VAULT_URL")
        key_name = env.get("SFSYNC_CRYPTO_VAULT_KEY")
        token = env.get("SFSYNC_CRYPTO_VAULT_TOKEN") or env.get("VAULT_TOKEN")
        if not url or not key_name or not token:
            raise ConfigError(
                "SFSYNC_CRYPTO_PROVIDER=vault-transit needs SFSYNC_CRYPTO_VAULT_URL, SFSYNC_CRYPTO_VAULT_KEY "
                "and a token (SFSYNC_CRYPTO_VAULT_TOKEN or VAULT_TOKEN)"
            )
        try:
            wrapper = VaultTransitKeyWrapper(
                url, SecretStr(token), key_name, requests.Session(),
                mount=env.get("SFSYNC_CRYPTO_VAULT_MOUNT", "transit"), namespace=env.get("VAULT_NAMESPACE"),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid Vault settings: {exc}") from None
        return EnvelopeKeyProvider(path, wrapper)
    raise ConfigError(f"SFSYNC_CRYPTO_PROVIDER must be local, aws-kms or vault-transit, not {kind!r}")


def load_keyring(settings: Settings, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring the settings point at (KeyringError / ConfigError when it cannot be opened)."""
    return provider_from_settings(settings, environ).load()
