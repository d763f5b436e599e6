"""Org schema for :class:`FakeSalesforce`: which objects and fields exist, and their rules.

The packaged ``schemas/standard.yaml`` holds the standard objects as Salesforce ships them; the
custom objects and fields of a test org come from exported metadata only (law 9, see
``sfsync.testing._metadata_org``). Users may still load their own YAML files with
:func:`load_org_schema` (files are merged in order; an object declared in several files gets the
union of its fields, a field declared twice takes the later declaration)::

    objects:
      Account:                       # API name of the object (custom ones end in __c)
        label: Account               # optional, defaults to the API name
        custom: false                # optional, defaults to name.endswith("__c")
        key_prefix: "001"            # optional 3-char Id prefix; derived from the name when absent
        owned: true                  # optional: adds OwnerId (-> User, relationship Owner); default true
        name_field:                  # optional; the Name field. null = the object has no Name field
          type: string               #   default {type: string, length: 255, required: true}
          length: 255
          required: true
          compound: [FirstName, LastName]   # Name computed from these (Contact, Lead, User); read-only
        record_types: [Partner, Direct]     # optional record type names (served by describe)
        fields:
          Partner_Number__c:
            type: string             # id|string|textarea|email|url|phone|picklist|multipicklist|boolean|
                                     # int|double|currency|percent|date|datetime|reference
            label: Partner Number    # optional, defaults to the API name without __c and underscores
            length: 40               # text types; defaults: string 255, textarea 32768 (long text up to
                                     # 131072), email 80, url 255, phone 40, picklist 255, multipicklist 4099
            precision: 18            # numbers: total digits (default 18)
            scale: 2                 # numbers: digits after the point (default 0 int, 2 currency/percent,
                                     # 4 double)
            required: false          # REQUIRED_FIELD_MISSING when absent on create or set to null
            unique: true             # DUPLICATE_VALUE on a clash (case-insensitive like Salesforce)
            external_id: true        # usable for upserts and relationship lookups (implies indexed)
            createable: true         # false -> INVALID_FIELD_FOR_INSERT_UPDATE on insert
            updateable: true         # false -> INVALID_FIELD_FOR_INSERT_UPDATE on update
            values: [Gold, Platinum] # picklist / multipicklist values (first is not a default)
            restricted: true         # restricted picklist: other values are rejected
            reference_to: Account    # reference fields: the target object (a list is allowed)
            relationship_name: Partner_Account__r  # defaults: Foo__c -> Foo__r, FooId -> Foo
            default: Open            # value used when the field is absent on create

System fields are added by the loader: ``Id``, ``Name`` (unless ``name_field: null``), ``OwnerId``
(when ``owned``), ``CreatedDate``, ``CreatedById``, ``LastModifiedDate``, ``LastModifiedById``,
``SystemModstamp`` and ``IsDeleted``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sfsync.salesforce._org_needs import FieldType  # one list of Salesforce field types for all

__all__ = [
    "FieldSchema",
    "FieldType",
    "ObjectSchema",
    "OrgSchema",
    "SchemaError",
    "default_org_schema",
    "load_org_schema",
]

TEXT_TYPES = frozenset({"id", "string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_DEFAULT_LENGTH: dict[str, int] = {
    "id": 18,
    "reference": 18,
    "string": 255,
    "textarea": 32768,
    "email": 80,
    "url": 255,
    "phone": 40,
    "picklist": 255,
    "multipicklist": 4099,
}
_DEFAULT_SCALE: dict[str, int] = {"int": 0, "double": 4, "currency": 2, "percent": 2}

# Standard key prefixes, so Ids look like the ones users know.
_KNOWN_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Lead": "00Q",
    "User": "005",
    "UserRole": "00E",
    "Profile": "00e",
    "RecordType": "012",
    "Case": "500",
    "Task": "00T",
    "Event": "00U",
    "Campaign": "701",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
}

SYSTEM_FIELDS = (
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
)


class SchemaError(ValueError):
    """A schema file or mapping is invalid; the message names the file and the object/field."""


class FieldSchema(BaseModel):
    """One field of an object."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: FieldType = "string"
    label: str | None = None
    length: int | None = Field(default=None, ge=1, le=131072)
    precision: int | None = Field(default=None, ge=1, le=18)
    scale: int | None = Field(default=None, ge=0, le=17)
    required: bool = False
    unique: bool = False
    external_id: bool = False
    createable: bool = True
    updateable: bool = True
    values: tuple[str, ...] = ()
    restricted: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    default: Any = None
    calculated: bool = False
    compound: tuple[str, ...] = ()
    auto_number: str | None = Field(default=None, description='display format such as "CC-{0000000}"')
    system: bool = Field(default=False, description="added by the loader, not declared (skipped by merge)")

    @field_validator("reference_to", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        base = self.name.removesuffix("__c")
        if base.endswith("Id") and self.type == "reference" and base != "Id":
            base = base[:-2] + " ID"
        return base.replace("_", " ")

    @property
    def effective_length(self) -> int:
        return self.length if self.length is not None else _DEFAULT_LENGTH.get(self.type, 0)

    @property
    def effective_precision(self) -> int:
        return self.precision if self.precision is not None else 18

    @property
    def effective_scale(self) -> int:
        return self.scale if self.scale is not None else _DEFAULT_SCALE.get(self.type, 0)

    @property
    def effective_relationship_name(self) -> str | None:
        if self.type != "reference":
            return None
        if self.relationship_name:
            return self.relationship_name
        if self.name.endswith("__c"):
            return self.name[:-3] + "__r"
        if self.name.endswith("Id"):
            return self.name[:-2]
        return None

    @property
    def is_custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def nillable(self) -> bool:
        return not self.required and self.type != "boolean" and self.name != "Id"


class ObjectSchema(BaseModel):
    """One sObject: its fields (system fields included once loaded) and Id prefix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str | None = None
    custom: bool | None = None
    key_prefix: str | None = Field(default=None, min_length=3, max_length=3)
    owned: bool = True
    record_types: tuple[str, ...] = ()
    fields: dict[str, FieldSchema] = Field(default_factory=dict)

    @property
    def display_label(self) -> str:
        return self.label or self.name.removesuffix("__c").replace("_", " ")

    @property
    def is_custom(self) -> bool:
        return self.custom if self.custom is not None else self.name.endswith("__c")

    @property
    def prefix(self) -> str:
        if self.key_prefix:
            return self.key_prefix
        if self.name in _KNOWN_PREFIXES:
            return _KNOWN_PREFIXES[self.name]
        # Custom objects get "a" + two base-36 chars derived from the name: stable across runs.
        digest = int(hashlib.sha256(self.name.encode()).hexdigest(), 16)
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        return "a" + alphabet[digest % 36] + alphabet[(digest // 36) % 36]

    def field(self, name: str) -> FieldSchema | None:
        """The field named ``name``, matched case-insensitively like Salesforce does."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.name.lower() == lowered:
                return candidate
        return None

    def relationship(self, name: str) -> FieldSchema | None:
        """The reference field whose relationship name is ``name`` (case-insensitive)."""
        lowered = name.lower()
        for candidate in self.fields.values():
            rel = candidate.effective_relationship_name
            if rel is not None and rel.lower() == lowered:
                return candidate
        return None


class OrgSchema(BaseModel):
    """Every object of the fake org."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    objects: dict[str, ObjectSchema] = Field(default_factory=dict)

    def get(self, name: str) -> ObjectSchema | None:
        found = self.objects.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        for candidate in self.objects.values():
            if candidate.name.lower() == lowered:
                return candidate
        return None

    def by_prefix(self, prefix: str) -> ObjectSchema | None:
        for candidate in self.objects.values():
            if candidate.prefix == prefix:
                return candidate
        return None

    def merge(self, other: OrgSchema) -> OrgSchema:
        """A new schema with ``other``'s objects and fields added (``other`` wins on clashes)."""
        objects = dict(self.objects)
        for name, obj in other.objects.items():
            existing = self.get(name)
            if existing is None:
                objects[name] = obj
                continue
            fields = {**existing.fields, **{k: v for k, v in obj.fields.items() if not v.system}}
            updates = obj.model_dump(exclude_unset=True, exclude={"name", "fields"})
            objects[existing.name] = existing.model_copy(update={**updates, "fields": fields})
        schema = OrgSchema(objects=objects)
        _check_references(schema, "<merge>")
        return schema

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "<mapping>", check_references: bool = True
    ) -> OrgSchema:
        """Build a schema from the parsed YAML structure (``{"objects": {...}}``).

        ``check_references=False`` builds a fragment meant for :meth:`merge` into a schema that
        has the referenced objects (``User`` for OwnerId, for example); the merge checks them.
        """
        merged: dict[str, dict[str, Any]] = {}
        _merge_document(merged, data, source)
        return _build(merged, source=source, check_references=check_references)

    def extend(self, data: Mapping[str, Any], *, source: str = "<mapping>") -> OrgSchema:
        """This schema plus the objects/fields of a YAML-shaped mapping (fields of the same object merge)."""
        return self.merge(OrgSchema.from_mapping(data, source=source, check_references=False))


