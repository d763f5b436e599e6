"""The mapping file model (pydantic) and the record conversions the sync engine calls."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from sfsync.errors import ErrorContext, MappingError
from sfsync.mapping._plan import (
    NONE_SKIPS,
    NONE_WRITES,
    FieldShape,
    PullField,
    PushField,
    compile_pull_converter,
    compile_push_converter,
)
from sfsync.mapping._problems import FieldProblem, RecordMappingError
from sfsync.mapping._transforms import (
    LookupTransform,
    LookupValue,
    NotInvertibleError,
    Scalar,
    Step,
    TransformError,
    TransformSpec,
    to_step,
)
from sfsync.mapping._types import (
    CoercionError,
    from_sf,
    to_sf,
)
from sfsync.portal import FilterCondition
from sfsync.salesforce._org_needs import FieldType

__all__ = [
    "BandSpec",
    "BlindIndexSpec",
    "EncryptSpec",
    "FieldMapping",
    "FilterCondition",
    "MappingSet",
    "ObjectMapping",
    "OutboundRecord",
    "PortalSource",
    "SalesforceTarget",
    "mapping_json_schema",
]

SF_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"
# Salesforce-owned fields of a pull may follow relationships: Account.Name, Owner.UserRole.Name.
SF_PATH = r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*){0,4}$"
SQL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_MISSING: Any = object()  # "key absent", as opposed to a None value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class PortalSource(_Model):
    """Where the records live in the portal database."""

    table: str = Field(pattern=SQL_NAME)
    primary_key: str = Field(pattern=SQL_NAME)
    updated_at: str = Field(pattern=SQL_NAME, description="column that changes on every edit (push watermark)")
    external_id_column: str = Field(pattern=SQL_NAME, description="column holding the Salesforce external id")
    deleted_at: str | None = Field(default=None, pattern=SQL_NAME, description="soft-delete timestamp column")
    partner_column: str | None = Field(
        default=None, pattern=SQL_NAME, description="column naming the partner (selects per-partner keys)"
    )
    filter: list[FilterCondition] = Field(default_factory=list, description="rows to sync (all must hold)")


class SalesforceTarget(_Model):
    object: str = Field(pattern=SF_NAME, description="sObject API name, e.g. Deal_Registration__c")
    external_id_field: str = Field(pattern=SF_NAME, description="external id field the upsert is keyed on")
    record_type: str | None = Field(
        default=None, pattern=SF_NAME, description="record type developer name set on create (e.g. on Lead)"
    )


Normalizer = Literal["domain", "company_name", "duns", "email", "exact"]


Protection = Literal["encrypt", "blind_index", "band", "clear"]
# How much a class hides; a field moves to a lower rank only with a key holder's approval.
PROTECTION_RANK: dict[str, int] = {"encrypt": 3, "blind_index": 2, "band": 2, "clear": 0}


class BlindIndexSpec(_Model):
    field: str = Field(pattern=SF_NAME, description="Salesforce text field holding the index, e.g. X_BIdx__c")
    normalizer: Normalizer
    reader: str | None = Field(
        default=None,
        min_length=10,
        description="what reads this index (a blind index nobody reads is only a side channel, so it is refused)",
    )
    bits: int | None = Field(default=None, ge=8, le=256, description="index size; null lets the planner choose")
    expected_rows: int = Field(default=1_000_000, ge=1, description="rows the index will hold (for the planner)")
    false_matches_per_lookup: float = Field(
        default=2.0,
        ge=1.0,
        le=1_000_000,
        description="rows a lookup matches that do not hold the value, at expected_rows (>= 2 keeps the index "
        "from pointing at one plaintext)",
    )
    length: int | None = Field(default=None, ge=1, le=255, description="Salesforce field length (for metadata)")

    def planned_bits(self) -> int:
        """Explicit ``bits``, or the planner's choice for ``expected_rows`` and the false-match rate."""
        if self.bits is not None:
            return self.bits
        from sfsync.crypto import plan_blind_index_bits

        return plan_blind_index_bits(self.expected_rows, min_false_positives=self.false_matches_per_lookup)


