"""Plain-record inputs and outputs of the conflict core (no Salesforce or database access here)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sfsync.text.time import as_utc

from ._normalize import normalize_product_lines

__all__ = [
    "Agreement",
    "Conflict",
    "ConflictKind",
    "EvidenceComponent",
    "MatchEvidence",
    "MatchKind",
    "NamedAccount",
    "Opportunity",
    "PartnerOfRecordLock",
    "ProtectedCustomer",
    "ProtectionSource",
    "Registration",
    "RegistrationKind",
    "Severity",
    "conflict_key",
    "evidence_hash",
]


class RegistrationKind(StrEnum):
    DEAL = "deal"
    ACCOUNT = "account"


class ProtectionSource(StrEnum):
    """Why a customer is protected (or, for named accounts, reserved to the direct force)."""

    DEAL_REGISTRATION = "deal_registration"
    ACCOUNT_REGISTRATION = "account_registration"
    PARTNER_OF_RECORD = "partner_of_record"
    NAMED_ACCOUNT = "named_account"


class ConflictKind(StrEnum):
    """What collided. The first three are direct-rep Opportunities on a protected customer."""

    DEAL_REGISTRATION = "deal_registration"
    ACCOUNT_REGISTRATION = "account_registration"
    PARTNER_OF_RECORD = "partner_of_record"
    SECOND_PARTNER = "second_partner"
    NAMED_ACCOUNT = "named_account"


class Severity(StrEnum):
    """block: must not proceed until cleared; warn: flag only; review: a likely (not certain) match
    a channel manager should look at (below the rules' block probability)."""

    BLOCK = "block"
    WARN = "warn"
    REVIEW = "review"


class MatchKind(StrEnum):
    """The strongest evidence that tied two accounts together, strongest first."""

    ACCOUNT_ID = "account_id"
    DUNS = "duns"
    DOMAIN = "domain"
    NAME = "name"


def _lines(value: object) -> frozenset[str]:
    if value is None or isinstance(value, str):
        return normalize_product_lines(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return normalize_product_lines([str(v) for v in value])
    raise ValueError("product lines must be a ';'-separated string or a list of strings")


class Registration(BaseModel):
    """A deal or account registration as the partner portal holds it.

    Confidential deal fields (competitive notes, contacts, ...) are not modelled; extra columns a
    portal query returns are ignored, so they can never reach a conflict reason or evidence.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    registration_number: str = Field(min_length=1)
    kind: RegistrationKind
    partner_number: str = Field(min_length=1)
    partner_name: str = ""
    partner_account_id: str | None = None
    customer_name: str | None = None
    customer_website: str | None = None
    customer_country: str | None = None
    customer_postal_code: str | None = None
    customer_duns: str | None = None
    customer_account_id: str | None = None
    product_lines: frozenset[str] = frozenset()
    amount: Decimal | None = None
    currency: str | None = None
    status: str
    submitted_at: datetime
    decided_at: datetime | None = None
    protection_start: date | None = None
    protection_end: date | None = None
    extension_approved: bool = False
    extension_end: date | None = None

    _v_lines = field_validator("product_lines", mode="before")(_lines)

    @field_validator("submitted_at", "decided_at")
    @classmethod
    def _to_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        return value.strip().casefold()

    @property
    def effective_end(self) -> date | None:
        """Protection end, pushed out by an approved extension."""
        if self.extension_approved and self.extension_end is not None:
            if self.protection_end is None:
                return self.extension_end
            return max(self.protection_end, self.extension_end)
        return self.protection_end


class PartnerOfRecordLock(BaseModel):
    """A partner of record for a customer and product line, from past channel sales."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    lock_id: str | None = None
    customer_name: str | None = None
    customer_website: str | None = None
    customer_country: str | None = None
    customer_postal_code: str | None = None
    customer_duns: str | None = None
    customer_account_id: str | None = None
    partner_number: str = Field(min_length=1)
    partner_name: str = ""
    partner_account_id: str | None = None
    product_line: str | None = None
    since: date
    until: date | None = None

    @property
    def key(self) -> str:
        if self.lock_id:
            return f"POR-{self.lock_id}"
        basis = "|".join(
            str(v or "")
            for v in (
                self.partner_number,
                self.customer_account_id,
                self.customer_duns,
                self.customer_website,
                self.customer_name,
                self.customer_country,
                self.product_line,
                self.since,
            )
        )
        return "POR-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


class NamedAccount(BaseModel):
    """A vendor-kept direct-led account."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str | None = None
    domain: str | None = None
    duns: str | None = None
    account_id: str | None = None
    country: str | None = None

    @classmethod
    def from_salesforce(cls, record: Mapping[str, Any]) -> NamedAccount:
        """From an Account row (e.g. ``SELECT Id, Name, Website, DunsNumber, BillingCountry FROM Account
        WHERE Named_Account__c = true``)."""
        return cls(
            name=record.get("Name"),
            domain=record.get("Website"),
            duns=record.get("DunsNumber"),
            account_id=record.get("Id"),
            country=record.get("BillingCountry"),
        )

    @property
    def key(self) -> str:
        if self.account_id:
            return f"NA-{self.account_id}"
        basis = "|".join(str(v or "") for v in (self.name, self.domain, self.duns, self.country))
        return "NA-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def _dig(record: Mapping[str, Any], path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(part)
    return cur


class Opportunity(BaseModel):
    """A Salesforce Opportunity with the Account and Owner fields the scan reads."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    id: str = Field(min_length=1)
    name: str = ""
    account_id: str | None = None
    account_name: str | None = None
    account_website: str | None = None
    account_country: str | None = None
    account_postal_code: str | None = None
    account_duns: str | None = None
    owner_role: str | None = None
    owner_profile: str | None = None
    stage: str | None = None
    amount: Decimal | None = None
    product_lines: frozenset[str] = frozenset()
    system_modstamp: datetime | None = None
    fields: dict[str, str | None] = Field(default_factory=dict)

    _v_lines = field_validator("product_lines", mode="before")(_lines)

    # SOQL the lead's gateway can run; field paths as from_salesforce reads them.
    SOQL_FIELDS: ClassVar[tuple[str, ...]] = (
        "Id",
        "Name",
        "AccountId",
        "Account.Name",
        "Account.Website",
        "Account.BillingCountry",
        "Account.BillingPostalCode",
        "Account.DunsNumber",
        "Owner.UserRole.Name",
        "Owner.Profile.Name",
        "Owner.Sales_Channel__c",
        "StageName",
        "Amount",
        "Product_Lines__c",
        "SystemModstamp",
    )

    @classmethod
    def from_salesforce(cls, record: Mapping[str, Any], extra_fields: tuple[str, ...] = ()) -> Opportunity:
        """Build from a SOQL/REST record (relationship fields as nested dicts, ``attributes`` ignored)."""
        extras: dict[str, str | None] = {}
        for name in ("Owner.Sales_Channel__c", *extra_fields):
            value = _dig(record, name)
            extras[name] = None if value is None else str(value)
        return cls(
            id=record.get("Id") or "",
            name=record.get("Name") or "",
            account_id=record.get("AccountId"),
            account_name=_dig(record, "Account.Name"),
            account_website=_dig(record, "Account.Website"),
            account_country=_dig(record, "Account.BillingCountry"),
            account_postal_code=_dig(record, "Account.BillingPostalCode"),
            account_duns=_dig(record, "Account.DunsNumber"),
            owner_role=_dig(record, "Owner.UserRole.Name"),
            owner_profile=_dig(record, "Owner.Profile.Name"),
            stage=record.get("StageName"),
            amount=record.get("Amount"),
            product_lines=record.get("Product_Lines__c"),
            system_modstamp=record.get("SystemModstamp"),
            fields=extras,
        )

    def field_value(self, name: str) -> str | None:
        """A field by its Salesforce API name, for the rules' direct-owner field criterion."""
        builtin = {
            "OwnerRole": self.owner_role,
            "Owner.UserRole.Name": self.owner_role,
            "OwnerProfile": self.owner_profile,
            "Owner.Profile.Name": self.owner_profile,
            "StageName": self.stage,
        }
        if name in builtin:
            return builtin[name]
        return self.fields.get(name)


@dataclass(frozen=True, slots=True)
class ProtectedCustomer:
    """One customer protected by one source (registration, lock) or reserved as a named account.

    The same company appears once per protecting source; the index normalises the identity fields.
    """

    key: str
    source: ProtectionSource
    name: str | None = None
    website: str | None = None
    country: str | None = None
    postal_code: str | None = None
    duns: str | None = None
    account_id: str | None = None
    partner_number: str | None = None
    partner_name: str | None = None
    partner_account_id: str | None = None
    registration_number: str | None = None
    product_lines: frozenset[str] = frozenset()
    protection_end: date | None = None
    submitted_at: datetime | None = None


class Agreement(StrEnum):
    AGREED = "agreed"
    PARTLY = "partly agreed"
    DISAGREED = "disagreed"
    MISSING = "missing"


class EvidenceComponent(BaseModel):
    """One compared component of a match: what it was, how it compared, what it weighed.

    ``explanation`` is public text: it names platform-level facts ("same shop platform
    (myshopify.com), different shop"), never a value the partner submitted.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    component: str
    level: str
    agreement: Agreement
    weight: float  # log2(m/u): + for the match, - against
    explanation: str


class MatchEvidence(BaseModel):
    """Why two accounts were taken for one customer, as a channel manager reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    components: tuple[EvidenceComponent, ...]
    match_weight: float  # prior + sum of the component weights (log2 odds)
    probability: float  # 0..1
    # The direct rep's own account name (their data, shown back to them).
    opportunity_account: str | None = None
    # Only the vendor's own data (a named account, a partner-of-record lock): never a partner's spelling.
    protected_name: str | None = None
    product_lines: list[str] | str | None = None
    submitted_at: dict[str, str] | None = None
    first_registration: str | None = None
    named_account: str | None = None

    def component(self, name: str) -> EvidenceComponent | None:
        return next((c for c in self.components if c.component == name), None)

    def agreed(self) -> list[EvidenceComponent]:
        return [c for c in self.components if c.agreement in (Agreement.AGREED, Agreement.PARTLY)]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True, ensure_ascii=False)


def evidence_hash(payload: Mapping[str, Any], keyed: Callable[[bytes], str] | None = None) -> str:
    """Fingerprint of canonical JSON (key order and float formatting cannot change it).

    ``keyed``: an HMAC under a key the scanner holds (see ``sfsync.services``): without the key
    nobody can test a guess against the fingerprint. Unkeyed (SHA-256) only for payloads that hold
    nothing confidential (the published evidence).
    """
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    data = text.encode("utf-8")
    if keyed is not None:
        return keyed(data)
    return hashlib.sha256(data).hexdigest()


_KEY_MAX = 80  # Conflict_Key__c is Text(80)


def conflict_key(prefix: str, first: str, second: str) -> str:
    """Deterministic external id: readable ``O:<opp>:<registration>`` when it fits, else hashed."""
    key = f"{prefix}:{first}:{second}"
    if len(key) <= _KEY_MAX:
        return key
    return f"{prefix}#" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


class Conflict(BaseModel):
    """A conflict decision, ready to upsert as ``Channel_Conflict__c`` by ``key``."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: ConflictKind
    severity: Severity
    rule: str
    opportunity_id: str | None = None
    registration_number: str | None = None
    other_registration_number: str | None = None
    partner_number: str | None = None
    partner_name: str | None = None
    partner_account_id: str | None = None
    protection_end: date | None = None
    score: float  # match probability in percent (0..100)
    match_kind: MatchKind
    evidence: MatchEvidence
    evidence_hash: str
    reason: str
    opportunity_name: str | None = None

    def to_salesforce(self) -> dict[str, Any]:
        """Field values for ``Channel_Conflict__c`` (Status__c is left to the caller: see reconcile)."""
        label = self.kind.value.replace("_", " ").capitalize()
        if self.opportunity_id is not None:
            subject = self.opportunity_name or self.opportunity_id
            other = self.registration_number or self.partner_name or self.partner_number
        else:
            subject = self.registration_number or ""
            other = self.other_registration_number or self.evidence.named_account or self.partner_number
        name = f"{label}: {subject} / {other or ''}"
        return {
            "Name": name[:80],
            "Conflict_Key__c": self.key,
            "Opportunity__c": self.opportunity_id,
            "Partner_Account__c": self.partner_account_id,
            "Partner_Name__c": self.partner_name,
            "Registration_Number__c": self.registration_number,
            "First_Registration__c": self.other_registration_number,
            "Protection_End__c": self.protection_end.isoformat() if self.protection_end else None,
            "Severity__c": self.severity.value.capitalize(),
            "Reason__c": self.reason,
            "Score__c": self.score,
            "Evidence__c": self.evidence.to_json(),
            "Evidence_Hash__c": self.evidence_hash,
            "Rule__c": self.rule,
            "Kind__c": self.kind.value,
        }
