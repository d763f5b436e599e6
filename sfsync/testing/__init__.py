"""Test helpers: :class:`FakeSalesforce`, a stateful Salesforce org at the HTTP level.

Usage::

    from sfsync.testing import FakeSalesforce
    import simple_salesforce

    with FakeSalesforce(page_size=200) as fake:
        fake.insert("Account", {"Name": "Acme", "Partner_Number__c": "P-001"})
        sf = simple_salesforce.Salesforce(instance_url=fake.instance_url, session_id=fake.access_token)
        sf.query_all("SELECT Id, Name FROM Account")

What it serves (``{instance_url}/services/data/vNN.N/``, any version): describe/describeGlobal,
sObject get/create/update/delete and upsert by external id (300 on several matches), sObject
Collections (create/update/upsert/delete/retrieve, 200 records, per-record results, allOrNone),
query/queryAll with real pagination (``page_size`` rows a page, ``nextRecordsUrl``), getDeleted /
getUpdated, ``/limits``, Bulk API 2.0 ingest and query jobs, and the login endpoints of every auth mode
(OAuth token endpoint: password, client_credentials, JWT bearer; SOAP login) on any host. Every API
response carries ``Sforce-Limit-Info``; errors have Salesforce's JSON shape. Validation follows the
schema: by default the org a fresh deployment of the shipped mappings' metadata export
gives (law 9); ``FakeSalesforce(org_schema_from_metadata(DIR))`` builds it from any export in
``DIR``. Faults come from a seeded :class:`FaultPlan`.

Seeding with ``fake.insert`` accepts the audit fields (CreatedDate, LastModifiedDate, SystemModstamp,
CreatedById, LastModifiedById, IsDeleted) so tests can place records in time; the API refuses them.

In pytest, the ``fake_salesforce`` fixture (registered by the ``sfsync`` pytest plugin) yields a
started fake built from the ``salesforce_metadata`` export (override that fixture to use your
own), and ``fake_salesforce_env`` gives the ``SFSYNC_SALESFORCE__*``
environment variables for token auth against it.
"""

from sfsync.testing._fake import FakeSalesforce, MissingTimeoutError, RecordedCall
from sfsync.testing._faults import FaultPlan
from sfsync.testing._metadata_org import (
    export_org_metadata,
    org_schema_from_metadata,
    shipped_metadata_schema,
    standard_org_schema,
)
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
    "export_org_metadata",
    "format_datetime",
    "load_org_schema",
    "org_schema_from_metadata",
    "shipped_metadata_schema",
    "standard_org_schema",
]