class BandSpec(_Model):
    """A coarse public value derived from a confidential one (which is itself encrypted).

    Give exactly one of ``edges`` (numbers: ``[50000, 100000]`` gives ``<50k``, ``50k-100k``,
    ``>=100k``), ``groups`` (text: label -> the values it covers; the rest is ``other``) or
    ``period`` (dates: ``quarter`` gives ``2026-Q4``, ``year`` gives ``2026``).
    """

    field: str = Field(pattern=SF_NAME, description="Salesforce text field holding the band, e.g. Amount_Band__c")
    edges: list[float] | None = Field(default=None, min_length=1, description="ascending boundaries (numbers)")
    groups: dict[str, list[str]] | None = Field(default=None, min_length=1, description="label -> values (text)")
    other: str = Field(default="Other", min_length=1, max_length=40, description="label of values in no group")
    period: Literal["quarter", "year"] | None = Field(default=None, description="dates: the period they fall in")
    length: int = Field(default=40, ge=1, le=255, description="Salesforce field length (for metadata)")
    label: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> BandSpec:
        given = [name for name in ("edges", "groups", "period") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a band needs exactly one of edges, groups or period")
        if self.edges is not None and any(b <= a for a, b in pairwise(self.edges)):
            raise ValueError("band edges must be strictly ascending")
        if self.groups is not None:
            seen: dict[str, str] = {}
            for label, members in self.groups.items():
                for member in members:
                    key = member.strip().upper()
                    if key in seen:
                        raise ValueError(f"band value {member!r} is in groups {seen[key]!r} and {label!r}")
                    seen[key] = label
        return self

    @property
    def kind(self) -> str:
        return "edges" if self.edges is not None else "groups" if self.groups is not None else "period"

    @cached_property
    def edge_labels(self) -> tuple[tuple[Decimal, ...], tuple[str, ...]]:
        """The edges as Decimals and the label of each range (len(edges) + 1 labels), computed once."""
        edges = tuple(Decimal(str(e)) for e in self.edges or ())
        labels = [f"<{_compact(edges[0])}"] if edges else []
        labels += [f"{_compact(low)}-{_compact(high)}" for low, high in pairwise(edges)]
        if edges:
            labels.append(f">={_compact(edges[-1])}")
        return edges, tuple(labels)

    @cached_property
    def group_of(self) -> dict[str, str]:
        """Upper-cased member -> group label, computed once."""
        return {m.strip().upper(): label for label, members in (self.groups or {}).items() for m in members}

    def band_of(self, value: Any) -> str | None:
        """The public band of a plaintext value (None for no value). ValueError when it does not fit."""
        if value is None or value == "":
            return None
        if self.edges is not None:
            try:
                number = Decimal(str(value).strip())
            except InvalidOperation:
                raise ValueError("not a number") from None
            if not number.is_finite():
                raise ValueError("not a number")
            edges, labels = self.edge_labels
            # ranges are [low, high): a value on an edge belongs to the range above it
            return labels[bisect_right(edges, number)]
        if self.groups is not None:
            return self.group_of.get(str(value).strip().upper(), self.other)
        if isinstance(value, datetime):
            day: date = value.date()
        elif isinstance(value, date):
            day = value
        else:
            try:
                day = date.fromisoformat(str(value).strip()[:10])
            except ValueError:
                raise ValueError("not a date") from None
        if self.period == "year":
            return f"{day.year}"
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"

    def describe(self) -> str:
        if self.edges is not None:
            return "ranges " + ", ".join(_compact(Decimal(str(e))) for e in self.edges)
        if self.groups is not None:
            return "groups " + ", ".join(self.groups) + f", {self.other}"
        return f"by {self.period}"


def _compact(number: Any) -> str:
    """50000 -> 50k, 1000000 -> 1M, 250 -> 250 (band labels)."""
    value = Decimal(number)
    for size, suffix in ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "k")):
        if abs(value) >= size and (value / size) == (value / size).to_integral_value():
            return f"{int(value / size)}{suffix}"
    return f"{value.normalize():f}"


class EncryptSpec(_Model):
    max_plaintext_bytes: int | None = Field(
        default=None, ge=1, description="largest plaintext (UTF-8 bytes); default: what the field length holds"
    )
    blind_index: BlindIndexSpec | None = None
    per_partner_key: bool = Field(default=False, description="encrypt under the partner's own data key")