def _merge_document(merged: dict[str, dict[str, Any]], data: Any, source: str) -> None:
    if not isinstance(data, Mapping) or not isinstance(data.get("objects"), Mapping):
        raise SchemaError(f"{source}: expected a mapping with an 'objects' key")
    extra = set(data) - {"objects"}
    if extra:
        raise SchemaError(f"{source}: unknown top-level keys {sorted(extra)}")
    for name, raw_spec in data["objects"].items():
        spec = {} if raw_spec is None else raw_spec
        if not isinstance(spec, Mapping):
            raise SchemaError(f"{source}: object {name}: expected a mapping")
        _merge_raw(merged, str(name), dict(spec))


def _merge_raw(merged: dict[str, dict[str, Any]], name: str, spec: dict[str, Any]) -> None:
    target = merged.setdefault(name, {"fields": {}})
    for key, value in spec.items():
        if key == "fields":
            fields = value or {}
            if not isinstance(fields, Mapping):
                raise SchemaError(f"object {name}: 'fields' must be a mapping")
            for field_name, field_spec in fields.items():
                target["fields"][str(field_name)] = dict(field_spec or {})
        else:
            target[key] = value


def _build(merged: Mapping[str, Mapping[str, Any]], *, source: str, check_references: bool = True) -> OrgSchema:
    objects: dict[str, ObjectSchema] = {}
    for name, merged_spec in merged.items():
        spec = dict(merged_spec)
        raw_fields: dict[str, Any] = dict(spec.pop("fields", {}) or {})
        has_name = "name_field" not in spec or spec["name_field"] is not None
        declared_name = "name_field" in spec
        name_spec = spec.pop("name_field", None) or {}
        owned = bool(spec.get("owned", True))
        fields: dict[str, Any] = {
            "Id": {
                "type": "id",
                "createable": False,
                "updateable": False,
                "label": f"{name} ID",
                "unique": True,
                "system": True,
            },
        }
        if has_name:
            name_defaults: dict[str, Any] = {
                "type": "string",
                "length": 255,
                "required": True,
                "label": "Name",
                "system": not declared_name,
            }
            name_defaults.update(name_spec)
            if name_defaults.get("compound"):
                name_defaults.update(required=False, createable=False, updateable=False, calculated=True)
            fields["Name"] = name_defaults
        if owned:
            fields["OwnerId"] = {
                "type": "reference",
                "reference_to": ["User"],
                "relationship_name": "Owner",
                "label": "Owner ID",
                "system": True,
            }
        fields.update(raw_fields)
        for audit in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            fields[audit] = {"type": "datetime", "createable": False, "updateable": False, "system": True}
        for audit_ref, rel in (("CreatedById", "CreatedBy"), ("LastModifiedById", "LastModifiedBy")):
            fields[audit_ref] = {
                "type": "reference",
                "reference_to": ["User"],
                "relationship_name": rel,
                "createable": False,
                "updateable": False,
                "system": True,
            }
        fields["IsDeleted"] = {
            "type": "boolean",
            "createable": False,
            "updateable": False,
            "label": "Deleted",
            "system": True,
        }
        try:
            built_fields = {fname: FieldSchema(name=fname, **fspec) for fname, fspec in fields.items()}
            objects[name] = ObjectSchema(name=name, fields=built_fields, **spec)
        except (ValidationError, TypeError) as exc:
            raise SchemaError(f"{source}: object {name}: {exc}") from exc
    schema = OrgSchema(objects=objects)
    if check_references:
        _check_references(schema, source)
    return schema


