"""Salesforce metadata (SFDX source format) for the custom objects and fields the mappings need.

An admin deploys the output with ``sf project deploy start --source-dir DIR``. Encrypted fields
are sized for their ciphertext, external id and blind index fields are flagged External ID (so
they are indexed), and Salesforce-owned decision fields are created like any other.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from sfsync.crypto._sizes import max_ciphertext_length
from sfsync.mapping._model import FieldMapping, MappingSet

__all__ = ["export_metadata", "metadata_files"]

NS = "http://soap.sforce.com/2006/04/metadata"
TEXT_MAX = 255


@dataclass
class _Field:
    name: str
    label: str
    type: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: list[str] = field(default_factory=list)
    restricted: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    description: str | None = None
    help_text: str | None = None


@dataclass
class _Object:
    name: str
    label: str
    custom: bool
    fields: dict[str, _Field] = field(default_factory=dict)
    record_types: set[str] = field(default_factory=set)


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ")


def _from_mapping(fm: FieldMapping) -> _Field | None:
    if "." in fm.field or not fm.field.endswith("__c"):
        return None  # standard fields and relationship reads already exist in every org
    label = fm.label or _label(fm.field)
    spec = _Field(name=fm.field, label=label[:40], type="Text", description=fm.description)
    if fm.encrypted:
        mpb = fm.max_plaintext_bytes or 149
        needed = max(max_ciphertext_length(mpb), fm.length or 0)
        spec.type = "Text" if needed <= TEXT_MAX else "LongTextArea"
        spec.length = needed
        spec.help_text = "Encrypted by sfsync (sfe1 ciphertext). Only the partner portal can read it."
        return spec
    if fm.type in ("string", "id"):
        spec.length = fm.length or TEXT_MAX
    elif fm.type == "textarea":
        spec.type = "LongTextArea" if (fm.length or 32768) > TEXT_MAX else "TextArea"
        spec.length = fm.length or 32768
    elif fm.type in ("email", "url", "phone"):
        spec.type = {"email": "Email", "url": "Url", "phone": "Phone"}[fm.type]
    elif fm.type in ("picklist", "multipicklist"):
        if not fm.values:
            return None  # nothing to define the value set from
        spec.type = "Picklist" if fm.type == "picklist" else "MultiselectPicklist"
        spec.values = list(fm.values)
        spec.restricted = True
    elif fm.type == "boolean":
        spec.type = "Checkbox"
    elif fm.type in ("int", "double", "currency", "percent"):
        spec.type = {"int": "Number", "double": "Number", "currency": "Currency", "percent": "Percent"}[fm.type]
        spec.precision = fm.precision or 18
        spec.scale = 0 if fm.type == "int" else (fm.scale if fm.scale is not None else 2)
    elif fm.type in ("date", "datetime"):
        spec.type = "Date" if fm.type == "date" else "DateTime"
    elif fm.type == "reference":
        lookup = fm.lookup
        if lookup is None:
            return None  # the target object is unknown without a lookup transform
        spec.type = "Lookup"
        spec.reference_to = lookup.target_object
        spec.relationship_name = lookup.relationship_for(fm.field).removesuffix("__r")
    return spec


def _objects(mappings: MappingSet) -> dict[str, _Object]:
    objects: dict[str, _Object] = {}
    for m in mappings.all():  # disabled ones too: an admin may switch mappings later
        obj_name = m.salesforce.object
        obj = objects.setdefault(
            obj_name, _Object(obj_name, _label(obj_name), custom=obj_name.endswith("__c"))
        )
        if m.salesforce.record_type:
            obj.record_types.add(m.salesforce.record_type)
        ext = m.salesforce.external_id_field
        if ext.endswith("__c"):
            obj.fields[ext] = _Field(ext, _label(ext), "Text", length=40, external_id=True, unique=True,
                                     description="Upsert key written by sfsync.")
        for fm in m.fields:
            spec = _from_mapping(fm)
            if spec is not None:
                obj.fields.setdefault(spec.name, spec)
            bidx = fm.blind_index
            if bidx is not None:
                obj.fields.setdefault(bidx.field, _Field(
                    bidx.field, f"{(fm.label or _label(fm.field))[:28]} Blind Index", "Text",
                    length=bidx.length or 64, external_id=True,
                    description=f"Keyed hash ({bidx.normalizer}) for exact-match lookups; written by sfsync.",
                ))
            band = fm.band
            if band is not None:
                obj.fields.setdefault(band.field, _Field(
                    band.field, band.label or f"{(fm.label or _label(fm.field))[:34]} Band", "Text",
                    length=band.length,
                    description=f"Coarse public band ({band.describe()}) of the encrypted {fm.field}; "
                    "written by sfsync.",
                ))
    return objects


def _sub(parent: ET.Element, tag: str, text: str | int | bool | None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text).lower() if isinstance(text, bool) else str(text)
    return element


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _object_xml(obj: _Object) -> str:
    root = ET.Element("CustomObject", xmlns=NS)
    _sub(root, "deploymentStatus", "Deployed")
    _sub(root, "description", "Created for sfsync (partner registrations mirrored from the partner portal).")
    _sub(root, "enableHistory", True)
    _sub(root, "enableReports", True)
    _sub(root, "label", obj.label)
    name = _sub(root, "nameField", None)
    prefix = "".join(word[0] for word in obj.label.split())[:3].upper()
    _sub(name, "displayFormat", f"{prefix}-{{0000000}}")
    _sub(name, "label", f"{obj.label} Name")
    _sub(name, "type", "AutoNumber")
    _sub(root, "pluralLabel", obj.label + "s")
    _sub(root, "sharingModel", "Private")
    return _xml(root)


def _field_xml(spec: _Field) -> str:
    # Salesforce retrieves metadata with fullName first, then elements in alphabetical order.
    simple: dict[str, str | int | bool | None] = {
        "caseSensitive": False if spec.unique else None,
        "defaultValue": False if spec.type == "Checkbox" else None,
        "deleteConstraint": "SetNull" if spec.reference_to else None,
        "description": spec.description,
        "externalId": spec.external_id,
        "inlineHelpText": spec.help_text,
        "label": spec.label,
        "length": spec.length if spec.type in ("Text", "LongTextArea") else None,
        "precision": spec.precision,
        "referenceTo": spec.reference_to,
        "relationshipLabel": spec.label if spec.reference_to else None,
        "relationshipName": spec.relationship_name,
        "required": None if spec.type == "Checkbox" else False,
        "scale": spec.scale,
        "trackHistory": False,
        "type": spec.type,
        "unique": True if spec.unique else None,
        "visibleLines": {"LongTextArea": 5, "MultiselectPicklist": 4}.get(spec.type),
    }
    root = ET.Element("CustomField", xmlns=NS)
    _sub(root, "fullName", spec.name)
    for tag in sorted(simple):
        if simple[tag] is not None:
            _sub(root, tag, simple[tag])
        if tag == "unique" and spec.values:
            value_set = _sub(root, "valueSet", None)
            _sub(value_set, "restricted", spec.restricted)
            definition = _sub(value_set, "valueSetDefinition", None)
            _sub(definition, "sorted", False)
            for value in spec.values:
                entry = _sub(definition, "value", None)
                _sub(entry, "fullName", value)
                _sub(entry, "default", False)
                _sub(entry, "label", value)
    return _xml(root)


def _record_type_xml(name: str) -> str:
    root = ET.Element("RecordType", xmlns=NS)
    _sub(root, "fullName", name)
    _sub(root, "active", True)
    _sub(root, "label", name.replace("_", " "))
    return _xml(root)


def metadata_files(mappings: MappingSet) -> dict[str, str]:
    """Relative path -> XML text, for every custom object, field and record type needed."""
    files: dict[str, str] = {}
    for obj in _objects(mappings).values():
        base = f"objects/{obj.name}"
        if obj.custom:
            files[f"{base}/{obj.name}.object-meta.xml"] = _object_xml(obj)
        for spec in obj.fields.values():
            files[f"{base}/fields/{spec.name}.field-meta.xml"] = _field_xml(spec)
        for record_type in sorted(obj.record_types):
            files[f"{base}/recordTypes/{record_type}.recordType-meta.xml"] = _record_type_xml(record_type)
    return files


def export_metadata(mappings: MappingSet, out: Path) -> list[Path]:
    """Write :func:`metadata_files` under ``out``; returns the written paths."""
    written: list[Path] = []
    for relative, text in sorted(metadata_files(mappings).items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