class FieldMapping(_Model):
    """One Salesforce field and the portal column(s) it mirrors."""

    column: str | list[str] | None = Field(
        default=None, description="portal column (a list feeds `concat`; omit with a `constant`)"
    )
    field: str = Field(pattern=SF_PATH, description="Salesforce field API name")
    type: FieldType = Field(description="Salesforce field type")
    owner: Literal["portal", "salesforce"] = Field(description="the only side that writes this field")
    length: int | None = Field(default=None, ge=1, le=131_072, description="Salesforce text length")
    precision: int | None = Field(default=None, ge=1, le=18)
    scale: int | None = Field(default=None, ge=0, le=17)
    values: list[str] | None = Field(default=None, description="picklist values (checked offline)")
    required: bool = False
    default: Scalar = Field(default=None, description="used when the value is empty")
    transforms: list[TransformSpec] = Field(default_factory=list)
    encrypt: bool | EncryptSpec = False
    band: BandSpec | None = Field(
        default=None, description="publish a coarse band of the value in another field (the value is encrypted)"
    )
    clear: str | None = Field(
        default=None,
        min_length=10,
        description="why this partner-submitted field may reach Salesforce in clear (the reviewer reads this)",
    )
    account_field: str | None = Field(
        default=None,
        pattern=SF_NAME,
        description="Account field a reader could compare this value with (the re-identification check uses it)",
    )
    on_create_only: bool = Field(default=False, description="written when the record is created, never after")
    on_null: Literal["keep", "default", "reject"] | None = Field(
        default=None,
        description=(
            "Salesforce-owned fields: what an empty value from Salesforce does to the portal column. keep: leave "
            "the portal's value; default: write `default`; reject: dead-letter the record. Unset: write null."
        ),
    )
    label: str | None = None
    description: str | None = None

    _index: int = PrivateAttr(default=-1)

    @property
    def salesforce_field(self) -> str:
        return self.field

    # The cached properties below are computed once per loaded mapping (fields are never changed
    # after loading): the sync engine calls them for every record.
    @cached_property
    def columns(self) -> tuple[str, ...]:
        if self.column is None:
            return ()
        return (self.column,) if isinstance(self.column, str) else tuple(self.column)

    @cached_property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set and self.default is not None

    @cached_property
    def keeps_empty_text(self) -> bool:
        return self.type in ("string", "textarea")

    @property
    def portal_column(self) -> str | None:
        return self.column if isinstance(self.column, str) else None

    @property
    def index(self) -> int:
        return self._index

    @cached_property
    def steps(self) -> list[Step]:
        return [to_step(spec) for spec in self.transforms]

    @cached_property
    def encrypt_spec(self) -> EncryptSpec | None:
        if self.encrypt is True:
            return EncryptSpec()
        return self.encrypt if isinstance(self.encrypt, EncryptSpec) else None

    @cached_property
    def encrypted(self) -> bool:
        return self.encrypt_spec is not None

    @cached_property
    def blind_index(self) -> BlindIndexSpec | None:
        spec = self.encrypt_spec
        return spec.blind_index if spec else None

    @cached_property
    def protection(self) -> Protection | None:
        """The field's class in the field policy; None for a portal-owned field nobody classified."""
        if self.band is not None:
            return "band"
        if self.encrypt_spec is not None:
            return "blind_index" if self.encrypt_spec.blind_index is not None else "encrypt"
        if self.clear is not None:
            return "clear"
        if self.owner == "portal" and not self.columns:
            return "clear"  # a constant: the mapping's own text, not partner data
        return None

    @cached_property
    def max_plaintext_bytes(self) -> int | None:
        """Declared, or derived from the field length; None when neither is known."""
        spec = self.encrypt_spec
        if spec is None:
            return None
        if spec.max_plaintext_bytes is not None:
            return spec.max_plaintext_bytes
        if self.length is not None:
            from sfsync.crypto._sizes import max_plaintext_bytes

            return max(max_plaintext_bytes(self.length), 0)
        return None

    @cached_property
    def lookup(self) -> LookupTransform | None:
        last = self.steps[-1] if self.steps else None
        return last if isinstance(last, LookupTransform) else None

    @cached_property
    def relationship_path(self) -> str | None:
        """``Partner_Account__r.Partner_Number__c`` for a lookup by external id."""
        lookup = self.lookup
        if lookup is None:
            return None
        return f"{lookup.relationship_for(self.field)}.{lookup.external_id_field}"

    def soql_path(self) -> str:
        return self.relationship_path or self.field


@dataclass
class OutboundRecord:
    """What to upsert: a plaintext payload (the engine encrypts ``encrypted_fields()``) and problems."""

    payload: dict[str, Any]
    errors: list[FieldProblem] = field(default_factory=list)
    external_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class SourceInfo:
    file: str
    positions: dict[tuple[str | int, ...], tuple[int, int]]
    key_positions: dict[tuple[str | int, ...], tuple[int, int]]

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int | None, int | None]:
        probe = tuple(path)
        while True:
            table = self.key_positions if key and probe in self.key_positions else self.positions
            if probe in table:
                return table[probe]
            if not probe:
                return None, None
            probe = probe[:-1]
            key = False


