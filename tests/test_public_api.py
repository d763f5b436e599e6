from __future__ import annotations

import sfsync

PINNED = {
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
    "Settings",
    "SfsyncError",
    "UsageError",
    "__version__",
    "load_settings",
    "SyncJob",
    "RunReport",
    "MappingRunSummary",
}


def test_public_names_are_pinned() -> None:
    assert set(sfsync.__all__) == PINNED
    for name in sfsync.__all__:
        assert hasattr(sfsync, name), name


def test_error_groups_are_disjoint_by_exit_code() -> None:
    assert sfsync.ConfigError("x").exit_code == 2
    assert sfsync.LockHeldError("x").exit_code == 3
    assert sfsync.RecordRejectedError("x").exit_code == 1
    assert issubclass(sfsync.ApiAllowanceExhaustedError, sfsync.FatalError)
    assert issubclass(sfsync.MappingError, sfsync.UsageError)
