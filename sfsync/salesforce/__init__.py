"""Salesforce gateway: auth, timeouts, retries, API budget, Collections and Bulk 2.0 upserts, SOQL.

Build every SOQL statement with :func:`format_soql` and every external id that goes into a URL
with :func:`format_external_id`. :class:`OrgField` / :class:`OrgObject` declare what sfsync needs
in an org (see ``_org_needs``).

Names are imported on first use (PEP 562): the mappings and the conflict scan use the field-type
vocabulary and the org declarations without loading simple-salesforce and requests.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._desk_org import DESK_READS, PARTNER_TIERS
    from ._gateway import SalesforceGateway
    from ._org_needs import FIELD_TYPES, FieldType, OrgField, OrgObject
    from ._results import ApiUsage, RecordResult
    from ._soql import format_external_id, format_soql

__all__ = [
    "DESK_READS",
    "FIELD_TYPES",
    "PARTNER_TIERS",
    "ApiUsage",
    "FieldType",
    "OrgField",
    "OrgObject",
    "RecordResult",
    "SalesforceGateway",
    "format_external_id",
    "format_soql",
]

_HOMES = {
    "SalesforceGateway": "._gateway",
    "ApiUsage": "._results",
    "RecordResult": "._results",
    "format_external_id": "._soql",
    "format_soql": "._soql",
    "FIELD_TYPES": "._org_needs",
    "FieldType": "._org_needs",
    "OrgField": "._org_needs",
    "OrgObject": "._org_needs",
    "DESK_READS": "._desk_org",
    "PARTNER_TIERS": "._desk_org",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
