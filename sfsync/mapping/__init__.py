"""Field mappings: the YAML model, loader, transforms, validation, preview and metadata export.

Sales ops own ``mappings/*.yaml``; the sync engine loads them with :func:`load_mappings` and calls
:meth:`ObjectMapping.to_salesforce` / :meth:`ObjectMapping.to_portal` per record. A mapping file::

    version: 1
    name: deal_registration            # unique, lower_snake_case
    direction: both                    # both | push | pull
    enabled: true                      # false: validated, not synced (an alternative mapping)
    portal:                            # omit for a read-only pull (columns are then output keys)
      table: deal_registrations
      primary_key: registration_number
      updated_at: updated_at           # push watermark
      external_id_column: registration_number
      deleted_at: deleted_at           # optional soft-delete column
      partner_column: partner_number   # optional; needed by per-partner keys
      filter: [{column: status, op: ne, value: withdrawn}]   # optional, AND-ed
    salesforce:
      object: Deal_Registration__c
      external_id_field: Registration_Number__c
      record_type: null                # developer name set on create (e.g. Lead's Deal_Registration)
    fields:
      - column: end_customer_name      # portal column (a list feeds `concat`; omit with `constant`)
        field: End_Customer_Name__c    # Salesforce field (Salesforce-owned reads may be Account.Name)
        type: string                   # Salesforce type: string textarea email url phone picklist
                                       # multipicklist boolean int double currency percent date datetime
                                       # reference id
        owner: portal                  # portal | salesforce: the ONLY side that writes it
        length: 255                    # text length (checked on push; sizes ciphertext)
        required: true                 # push rejects the record when empty (unless `default`)
        default: null                  # written when the value is empty
        on_create_only: false          # written on create, never overwritten
        on_null: keep                  # Salesforce-owned: a null pulled from Salesforce keeps the
                                       # portal value (keep), writes `default` (default) or
                                       # dead-letters the record (reject); unset writes null
        values: [A, B]                 # picklist values, checked offline
        transforms: [trim]             # run in the direction the data flows (see _transforms)
        encrypt:                       # true, or:
          max_plaintext_bytes: 149     #   default: what `length` holds as ciphertext
          blind_index: {field: End_Customer_Name_BIdx__c, normalizer: company_name,
                        bits: null, expected_rows: 1000000}
          per_partner_key: false

Transforms: ``trim``, ``lower``, ``upper``, ``title``, ``null_if_empty``, ``{map: {...}, default,
ignore_case}``, ``{date: FORMAT|iso, timezone}``, ``{datetime: FORMAT|iso, timezone}`` (to UTC),
``number``, ``{round: N, mode}``, ``{currency: N, mode}``, ``{truncate: N}``, ``{concat: SEP}``,
``{split: SEP}``, ``{constant: X}``, ``{lookup: Object.ExternalIdField, relationship}`` and
``{python: name, args}`` for functions registered with :func:`register_transform`.

Portal timestamps without an offset are read as UTC; Salesforce values come back as ``date``,
aware UTC ``datetime``, ``Decimal`` and ``bool``.
"""

from __future__ import annotations

from sfsync.mapping._loader import collect_mappings, load_mappings
from sfsync.mapping._metadata import OrgNeeds, deploy_command, export_metadata, metadata_files, org_needs
from sfsync.mapping._model import (
    BandSpec,
    BlindIndexSpec,
    EncryptSpec,
    FieldMapping,
    FilterCondition,
    MappingSet,
    ObjectMapping,
    OutboundRecord,
    PortalSource,
    SalesforceTarget,
    mapping_json_schema,
)
from sfsync.mapping._preview import preview as preview_record
from sfsync.mapping._problems import FieldProblem, RecordMappingError, ValidationReport
from sfsync.mapping._transforms import LookupValue, TransformError, register_transform, registered_transforms
from sfsync.mapping._validate import validate_offline, validate_online
from sfsync.salesforce._org_needs import OrgField, OrgObject

__all__ = [
    "BandSpec",
    "BlindIndexSpec",
    "EncryptSpec",
    "FieldMapping",
    "FieldProblem",
    "FilterCondition",
    "LookupValue",
    "MappingSet",
    "ObjectMapping",
    "OrgField",
    "OrgNeeds",
    "OrgObject",
    "OutboundRecord",
    "PortalSource",
    "RecordMappingError",
    "SalesforceTarget",
    "TransformError",
    "ValidationReport",
    "collect_mappings",
    "deploy_command",
    "export_metadata",
    "load_mappings",
    "mapping_json_schema",
    "metadata_files",
    "org_needs",
    "preview_record",
    "register_transform",
    "registered_transforms",
    "validate_offline",
    "validate_online",
]
