"""Test helpers: :class:`FakeSalesforce`, a stateful Salesforce org at the HTTP level.

Usage::

    from sfsync.testing import FakeSalesforce
    import simple_salesforce

    with FakeSalesforce(page_size=200) as fake:
        fake.insert("Account", {"Name": "Acme", "Partner_Number__c": "P-001"})
        sf = simple_salesforce.Salesforce(instance_url=fake.instance_url, session_id=fake.access_token)
        sf.query_all("SELECT Id, Name FROM Account")

In pytest, the ``fake_salesforce`` fixture (registered by the ``sfsync`` pytest plugin) yields a
started fake with the default schema, and ``fake_salesforce_env`` gives the ``SFSYNC_SALESFORCE__*``
environment variables for token auth against it.
"""

from sfsync.testing._fake import FakeSalesforce, MissingTimeoutError, RecordedCall
from sfsync.testing._faults import FaultPlan
from sfsync.testing._schema import (
    FieldSchema,
    ObjectSchema,
    OrgSchema,
    SchemaError,
    default_org_schema,
    load_org_schema,
)
from sfsync.testing._values import RecordError, format_datetime

__all__ = [
    "FakeSalesforce",
    "FaultPlan",
    "FieldSchema",
    "MissingTimeoutError",
    "ObjectSchema",
    "OrgSchema",
    "RecordError",
    "RecordedCall",
    "SchemaError",
    "default_org_schema",
    "format_datetime",
    "load_org_schema",
]
