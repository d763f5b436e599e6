"""Salesforce gateway: auth, timeouts, retries, API budget, Collections and Bulk 2.0 upserts, SOQL.

Build every SOQL statement with :func:`format_soql` and every external id that goes into a URL
with :func:`format_external_id`.
"""

from ._gateway import SalesforceGateway
from ._results import ApiUsage, RecordResult
from ._soql import format_external_id, format_soql

__all__ = ["ApiUsage", "RecordResult", "SalesforceGateway", "format_external_id", "format_soql"]
