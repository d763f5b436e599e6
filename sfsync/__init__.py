"""sfsync: mirror partner registrations between a partner portal and Salesforce."""

from __future__ import annotations

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

__version__ = "0.1.0"

# After __version__: the sync package imports modules that read it.
from sfsync.sync import MappingRunSummary, RunReport, SyncJob

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