def _check_references(schema: OrgSchema, source: str) -> None:
    for obj in schema.objects.values():
        for field in obj.fields.values():
            if field.type == "reference":
                if not field.reference_to:
                    raise SchemaError(f"{source}: {obj.name}.{field.name}: reference field needs reference_to")
                for target in field.reference_to:
                    if schema.get(target) is None:
                        raise SchemaError(
                            f"{source}: {obj.name}.{field.name}: unknown object {target!r} (declare it, or load "
                            "with include_default=True to build on the standard objects)"
                        )
            if field.type in ("picklist", "multipicklist") and field.restricted and not field.values:
                raise SchemaError(f"{source}: {obj.name}.{field.name}: restricted picklist without values")


def _read_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source}: invalid YAML: {exc}") from exc


def load_org_schema(*sources: Path | str, include_default: bool = False) -> OrgSchema:
    """Load and merge schema YAML files (or every ``*.yaml`` of a directory), in the order given.

    With ``include_default=True`` the packaged default schema comes first, so a user's file can
    add objects and fields to the standard ones.
    """
    merged: dict[str, dict[str, Any]] = {}
    if include_default:
        for name, text in _packaged_documents():
            _merge_document(merged, _read_yaml(text, name), name)
    for src in sources:
        path = Path(src)
        files: Iterable[Path] = (
            sorted(path.glob("*.yaml"), key=lambda p: (p.name != "standard.yaml", p.name)) if path.is_dir() else [path]
        )
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as exc:
                raise SchemaError(f"{file}: cannot read: {exc.strerror}") from exc
            _merge_document(merged, _read_yaml(text, str(file)), str(file))
    return _build(merged, source=", ".join(str(s) for s in sources) or "<default>")


def _packaged_documents() -> list[tuple[str, str]]:
    folder = resources.files("sfsync.testing").joinpath("schemas")
    entries = [entry for entry in folder.iterdir() if entry.name.endswith(".yaml")]
    # standard.yaml first: other files extend the standard objects.
    entries.sort(key=lambda entry: (entry.name != "standard.yaml", entry.name))
    return [(f"sfsync/testing/schemas/{entry.name}", entry.read_text(encoding="utf-8")) for entry in entries]


def default_org_schema() -> OrgSchema:
    """The org a fresh deployment of the shipped mappings' metadata export gives (law 9).

    The standard objects (``schemas/standard.yaml``, standard fields only) plus what
    ``sfsync mappings export-metadata`` writes for the shipped mappings and the conflict scan,
    parsed back from its SFDX XML. Cached: schemas are frozen.
    """
    from sfsync.testing._metadata_org import shipped_metadata_schema

    return shipped_metadata_schema()
