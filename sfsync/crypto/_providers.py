"""Where the keyring lives: a JSON file whose key material is wrapped by a key-encryption key.

* :class:`LocalKeyringProvider` — the KEK is derived (scrypt) from a master key held in the
  environment or a file.
* :class:`EnvelopeKeyProvider` — the KEK never leaves a KMS: AWS KMS (:class:`AwsKmsKeyWrapper`)
  or HashiCorp Vault transit (:class:`VaultTransitKeyWrapper`) wraps every data key.

Both write the same file format (``crypto/SPEC.md`` § Key hierarchy): every wrapped item is
bound to its key id and purpose, and the whole document carries an HMAC under a wrapped
integrity key, so states, primaries and wrapped blobs cannot be edited or swapped unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import requests
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import SecretStr
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from sfsync.crypto._format import b64url_decode, b64url_encode
from sfsync.crypto._keyring import KeyMaterial, Keyring, KeyState
from sfsync.errors import ErrorContext, KeyringError

__all__ = [
    "AwsKmsKeyWrapper",
    "EnvelopeKeyProvider",
    "KeyProvider",
    "KeyWrapper",
    "LocalKeyringProvider",
    "VaultTransitKeyWrapper",
]

FILE_FORMAT = "sfsync-keyring"
FILE_VERSION = 1
DEFAULT_SCRYPT_N = 2**15
MIN_SCRYPT_N = 2**10
_SCRYPT_R = 8
_SCRYPT_P = 1


def _canonical(document: Any) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


@runtime_checkable
class KeyWrapper(Protocol):
    """Wraps and unwraps key material under a key-encryption key the caller never sees."""

    kind: str

    def params(self) -> dict[str, Any]:
        """Non-secret parameters recorded in the keyring file."""
        ...

    def check_params(self, params: dict[str, Any]) -> None:
        """Raise KeyringError if a file written with ``params`` cannot be opened by this wrapper."""
        ...

    def wrap(self, plaintext: bytes, context: dict[str, str]) -> str: ...

    def unwrap(self, wrapped: str, context: dict[str, str]) -> bytes: ...


class _MasterKeyWrapper:
    """AES-256-GCM under scrypt(master key, salt); the context is the authenticated data."""

    kind = "local-scrypt"

    def __init__(self, master_key: SecretStr, salt: bytes, n: int) -> None:
        self._salt = salt
        self._n = n
        # Derived once per wrapper: scrypt is deliberately slow.
        kdf = Scrypt(salt=salt, length=32, n=n, r=_SCRYPT_R, p=_SCRYPT_P)
        self._aead = AESGCM(kdf.derive(master_key.get_secret_value().encode("utf-8")))

    def __repr__(self) -> str:
        return f"_MasterKeyWrapper(n={self._n})"

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "salt": b64url_encode(self._salt), "n": self._n, "r": _SCRYPT_R, "p": _SCRYPT_P}

    def check_params(self, params: dict[str, Any]) -> None:
        if params != self.params():
            raise KeyringError("keyring file was written with other key-wrapping parameters")

    def wrap(self, plaintext: bytes, context: dict[str, str]) -> str:
        nonce = os.urandom(12)
        return b64url_encode(nonce + self._aead.encrypt(nonce, plaintext, _canonical(context)))

    def unwrap(self, wrapped: str, context: dict[str, str]) -> bytes:
        raw = b64url_decode(wrapped)
        if raw is None or len(raw) < 28:
            raise KeyringError("wrapped key is malformed")
        try:
            return self._aead.decrypt(raw[:12], raw[12:], _canonical(context))
        except InvalidTag:
            raise KeyringError("cannot unwrap the keyring: wrong master key, or the file was modified") from None


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str):
            return code
    return type(exc).__name__


class AwsKmsKeyWrapper:
    """Wraps data keys with AWS KMS ``Encrypt``/``Decrypt``; the context becomes the EncryptionContext.

    The EncryptionContext (key id and purpose, never secret) is logged by CloudTrail, so every
    unwrap of a data key is auditable, and a blob decrypted under another key id fails in KMS.
    """

    kind = "aws-kms"

    def __init__(self, kms_client: Any, key_id: str) -> None:
        if not key_id:
            raise ValueError("key_id (a KMS key id, ARN or alias) is required")
        self._client = kms_client
        self.key_id = key_id

    def __repr__(self) -> str:
        return f"AwsKmsKeyWrapper(key_id={self.key_id!r})"

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "key_id": self.key_id}

    def check_params(self, params: dict[str, Any]) -> None:
        if params.get("kind") != self.kind:
            raise KeyringError(f"keyring file is wrapped by {params.get('kind')!r}, not AWS KMS")
        if params.get("key_id") != self.key_id:
            # Not fatal for Decrypt (the blob names its key), but the operator should know.
            raise KeyringError(f"keyring file is wrapped by KMS key {params.get('key_id')!r}, not {self.key_id!r}")

    def wrap(self, plaintext: bytes, context: dict[str, str]) -> str:
        try:
            response = self._client.encrypt(KeyId=self.key_id, Plaintext=plaintext, EncryptionContext=context)
        except Exception as exc:  # botocore is optional: classify by shape, never echo the request
            raise KeyringError(f"AWS KMS Encrypt failed: {_client_error_code(exc)}") from None
        return base64.b64encode(response["CiphertextBlob"]).decode("ascii")

    def unwrap(self, wrapped: str, context: dict[str, str]) -> bytes:
        try:
            blob = base64.b64decode(wrapped, validate=True)
        except (binascii.Error, ValueError):
            raise KeyringError("wrapped key is malformed") from None
        try:
            response = self._client.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=self.key_id)
        except Exception as exc:
            raise KeyringError(f"AWS KMS Decrypt failed: {_client_error_code(exc)}") from None
        plaintext = response.get("Plaintext")
        if not isinstance(plaintext, bytes):
            raise KeyringError("AWS KMS Decrypt returned no plaintext")
        return plaintext


class _VaultRetry(Exception):
    pass


class VaultTransitKeyWrapper:
    """Wraps data keys with Vault's transit engine (``/v1/transit/encrypt|decrypt/<key>``)."""

    kind = "vault-transit"

    def __init__(
        self,
        url: str,
        token: SecretStr,
        key_name: str,
        session: requests.Session | None = None,
        *,
        mount: str = "transit",
        namespace: str | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        attempts: int = 3,
    ) -> None:
        if not re.fullmatch(r"https?://[^\s]+", url):
            raise ValueError("url must be an http(s) URL")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", key_name) or not re.fullmatch(r"[A-Za-z0-9_/-]+", mount):
            raise ValueError("key_name and mount must be plain Vault path segments")
        self.url = url.rstrip("/")
        self._token = token
        self.key_name = key_name
        self.mount = mount.strip("/")
        self.namespace = namespace
        self._session = session or requests.Session()
        self._timeout = timeout
        self._attempts = max(1, attempts)

    def __repr__(self) -> str:
        return f"VaultTransitKeyWrapper(url={self.url!r}, key_name={self.key_name!r})"

    def params(self) -> dict[str, Any]:
        return {"kind": self.kind, "mount": self.mount, "key_name": self.key_name}

    def check_params(self, params: dict[str, Any]) -> None:
        if params.get("kind") != self.kind:
            raise KeyringError(f"keyring file is wrapped by {params.get('kind')!r}, not Vault transit")
        if params.get("key_name") != self.key_name or params.get("mount") != self.mount:
            raise KeyringError(
                f"keyring file is wrapped by Vault key {params.get('mount')}/{params.get('key_name')}, "
                f"not {self.mount}/{self.key_name}"
            )

    def _post(self, operation: str, body: dict[str, str]) -> dict[str, Any]:
        endpoint = f"{self.url}/v1/{self.mount}/{operation}/{quote(self.key_name, safe='')}"
        headers = {"X-Vault-Token": self._token.get_secret_value()}
        if self.namespace:
            headers["X-Vault-Namespace"] = self.namespace

        @retry(
            retry=retry_if_exception_type(_VaultRetry),
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            reraise=True,
        )
        def call() -> requests.Response:
            try:
                response = self._session.post(endpoint, json=body, headers=headers, timeout=self._timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise _VaultRetry(type(exc).__name__) from None
            if response.status_code >= 500 or response.status_code == 429:
                raise _VaultRetry(f"HTTP {response.status_code}")
            return response

        try:
            response = call()
        except _VaultRetry as exc:
            raise KeyringError(
                f"Vault transit {operation} failed: {exc}", ErrorContext(extra={"url": self.url})
            ) from None
        if response.status_code != 200:
            raise KeyringError(
                f"Vault transit {operation} failed: HTTP {response.status_code}{_vault_errors(response)}",
                ErrorContext(http_status=response.status_code),
            )
        try:
            data = response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise KeyringError(f"Vault transit {operation} returned an unexpected answer") from None
        if not isinstance(data, dict):
            raise KeyringError(f"Vault transit {operation} returned an unexpected answer")
        return data

    def wrap(self, plaintext: bytes, context: dict[str, str]) -> str:
        data = self._post("encrypt", {"plaintext": base64.b64encode(plaintext).decode("ascii")})
        ciphertext = data.get("ciphertext")
        if not isinstance(ciphertext, str) or not ciphertext.startswith("vault:v"):
            raise KeyringError("Vault transit encrypt returned no ciphertext")
        return ciphertext

    def unwrap(self, wrapped: str, context: dict[str, str]) -> bytes:
        if not wrapped.startswith("vault:v"):
            raise KeyringError("wrapped key is not a Vault transit ciphertext")
        data = self._post("decrypt", {"ciphertext": wrapped})
        try:
            return base64.b64decode(str(data["plaintext"]), validate=True)
        except (KeyError, binascii.Error, ValueError):
            raise KeyringError("Vault transit decrypt returned no plaintext") from None


def _vault_errors(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors")
    except ValueError:
        return ""
    if not isinstance(errors, list) or not errors:
        return ""
    text = "; ".join(str(e) for e in errors)
    return ": " + (text[:200] + "…" if len(text) > 200 else text)


@runtime_checkable
class KeyProvider(Protocol):
    """Loads and stores a :class:`Keyring`."""

    path: Path

    def exists(self) -> bool: ...

    def load(self) -> Keyring: ...

    def save(self, keyring: Keyring) -> None: ...

    def create(self) -> Keyring: ...

    def rewrap(self, keyring: Keyring) -> None:
        """Write ``keyring`` under this provider's key-encryption key, whatever wrapped the file before."""
        ...

    def locked(self) -> contextlib.AbstractContextManager[None]: ...


class _FileKeyringProvider:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(path={str(self.path)!r})"

    # The wrapper for a new file / for an existing file's parameters.
    def _new_wrapper(self) -> KeyWrapper:
        raise NotImplementedError

    def _wrapper_for(self, params: dict[str, Any]) -> KeyWrapper:
        raise NotImplementedError

    def _error(self, message: str) -> KeyringError:
        return KeyringError(message, ErrorContext(file=str(self.path)))

    def exists(self) -> bool:
        return self.path.exists()

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<keyring>.lock`` for a load-change-save sequence.

        Without it, two concurrent rotations would each save their own new key and the second
        save would drop the first one's key — values encrypted under it would be lost.
        """
        try:
            import fcntl
        except ModuleNotFoundError:  # pragma: no cover - not POSIX: no advisory locking
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def create(self) -> Keyring:
        if self.path.exists():
            raise self._error("a keyring already exists here; refusing to overwrite keys")
        keyring = Keyring.generate()
        self._write(keyring, self._new_wrapper())
        return keyring

    def save(self, keyring: Keyring) -> None:
        if not self.path.exists():
            self._write(keyring, self._new_wrapper())
            return
        document = self._read_document()
        if _generation(document) > keyring.generation:
            # Someone saved a newer keyring since this one was loaded: writing would drop its keys.
            raise self._error("the keyring file changed since it was loaded; load it again and retry")
        # The file's own wrapper (a local master key's scrypt is derived once per provider and salt, not
        # once per save: a first sync that creates a key for each of 1,000 partners saves 1,000 times).
        self._write(keyring, self._wrapper_for(document["wrapper"]))

    def rewrap(self, keyring: Keyring) -> None:
        """Re-wrap every key of ``keyring`` under this provider's KEK (new master key, KMS or Vault key)."""
        self._write(keyring, self._new_wrapper())

    # -- reading ------------------------------------------------------------------------------
    def _check_permissions(self) -> None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            raise self._error("keyring file not found (create one with `sfsync crypto keygen`)") from None
        except OSError as exc:
            raise self._error(f"cannot read keyring file: {exc.strerror}") from None
        if os.name == "posix" and info.st_mode & 0o077:
            raise self._error(
                f"keyring file is accessible by group or others (mode {stat.S_IMODE(info.st_mode):04o}); "
                "run `chmod 600` on it"
            )

    def _read_document(self) -> dict[str, Any]:
        self._check_permissions()
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            raise self._error("keyring file is corrupted (not readable JSON)") from None
        if (
            not isinstance(document, dict)
            or document.get("format") != FILE_FORMAT
            or not isinstance(document.get("wrapper"), dict)
        ):
            raise self._error("not an sfsync keyring file")
        if document.get("version") != FILE_VERSION:
            raise self._error(f"unsupported keyring file version {document.get('version')!r}")
        return document

    def load(self) -> Keyring:
        document = self._read_document()
        wrapper = self._wrapper_for(document["wrapper"])
        try:
            integrity = wrapper.unwrap(str(document["integrity_key"]), _context("integrity", "integrity"))
            body = {k: v for k, v in document.items() if k != "mac"}
            expected = hmac.new(integrity, _canonical(body), sha256).digest()
            if not hmac.compare_digest(b64url_encode(expected), str(document.get("mac", ""))):
                raise self._error("keyring file was modified (integrity check failed)")
            index = document["index_key"]
            index_id = str(index["id"])
            index_key = wrapper.unwrap(str(index["wrapped"]), _context(index_id, "index"))
            keys: list[KeyMaterial] = []
            for entry in document["keys"]:
                key_id = str(entry["id"])
                state = KeyState(entry["state"])
                secret = None
                if state is not KeyState.DESTROYED:
                    secret = wrapper.unwrap(str(entry["wrapped"]), _context(key_id, "data"))
                keys.append(
                    KeyMaterial(key_id, state, datetime.fromisoformat(entry["created"]), entry.get("partner"), secret)
                )
            primaries: dict[str | None, str] = {None: str(document["primary"])}
            for partner, key_id in dict(document.get("partner_primaries", {})).items():
                primaries[str(partner)] = str(key_id)
            return Keyring(keys, primaries, index_key, index_key_id=index_id, generation=_generation(document))
        except KeyringError as exc:
            if exc.context.file is None:
                raise self._error(exc.message) from None
            raise
        except (KeyError, TypeError, ValueError):
            raise self._error("keyring file is corrupted (missing or invalid entries)") from None

    # -- writing ------------------------------------------------------------------------------
    def _write(self, keyring: Keyring, wrapper: KeyWrapper) -> None:
        """Write the file with the next generation number (``keyring.generation`` becomes it)."""
        generation = keyring.generation + 1
        integrity = os.urandom(32)
        keys = []
        for key in keyring.keys:
            entry: dict[str, Any] = {
                "id": key.key_id,
                "state": key.state.value,
                "created": key.created.isoformat(),
                "partner": key.partner,
                "wrapped": None,
            }
            if key.secret is not None and key.state is not KeyState.DESTROYED:
                entry["wrapped"] = wrapper.wrap(key.secret, _context(key.key_id, "data"))
            keys.append(entry)
        body: dict[str, Any] = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "wrapper": wrapper.params(),
            "integrity_key": wrapper.wrap(integrity, _context("integrity", "integrity")),
            "index_key": {
                "id": keyring.index_key_id,
                "wrapped": wrapper.wrap(keyring.index_key, _context(keyring.index_key_id, "index")),
            },
            "primary": keyring.primary_id,
            "partner_primaries": {p: k for p, k in keyring.primaries.items() if p is not None},
            "keys": keys,
            "generation": generation,
        }
        body["mac"] = b64url_encode(hmac.new(integrity, _canonical(body), sha256).digest())
        self._atomic_write(json.dumps(body, indent=2, sort_keys=True) + "\n")
        keyring.generation = generation

    def _atomic_write(self, text: str) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # mkstemp creates the file 0600, so no window where another user could read it.
        fd, temp_name = tempfile.mkstemp(prefix=".keyring-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp_name, 0o600)
            os.replace(temp_name, self.path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise


def _generation(document: dict[str, Any]) -> int:
    """The write counter of a keyring file (files from before the counter count as 0)."""
    value = document.get("generation", 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise KeyringError("keyring file has an invalid generation")
    return value


def _context(key_id: str, purpose: str) -> dict[str, str]:
    return {"sfsync:keyring": "v1", "sfsync:key_id": key_id, "sfsync:purpose": purpose}


class LocalKeyringProvider(_FileKeyringProvider):
    """Keyring file wrapped by a master key (scrypt-derived AES-256-GCM key)."""

    def __init__(self, path: Path, master_key: SecretStr, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        super().__init__(path)
        if not isinstance(master_key, SecretStr):
            raise TypeError("master_key must be a pydantic SecretStr")
        if len(master_key.get_secret_value()) < 16:
            raise KeyringError("the master key is too short (use `sfsync crypto keygen --new-master-key`)")
        if scrypt_n < MIN_SCRYPT_N or scrypt_n & (scrypt_n - 1):
            raise ValueError(f"scrypt_n must be a power of two >= {MIN_SCRYPT_N}")
        self._master_key = master_key
        self._scrypt_n = scrypt_n
        self._wrappers: dict[tuple[bytes, int], _MasterKeyWrapper] = {}

    def _wrapper(self, salt: bytes, n: int) -> _MasterKeyWrapper:
        if (salt, n) not in self._wrappers:
            self._wrappers[(salt, n)] = _MasterKeyWrapper(self._master_key, salt, n)
        return self._wrappers[(salt, n)]

    def _new_wrapper(self) -> KeyWrapper:
        return self._wrapper(os.urandom(16), self._scrypt_n)

    def _wrapper_for(self, params: dict[str, Any]) -> KeyWrapper:
        if params.get("kind") != _MasterKeyWrapper.kind:
            raise self._error(f"keyring file is wrapped by {params.get('kind')!r}, not a local master key")
        salt = b64url_decode(str(params.get("salt", "")))
        n = params.get("n")
        if (
            salt is None
            or len(salt) < 16
            or not isinstance(n, int)
            or n < MIN_SCRYPT_N
            or n & (n - 1)
            or params.get("r") != _SCRYPT_R
            or params.get("p") != _SCRYPT_P
        ):
            raise self._error("keyring file has invalid key-derivation parameters")
        return self._wrapper(salt, n)


class EnvelopeKeyProvider(_FileKeyringProvider):
    """Keyring file whose data keys are wrapped by a KMS-held key-encryption key."""

    def __init__(self, path: Path, wrapper: KeyWrapper) -> None:
        super().__init__(path)
        self._wrapper_obj = wrapper

    def _new_wrapper(self) -> KeyWrapper:
        return self._wrapper_obj

    def _wrapper_for(self, params: dict[str, Any]) -> KeyWrapper:
        try:
            self._wrapper_obj.check_params(params)
        except KeyringError as exc:
            raise self._error(exc.message) from None
        return self._wrapper_obj
