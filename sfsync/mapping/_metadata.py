"""Deployable Salesforce metadata (an SFDX project) for everything sfsync reads or writes.

``sfsync mappings export-metadata --out DIR`` writes an SFDX project an admin deploys as is::

    DIR/sfdx-project.json
    DIR/manifest/package.xml
    DIR/force-app/main/default/objects/<Object>/<Object>.object-meta.xml     (custom objects)
    DIR/force-app/main/default/objects/<Object>/fields/<Field>.field-meta.xml
    DIR/force-app/main/default/objects/<Object>/recordTypes/<Name>.recordType-meta.xml
    DIR/force-app/main/default/permissionsets/<Name>.permissionset-meta.xml

The fields come from the mappings (every custom field they write or read, on custom and standard
objects alike, the blind indexes, and the external id a lookup resolves through) plus the
declarations other parts of sfsync pass in (:class:`OrgObject`, :class:`OrgField`: the conflict
scan and its writer). Encrypted fields are sized for their ciphertext; external ids and blind
indexes are flagged External ID so they are indexed. Picklists get no default value: a real org
created from this export has none, so neither has the test org built from it (law 9).

Four permission sets: the integration user (everything sfsync touches), channel managers
(conflicts and registration decisions), channel auditors (what channel managers read, editing
nothing) and direct reps (read, but never a field a rep could test guesses against: ciphertext,
blind indexes, banded values). The channel desk maps a Salesforce login to its role by them.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sfsync.crypto._sizes import max_ciphertext_length
from sfsync.mapping._model import FieldMapping, MappingSet, ObjectMapping
from sfsync.salesforce._org_needs import Audience, OrgField, OrgObject

__all__ = [
    "API_VERSION",
    "CHANNEL_AUDITOR_SET",
    "CHANNEL_MANAGER_SET",
    "DIRECT_REP_SET",
    "PERMISSION_SETS",
    "SOURCE_ROOT",
    "OrgNeeds",
    "deploy_command",
    "export_metadata",
    "metadata_files",
    "org_needs",
]

NS = "http://soap.sforce.com/2006/04/metadata"
TEXT_MAX = 255
API_VERSION = "60.0"
SOURCE_ROOT = "force-app/main/default"
INTEGRATION_SET = "sfsync_Integration"
CHANNEL_MANAGER_SET = "sfsync_Channel_Manager"
DIRECT_REP_SET = "sfsync_Direct_Rep"
CHANNEL_AUDITOR_SET = "sfsync_Channel_Auditor"
PERMISSION_SETS = (INTEGRATION_SET, CHANNEL_MANAGER_SET, DIRECT_REP_SET, CHANNEL_AUDITOR_SET)

# Standard relationship names and the object they lead to, for reads like ``Owner.Sales_Channel__c``.
_STANDARD_RELATIONSHIPS = {
    "Owner": "User",
    "CreatedBy": "User",
    "LastModifiedBy": "User",
    "Account": "Account",
    "Contact": "Contact",
    "PartnerAccount": "Account",
    "Opportunity": "Opportunity",
    "Parent": "Account",
}
# Field-policy classes that keep a field away from direct reps.
_HIDDEN_FROM_REPS = frozenset({"encrypt", "blind_index", "band"})


@dataclass
class OrgNeeds:
    """Every custom object, field and record type sfsync needs, merged from all declarations."""

    objects: dict[str, OrgObject] = field(default_factory=dict)
    fields: dict[tuple[str, str], OrgField] = field(default_factory=dict)
    record_types: dict[str, set[str]] = field(default_factory=dict)
    # (sobject, field, who needs it) for custom fields a mapping reads that no declaration defines.
    undefined: list[tuple[str, str, str]] = field(default_factory=list)
    # Objects some mapping creates or updates records on (the integration user needs edit there).
    written_objects: set[str] = field(default_factory=set)

    def add_field(self, spec: OrgField) -> None:
        self.fields.setdefault(spec.key, spec)

    def fields_of(self, sobject: str) -> list[OrgField]:
        return [f for (obj, _), f in self.fields.items() if obj == sobject]

    def sobjects(self) -> list[str]:
        names = dict.fromkeys([*self.objects, *(obj for obj, _ in self.fields), *self.record_types])
        return sorted(names)


def _label(name: str) -> str:
    return name.removesuffix("__c").replace("_", " ")


def _audience(fm: FieldMapping) -> Audience:
    if fm.encrypted or fm.protection in _HIDDEN_FROM_REPS:
        return "integration"
    return "everyone"


def _from_mapping(m: ObjectMapping, fm: FieldMapping, sobject: str, name: str) -> OrgField | None:
    """The field a mapping field needs, or None when the mapping alone cannot define it."""
    label = (fm.label or _label(name))[:40]
    spec = OrgField(
        sobject=sobject,
        name=name,
        type="string",
        label=label,
        description=fm.description,
        audience=_audience(fm),
        channel_editable=fm.owner == "salesforce" and not m.is_read_only,
        declared_by=f"mapping {m.name}",
    )
    if fm.encrypted:
        mpb = fm.max_plaintext_bytes or 149
        needed = max(max_ciphertext_length(mpb), fm.length or 0)
        return replace(
            spec,
            type="string" if needed <= TEXT_MAX else "textarea",
            length=needed,
            help_text="Encrypted by sfsync (sfe1 ciphertext). Only the partner portal can read it.",
        )
    if fm.type in ("string", "id"):
        return replace(spec, type="string", length=fm.length or TEXT_MAX)
    if fm.type == "textarea":
        return replace(spec, length=fm.length or 32768)
    if fm.type in ("email", "url", "phone", "boolean", "date", "datetime"):
        return replace(spec, type=fm.type)
    if fm.type in ("picklist", "multipicklist"):
        if not fm.values:
            return None  # nothing to define the value set from
        return replace(spec, type=fm.type, values=tuple(fm.values))
    if fm.type in ("int", "double", "currency", "percent"):
        scale = 0 if fm.type == "int" else (fm.scale if fm.scale is not None else 2)
        return replace(spec, type=fm.type, precision=fm.precision or 18, scale=scale)
    if fm.type == "reference":
        lookup = fm.lookup
        if lookup is None:
            return None  # the target object is unknown without a lookup transform
        return replace(
            spec,
            reference_to=lookup.target_object,
            relationship_name=child_relationship_name(sobject, name),
            type="reference",
        )
    return None


def child_relationship_name(sobject: str, name: str) -> str:
    """The child relationship of a lookup as metadata declares it (unique per parent object).

    Metadata's ``relationshipName`` names the parent-to-children side (``Account.Deal_Registration_
    Partner_Accounts``); the child-to-parent side is always the field name with ``__r``.
    """
    return f"{sobject.removesuffix('__c')}_{name.removesuffix('__c')}s"[:40]


def _resolve_path(needs: OrgNeeds, sobject: str, path: str) -> tuple[str, str] | None:
    """``Owner.Sales_Channel__c`` on Opportunity -> (User, Sales_Channel__c); None if unknown."""
    *hops, last = path.split(".")
    current = sobject
    for hop in hops:
        if hop.endswith("__r"):
            ref = needs.fields.get((current, hop[:-3] + "__c"))
            if ref is None or ref.reference_to is None:
                return None
            current = ref.reference_to
        elif hop in _STANDARD_RELATIONSHIPS:
            current = _STANDARD_RELATIONSHIPS[hop]
        elif hop in {"UserRole", "Profile"}:
            current = hop
        else:
            return None
    return current, last


def org_needs(
    mappings: MappingSet,
    *,
    objects: Sequence[OrgObject] = (),
    fields: Sequence[OrgField] = (),
    include_disabled: bool = False,
) -> OrgNeeds:
    """Merge the explicit declarations with what the enabled mappings need (declarations win on a
    clash); ``include_disabled`` adds the disabled alternatives (the Lead variant) too."""
    needs = OrgNeeds()
    for declared in objects:
        needs.objects[declared.name] = declared
        for declared_field in declared.fields:
            needs.add_field(declared_field)
    for declared_field in fields:
        needs.add_field(declared_field)
    pending: list[tuple[ObjectMapping, FieldMapping, str]] = []
    # Enabled mappings only by default: a disabled alternative would put fields nobody writes into the org.
    for m in mappings.all() if include_disabled else list(mappings):
        obj = m.salesforce.object
        if obj.endswith("__c") and obj not in needs.objects:
            label = _label(obj)
            prefix = "".join(word[0] for word in label.split())[:3].upper()
            needs.objects[obj] = OrgObject(
                name=obj,
                label=label,
                plural_label=label + "s",
                name_label=f"{label} Name",
                name_format=f"{prefix}-{{0000000}}",
                description="Created for sfsync (partner registrations mirrored from the partner portal).",
                channel_editable=True,
                declared_by=f"mapping {m.name}",
            )
        if not m.is_read_only and m.direction in ("push", "both"):
            needs.written_objects.add(obj)
        if m.salesforce.record_type:
            needs.record_types.setdefault(obj, set()).add(m.salesforce.record_type)
        ext = m.salesforce.external_id_field
        if ext.endswith("__c"):
            needs.add_field(
                OrgField(
                    obj,
                    ext,
                    "string",
                    _label(ext),
                    length=40,
                    external_id=True,
                    unique=True,
                    description="Upsert key written by sfsync.",
                    declared_by=f"mapping {m.name}",
                )
            )
        for fm in m.fields:
            pending.append((m, fm, obj))
            lookup = fm.lookup
            if lookup is not None and lookup.external_id_field.endswith("__c"):
                # The lookup resolves through an external id of the target object (Account.Partner_Number__c).
                needs.add_field(
                    OrgField(
                        lookup.target_object,
                        lookup.external_id_field,
                        "string",
                        _label(lookup.external_id_field),
                        length=40,
                        external_id=True,
                        unique=True,
                        description=f"External id sfsync resolves {obj}.{fm.field} through.",
                        declared_by=f"mapping {m.name}",
                    )
                )
            bidx = fm.blind_index
            if bidx is not None:
                needs.add_field(
                    OrgField(
                        obj,
                        bidx.field,
                        "string",
                        f"{(fm.label or _label(fm.field))[:28]} Blind Index",
                        length=bidx.length or 64,
                        external_id=True,
                        audience="integration",
                        description=f"Keyed hash ({bidx.normalizer}) for exact-match lookups; written by sfsync.",
                        declared_by=f"mapping {m.name}",
                    )
                )
            band = fm.band
            if band is not None:
                needs.add_field(
                    OrgField(
                        obj,
                        band.field,
                        "string",
                        band.label or f"{(fm.label or _label(fm.field))[:34]} Band",
                        length=band.length,
                        # a coarse value for channel reports; still kept from direct reps (it narrows the customer)
                        audience="channel",
                        description=f"Coarse public band ({band.describe()}) of the encrypted {fm.field}; "
                        "written by sfsync.",
                        declared_by=f"mapping {m.name}",
                    )
                )
    # Direct fields first, so relationship reads (Partner_Account__r.X) can resolve through them.
    pending.sort(key=lambda item: "." in item[1].field)
    for m, fm, obj in pending:
        resolved = _resolve_path(needs, obj, fm.field) if "." in fm.field else (obj, fm.field)
        if resolved is None:
            if fm.field.endswith("__c"):
                needs.undefined.append((obj, fm.field, f"mapping {m.name}"))
            continue
        target, name = resolved
        if not name.endswith("__c") or (target, name) in needs.fields:
            continue  # standard fields exist in every org
        derived = _from_mapping(m, fm, target, name)
        if derived is None:
            needs.undefined.append((target, name, f"mapping {m.name}"))
        else:
            needs.add_field(derived)
    return needs


# ---------------------------------------------------------------------------------------- XML
def _sub(parent: ET.Element, tag: str, text: str | int | bool | None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = str(text).lower() if isinstance(text, bool) else str(text)
    return element


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _object_xml(obj: OrgObject) -> str:
    root = ET.Element("CustomObject", xmlns=NS)
    _sub(root, "deploymentStatus", "Deployed")
    _sub(root, "description", obj.description or None)
    _sub(root, "enableHistory", True)
    _sub(root, "enableReports", True)
    _sub(root, "label", obj.label)
    name = _sub(root, "nameField", None)
    if obj.name_format is not None:
        _sub(name, "displayFormat", obj.name_format)
    _sub(name, "label", obj.name_label)
    _sub(name, "type", "AutoNumber" if obj.name_format is not None else "Text")
    _sub(root, "pluralLabel", obj.plural_label)
    _sub(root, "sharingModel", "Private")
    return _xml(root)


def metadata_type(spec: OrgField) -> str:
    """The Metadata API type of a declared field (``string`` -> ``Text``, ...)."""
    if spec.type == "textarea":
        return "LongTextArea" if (spec.length or 32768) > TEXT_MAX else "TextArea"
    return {
        "string": "Text",
        "id": "Text",
        "email": "Email",
        "url": "Url",
        "phone": "Phone",
        "picklist": "Picklist",
        "multipicklist": "MultiselectPicklist",
        "boolean": "Checkbox",
        "int": "Number",
        "double": "Number",
        "currency": "Currency",
        "percent": "Percent",
        "date": "Date",
        "datetime": "DateTime",
        "reference": "Lookup",
    }[spec.type]


def _field_xml(spec: OrgField) -> str:
    kind = metadata_type(spec)
    numeric = kind in ("Number", "Currency", "Percent")
    # Salesforce retrieves metadata with fullName first, then elements in alphabetical order.
    simple: dict[str, str | int | bool | None] = {
        "caseSensitive": False if spec.unique else None,
        "defaultValue": False if kind == "Checkbox" else None,
        "deleteConstraint": "SetNull" if kind == "Lookup" else None,
        "description": spec.description,
        "externalId": spec.external_id,
        "inlineHelpText": spec.help_text,
        "label": spec.label,
        "length": (spec.length or (32768 if kind == "LongTextArea" else TEXT_MAX))
        if kind in ("Text", "LongTextArea")
        else None,
        "precision": (spec.precision or 18) if numeric else None,
        "referenceTo": spec.reference_to if kind == "Lookup" else None,
        "relationshipLabel": spec.label if kind == "Lookup" else None,
        "relationshipName": spec.relationship_name if kind == "Lookup" else None,
        "required": None if kind == "Checkbox" else spec.required,
        "scale": (spec.scale if spec.scale is not None else (0 if spec.type == "int" else 2)) if numeric else None,
        "trackHistory": False,
        "type": kind,
        "unique": True if spec.unique else None,
        "visibleLines": {"LongTextArea": 5, "MultiselectPicklist": 4}.get(kind),
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
                _sub(entry, "default", False)  # no default: a new record's picklist is null
                _sub(entry, "label", value)
    return _xml(root)


# Record types on these standard objects need a business process (Lead: a lead process over the
# Lead Status values). The values are the ones a new org ships; an org that renamed them edits
# the exported file before deploying.
_BUSINESS_PROCESS_VALUES: dict[str, tuple[str, ...]] = {
    "Lead": ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"),
}


def business_process_name(record_type: str) -> str:
    return f"sfsync_{record_type}"


def _record_type_xml(sobject: str, name: str) -> str:
    root = ET.Element("RecordType", xmlns=NS)
    _sub(root, "fullName", name)
    _sub(root, "active", True)
    if sobject in _BUSINESS_PROCESS_VALUES:
        _sub(root, "businessProcess", business_process_name(name))
    _sub(root, "label", name.replace("_", " "))
    return _xml(root)


def _business_process_xml(sobject: str, name: str) -> str:
    root = ET.Element("BusinessProcess", xmlns=NS)
    _sub(root, "fullName", name)
    _sub(root, "description", "Created for sfsync: the record type of the mapped registrations needs one.")
    _sub(root, "isActive", True)
    for position, value in enumerate(_BUSINESS_PROCESS_VALUES[sobject]):
        entry = _sub(root, "values", None)
        _sub(entry, "fullName", value)
        _sub(entry, "default", position == 0)
    return _xml(root)


def _permission_set_xml(name: str, needs: OrgNeeds) -> str:
    root = ET.Element("PermissionSet", xmlns=NS)
    descriptions = {
        INTEGRATION_SET: "The sfsync integration user: everything sfsync reads and writes.",
        CHANNEL_MANAGER_SET: "Channel managers: read registrations, decide on them, work channel conflicts.",
        DIRECT_REP_SET: "Direct reps: registrations and conflicts without ciphertext, blind indexes or bands.",
        CHANNEL_AUDITOR_SET: "Channel auditors: read what channel managers read; decide and edit nothing.",
    }
    _sub(root, "description", descriptions[name])
    for spec in sorted(needs.fields.values(), key=lambda f: f.key):
        if not spec.is_custom or spec.required:
            continue  # required fields are always visible; Salesforce refuses them in permission sets
        readable, editable = _field_access(name, spec, needs)
        if not readable:
            continue
        entry = _sub(root, "fieldPermissions", None)
        _sub(entry, "editable", editable)
        _sub(entry, "field", f"{spec.sobject}.{spec.name}")
        _sub(entry, "readable", True)
    _sub(root, "hasActivationRequired", False)
    _sub(root, "label", name.replace("_", " "))
    for sobject in needs.sobjects():
        if sobject in ("User", "UserRole", "Profile"):
            continue  # not grantable in a permission set
        rights = _object_access(name, sobject, needs)
        if rights is None:
            continue
        create, read, edit, delete, all_records = rights
        entry = _sub(root, "objectPermissions", None)
        _sub(entry, "allowCreate", create)
        _sub(entry, "allowDelete", delete)
        _sub(entry, "allowEdit", edit)
        _sub(entry, "allowRead", read)
        _sub(entry, "modifyAllRecords", all_records and edit)
        _sub(entry, "object", sobject)
        _sub(entry, "viewAllRecords", all_records)
    return _xml(root)


def _field_access(permission_set: str, spec: OrgField, needs: OrgNeeds) -> tuple[bool, bool]:
    """(readable, editable) of a field for a permission set."""
    custom_object = spec.sobject in needs.objects
    if permission_set == INTEGRATION_SET:
        return True, custom_object or spec.sobject in needs.written_objects
    if permission_set in (CHANNEL_MANAGER_SET, CHANNEL_AUDITOR_SET):
        if spec.audience == "integration":
            return False, False
        return True, spec.channel_editable and permission_set == CHANNEL_MANAGER_SET
    return spec.audience == "everyone", False


def _object_access(permission_set: str, sobject: str, needs: OrgNeeds) -> tuple[bool, bool, bool, bool, bool] | None:
    """(create, read, edit, delete, view/modify all) on an object, or None for no entry."""
    declared = needs.objects.get(sobject)
    if permission_set == INTEGRATION_SET:
        if declared is not None:
            return True, True, True, True, True
        writes = sobject in needs.written_objects
        return writes, True, writes, False, False
    if declared is None:
        return None  # standard objects: the users' own profiles decide
    if permission_set == CHANNEL_MANAGER_SET:
        return False, True, declared.channel_editable, False, False
    if permission_set == CHANNEL_AUDITOR_SET:
        return False, True, False, False, False
    if not declared.rep_readable:
        return None
    return False, True, False, False, False


def _package_xml(needs: OrgNeeds) -> str:
    members: dict[str, list[str]] = {"CustomObject": [], "CustomField": [], "RecordType": [], "PermissionSet": []}
    members["BusinessProcess"] = sorted(
        f"{obj}.{business_process_name(rt)}"
        for obj, names in needs.record_types.items()
        if obj in _BUSINESS_PROCESS_VALUES
        for rt in names
    )
    members["CustomObject"] = sorted(needs.objects)
    members["CustomField"] = sorted(f"{obj}.{name}" for obj, name in needs.fields if name.endswith("__c"))
    members["RecordType"] = sorted(f"{obj}.{rt}" for obj, names in needs.record_types.items() for rt in names)
    members["PermissionSet"] = sorted(PERMISSION_SETS)
    root = ET.Element("Package", xmlns=NS)
    for kind in sorted(members):
        if not members[kind]:
            continue
        types = _sub(root, "types", None)
        for member in members[kind]:
            _sub(types, "members", member)
        _sub(types, "name", kind)
    _sub(root, "version", API_VERSION)
    return _xml(root)


def _project_json() -> str:
    project = {
        "name": "sfsync-metadata",
        "namespace": "",
        "packageDirectories": [{"default": True, "path": "force-app"}],
        "sourceApiVersion": API_VERSION,
    }
    return json.dumps(project, indent=2) + "\n"


def metadata_files(
    mappings: MappingSet,
    *,
    objects: Sequence[OrgObject] = (),
    fields: Sequence[OrgField] = (),
    include_disabled: bool = False,
) -> dict[str, str]:
    """Relative path -> text of every file of the SFDX project (see the module docstring)."""
    needs = org_needs(mappings, objects=objects, fields=fields, include_disabled=include_disabled)
    files: dict[str, str] = {}
    for obj in needs.objects.values():
        files[f"{SOURCE_ROOT}/objects/{obj.name}/{obj.name}.object-meta.xml"] = _object_xml(obj)
    for spec in needs.fields.values():
        if spec.is_custom:
            files[f"{SOURCE_ROOT}/objects/{spec.sobject}/fields/{spec.name}.field-meta.xml"] = _field_xml(spec)
    for sobject, names in needs.record_types.items():
        for record_type in sorted(names):
            base = f"{SOURCE_ROOT}/objects/{sobject}"
            files[f"{base}/recordTypes/{record_type}.recordType-meta.xml"] = _record_type_xml(sobject, record_type)
            if sobject in _BUSINESS_PROCESS_VALUES:
                process = business_process_name(record_type)
                files[f"{base}/businessProcesses/{process}.businessProcess-meta.xml"] = _business_process_xml(
                    sobject, process
                )
    for name in PERMISSION_SETS:
        files[f"{SOURCE_ROOT}/permissionsets/{name}.permissionset-meta.xml"] = _permission_set_xml(name, needs)
    files["manifest/package.xml"] = _package_xml(needs)
    files["sfdx-project.json"] = _project_json()
    return files


def export_metadata(
    mappings: MappingSet,
    out: Path,
    *,
    objects: Sequence[OrgObject] = (),
    fields: Sequence[OrgField] = (),
    include_disabled: bool = False,
) -> list[Path]:
    """Write :func:`metadata_files` under ``out`` (the SFDX project root); returns the written paths."""
    written: list[Path] = []
    files = metadata_files(mappings, objects=objects, fields=fields, include_disabled=include_disabled)
    for relative, text in sorted(files.items()):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def deploy_command(out: Path | str, target_org: str = "<your-org-alias>") -> str:
    """The Salesforce CLI commands that deploy an export and give the integration user its rights."""
    return (
        f"cd {out} && sf project deploy start --manifest manifest/package.xml --target-org {target_org} && "
        f"sf org assign permset --name {INTEGRATION_SET} --target-org {target_org}"
    )
