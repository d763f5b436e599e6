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
    """The provider ``[crypto] provider`` names (``SFSYNC_CRYPTO__PROVIDER`` overrides it)."""
    env = os.environ if environ is None else environ
    crypto = settings.crypto
    # Earlier releases read these plain variables; they still work when the settings are unset.
    kind = crypto.provider if crypto.provider != "local" else env.get("SFSYNC_CRYPTO_PROVIDER", "local")
    kind = kind.strip().lower() or "local"
    path = crypto.keyring
    if kind == "local":
        if crypto.master_key is None:
            raise ConfigError(
                "no master key: set SFSYNC_CRYPTO__MASTER_KEY or [crypto] master_key_file "
                "(make one with `sfsync crypto keygen --new-master-key`)",
                ErrorContext(field_name="crypto.master_key"),
            )
        return LocalKeyringProvider(path, crypto.master_key)
    if kind == "aws-kms":
        key_id = crypto.kms_key_id or env.get("SFSYNC_CRYPTO_KMS_KEY_ID")
        if not key_id:
            raise ConfigError('[crypto] provider = "aws-kms" needs [crypto] kms_key_id')
        try:
            import boto3
        except ModuleNotFoundError:
            raise ConfigError("the aws-kms provider needs boto3 (pip install 'sfsync[aws]')") from None
        return EnvelopeKeyProvider(path, AwsKmsKeyWrapper(boto3.client("kms"), key_id))
    if kind == "vault-transit":
        url = crypto.vault_url or env.get("SFSYNC_CRYPTO_VAULT_URL")
        key_name = crypto.vault_key or env.get("SFSYNC_CRYPTO_VAULT_KEY")
        token = (
            crypto.vault_token.get_secret_value()
            if crypto.vault_token is not None
            else env.get("SFSYNC_CRYPTO_VAULT_TOKEN") or env.get("VAULT_TOKEN")
        )
        if not url or not key_name or not token:
            raise ConfigError(
                '[crypto] provider = "vault-transit" needs vault_url, vault_key and a token '
                "(SFSYNC_CRYPTO__VAULT_TOKEN, [crypto] vault_token_file or VAULT_TOKEN)"
            )
        try:
            wrapper = VaultTransitKeyWrapper(
                url,
                SecretStr(token),
                key_name,
                requests.Session(),
                mount=env.get("SFSYNC_CRYPTO_VAULT_MOUNT", crypto.vault_mount),
                namespace=crypto.vault_namespace or env.get("VAULT_NAMESPACE"),
            )
        except ValueError as exc:
            raise ConfigError(f"invalid Vault settings: {exc}") from None
        return EnvelopeKeyProvider(path, wrapper)
    raise ConfigError(f"[crypto] provider must be local, aws-kms or vault-transit, not {kind!r}")


def load_keyring(settings: Settings, environ: Mapping[str, str] | None = None) -> Keyring:
    """The keyring the settings point at (KeyringError / ConfigError when it cannot be opened)."""
    return provider_from_settings(settings, environ).load()
