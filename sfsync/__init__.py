"""sfsync: mirror partner registrations between a partner portal and Salesforce.

Public names load on first use, so ``import sfsync`` (and ``sfsync --version``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from sfsync.config import Settings, load_settings
    from sfsync.errors import (
        ApiAllowanceExhaustedError,
        ApiBudgetExceededError,
        AuthenticationError,
        ConfigError,
        DecryptionError,
        FatalError,
        KeyringError,
        LockHeldError,
        MappingError,
        RecordRejectedError,
        RetriableError,
        RetriesExhaustedError,
        SalesforceApiError,
        SfsyncError,
        UsageError,
    )
    from sfsync.services.job import SyncJob
    from sfsync.sync import MappingRunSummary, RunReport

_ERRORS = (
    "ApiAllowanceExhaustedError",
    "ApiBudgetExceededError",
    "AuthenticationError",
    "ConfigError",
    "DecryptionError",
    "FatalError",
    "KeyringError",
    "LockHeldError",
    "MappingError",
    "RecordRejectedError",
    "RetriableError",
    "RetriesExhaustedError",
    "SalesforceApiError",
    "SfsyncError",
    "UsageError",
)
_HOME: dict[str, str] = {
    **dict.fromkeys(_ERRORS, "sfsync.errors"),
    "Settings": "sfsync.config",
    "load_settings": "sfsync.config",
    "MappingRunSummary": "sfsync.sync",
    "RunReport": "sfsync.sync",
    "SyncJob": "sfsync.services.job",
}

__all__ = [
    "ApiAllowanceExhaustedError",
    "ApiBudgetExceededError",
    "AuthenticationError",
    "ConfigError",
    "DecryptionError",
    "FatalError",
    "KeyringError",
    "LockHeldError",
    "MappingError",
    "MappingRunSummary",
    "RecordRejectedError",
    "RetriableError",
    "RetriesExhaustedError",
    "RunReport",
    "SalesforceApiError",
    "Settings",
    "SfsyncError",
    "SyncJob",
    "UsageError",
    "__version__",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'sfsync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
