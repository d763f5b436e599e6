"""The test org is the deployed org (law 9): an :class:`OrgSchema` read from exported SFDX metadata.

:func:`org_schema_from_metadata` parses the SFDX source format ``sfsync mappings export-metadata``
writes (custom objects, custom fields, record types) onto the standard objects as Salesforce
ships them (``schemas/standard.yaml``: standard fields only). Nothing else is added: a picklist
without a default value yields null on create, a field the export lacks does not exist, a field
not flagged External ID cannot key an upsert — exactly as in a freshly deployed org.

:func:`export_org_metadata` writes that export for a set of mappings (the shipped ones by
default) and the conflict scan's declarations, so tests and the demo build their org with
``org_schema_from_metadata(export_org_metadata(tmp_dir))``.
"""

from __future__ import annotations

import functools
import json
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import defusedxml.ElementTree as SafeET
import yaml
from defusedxml import DefusedXmlException

from sfsync.testing._schema import OrgSchema, SchemaError

if TYPE_CHECKING:
    from sfsync.mapping import OrgField

__all__ = [
    "export_org_metadata",
    "org_schema_from_metadata",
    "shipped_metadata_schema",
    "standard_org_schema",
]

NS = "{http://soap.sforce.com/2006/04/metadata}"

# Metadata API field type -> the schema's (mapping vocabulary) type.
_TYPES: dict[str, str] = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "EncryptedText": "string",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
    "Picklist": "picklist",
    "MultiselectPicklist": "multipicklist",
    "Checkbox": "boolean",
    "Currency": "currency",
    "Percent": "percent",
    "Date": "date",
    "DateTime": "datetime",
    "Lookup": "reference",
    "MasterDetail": "reference",
    "AutoNumber": "string",
}


@functools.cache
def standard_org_schema() -> OrgSchema:
    """The standard objects with their standard fields only (``schemas/standard.yaml``)."""
    text = resources.files("sfsync.testing").joinpath("schemas", "standard.yaml").read_text(encoding="utf-8")
    return OrgSchema.from_mapping(yaml.safe_load(text), source="sfsync/testing/schemas/standard.yaml")


def _text(element: ET.Element, tag: str) -> str | None:
    found = element.find(NS + tag)
    return None if found is None or found.text is None else found.text.strip()


def _flag(element: ET.Element, tag: str) -> bool:
    return (_text(element, tag) or "").lower() == "true"


def _parse(path: Path) -> ET.Element:
    try:
        root = SafeET.parse(path).getroot()
    except (ET.ParseError, DefusedXmlException, OSError) as exc:
        raise SchemaError(f"{path}: not readable metadata XML: {exc}") from exc
    if root is None:
        raise SchemaError(f"{path}: empty metadata XML")
    return root


def _field_spec(path: Path) -> tuple[str, dict[str, Any]]:
    root = _parse(path)
    name = _text(root, "fullName") or path.name.removesuffix(".field-meta.xml")
    kind = _text(root, "type") or ""
    if kind == "Number":
        scale = int(_text(root, "scale") or 0)
        schema_type = "int" if scale == 0 else "double"
    elif kind in _TYPES:
        schema_type = _TYPES[kind]
    else:
        raise SchemaError(f"{path}: field type {kind!r} is not supported by FakeSalesforce")
    spec: dict[str, Any] = {"type": schema_type}
    label = _text(root, "label")
    if label:
        spec["label"] = label
    if kind in ("Text", "LongTextArea", "EncryptedText") and _text(root, "length"):
        spec["length"] = int(_text(root, "length") or 0)
    elif kind == "TextArea":
        spec["length"] = 255
    if kind in ("Number", "Currency", "Percent"):
        if _text(root, "precision"):
            spec["precision"] = int(_text(root, "precision") or 18)
        if _text(root, "scale"):
            spec["scale"] = int(_text(root, "scale") or 0)
    for tag, key in (("required", "required"), ("unique", "unique"), ("externalId", "external_id")):
        if _flag(root, tag):
            spec[key] = True
    if kind in ("Lookup", "MasterDetail"):
        target = _text(root, "referenceTo")
        if not target:
            raise SchemaError(f"{path}: lookup without referenceTo")
        spec["reference_to"] = target
        # The child-to-parent relationship is the field name with __r; metadata's relationshipName
        # is the other (parent-to-children) side.
        spec["relationship_name"] = name.removesuffix("__c") + "__r"
        if kind == "MasterDetail":
            spec["required"] = True
    if kind == "Checkbox":
        spec["default"] = (_text(root, "defaultValue") or "false").lower() == "true"
    elif _text(root, "defaultValue"):
        # A formula default like 'USD' or TODAY(): only plain string literals are understood.
        raw = _text(root, "defaultValue") or ""
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            spec["default"] = raw[1:-1]
    value_set = root.find(NS + "valueSet")
    if value_set is not None:
        values: list[str] = []
        default: str | None = None
        for entry in value_set.iter(NS + "value"):
            value = _text(entry, "fullName")
            if value is None:
                continue
            values.append(value)
            if _flag(entry, "default"):
                default = value
        spec["values"] = values
        spec["restricted"] = _flag(value_set, "restricted")
        if default is not None and kind == "Picklist":
            spec["default"] = default  # only when the metadata says so: a real org has no other default
    return name, spec