class ObjectMapping(_Model):
    """One mapping file: a portal table mirrored onto one Salesforce object."""

    version: Literal[1] = Field(default=1, description="format version of this file")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="unique name (lower_snake_case)")
    description: str | None = None
    direction: Literal["both", "push", "pull"] = "both"
    enabled: bool = Field(
        default=True, description="false: validated and previewable, but not synced (e.g. an alternative mapping)"
    )
    source: PortalSource | None = Field(
        default=None,
        alias="portal",
        description="portal table; omit only for a read-only pull (its columns are then output keys)",
    )
    salesforce: SalesforceTarget
    fields: list[FieldMapping] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)

    _source_info: SourceInfo | None = PrivateAttr(default=None)
    # True when broken field entries were left out (validate reports them; never sync with it).
    _partial: bool = PrivateAttr(default=False)

    def model_post_init(self, context: Any, /) -> None:
        for index, fm in enumerate(self.fields):
            fm._index = index

    # ------------------------------------------------------------------ shape

    @property
    def portal(self) -> PortalSource:
        if self.source is None:
            raise MappingError(
                f"mapping {self.name!r} is read-only: it has no portal table",
                ErrorContext(mapping=self.name, file=self.file),
            )
        return self.source

    @property
    def is_read_only(self) -> bool:
        """A pull with no portal table: ``to_portal`` shapes records for in-process readers."""
        return self.source is None

    @property
    def file(self) -> str | None:
        return self._source_info.file if self._source_info else None

    def attach_source(self, info: SourceInfo) -> None:
        self._source_info = info

    def position(self, *path: str | int, key: bool = False) -> tuple[int | None, int | None]:
        if self._source_info is None:
            return None, None
        return self._source_info.position(path, key=key)

    def problem(
        self,
        path: Sequence[str | int],
        message: str,
        *,
        hint: str | None = None,
        code: str = "invalid",
        fm: FieldMapping | None = None,
        severity: Literal["error", "warning"] = "error",
        key: bool = False,
    ) -> FieldProblem:
        line, col = self.position(*path, key=key)
        return FieldProblem(
            message=message,
            code=code,
            hint=hint,
            mapping=self.name,
            field=fm.field if fm else None,
            column=", ".join(fm.columns) if fm and fm.columns else None,
            file=self.file,
            line=line,
            col=col,
            severity=severity,
        )

    def portal_owned(self) -> list[FieldMapping]:
        return [fm for fm in self.fields if fm.owner == "portal"]

    @cached_property
    def push_fields(self) -> tuple[FieldMapping, ...]:
        """Portal-owned fields, computed once (the push maps every record through them)."""
        return tuple(self.portal_owned())

    @cached_property
    def _push_plan(
        self,
    ) -> tuple[tuple[FieldMapping, str | None, bool, int | None], ...]:
        """(field, lookup relationship, encrypted, plaintext limit) per portal-owned field, once."""
        return tuple(
            (
                fm,
                fm.lookup.relationship_for(fm.field) if fm.lookup is not None else None,
                fm.encrypted,
                fm.max_plaintext_bytes,
            )
            for fm in self.push_fields
        )

    def salesforce_owned(self) -> list[FieldMapping]:
        return [fm for fm in self.fields if fm.owner == "salesforce"]

    def field_for(self, salesforce_field: str) -> FieldMapping:
        for fm in self.fields:
            if fm.field == salesforce_field:
                return fm
        raise KeyError(salesforce_field)

    def encrypted_fields(self) -> list[FieldMapping]:
        return [fm for fm in self.fields if fm.encrypted]

    def soql_fields(self) -> list[str]:
        """Fields to select on a pull: Id, SystemModstamp, IsDeleted, the external id, SF-owned fields."""
        names = ["Id", "SystemModstamp", "IsDeleted", self.salesforce.external_id_field]
        names += [fm.soql_path() for fm in self.salesforce_owned()]
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ push

    def _field_problem(self, fm: FieldMapping, code: str, message: str, hint: str | None = None) -> FieldProblem:
        return FieldProblem(
            message=message,
            code=code,
            hint=hint,
            mapping=self.name,
            field=fm.field,
            column=", ".join(fm.columns) or None,
        )

    def outbound_value(self, fm: FieldMapping, row: AbcMapping[str, Any]) -> tuple[Any, FieldProblem | None]:
        """The transformed (not yet coerced) value of a portal-owned field, or a problem."""
        columns = fm.columns
        value: Any
        if len(columns) == 1:
            column = columns[0]
            value = row.get(column, _MISSING)
            if value is _MISSING:
                return None, self._missing_columns(fm, [column])
        else:
            value = [row.get(c, _MISSING) for c in columns]
            if _MISSING in value:
                return None, self._missing_columns(fm, [c for c in columns if c not in row])
            if not columns:
                value = None
        step: Step | None = None
        try:
            for step in fm.steps:
                value = step.apply(value)
        except TransformError as exc:
            assert step is not None
            position = next(i for i, s in enumerate(fm.steps, start=1) if s is step)
            return None, self._field_problem(fm, exc.code, f"transform {position} ({step.describe()}): {exc}")
        if isinstance(value, str):
            if value == "" and not fm.keeps_empty_text:
                value = None  # an empty cell is "no value" for numbers, dates, picklists ...
        elif isinstance(value, list) and all(v is None or v == "" for v in value):
            value = None
        empty = value is None or (value == "" and isinstance(value, str))
        if empty and fm.has_default:
            value = fm.default
            empty = False
        if empty and fm.required:
            return None, self._field_problem(
                fm,
                "required",
                "a value is required but the record has none",
                "fill the column in the portal, or give the field a `default`",
            )
        return value, None

    def _missing_columns(self, fm: FieldMapping, missing: list[str]) -> FieldProblem:
        return self._field_problem(
            fm,
            "missing_column",
            f"the portal row has no column {', '.join(missing)}",
            "check the column name against the portal table",
        )

    def to_salesforce(
        self, row: AbcMapping[str, Any], *, is_create: bool, record_type_id: str | None = None
    ) -> OutboundRecord:
        """The upsert payload of portal-owned fields (plaintext), external id included.

        ``on_create_only`` fields are included only when ``is_create``. ``record_type_id``
        (resolved by the caller from ``salesforce.record_type``) is set on create.

        Each field runs its compiled plan (``_plan.py``); a value the plan declines runs the
        general code for that field (``_push_field``), which gives what it always gave.
        """
        payload, errors, external_id = self._outbound_start(row, is_create, record_type_id)
        general = self._push_plan
        push_field = self._push_field
        get = row.get
        plans = self._compiled_push[0 if is_create else 1]
        for column, key, convert, none_key, none_value, index in plans:
            if convert is not None:
                value = get(column, _MISSING)
                if value is None:
                    if none_key is not None:
                        payload[none_key] = none_value
                        continue
                elif value is not _MISSING:
                    try:
                        payload[key] = convert(value)
                        continue
                    except Exception:  # noqa: S110 - declined (or failed): the general code below decides
                        pass
            push_field(general[index], row, payload, errors)
        return OutboundRecord(payload=payload, errors=errors, external_id=external_id or None)

    def _to_salesforce_general(
        self, row: AbcMapping[str, Any], *, is_create: bool, record_type_id: str | None = None
    ) -> OutboundRecord:
        """``to_salesforce`` with the general code for every field: the reference the compiled plan
        must equal (the tests compare the two on many rows)."""
        payload, errors, external_id = self._outbound_start(row, is_create, record_type_id)
        for entry in self._push_plan:
            if entry[0].on_create_only and not is_create:
                continue
            self._push_field(entry, row, payload, errors)
        return OutboundRecord(payload=payload, errors=errors, external_id=external_id or None)

    def _outbound_start(
        self, row: AbcMapping[str, Any], is_create: bool, record_type_id: str | None
    ) -> tuple[dict[str, Any], list[FieldProblem], str]:
        """The payload's external id (or its problem) and record type, before the fields."""
        if self.direction == "pull" or self.source is None:
            raise MappingError(
                f"mapping {self.name!r} only pulls from Salesforce", ErrorContext(mapping=self.name, file=self.file)
            )
        payload: dict[str, Any] = {}
        errors: list[FieldProblem] = []
        ext_col = self.source.external_id_column
        raw_ext = row.get(ext_col)
        external_id = str(raw_ext).strip() if raw_ext is not None else ""
        if not external_id:
            errors.append(
                FieldProblem(
                    message=f"the external id column {ext_col} is empty",
                    code="required",
                    hint="every row needs its registration number before it can be synced",
                    mapping=self.name,
                    field=self.salesforce.external_id_field,
                    column=ext_col,
                )
            )
        else:
            payload[self.salesforce.external_id_field] = external_id
        if is_create and self.salesforce.record_type and record_type_id:
            payload["RecordTypeId"] = record_type_id
        return payload, errors, external_id

    def _push_field(
        self,
        entry: tuple[FieldMapping, str | None, bool, int | None],
        row: AbcMapping[str, Any],
        payload: dict[str, Any],
        errors: list[FieldProblem],
    ) -> None:
        """One field of a push by the general code: its value into ``payload``, or its problem."""
        fm, relationship, encrypted, limit = entry
        value, problem = self.outbound_value(fm, row)
        if problem is not None:
            errors.append(problem)
            return
        if relationship is not None:  # a lookup
            if isinstance(value, LookupValue):
                payload[relationship] = {value.external_id_field: value.value}
            else:
                payload[fm.field] = None
            return
        try:
            if encrypted:
                text = value if type(value) is str else to_sf("string", value, check_length=False)
                # a character is at most 4 UTF-8 bytes: short text needs no encoding to check
                if (
                    text is not None
                    and limit is not None
                    and len(text) * 4 > limit
                    and len(text.encode("utf-8")) > limit
                ):
                    raise CoercionError(
                        "too_long",
                        f"value is {len(text.encode('utf-8'))} bytes; the encrypted field holds {limit} "
                        "bytes of plaintext",
                    )
                payload[fm.field] = text
            else:
                payload[fm.field] = to_sf(
                    fm.type, value, length=fm.length, precision=fm.precision, scale=fm.scale, values=fm.values
                )
        except CoercionError as exc:
            errors.append(self._field_problem(fm, exc.code, exc.message))

    @cached_property
    def _compiled_push(self) -> tuple[tuple[PushField, ...], tuple[PushField, ...]]:
        """The push plan compiled once per mapping (see ``_plan.py``): for a create, for an update."""
        fields = [self._compile_push_field(index, entry) for index, entry in enumerate(self._push_plan)]
        on_update = [plan for plan, entry in zip(fields, self._push_plan, strict=True) if not entry[0].on_create_only]
        return tuple(fields), tuple(on_update)

    def _compile_push_field(self, index: int, entry: tuple[FieldMapping, str | None, bool, int | None]) -> PushField:
        fm, relationship, encrypted, limit = entry
        columns = fm.columns
        # Several columns (a list for concat) or none (a constant): the general code, always.
        convert = (
            compile_push_converter(
                steps=fm.steps,
                field=FieldShape(fm.type, relationship, encrypted, limit, fm.length, fm.precision, fm.scale, fm.values),
                has_default=fm.has_default,
                required=fm.required,
            )
            if len(columns) == 1
            else None
        )
        none_outcome = self._empty_cell_outcome(entry, columns[0]) if convert is not None else None
        return PushField(
            position=index,
            column=columns[0] if len(columns) == 1 else "",
            key=relationship if relationship is not None else fm.field,
            convert=convert,
            none_key=none_outcome[0] if none_outcome is not None else None,
            none_value=none_outcome[1] if none_outcome is not None else None,
        )

    def _empty_cell_outcome(
        self, entry: tuple[FieldMapping, str | None, bool, int | None], column: str
    ) -> tuple[str, Any] | None:
        """(payload key, value) an empty (None) cell gives, by the general code, or None to ask it each time.

        What an empty cell writes depends on nothing else in the row (no step sees more than its
        value, and a ``python`` step never gets here), so it is asked once. A problem (a required
        field) or a value records could share and change (a dict) is left to the general code.
        """
        payload: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        try:
            self._push_field(entry, {column: None}, payload, problems)
        except Exception:
            return None
        if problems or len(payload) != 1:
            return None
        [(key, value)] = payload.items()
        if value is not None and type(value) not in (str, bool, int, float):
            return None
        return key, value

    # ------------------------------------------------------------------ pull

    def to_portal(self, sf_record: AbcMapping[str, Any], *, include_portal_owned: bool = False) -> dict[str, Any]:
        """Salesforce-owned fields as portal columns, parsed (date, UTC datetime, Decimal, bool).

        A field absent from ``sf_record`` (not selected) is left out, so a partial record never
        blanks a portal column; a read-only mapping gives every column (None when absent). With
        ``include_portal_owned`` the portal-owned fields are read back too, reversing their
        transforms where possible (used by preview and round-trip tests; lossy steps are skipped).
        Raises :class:`RecordMappingError` (no values in it) when a value cannot be converted.

        Each field runs its compiled plan (``_plan.py``); a value the plan declines runs the
        general code for that field (``_pull_field``), which gives what it always gave.
        """
        if include_portal_owned:
            return self._to_portal_general(sf_record, include_portal_owned=True)
        result: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        general = self._pull_plan
        pull_field = self._pull_field
        read_only = self.is_read_only
        get = sf_record.get
        for key, path, column, convert, if_none, none_value, index in self._compiled_pull:
            raw = get(key, _MISSING) if key is not None else _get_parts(sf_record, path)
            if raw is _MISSING:
                if not read_only:
                    continue  # not selected: never overwrite the portal's value with "nothing"
                raw = None
            if raw is None:
                if if_none is NONE_SKIPS:
                    continue
                if if_none is NONE_WRITES:
                    result[column] = none_value
                    continue
            elif convert is not None:
                try:
                    result[column] = convert(raw)
                    continue
                except Exception:  # noqa: S110 - declined (or failed): the general code below decides
                    pass
            pull_field(general[index][0], raw, result, problems)
        if problems:
            raise self._pull_error(problems)
        return result

    def _to_portal_general(
        self, sf_record: AbcMapping[str, Any], *, include_portal_owned: bool = False
    ) -> dict[str, Any]:
        """``to_portal`` with the general code for every field: the reference the compiled plan
        must equal (the tests compare the two on many records)."""
        result: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        for fm, path in self._pull_plan if not include_portal_owned else self._pull_plan_all:
            if path is None:  # portal-owned, read back on request
                self._read_back(fm, sf_record, result)
                continue
            raw = sf_record.get(path[0], _MISSING) if len(path) == 1 else _get_parts(sf_record, path)
            if raw is _MISSING:
                if not self.is_read_only:
                    continue  # not selected: never overwrite the portal's value with "nothing"
                raw = None
            self._pull_field(fm, raw, result, problems)
        if problems:
            raise self._pull_error(problems)
        return result

    def _pull_field(self, fm: FieldMapping, raw: Any, result: dict[str, Any], problems: list[FieldProblem]) -> None:
        """One Salesforce-owned field by the general code: its column(s) into ``result``, or its problem."""
        try:
            value = from_sf(fm.type, raw) if raw is not None else None
            for position, step in enumerate(fm.steps, start=1):
                try:
                    value = step.apply(value)
                except TransformError as exc:
                    raise CoercionError(exc.code, f"transform {position} ({step.describe()}): {exc}") from None
        except CoercionError as exc:
            problems.append(self._field_problem(fm, exc.code, exc.message))
            return
        if isinstance(value, LookupValue):
            value = value.value
        if _is_empty(value) and fm.on_null is not None:
            if fm.on_null == "keep":
                return  # the portal keeps its value
            if fm.on_null == "reject":
                problems.append(
                    self._field_problem(
                        fm,
                        "null",
                        f"Salesforce sent no value for {fm.field} and the mapping rejects that (on_null: reject)",
                        "fill the field in Salesforce; the record is retried",
                    )
                )
                return
            value = fm.default
        _assign(fm, value, result)

    def _pull_error(self, problems: list[FieldProblem]) -> RecordMappingError:
        return RecordMappingError(
            f"cannot map the Salesforce record to the portal: {'; '.join(p.message for p in problems)}",
            problems,
            ErrorContext(
                mapping=self.name, sobject=self.salesforce.object, fields=tuple(p.field or "" for p in problems)
            ),
        )

    @cached_property
    def _compiled_pull(self) -> tuple[PullField, ...]:
        """The pull plan compiled once per mapping (see ``_plan.py``)."""
        return tuple(self._compile_pull_field(index, fm, path) for index, (fm, path) in enumerate(self._pull_plan))

    def _compile_pull_field(self, index: int, fm: FieldMapping, path: tuple[str, ...] | None) -> PullField:
        parts = path or ()
        columns = fm.columns
        # Several columns (split by _assign): the general code, always.
        convert = (
            compile_pull_converter(steps=fm.steps, field_type=fm.type, on_null=fm.on_null)
            if len(columns) == 1
            else None
        )
        if_none, none_value = self._empty_value_outcome(fm, columns[0]) if convert is not None else (None, None)
        return PullField(
            key=parts[0] if len(parts) == 1 else None,
            path=parts,
            column=columns[0] if len(columns) == 1 else "",
            convert=convert,
            if_none=if_none,
            none_value=none_value,
            position=index,
        )

    def _empty_value_outcome(self, fm: FieldMapping, column: str) -> tuple[object, Any]:
        """What an empty (None) value from Salesforce does, by the general code: NONE_SKIPS,
        (NONE_WRITES, value), or (None, None) to ask the general code each time.

        It depends on nothing else in the record (no step sees more than its value, and a
        ``python`` step never gets here), so it is asked once. A problem (on_null: reject) or a
        value records could share and change is left to the general code.
        """
        found: dict[str, Any] = {}
        problems: list[FieldProblem] = []
        try:
            self._pull_field(fm, None, found, problems)
        except Exception:  # whatever it is, the general code meets it on every record
            return None, None
        if problems:
            return None, None
        if not found:
            return NONE_SKIPS, None
        value = found.get(column)
        if list(found) == [column] and (value is None or type(value) in (str, bool, int, float)):
            return NONE_WRITES, value
        return None, None

    @cached_property
    def _pull_plan(self) -> tuple[tuple[FieldMapping, tuple[str, ...] | None], ...]:
        """(field, path of its SOQL name) per Salesforce-owned field with a column, once."""
        return tuple(
            (fm, tuple(fm.soql_path().split("."))) for fm in self.fields if fm.owner != "portal" and fm.columns
        )

    @cached_property
    def _pull_plan_all(self) -> tuple[tuple[FieldMapping, tuple[str, ...] | None], ...]:
        """Like ``_pull_plan``, with the portal-owned fields (path None) in their place."""
        return tuple(
            (fm, None if fm.owner == "portal" else tuple(fm.soql_path().split(".")))
            for fm in self.fields
            if fm.owner == "portal" or fm.columns
        )

    def _read_back(self, fm: FieldMapping, sf_record: AbcMapping[str, Any], result: dict[str, Any]) -> None:
        if not fm.columns:
            return
        raw = _get_path(sf_record, fm.soql_path())
        if raw is _MISSING:
            return
        try:
            value = raw if fm.encrypted else from_sf(fm.type, raw)
            if fm.type == "multipicklist" and isinstance(value, str) and fm.steps and fm.steps[-1].tag != "concat":
                value = [item for item in value.split(";") if item]  # the forward chain ended with a list
            for step in reversed(fm.steps):
                value = step.invert(value)
        except (NotInvertibleError, CoercionError, TransformError):
            return
        _assign(fm, value, result)


