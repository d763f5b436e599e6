"""What sfsync needs to exist in a Salesforce org, declared as data, and the field-type vocabulary.

The metadata export (:mod:`sfsync.mapping._metadata`) turns these declarations into SFDX source;
the mappings contribute theirs automatically, and other parts of sfsync (the conflict scan and
its writer) declare the objects and fields they read or write with :class:`OrgField` and
:class:`OrgObject`, in one place each, so the export, the online validation and the test org
all read the same list. It lives with the Salesforce gateway, below both the mappings and the
conflict scan, so either may declare what it needs.

:data:`FieldType` is the one list of Salesforce field types (mappings, declarations and the test
org's schema all use it): ``string`` is a Text field, ``textarea`` a Long Text Area above 255
characters, ``reference`` a Lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

__all__ = ["FIELD_TYPES", "Audience", "FieldType", "OrgField", "OrgObject"]

FieldType = Literal[
    "id",
    "string",
    "textarea",
    "email",
    "url",
    "phone",
    "picklist",
    "multipicklist",
    "boolean",
    "int",
    "double",
    "currency",
    "percent",
    "date",
    "datetime",
    "reference",
]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)

# Who may read a field, for the permission sets the export writes:
#   "everyone"   the integration user, channel managers and direct reps
#   "channel"    the integration user and channel managers; never direct reps (ciphertext,
#                blind indexes, banded values: anything a rep could test guesses against)
#   "integration" the integration user only
Audience = Literal["everyone", "channel", "integration"]


@dataclass(frozen=True)
class OrgField:
    """One field sfsync reads or writes. ``sobject`` is the object the field lives on."""

    sobject: str
    name: str
    type: FieldType
    label: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()
    restricted: bool = True
    external_id: bool = False
    unique: bool = False
    required: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None  # without the __r suffix, as metadata spells it
    description: str | None = None
    help_text: str | None = None
    audience: Audience = "everyone"
    # Channel managers may edit it (decisions on registrations, the status of a conflict).
    channel_editable: bool = False
    # Written by sfsync only: direct reps and channel managers get no edit right on it.
    declared_by: str = ""

    @property
    def is_custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def key(self) -> tuple[str, str]:
        return (self.sobject, self.name)


@dataclass(frozen=True)
class OrgObject:
    """A custom object sfsync needs (standard objects are never declared: every org has them)."""

    name: str
    label: str
    plural_label: str
    name_label: str
    # AutoNumber display format, e.g. "CC-{0000000}"; None: a Text(80) name the writer must set.
    name_format: str | None
    description: str = ""
    fields: tuple[OrgField, ...] = field(default_factory=tuple)
    # Channel managers may create/edit records (not delete); direct reps read.
    channel_editable: bool = False
    rep_readable: bool = True
    declared_by: str = ""
