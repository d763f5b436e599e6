"""The sync engine (push, pull), and its state store (``sfsync.services.job.SyncJob`` drives them from settings)."""

from __future__ import annotations

from sfsync.sync._engine import EngineOptions, PayloadProtector, SalesforcePort, SyncEngine, SyncOptions
from sfsync.sync._report import MappingRunSummary, PlannedChange, RunReport
from sfsync.sync._state import DeadLetter, LedgerEntry, RunRecord, StateStore

__all__ = [
    "DeadLetter",
    "EngineOptions",
    "LedgerEntry",
    "MappingRunSummary",
    "PayloadProtector",
    "PlannedChange",
    "RunRecord",
    "RunReport",
    "SalesforcePort",
    "StateStore",
    "SyncEngine",
    "SyncOptions",
]
