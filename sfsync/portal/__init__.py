"""Portal adapters: read changed registrations from the partner portal, write decisions back.

:class:`PortalAdapter` is the interface the sync engine uses; :class:`SqlPortal` implements it on
SQLAlchemy Core for SQLite and PostgreSQL (and other dialects SQLAlchemy can reflect).
"""

from __future__ import annotations

from sfsync.portal._base import (
    FILTER_OPERATORS,
    UNREADABLE,
    FilterCondition,
    FilterOperator,
    PortalAdapter,
    PortalFilter,
    PortalRow,
    StoredValues,
)
from sfsync.portal._sql import SqlPortal

__all__ = [
    "FILTER_OPERATORS",
    "UNREADABLE",
    "FilterCondition",
    "FilterOperator",
    "PortalAdapter",
    "PortalFilter",
    "PortalRow",
    "SqlPortal",
    "StoredValues",
]