def _object_spec(folder: Path) -> dict[str, Any]:
    name = folder.name
    spec: dict[str, Any] = {"fields": {}}
    object_file = folder / f"{name}.object-meta.xml"
    if object_file.is_file():
        root = _parse(object_file)
        spec["label"] = _text(root, "label") or name
        spec["custom"] = name.endswith("__c")
        name_field = root.find(NS + "nameField")
        if name_field is not None:
            if (_text(name_field, "type") or "Text") == "AutoNumber":
                spec["name_field"] = {
                    "type": "string",
                    "length": 30,
                    "required": False,
                    "createable": False,
                    "updateable": False,
                    "label": _text(name_field, "label") or "Name",
                    "auto_number": _text(name_field, "displayFormat") or "{0}",
                }
            else:
                spec["name_field"] = {
                    "type": "string",
                    "length": 80,
                    "required": True,
                    "label": _text(name_field, "label") or "Name",
                }
    elif name.endswith("__c"):
        raise SchemaError(f"{folder}: custom object without {object_file.name}")
    for field_file in sorted((folder / "fields").glob("*.field-meta.xml")):
        field_name, field_spec = _field_spec(field_file)
        spec["fields"][field_name] = field_spec
    record_types = []
    for rt_file in sorted((folder / "recordTypes").glob("*.recordType-meta.xml")):
        root = _parse(rt_file)
        if _text(root, "active") in (None, "true"):
            record_types.append(_text(root, "label") or rt_file.name.removesuffix(".recordType-meta.xml"))
    if record_types:
        spec["record_types"] = record_types
    return spec


def _object_folders(project: Path) -> Iterator[Path]:
    roots: list[Path] = []
    config = project / "sfdx-project.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
            roots = [project / str(entry["path"]) for entry in data.get("packageDirectories", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise SchemaError(f"{config}: not a valid sfdx-project.json: {exc}") from exc
    else:
        roots = [project]
    for root in roots:
        for objects in sorted(root.rglob("objects")):
            if objects.is_dir():
                yield from sorted(p for p in objects.iterdir() if p.is_dir())


def org_schema_from_metadata(project: Path | str) -> OrgSchema:
    """The standard objects plus every object, field and record type in an SFDX project folder."""
    root = Path(project)
    if not root.is_dir():
        raise SchemaError(f"{root}: no such metadata folder (run `sfsync mappings export-metadata --out {root}`)")
    objects: dict[str, Any] = {}
    for folder in _object_folders(root):
        objects[folder.name] = _object_spec(folder)
    if not objects:
        raise SchemaError(f"{root}: no objects/ folder with metadata in it")
    return standard_org_schema().extend({"objects": objects}, source=str(root))


def export_org_metadata(
    out: Path,
    mapping_paths: list[Path] | None = None,
    rules_path: Path | None = None,
    *,
    extra_fields: Sequence[OrgField] = (),
    include_disabled: bool = False,
) -> Path:
    """Export the metadata of ``mapping_paths`` (default: the shipped mappings) with the conflict
    scan's declarations to ``out``, as ``sfsync mappings export-metadata`` does; returns ``out``.

    ``extra_fields`` deploys more custom fields (a test of the fake's own picklist rules, say),
    declared the way sfsync's own declarations are; ``include_disabled`` also deploys what the
    disabled mappings (the Lead variant) need, as ``export-metadata --include-disabled`` does.
    """
    from sfsync.conflicts import conflict_org_fields, conflict_org_objects, load_rules
    from sfsync.mapping import export_metadata, load_mappings
    from sfsync.salesforce import DESK_READS

    shipped = resources.files("sfsync").joinpath("_data", "mappings")
    with resources.as_file(shipped) as shipped_dir:
        paths = mapping_paths if mapping_paths is not None else [Path(shipped_dir)]
        mappings = load_mappings(paths)
        rules_file = rules_path
        if rules_file is None:
            candidate = Path(shipped_dir) / "conflict_rules.yaml"
            rules_file = candidate if mapping_paths is None and candidate.is_file() else None
        owner_path: str | None = "Owner.Sales_Channel__c"
        owner_values: tuple[str, ...] = ()
        if rules_file is not None:
            criterion = load_rules(rules_file).direct_owner.field
            if criterion is not None:
                owner_path, owner_values = criterion.name, tuple(criterion.values)
        export_metadata(
            mappings,
            out,
            objects=conflict_org_objects(),
            fields=(*conflict_org_fields(owner_path, owner_values), *DESK_READS, *extra_fields),
            include_disabled=include_disabled,
        )
    return out


@functools.cache
def shipped_metadata_schema() -> OrgSchema:
    """The org a fresh deployment of the shipped mappings' export gives (cached: schemas are frozen)."""
    with tempfile.TemporaryDirectory(prefix="sfsync-metadata-") as folder:
        return org_schema_from_metadata(export_org_metadata(Path(folder)))
