"""Offline and online (``describe()``) checks of loaded mappings. Every problem is collected."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any, Protocol

from sfsync.crypto._sizes import max_ciphertext_length, max_plaintext_bytes
from sfsync.mapping._metadata import OrgNeeds
from sfsync.mapping._model import FieldMapping, MappingSet, ObjectMapping
from sfsync.mapping._problems import FieldProblem, ValidationReport
from sfsync.mapping._transforms import (
    ConstantTransform,
    KindError,
    LookupTransform,
    MapTransform,
    PythonTransform,
)
from sfsync.mapping._types import (
    ENCRYPTABLE_TYPES,
    NUMBER_TYPES,
    TEXT_TYPES,
    CoercionError,
    Kind,
    accepted_kinds,
    describe_type_compatible,
    kind_of_sf_type,
    to_sf,
)

__all__ = ["MISSING_CODES", "validate_offline", "validate_online", "validate_org_needs"]

# Problems an admin fixes by deploying the export (sfsync mappings export-metadata).
MISSING_CODES = frozenset({"object_not_found", "field_not_found", "record_type", "external_id", "missing_field"})

TEXT_MAX = 255
LONG_TEXT_MAX = 131_072
Describe = Callable[[str], dict[str, Any]]


def _guess(word: str, candidates: list[str]) -> str:
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f"; did you mean {matches[0]!r}?" if matches else ""


# ====================================================================== offline


def validate_offline(mappings: MappingSet) -> ValidationReport:
    """Schema-level facts the loader cannot see: ownership, targets, types, transforms, ciphertext sizes."""
    report = ValidationReport()
    for mapping in mappings.all():
        report.mappings_checked.append(mapping.name)
        report.extend(_check_mapping(mapping))
    report.extend(_check_across(mappings))
    return report


def _check_across(mappings: MappingSet) -> list[FieldProblem]:
    """Law 4 across files: two enabled mappings must not both write the same portal column back."""
    problems: list[FieldProblem] = []
    writers: dict[tuple[str, str], tuple[ObjectMapping, FieldMapping]] = {}
    for m in mappings.all():
        if not m.enabled or m.source is None or m.direction == "push":
            continue
        for fm in m.salesforce_owned():
            for column in fm.columns:
                key = (m.source.table, column)
                if key in writers and writers[key][0] is not m:
                    other, other_fm = writers[key]
                    problems.append(
                        m.problem(
                            ("fields", fm.index, "column"),
                            f"{m.source.table}.{column} is also written back by mapping {other.name!r} "
                            f"({other_fm.field}); the two would overwrite each other",
                            hint="set `enabled: false` in one of the two mappings",
                            fm=fm,
                            code="ownership",
                        )
                    )
                writers.setdefault(key, (m, fm))
    return problems


def _check_mapping(m: ObjectMapping) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    add = problems.append
    ext_field = m.salesforce.external_id_field

    # -- direction and portal table
    if m.is_read_only:
        if m.direction != "pull":
            add(
                m.problem(
                    ("direction",),
                    f"a mapping without a portal table can only pull, not {m.direction!r}",
                    hint="set `direction: pull`, or add a `portal:` section",
                    code="direction",
                )
            )
    elif ext_field == "Id":
        add(
            m.problem(
                ("salesforce", "external_id_field"),
                "upserts need an external id field, not Id",
                hint="use a custom field marked External ID (e.g. Registration_Number__c)",
                code="external_id",
            )
        )
    for fm in m.fields:
        base = ("fields", fm.index)
        if m.direction == "push" and fm.owner == "salesforce" and fm.field != "Id":
            add(
                m.problem(
                    (*base, "owner"),
                    "this mapping only pushes, so a Salesforce-owned field is never read",
                    hint="set `direction: both`, or remove the field",
                    fm=fm,
                    code="direction",
                    severity="warning",
                )
            )
        if m.direction == "pull" and fm.owner == "portal":
            add(
                m.problem(
                    (*base, "owner"),
                    "this mapping only pulls, so a portal-owned field is never written",
                    hint="set `direction: both`, or make the field `owner: salesforce`",
                    fm=fm,
                    code="direction",
                    severity="error" if m.is_read_only else "warning",
                )
            )

    # -- one target per Salesforce field, one writer per portal column
    targets: dict[str, FieldMapping] = {}
    bidx_targets: dict[str, FieldMapping] = {}
    for fm in m.fields:
        base = ("fields", fm.index)
        if fm.field == ext_field and fm.owner == "portal":
            add(
                m.problem(
                    (*base, "field"),
                    f"{fm.field} is the external id; it is set from portal.external_id_column",
                    hint="remove this field entry",
                    fm=fm,
                    code="duplicate_target",
                )
            )
        if fm.field in targets:
            first = targets[fm.field]
            if first.owner != fm.owner:
                message = (
                    f"{fm.field} is owned by both sides (entries {first.index + 1} and {fm.index + 1}); "
                    "each field has exactly one owner"
                )
            else:
                message = f"{fm.field} is already mapped by entry {first.index + 1} (line {_line(m, first)})"
            add(
                m.problem(
                    (*base, "field"),
                    message,
                    hint="keep one entry per Salesforce field",
                    fm=fm,
                    code="duplicate_target",
                )
            )
        else:
            targets[fm.field] = fm
        lookup = fm.lookup
        if lookup is not None:
            targets.setdefault(lookup.relationship_for(fm.field), fm)
        bidx = fm.blind_index
        if bidx is not None:
            if bidx.field in bidx_targets:
                add(
                    m.problem(
                        (*base, "encrypt", "blind_index", "field"),
                        f"blind index field {bidx.field} is used twice",
                        fm=fm,
                        code="duplicate_target",
                        hint="give each encrypted field its own blind index field",
                    )
                )
            bidx_targets[bidx.field] = fm
        if fm.band is not None:
            if fm.band.field in bidx_targets:
                add(
                    m.problem(
                        (*base, "band", "field"),
                        f"band field {fm.band.field} is used twice",
                        fm=fm,
                        code="duplicate_target",
                        hint="give each banded field its own band field",
                    )
                )
            bidx_targets[fm.band.field] = fm
    for name, fm in bidx_targets.items():
        if name in targets or name == ext_field:
            add(
                m.problem(
                    ("fields", fm.index, "encrypt", "blind_index", "field"),
                    f"index or band field {name} is also mapped as a field",
                    fm=fm,
                    code="duplicate_target",
                    hint="index and band fields are written by the encryption step only; remove the other entry",
                )
            )
    if m.salesforce.record_type and "RecordTypeId" in targets:
        fm = targets["RecordTypeId"]
        add(
            m.problem(
                ("fields", fm.index, "field"),
                "RecordTypeId is set from salesforce.record_type",
                fm=fm,
                hint="remove this entry or the record_type",
                code="duplicate_target",
            )
        )

    per_partner = [fm for fm in m.fields if fm.encrypt_spec is not None and fm.encrypt_spec.per_partner_key]
    if per_partner and (m.source is None or m.source.partner_column is None):
        fm = per_partner[0]
        add(
            m.problem(
                ("fields", fm.index, "encrypt", "per_partner_key"),
                "per-partner keys need to know the partner of each row",
                hint="set `portal.partner_column` (e.g. partner_number)",
                fm=fm,
                code="encrypt",
            )
        )

    if m.source is not None:
        written_by_sf: dict[str, FieldMapping] = {}
        read_by_portal: dict[str, FieldMapping] = {}
        for fm in m.fields:
            for column in fm.columns:
                if fm.owner == "salesforce":
                    if column in written_by_sf:
                        add(
                            m.problem(
                                ("fields", fm.index, "column"),
                                f"column {column} is already written back by {written_by_sf[column].field}",
                                fm=fm,
                                code="duplicate_target",
                                hint="write each portal column from one Salesforce field",
                            )
                        )
                    written_by_sf.setdefault(column, fm)
                else:
                    read_by_portal.setdefault(column, fm)
        protected = {
            m.source.primary_key: "primary key",
            m.source.updated_at: "updated-at column",
            m.source.external_id_column: "external id column",
        }
        if m.source.deleted_at:
            protected[m.source.deleted_at] = "deleted-at column"
        for column, fm in written_by_sf.items():
            if column in protected:
                add(
                    m.problem(
                        ("fields", fm.index, "column"),
                        f"Salesforce may not write the portal's {protected[column]} ({column})",
                        fm=fm,
                        code="ownership",
                        hint="map the Salesforce value to its own column",
                    )
                )
            elif column in read_by_portal:
                other = read_by_portal[column]
                add(
                    m.problem(
                        ("fields", fm.index, "column"),
                        f"column {column} is written by Salesforce "
                        f"({fm.field}) and pushed to {other.field}: the value would ping-pong",
                        fm=fm,
                        code="ownership",
                        hint="give each column one owner",
                    )
                )

    for fm in m.fields:
        problems.extend(_check_field(m, fm))
    return problems


class _Add(Protocol):
    def __call__(
        self,
        key: tuple[str | int, ...],
        message: str,
        hint: str | None = None,
        code: str | None = None,
        severity: Any = "error",
    ) -> None: ...


def _adder(
    problems: list[FieldProblem], m: ObjectMapping, fm: FieldMapping, base: tuple[str | int, ...], *, default_code: str
) -> _Add:
    """A function that records a problem of ``fm`` at ``base + key`` in the mapping file."""

    def add(
        key: tuple[str | int, ...],
        message: str,
        hint: str | None = None,
        code: str | None = None,
        severity: Any = "error",
    ) -> None:
        problems.append(
            m.problem((*base, *key), message, hint=hint, fm=fm, code=code or default_code, severity=severity)
        )

    return add


def _line(m: ObjectMapping, fm: FieldMapping) -> int | str:
    line, _ = m.position("fields", fm.index)
    return line if line is not None else "?"


def _check_field(m: ObjectMapping, fm: FieldMapping) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    base = ("fields", fm.index)

    add = _adder(problems, m, fm, base, default_code="invalid")

    portal_owned = fm.owner == "portal"
    if "." in fm.field and portal_owned:
        add(
            ("field",),
            f"{fm.field} follows a relationship; only Salesforce-owned fields can be read that way",
            hint="write the lookup with a `lookup:` transform instead",
            code="ownership",
        )
    if fm.type == "id" and portal_owned:
        add(("owner",), "an Id is set by Salesforce", hint="use `owner: salesforce`", code="ownership")
    if fm.on_create_only and not portal_owned:
        add(("on_create_only",), "on_create_only applies to portal-owned fields", hint="remove it", code="ownership")
    if fm.required and not portal_owned:
        add(
            ("required",),
            "required is checked on push only; it has no effect on a Salesforce-owned field",
            hint="remove it",
            severity="warning",
        )
    # -- what a null from Salesforce means for the portal column (pull only)
    if fm.on_null is not None and portal_owned:
        add(
            ("on_null",),
            "on_null applies to Salesforce-owned fields (what a null pulled from Salesforce does)",
            hint="remove it; portal-owned fields use `required` and `default`",
            code="ownership",
        )
    if fm.on_null == "default" and not fm.has_default:
        add(
            ("on_null",),
            "on_null: default needs a `default` value to write into the portal column",
            hint="add `default: <portal value>`, or use on_null: keep / reject",
            code="on_null",
        )
    if not portal_owned and fm.has_default and fm.on_null != "default":
        add(
            ("default",),
            "a default on a Salesforce-owned field is used only with `on_null: default`",
            hint="add `on_null: default`, or remove the default",
            code="on_null",
        )
    if fm.on_null is not None and not portal_owned and not fm.columns:
        add(("on_null",), "on_null needs a portal column to act on", hint="add `column:`", code="on_null")

    # -- declared sizes fit the type
    if fm.length is not None and fm.type not in TEXT_TYPES:
        add(("length",), f"length applies to text fields, not {fm.type}", hint="remove it")
    if fm.type == "string" and fm.length is not None and fm.length > TEXT_MAX:
        add(
            ("length",),
            f"a Text field holds at most {TEXT_MAX} characters",
            hint=f"use `type: textarea` (Long Text Area, up to {LONG_TEXT_MAX:,})",
            code="too_long",
        )
    if (fm.precision is not None or fm.scale is not None) and fm.type not in NUMBER_TYPES:
        add(
            ("precision" if fm.precision is not None else "scale",),
            f"precision/scale apply to numbers, not {fm.type}",
            hint="remove it",
        )
    if fm.precision is not None and fm.scale is not None and fm.scale > fm.precision:
        add(("scale",), "scale is larger than precision", hint="scale counts digits after the point, within precision")
    if fm.values is not None and fm.type not in ("picklist", "multipicklist"):
        add(("values",), f"values apply to picklists, not {fm.type}", hint="remove it or set the picklist type")

    # -- the column
    first = fm.steps[0] if fm.steps else None
    is_constant = isinstance(first, ConstantTransform)
    if portal_owned and not fm.columns and not is_constant:
        add(
            ("field",),
            "no `column` to read the value from",
            hint="add `column: <portal column>` or a `constant` transform",
            code="column",
        )
    if not portal_owned and not fm.columns:
        add(("field",), "no `column` to write the value to", hint="add `column: <portal column>`", code="column")
    if is_constant and fm.columns:
        add(("column",), "the column is ignored: the first transform is a constant", severity="warning")
    if not portal_owned and any(isinstance(s, ConstantTransform) for s in fm.steps):
        add(
            ("transforms",),
            "a constant on a Salesforce-owned field would overwrite the portal value",
            hint="remove the constant",
            severity="warning",
        )

    # -- transforms: validity and type flow
    # A portal column's Python type is unknown offline ("any"); a Salesforce value's is known.
    kind: Kind = ("list" if isinstance(fm.column, list) else "any") if portal_owned else kind_of_sf_type(fm.type)
    for position, step in enumerate(fm.steps):
        key = ("transforms", position)
        if isinstance(step, PythonTransform) and (why := step.problem()):
            add(key, why, hint="register it with @sfsync.mapping.register_transform before loading", code="transform")
        if isinstance(step, LookupTransform):
            if position != len(fm.steps) - 1:
                add(
                    key,
                    "`lookup` must be the last transform",
                    hint="move it to the end of `transforms`",
                    code="transform",
                )
            if fm.type != "reference":
                add(
                    key,
                    f"`lookup` writes a reference field, but the field type is {fm.type}",
                    hint="set `type: reference`",
                    code="type",
                )
            if not portal_owned:
                add(
                    key,
                    "`lookup` applies to portal-owned fields (it is how a push names a related record)",
                    hint="remove it; a pull reads the related record's field as `Relationship.Field`",
                    code="transform",
                )
        try:
            kind = step.check_kind(kind)
        except KindError as exc:
            add(
                key,
                f"transform {position + 1}: {exc}",
                hint="reorder the transforms or convert the value first (e.g. `number`, `date`, `split`)",
                code="type",
            )
            kind = "any"
    several_columns = isinstance(fm.column, list) and kind == "list"
    if portal_owned and not fm.encrypted and kind not in accepted_kinds(fm.type) and not several_columns:
        add(
            ("type",),
            f"the transforms produce {_kind(kind)}, which a {fm.type} field cannot hold",
            hint="add a transform that converts it (e.g. `concat`, `number`, `date`)",
            code="type",
        )
    if not portal_owned and kind == "list" and len(fm.columns) <= 1 and not m.is_read_only:
        add(
            ("column",),
            "the transforms produce a list, but there is one column to write it to",
            hint="list several columns in `column`, or end with a `concat` transform",
            code="type",
        )
    if portal_owned and several_columns and fm.type != "multipicklist":
        add(
            ("column",),
            "several columns give a list, which a single field cannot hold",
            hint='join them with a `concat` transform, e.g. `{concat: " "}`',
            code="type",
        )

    # -- values the mapping itself writes are valid for the field
    produced: list[tuple[tuple[str | int, ...], Any]] = []
    for position, step in enumerate(fm.steps):
        if portal_owned and isinstance(step, MapTransform) and position == _last_map(fm):
            # What the last map writes reaches the field unchanged: check it against the picklist.
            produced += [(("transforms", position), v) for v in step.map.values() if v is not None]
            if "default" in step.model_fields_set and step.default is not None:
                produced.append((("transforms", position, "default"), step.default))
        if not portal_owned and isinstance(step, MapTransform) and position == _first_map(fm) and fm.values:
            # The first map on a pull reads the picklist's values: its keys must be among them.
            for source in step.map:
                if source not in fm.values:
                    add(
                        ("transforms", position),
                        f"map key {source!r} is not a value of the picklist{_guess(source, fm.values)}",
                        hint="map the picklist's exact values (`values:`)",
                        code="picklist",
                    )
        if isinstance(step, ConstantTransform) and step.constant is not None and position == len(fm.steps) - 1:
            produced.append((("transforms", position), step.constant))
    if "default" in fm.model_fields_set and fm.default is not None:
        produced.append((("default",), fm.default))
    if portal_owned and not fm.encrypted and fm.lookup is None:
        for where, value in produced:
            values = fm.values
            try:
                to_sf(fm.type, value, length=fm.length, precision=fm.precision, scale=fm.scale, values=values)
            except CoercionError as exc:
                shown = f"{value!r}" if isinstance(value, str | int | float | bool) else "value"
                hint = None
                if exc.code == "bad_picklist" and isinstance(value, str) and values:
                    hint = f"use one of the picklist values{_guess(value, values)}"
                add(
                    where,
                    f"{shown} cannot be written to this {fm.type} field: {exc.message}",
                    hint=hint,
                    code="picklist" if exc.code == "bad_picklist" else "type",
                )

    problems.extend(_check_encryption(m, fm))
    problems.extend(_check_policy(m, fm))
    return problems


_KEEPS_VALUES = frozenset({"trim", "concat", "split"})


def _last_map(fm: FieldMapping) -> int:
    """Index of the last map followed only by steps that keep values (else -1: nothing to check)."""
    last = -1
    for position, step in enumerate(fm.steps):
        if isinstance(step, MapTransform):
            last = position
        elif step.describe() not in _KEEPS_VALUES:
            last = -1
    return last


def _first_map(fm: FieldMapping) -> int:
    """Index of the first map preceded only by steps that keep values (else -1)."""
    for position, step in enumerate(fm.steps):
        if isinstance(step, MapTransform):
            return position
        if step.describe() not in _KEEPS_VALUES:
            return -1
    return -1


def _kind(kind: str) -> str:
    return {
        "list": "a list",
        "number": "a number",
        "bool": "a boolean",
        "date": "a date",
        "datetime": "a date-time",
        "lookup": "a lookup",
        "text": "text",
    }.get(kind, kind)


def _check_encryption(m: ObjectMapping, fm: FieldMapping) -> list[FieldProblem]:
    spec = fm.encrypt_spec
    if spec is None:
        return []
    problems: list[FieldProblem] = []
    base = ("fields", fm.index, "encrypt")

    add = _adder(problems, m, fm, base, default_code="encrypt")

    if fm.owner != "portal":
        add(
            (),
            "only portal-owned fields are encrypted (Salesforce cannot produce ciphertext)",
            hint="remove `encrypt`, or make the field portal-owned",
        )
    if fm.type not in ENCRYPTABLE_TYPES:
        add(
            (),
            f"ciphertext is text: an encrypted field must be string or textarea, not {fm.type}",
            hint="store it in a Text or Long Text Area field (`type: string` / `textarea`)",
            code="type",
        )
    if fm.lookup is not None:
        add((), "a lookup cannot be encrypted: Salesforce must read it", hint="remove `encrypt`")
    if fm.length is None:
        add(
            (),
            "no `length`: whether the ciphertext fits is checked only by `validate --online`",
            hint="declare the field's `length`",
            severity="warning",
        )
    else:
        mpb = fm.max_plaintext_bytes
        fits = max_plaintext_bytes(fm.length)
        if mpb is not None and mpb >= 1:
            needed = max_ciphertext_length(mpb)
            if needed > fm.length:
                wider = "textarea (Long Text Area)" if needed > TEXT_MAX else "string"
                add(
                    ("max_plaintext_bytes",) if spec.max_plaintext_bytes is not None else (),
                    f"{mpb} bytes of plaintext encrypt to {needed} characters, but the field holds {fm.length}",
                    hint=f"lower max_plaintext_bytes to {max(fits, 0)}, or make the field a {wider} of at least "
                    f"{needed} characters",
                    code="ciphertext_too_long",
                )
        if fits < 1:
            add(
                (),
                f"a {fm.length}-character field cannot hold any ciphertext",
                hint=f"make it at least {max_ciphertext_length(1)} characters",
                code="ciphertext_too_long",
            )
    bidx = spec.blind_index
    if bidx is not None:
        if not bidx.field.endswith("_BIdx__c"):
            add(
                ("blind_index", "field"),
                f"blind index field {bidx.field} does not follow the *_BIdx__c convention",
                hint="name it like End_Customer_Name_BIdx__c so reviewers recognise it",
                severity="warning",
            )
        if bidx.field == fm.field:
            add(
                ("blind_index", "field"),
                "the blind index needs its own field",
                hint="use a separate *_BIdx__c field",
                code="duplicate_target",
            )
        if bidx.reader is None:
            add(
                ("blind_index",),
                f"blind index {bidx.field} has no reader: an index nobody looks up only lets "
                "readers of Salesforce test guesses against it, so it is not written",
                hint="remove `blind_index`, or name what reads it in `reader:`",
                code="policy",
            )
        try:
            bits = bidx.planned_bits()
        except ValueError:
            add(
                ("blind_index", "expected_rows"),
                f"{bidx.expected_rows} rows are too few for a private blind index "
                f"at {bidx.false_matches_per_lookup:g} false matches per lookup",
                hint="remove the index, or state the table size it will really reach",
                code="policy",
            )
        else:
            coincidences = bidx.expected_rows / 2**bits
            if coincidences < bidx.false_matches_per_lookup:
                add(
                    ("blind_index", "bits"),
                    f"{bits} bits over {bidx.expected_rows} rows leave "
                    f"{coincidences:.2g} false matches per lookup: each index value would point at one plaintext",
                    hint="drop `bits` and let the planner choose",
                    code="policy",
                )
    return problems


def _check_policy(m: ObjectMapping, fm: FieldMapping) -> list[FieldProblem]:
    """Law 10: every partner-submitted field is classified; a band hides its original."""
    problems: list[FieldProblem] = []
    base = ("fields", fm.index)

    def add(key: tuple[str | int, ...], message: str, hint: str | None = None) -> None:
        problems.append(m.problem((*base, *key), message, hint=hint, fm=fm, code="policy"))

    if fm.owner == "portal" and fm.protection is None and m.direction != "pull":
        add(
            ("field",),
            f"partner-submitted field {fm.field} has no classification",
            hint="add `encrypt`, `band` (with encrypt) or `clear: <why it may be read by anyone>`",
        )
    if fm.clear is not None and (fm.encrypted or fm.band is not None):
        add(
            ("clear",),
            "`clear` says the field is sent in clear, but it is also encrypted or banded",
            hint="keep one classification",
        )
    if fm.clear is not None and fm.owner != "portal":
        add(("clear",), "only partner-submitted (portal-owned) fields are classified", hint="remove `clear`")
    band = fm.band
    if band is not None:
        if not fm.encrypted:
            add(
                ("band",),
                "a band publishes a coarse value of a confidential one, which must itself be encrypted",
                hint="add `encrypt` to the field",
            )
        if fm.blind_index is not None:
            add(
                ("band",),
                "a band and a blind index on one field add up to more than either; pick one",
                hint="remove `blind_index` or `band`",
            )
        if band.field == fm.field:
            add(("band", "field"), "the band needs its own field", hint="use a separate field such as Amount_Band__c")
        if band.groups is not None:
            longest = max([len(label) for label in band.groups] + [len(band.other)])
            if longest > band.length:
                add(("band", "length"), f"a band label of {longest} characters does not fit {band.length}")
    return problems


# ====================================================================== online


class _Org:
    """describe() results, fetched once per object, with field lookups."""

    def __init__(self, describe: Describe) -> None:
        self._describe = describe
        self._cache: dict[str, dict[str, Any] | Exception] = {}

    def object(self, name: str) -> dict[str, Any] | Exception:
        if name not in self._cache:
            try:
                self._cache[name] = self._describe(name)
            except Exception as exc:  # any failure is reported as a problem, not raised
                self._cache[name] = exc
        return self._cache[name]

    @staticmethod
    def fields(described: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {str(f.get("name")): f for f in described.get("fields", [])}

    def resolve(self, obj: str, path: str) -> tuple[dict[str, Any] | None, str]:
        """The describe entry of ``path`` (``Account.Name`` follows relationships) or why not."""
        parts = path.split(".")
        current = obj
        for index, part in enumerate(parts):
            described = self.object(current)
            if isinstance(described, Exception):
                return None, f"cannot describe {current}: {_reason(described)}"
            fields = self.fields(described)
            if index == len(parts) - 1:
                if part in fields:
                    return fields[part], ""
                return None, f"{current} has no field {part}{_guess(part, list(fields))}"
            relation = next((f for f in fields.values() if f.get("relationshipName") == part), None)
            if relation is None:
                names = [str(f.get("relationshipName")) for f in fields.values() if f.get("relationshipName")]
                return None, f"{current} has no relationship {part}{_guess(part, names)}"
            references = relation.get("referenceTo") or []
            if not references:
                return None, f"{current}.{part} references no object"
            current = str(references[0])
        return None, "empty path"


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc) or type(exc).__name__


def validate_online(mappings: MappingSet, describe: Describe, *, include_disabled: bool = False) -> ValidationReport:
    """Check the enabled mappings (every one with ``include_disabled``) against the org's
    ``describe()`` JSON, one describe call per object. A disabled alternative is not checked by
    default: the org it would need is deployed with ``export-metadata --include-disabled``."""
    org = _Org(describe)
    report = ValidationReport()
    for mapping in mappings.all() if include_disabled else list(mappings):
        report.mappings_checked.append(mapping.name)
        report.extend(_check_online(mapping, org))
    return report


def _check_online(m: ObjectMapping, org: _Org) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    obj = m.salesforce.object
    described = org.object(obj)
    if isinstance(described, Exception):
        return [
            m.problem(
                ("salesforce", "object"),
                f"object {obj} cannot be described: {_reason(described)}",
                hint="check the API name and that the integration user can see the object",
                code="object_not_found",
            )
        ]
    fields = org.fields(described)

    ext = m.salesforce.external_id_field
    ext_entry = fields.get(ext)
    if ext_entry is None:
        problems.append(
            m.problem(
                ("salesforce", "external_id_field"),
                f"{obj} has no field {ext}{_guess(ext, list(fields))}",
                hint="create it, marked External ID and Unique",
                code="field_not_found",
            )
        )
    elif ext != "Id":
        if not ext_entry.get("externalId"):
            problems.append(
                m.problem(
                    ("salesforce", "external_id_field"),
                    f"{ext} is not an external id field",
                    hint="tick External ID on the field in Setup",
                    code="external_id",
                )
            )
        elif not ext_entry.get("unique"):
            problems.append(
                m.problem(
                    ("salesforce", "external_id_field"),
                    f"{ext} is not unique: two records with the same value make upserts fail (HTTP 300)",
                    hint="tick Unique on the field",
                    code="external_id",
                    severity="warning",
                )
            )
        if not m.is_read_only and m.direction != "pull" and not (ext_entry.get("createable")):
            problems.append(
                m.problem(
                    ("salesforce", "external_id_field"),
                    f"{ext} is not createable",
                    hint="give the integration user edit access",
                    code="permission",
                )
            )

    if m.salesforce.record_type:
        infos = described.get("recordTypeInfos") or []
        names = [str(i.get("developerName")) for i in infos]
        if m.salesforce.record_type not in names:
            problems.append(
                m.problem(
                    ("salesforce", "record_type"),
                    f"{obj} has no record type {m.salesforce.record_type}{_guess(m.salesforce.record_type, names)}",
                    hint="create it, or fix the developer name",
                    code="record_type",
                )
            )

    mapped = {fm.field for fm in m.fields} | {ext}
    for fm in m.fields:
        problems.extend(_check_field_online(m, fm, org, fields))
        if fm.blind_index is not None:
            mapped.add(fm.blind_index.field)
        if fm.band is not None:
            mapped.add(fm.band.field)
        if fm.lookup is not None:
            mapped.add(fm.field)
    if m.salesforce.record_type:
        mapped.add("RecordTypeId")

    if m.direction in ("both", "push") and not m.is_read_only:
        for name, entry in fields.items():
            needs_value = (
                entry.get("createable")
                and not entry.get("nillable", True)
                and not entry.get("defaultedOnCreate")
                and entry.get("type") != "boolean"
            )
            if needs_value and name not in mapped:
                problems.append(
                    m.problem(
                        ("fields",),
                        f"{obj}.{name} is required by Salesforce on create but the mapping does not set it",
                        hint=f"map a portal column (or a `constant`) to {name}",
                        code="required",
                        key=True,
                    )
                )
    return problems


def _check_field_online(
    m: ObjectMapping, fm: FieldMapping, org: _Org, fields: dict[str, dict[str, Any]]
) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    base = ("fields", fm.index)

    add = _adder(problems, m, fm, base, default_code="invalid")

    obj = m.salesforce.object
    entry, why = org.resolve(obj, fm.field)
    if entry is None:
        add(
            ("field",),
            why,
            hint="check the API name, or ask the admin to create the field and grant the integration user access",
            code="field_not_found",
        )
        return problems
    sf_type = str(entry.get("type"))
    if not describe_type_compatible(fm.type, sf_type):
        add(
            ("type",),
            f"declared {fm.type}, but {fm.field} is a {sf_type} field in Salesforce",
            hint=f"set `type: {sf_type}` if that is right, or map another field",
            code="type",
        )
    sf_length = entry.get("length") or None
    if fm.owner == "portal":
        creates = m.direction != "pull"
        if creates and not entry.get("createable"):
            add(
                ("field",),
                f"{fm.field} is not createable by the integration user",
                hint="grant edit access in field-level security, or make the field Salesforce-owned",
                code="permission",
            )
        if creates and not fm.on_create_only and not entry.get("updateable"):
            add(
                ("field",),
                f"{fm.field} is not updateable",
                hint="set `on_create_only: true`, or grant edit access",
                code="permission",
            )
    if fm.encrypted:
        if sf_type not in ENCRYPTABLE_TYPES:
            add(
                ("encrypt",),
                f"{fm.field} is a {sf_type} field; ciphertext needs Text or Long Text Area",
                hint="change the field type in Setup",
                code="type",
            )
        elif sf_length:
            mpb = fm.encrypt_spec.max_plaintext_bytes if fm.encrypt_spec else None
            mpb = mpb if mpb is not None else (fm.max_plaintext_bytes or max_plaintext_bytes(int(sf_length)))
            needed = max_ciphertext_length(mpb)
            if needed > int(sf_length):
                add(
                    ("encrypt",),
                    f"{mpb} bytes of plaintext encrypt to {needed} characters, but {fm.field} holds "
                    f"{sf_length} in Salesforce",
                    hint=f"widen the field to {needed} or lower max_plaintext_bytes to "
                    f"{max(max_plaintext_bytes(int(sf_length)), 0)}",
                    code="ciphertext_too_long",
                )
    elif fm.length is not None and sf_length and fm.length > int(sf_length) and fm.owner == "portal":
        add(
            ("length",),
            f"the mapping allows {fm.length} characters but {fm.field} holds {sf_length}",
            hint=f"set `length: {sf_length}` (and add `truncate` if needed) or widen the field",
            code="too_long",
        )

    if sf_type in ("picklist", "multipicklist") and fm.owner == "portal" and not fm.encrypted:
        active = [str(v.get("value")) for v in entry.get("picklistValues") or [] if v.get("active", True)]
        for key, value in _written_values(fm):
            items = value.split(";") if sf_type == "multipicklist" else [value]
            for item in items:
                if item not in active:
                    add(
                        key,
                        f"{item!r} is not an active value of the {fm.field} picklist{_guess(item, active)}",
                        hint="use one of: " + ", ".join(active[:20]),
                        code="picklist",
                    )
    if fm.owner == "salesforce" and sf_type in ("picklist", "multipicklist"):
        active = [str(v.get("value")) for v in entry.get("picklistValues") or [] if v.get("active", True)]
        for position, step in enumerate(fm.steps):
            if isinstance(step, MapTransform) and "default" not in step.model_fields_set:
                missing = [v for v in active if v not in step.map]
                if missing:
                    add(
                        ("transforms", position),
                        f"picklist values {', '.join(missing)} are not in the map; records "
                        "with them would be rejected on pull",
                        hint="map them, or add a `default`",
                        code="picklist",
                        severity="warning",
                    )
                break

    lookup = fm.lookup
    if lookup is not None:
        refs = [str(r) for r in entry.get("referenceTo") or []]
        if lookup.target_object not in refs:
            add(
                ("transforms",),
                f"{fm.field} references {', '.join(refs) or 'nothing'}, not {lookup.target_object}",
                hint=f"look up an external id field of {', '.join(refs) or 'the referenced object'}",
                code="lookup",
            )
        relationship = lookup.relationship_for(fm.field)
        if entry.get("relationshipName") and entry.get("relationshipName") != relationship:
            add(
                ("transforms",),
                f"the relationship of {fm.field} is {entry.get('relationshipName')}, not {relationship}",
                hint=f"set `relationship: {entry.get('relationshipName')}`",
                code="lookup",
            )
        target = org.object(lookup.target_object)
        if isinstance(target, Exception):
            add(("transforms",), f"cannot describe {lookup.target_object}: {_reason(target)}", code="lookup")
        else:
            target_field = org.fields(target).get(lookup.external_id_field)
            if target_field is None or not (target_field.get("externalId") or target_field.get("idLookup")):
                add(
                    ("transforms",),
                    f"{lookup.target_object}.{lookup.external_id_field} is not an external id, so "
                    "Salesforce cannot resolve the lookup",
                    hint="mark it External ID",
                    code="lookup",
                )

    bidx = fm.blind_index
    if bidx is not None:
        bentry = fields.get(bidx.field)
        key = ("encrypt", "blind_index", "field")
        if bentry is None:
            add(
                key,
                f"{obj} has no blind index field {bidx.field}{_guess(bidx.field, list(fields))}",
                hint="create it as Text, marked External ID so lookups on it are indexed",
                code="field_not_found",
            )
        else:
            if str(bentry.get("type")) not in ("string",):
                add(key, f"{bidx.field} must be a Text field, not {bentry.get('type')}", code="type")
            if not (bentry.get("createable") and bentry.get("updateable")):
                add(key, f"{bidx.field} is not writable by the integration user", code="permission")
            if not bentry.get("externalId"):
                add(
                    key,
                    f"{bidx.field} is not indexed: duplicate and conflict lookups will scan the object",
                    hint="mark it External ID (not Unique)",
                    code="index",
                    severity="warning",
                )
            if bentry.get("unique"):
                add(
                    key,
                    f"{bidx.field} is Unique, but different records share a blind index value",
                    hint="untick Unique",
                    code="index",
                )
    band = fm.band
    if band is not None:
        entry = fields.get(band.field)
        if entry is None:
            add(
                ("band", "field"),
                f"{obj} has no band field {band.field}{_guess(band.field, list(fields))}",
                hint=f"create it as Text({band.length})",
                code="field_not_found",
            )
        elif str(entry.get("type")) != "string":
            add(("band", "field"), f"{band.field} must be a Text field, not {entry.get('type')}", code="type")
        elif not (entry.get("createable") and entry.get("updateable")):
            add(("band", "field"), f"{band.field} is not writable by the integration user", code="permission")
    return problems


def _written_values(fm: FieldMapping) -> list[tuple[tuple[str | int, ...], str]]:
    found: list[tuple[tuple[str | int, ...], str]] = []
    for position, step in enumerate(fm.steps):
        if isinstance(step, MapTransform):
            found += [(("transforms", position), str(v)) for v in step.map.values() if v is not None]
            if "default" in step.model_fields_set and step.default is not None:
                found.append((("transforms", position, "default"), str(step.default)))
        if isinstance(step, ConstantTransform) and step.constant is not None:
            found.append((("transforms", position), str(step.constant)))
    if "default" in fm.model_fields_set and fm.default is not None:
        found.append((("default",), str(fm.default)))
    for index, value in enumerate(fm.values or []):
        found.append((("values", index), value))
    return found


def validate_org_needs(
    needs: OrgNeeds, describe: Describe, *, skip_mapped: MappingSet | None = None
) -> ValidationReport:
    """Every object and field in ``needs`` (the conflict scan's declarations, lookup keys, custom
    fields on standard objects) exists in the org with the declared type and External ID flag.

    Fields a mapping maps on its own object are checked by :func:`validate_online` already and
    skipped here when ``skip_mapped`` is given.
    """
    org = _Org(describe)
    report = ValidationReport()
    mapped: set[tuple[str, str]] = set()
    if skip_mapped is not None:
        for m in skip_mapped.all():
            mapped.update((m.salesforce.object, fm.field) for fm in m.fields)
            mapped.add((m.salesforce.object, m.salesforce.external_id_field))
            mapped.update((m.salesforce.object, fm.blind_index.field) for fm in m.fields if fm.blind_index)
    missing_objects: set[str] = set()
    for name, declared in needs.objects.items():
        described = org.object(name)
        if isinstance(described, Exception):
            missing_objects.add(name)
            report.add(
                FieldProblem(
                    f"object {name} ({declared.label}) does not exist or is not visible: {_reason(described)}",
                    code="object_not_found",
                    hint=f"deploy the metadata export; needed by the {declared.declared_by}",
                )
            )
    for (sobject, name), spec in sorted(needs.fields.items()):
        if (sobject, name) in mapped or sobject in missing_objects or not spec.is_custom:
            continue
        described = org.object(sobject)
        if isinstance(described, Exception):
            report.add(
                FieldProblem(
                    f"cannot describe {sobject}: {_reason(described)}",
                    code="object_not_found",
                    field=f"{sobject}.{name}",
                )
            )
            continue
        entry = org.fields(described).get(name)
        if entry is None:
            report.add(
                FieldProblem(
                    f"{sobject} has no field {name} (needed by the {spec.declared_by})",
                    code="field_not_found",
                    field=f"{sobject}.{name}",
                    hint="deploy the metadata export, and the integration permission set",
                )
            )
            continue
        sf_type = str(entry.get("type"))
        if not describe_type_compatible(spec.type, sf_type):
            report.add(
                FieldProblem(
                    f"{sobject}.{name} is a {sf_type} field; the {spec.declared_by} needs {spec.type}",
                    code="type",
                    field=f"{sobject}.{name}",
                )
            )
        if spec.external_id and not entry.get("externalId"):
            report.add(
                FieldProblem(
                    f"{sobject}.{name} is not an External ID field",
                    code="external_id",
                    field=f"{sobject}.{name}",
                    hint="tick External ID (deploy the metadata export)",
                )
            )
    for sobject, record_types in needs.record_types.items():
        if skip_mapped is not None:
            break  # the mappings' own record types are checked by validate_online
        described = org.object(sobject)
        if isinstance(described, Exception):
            continue
        names = {str(r.get("developerName")) for r in described.get("recordTypeInfos", [])}
        for record_type in sorted(record_types - names):
            report.add(
                FieldProblem(
                    f"{sobject} has no record type {record_type}",
                    code="record_type",
                    field=sobject,
                    hint="deploy the metadata export",
                )
            )
    return report
