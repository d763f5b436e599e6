"""Field mappings: the YAML model, loader, transforms, validation and preview.

Sales ops own ``mappings/*.yaml``; the sync engine loads them with :func:`load_mappings` and
calls :meth:`Mapping.to_salesforce` / :meth:`Mapping.to_portal` per record.
"""

from __future__ import annotations

from sfsync.mapping._loader import collect_mappings, load_mappings
from sfsync.mapping._model import (
    BlindIndexSpec,
    EncryptSpec,
    FieldMapping,
    FilterCondition,
    Mapping,
    MappingSet,
    OutboundRecord,
    PortalSource,
    SalesforceTarget,
)
from sfsync.mapping._problems import FieldProblem, RecordMappingError, ValidationReport
from sfsync.mapping._transforms import LookupValue, TransformError, register_transform, registered_transforms
from sfsync.mapping._validate import validate_offline, validate_online

__all__ = [
    "BlindIndexSpec",
    "EncryptSpec",
    "FieldMapping",
    "FieldProblem",
    "FilterCondition",
    "LookupValue",
    "Mapping",
    "MappingSet",
    "OutboundRecord",
    "PortalSource",
    "RecordMappingError",
    "SalesforceTarget",
    "TransformError",
    "ValidationReport",
    "collect_mappings",
    "load_mappings",
    "register_transform",
    "registered_transforms",
    "validate_offline",
    "validate_online",
]