def _get_path(record: AbcMapping[str, Any], path: str) -> Any:
    """The value at ``Account.Name``; None through a null lookup; ``_MISSING`` when not selected."""
    value: Any = record
    for part in path.split("."):
        if value is None:
            return None
        if not isinstance(value, AbcMapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _get_parts(record: AbcMapping[str, Any], parts: tuple[str, ...]) -> Any:
    """``_get_path`` with the path already split."""
    value: Any = record
    for part in parts:
        if value is None:
            return None
        if not isinstance(value, AbcMapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _assign(fm: FieldMapping, value: Any, result: dict[str, Any]) -> None:
    columns = fm.columns
    if len(columns) == 1:
        result[columns[0]] = value
        return
    items = list(value) if isinstance(value, list | tuple) else ([] if value is None else [value])
    for index, column in enumerate(columns):
        result[column] = items[index] if index < len(items) else None


class MappingSet:
    """The loaded mappings, by name, in load order.

    Iterating (and ``len``) gives the mappings to run: the enabled ones. ``all()`` includes those
    with ``enabled: false`` (validation, listing, metadata); ``names()`` and ``get()`` know every
    loaded mapping, so naming a disabled one explicitly still finds it.
    """

    def __init__(self, mappings: Sequence[ObjectMapping] = ()) -> None:
        self._mappings: dict[str, ObjectMapping] = {}
        for mapping in mappings:
            self._mappings[mapping.name] = mapping

    def get(self, name: str) -> ObjectMapping:
        try:
            return self._mappings[name]
        except KeyError:
            known = ", ".join(self._mappings) or "none loaded"
            raise MappingError(f"no mapping named {name!r} (known: {known})", ErrorContext(mapping=name)) from None

    def names(self) -> list[str]:
        """Every loaded mapping, enabled or not."""
        return list(self._mappings)

    def all(self) -> list[ObjectMapping]:
        """Every loaded mapping, enabled or not."""
        return list(self._mappings.values())

    def sync_mappings(self) -> list[ObjectMapping]:
        """The sync engine's work list: enabled mappings with a portal table (read-only pulls excluded)."""
        return [m for m in self if not m.is_read_only]

    def __iter__(self) -> Iterator[ObjectMapping]:
        return (m for m in self._mappings.values() if m.enabled)

    def __len__(self) -> int:
        return sum(1 for m in self._mappings.values() if m.enabled)

    def __contains__(self, name: object) -> bool:
        return name in self._mappings


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list) and len(value) == 0)


def mapping_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a mapping file, for editors (``sfsync mappings schema``)."""
    document = ObjectMapping.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://sfsync.dev/schemas/mapping-v1.json",
        **document,
        "title": "sfsync field mapping",
    }
