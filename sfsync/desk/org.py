"""What the desk reads from and writes to the org: pending registrations, one registration, its partner's
open registrations, its conflicts, and decisions under optimistic concurrency.

A real org is reached through one :class:`SalesforceGateway` for the server's lifetime (it logs in again
on an expired session). A local org file (``[salesforce] fake_org``, the demo) is loaded once, reloaded when
another command rewrote it, and saved after every decision, so ``sfsync run`` sees the decision.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sfsync.config import Settings
from sfsync.errors import SfsyncError
from sfsync.salesforce import SalesforceGateway, format_soql
from sfsync.text.time import parse_utc, utc_now

__all__ = [
    "ACCOUNT",
    "DEAL",
    "KINDS",
    "PENDING_STATUSES",
    "ConcurrentDecisionError",
    "ConflictRecord",
    "Decision",
    "DecisionOutcome",
    "DeskOrg",
    "PendingRegistration",
    "RegistrationDeletedError",
    "RegistrationKind",
    "RegistrationRecord",
    "SeenRecord",
]

PENDING_STATUSES = ("Submitted", "Under Review")
INFO_REQUESTED_PREFIX = "Information requested: "
PRECONDITION_FAILED = "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK"
# Re-read this far behind the newest SystemModstamp seen: Salesforce commits are not stamped in commit order.
_OVERLAP_SECONDS = 300
# A decision waits this long for a sync working on the local org file to finish, then says so.
LOCAL_ORG_WAIT_SECONDS = 30.0
_PARTNER_FIELDS = (
    "Partner_Account__r.Name, Partner_Account__r.Partner_Tier__c, Partner_Account__r.Partner_Number__c, "
    "Partner_Account__r.Partner_Region__c"
)


@dataclass(frozen=True)
class RegistrationKind:
    """One kind of registration the desk answers: its object, its pages and the fields that differ."""

    name: Literal["deal", "account"]
    sobject: str
    path: str  # URL prefix of its pages
    label: str
    region_field: str  # the public band of the customer's country
    customer_field: str  # the (encrypted) customer name
    queue_fields: str  # clear fields the queue shows beside the common ones


DEAL = RegistrationKind(
    "deal",
    "Deal_Registration__c",
    "/registrations",
    "Deal registration",
    "End_Customer_Region__c",
    "End_Customer_Name__c",
    "Amount_Band__c, Currency_Code__c",
)
ACCOUNT = RegistrationKind(
    "account",
    "Account_Registration__c",
    "/account-registrations",
    "Account registration",
    "Customer_Region__c",
    "Customer_Name__c",
    "Employee_Band__c",
)
KINDS = (DEAL, ACCOUNT)
REGISTRATION_OBJECT = DEAL.sobject

# Object and field names below are constants of this module; every value goes through format_soql.
# Clear fields only: the amount, country and close date are ciphertext; their public bands are listed instead.
_COMMON_QUEUE_FIELDS = (
    f"Id, Registration_Number__c, Partner_Account__c, {_PARTNER_FIELDS}, "
    "Product_Lines__c, Submitted_At__c, Status__c, Decision_Reason__c, SystemModstamp"
)
_CONFLICT_FIELDS = (
    "Id, Conflict_Key__c, Kind__c, Rule__c, Severity__c, Status__c, Score__c, Reason__c, Evidence__c, "
    "Opportunity__c, Opportunity__r.Name, Partner_Name__c, Registration_Number__c, First_Registration__c"
)


def _queue_fields(kind: RegistrationKind) -> str:
    return f"{_COMMON_QUEUE_FIELDS}, {kind.region_field}, {kind.queue_fields}"


class RegistrationDeletedError(SfsyncError):
    """The registration is no longer in the org (deleted in Salesforce)."""


class ConcurrentDecisionError(SfsyncError):
    """Someone changed the registration after this manager opened it; nothing was written."""

    def __init__(self, message: str, current_status: str, current_reason: str | None) -> None:
        super().__init__(message)
        self.current_status = current_status
        self.current_reason = current_reason


@dataclass(frozen=True)
class PendingRegistration:
    """One queue row: only clear (unencrypted) fields, so the queue itself reveals nothing confidential."""

    record_id: str
    number: str
    partner_id: str | None
    partner_name: str
    tier: str
    product_lines: tuple[str, ...]
    amount: Decimal | None  # None in the queue: the amount is encrypted (the registration page decrypts it)
    currency: str
    amount_band: str  # public band of the amount (e.g. "100000-250000"); an account's employee band
    region: str  # public band of the customer's country (AMER, EMEA, APAC, Other)
    submitted_at: datetime
    status: str
    info_requested: bool
    kind: Literal["deal", "account"] = "deal"
    partner_number: str = ""
    partner_region: str = ""  # the partner's region: its SLA calendar and the users who see it

    @property
    def key(self) -> tuple[str, str]:
        return self.kind, self.number

    @property
    def path(self) -> str:
        return f"{kind_named(self.kind).path}/{self.number}"


@dataclass(frozen=True)
class ConflictRecord:
    kind: str
    rule: str
    severity: str
    status: str
    score: float | None
    reason: str
    evidence: str
    opportunity: str
    partner_name: str
    first_registration: str = ""


@dataclass
class RegistrationRecord:
    pending: PendingRegistration | None
    fields: dict[str, Any]
    modstamp: str  # LastModifiedDate: what If-Unmodified-Since is compared with
    status: str
    kind: RegistrationKind = DEAL

    @property
    def partner(self) -> dict[str, Any]:
        return self.fields.get("Partner_Account__r") or {}

    @property
    def partner_number(self) -> str:
        return str(self.partner.get("Partner_Number__c") or "")

    @property
    def partner_region(self) -> str:
        return str(self.partner.get("Partner_Region__c") or "")


@dataclass(frozen=True)
class SeenRecord:
    """What a manager's page showed: the decision is written only if the record is still this one."""

    record_id: str
    modstamp: str
    status: str


@dataclass(frozen=True)
class Decision:
    action: Literal["approve", "reject", "request_info", "extend"]
    reason: str = ""
    text: str = ""
    protection_days: int = 0  # approve: the window; extend: days added to ``extend_from``
    extend_from: date | None = None  # extend: the protection end the manager saw


@dataclass(frozen=True)
class DecisionOutcome:
    written: bool  # False: the same decision was already recorded (a repeated submit)
    status: str
    fields: dict[str, Any] = field(default_factory=dict)


def kind_named(name: str) -> RegistrationKind:
    return ACCOUNT if name == "account" else DEAL


def _product_lines(value: Any) -> tuple[str, ...]:
    return tuple(part for part in str(value or "").split(";") if part)


def _pending_from(row: dict[str, Any], kind: RegistrationKind) -> PendingRegistration:
    partner = row.get("Partner_Account__r") or {}
    submitted = parse_utc(row.get("Submitted_At__c")) or parse_utc(row.get("SystemModstamp")) or utc_now()
    band = row.get("Amount_Band__c") if kind is DEAL else row.get("Employee_Band__c")
    return PendingRegistration(
        record_id=str(row["Id"]),
        number=str(row.get("Registration_Number__c") or ""),
        partner_id=row.get("Partner_Account__c"),
        partner_name=str(partner.get("Name") or "(no partner)"),
        tier=str(partner.get("Partner_Tier__c") or "(no tier)"),
        product_lines=_product_lines(row.get("Product_Lines__c")),
        amount=None,
        currency=str(row.get("Currency_Code__c") or "USD") if kind is DEAL else "",
        amount_band=str(band or ""),
        region=str(row.get(kind.region_field) or ""),
        submitted_at=submitted,
        status=str(row.get("Status__c") or "Submitted"),
        info_requested=str(row.get("Decision_Reason__c") or "").startswith(INFO_REQUESTED_PREFIX),
        kind=kind.name,
        partner_number=str(partner.get("Partner_Number__c") or ""),
        partner_region=str(partner.get("Partner_Region__c") or ""),
    )


class DeskOrg:
    """The desk's access to the org; thread-safe (one org call at a time), with a short-lived queue cache."""

    def __init__(self, settings: Settings, *, queue_cache_seconds: float = 2.0) -> None:
        self._settings = settings
        self._lock = threading.RLock()
        self._stack = ExitStack()
        self._gateway: SalesforceGateway | None = None
        self._fake: Any = None
        self._fake_path: Path | None = settings.salesforce.fake_org
        self._fake_mtime: float | None = None
        self._queue: list[PendingRegistration] | None = None
        self._pending: dict[tuple[str, str], PendingRegistration] = {}
        self._watermarks: dict[str, datetime | None] = {}
        self._queue_loaded = 0.0
        self._queue_cache_seconds = queue_cache_seconds
        self._kinds: tuple[RegistrationKind, ...] | None = None

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> None:
        with self._lock:
            if self._gateway is not None:
                return
            if self._fake_path is None:
                self._gateway = SalesforceGateway.connect(self._settings.salesforce)
            else:
                self._load_fake()

    def close(self) -> None:
        with self._lock:
            self._stack.close()
            self._gateway = None
            self._fake = None

    def _load_fake(self) -> None:
        from pydantic import SecretStr

        from sfsync.config import AuthMode, SalesforceSettings
        from sfsync.errors import ConfigError
        from sfsync.testing import FakeSalesforce

        path = self._fake_path
        if path is None or not path.is_file():
            raise ConfigError(f"the local org file {path} does not exist; run `sfsync demo` to create one")
        self._stack.close()
        self._stack = ExitStack()
        fake = FakeSalesforce.load(path)
        self._stack.enter_context(fake)
        self._fake = fake
        self._fake_mtime = path.stat().st_mtime
        local = SalesforceSettings.model_validate(
            {
                **self._settings.salesforce.model_dump(exclude={"fake_org", "access_token"}),
                "auth": AuthMode.TOKEN,
                "instance_url": fake.instance_url,
                "access_token": SecretStr(fake.access_token),
                "fake_org": None,
            }
        )
        self._gateway = SalesforceGateway.connect(local)
        self._queue = None

    @contextmanager
    def _org(self, *, writes: bool = False) -> Iterator[SalesforceGateway]:
        file_lock: AbstractContextManager[None] = nullcontext()
        if writes and self._fake_path is not None:
            from sfsync.services.connect import local_org_lock

            # A write to the local org holds its file from the reload to the save: a `sfsync run` working on
            # the same file meanwhile would otherwise overwrite the decision with its own save.
            file_lock = local_org_lock(self._fake_path, timeout_seconds=LOCAL_ORG_WAIT_SECONDS)
        with self._lock, file_lock:
            if self._fake_path is not None:
                mtime = self._fake_path.stat().st_mtime if self._fake_path.is_file() else None
                if self._gateway is None or mtime != self._fake_mtime:
                    self._load_fake()  # another command (sfsync run) rewrote the org file
            elif self._gateway is None:
                self.open()
            gateway = self._gateway
            if gateway is None:  # pragma: no cover - open() sets it or raises
                raise RuntimeError("desk org is not open")
            yield gateway
            if writes and self._fake is not None and self._fake_path is not None:
                from sfsync.services.connect import save_fake_org

                save_fake_org(self._fake, self._fake_path)
                self._fake_mtime = self._fake_path.stat().st_mtime

    @property
    def fake(self) -> Any:
        """The local org (tests and the demo); None against a real org."""
        return self._fake

    def kinds(self) -> tuple[RegistrationKind, ...]:
        """The registration objects this org has (an org deployed without account registrations has one)."""
        with self._lock:
            if self._kinds is None:
                with self._org() as gateway:
                    names = {str(o.get("name")) for o in gateway.describe_global().get("sobjects", [])}
                self._kinds = tuple(kind for kind in KINDS if kind.sobject in names) or (DEAL,)
            return self._kinds

    # ------------------------------------------------------------------ reads
    def pending(self, *, refresh: bool = False) -> list[PendingRegistration]:
        """Every registration awaiting a decision (deal and account registrations), earliest submission first.

        The first call reads every pending row; later calls (at most every few seconds) read only rows
        changed since (``SystemModstamp`` with an overlap, deleted ones included) and fold them in, so a
        queue of 10,000 costs one small query per refresh, not 10,000 rows.
        """
        with self._lock:
            self._ensure_org_current()
            if self._queue is None or refresh:
                self._read_all_pending()
            elif time.monotonic() - self._queue_loaded >= self._queue_cache_seconds:
                self._read_changed()
            return self._queue if self._queue is not None else []

    def _read_all_pending(self) -> None:
        self._queue_loaded = time.monotonic()
        self._pending = {}
        self._watermarks = {}
        for kind in self.kinds():
            soql = format_soql(
                f"SELECT {_queue_fields(kind)} FROM {kind.sobject} "  # noqa: S608
                "WHERE Status__c IN {} AND Withdrawn_At__c = null",
                list(PENDING_STATUSES),
            )
            with self._org() as gateway:
                rows = list(gateway.query(soql))
            self._watermarks[kind.name] = None
            self._fold(kind, rows)
        self._sort()

    def _read_changed(self) -> None:
        if any(self._watermarks.get(kind.name) is None for kind in self.kinds()):
            self._read_all_pending()
            return
        self._queue_loaded = time.monotonic()
        for kind in self.kinds():
            mark = self._watermarks[kind.name]
            if mark is None:  # pragma: no cover - checked above
                continue
            since = (mark - timedelta(seconds=_OVERLAP_SECONDS)).replace(microsecond=0)
            soql = format_soql(
                f"SELECT {_queue_fields(kind)}, IsDeleted, Withdrawn_At__c FROM {kind.sobject} "  # noqa: S608
                "WHERE SystemModstamp >= {}",
                since,
            )
            with self._org() as gateway:
                rows = list(gateway.query(soql, include_deleted=True))
            self._fold(kind, rows)
        self._sort()

    def _fold(self, kind: RegistrationKind, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            stamp = parse_utc(row.get("SystemModstamp"))
            mark = self._watermarks.get(kind.name)
            if stamp is not None and (mark is None or stamp > mark):
                self._watermarks[kind.name] = stamp
            number = str(row.get("Registration_Number__c") or "")
            still_pending = (
                row.get("Status__c") in PENDING_STATUSES and not row.get("IsDeleted") and not row.get("Withdrawn_At__c")
            )
            if still_pending:
                self._pending[(kind.name, number)] = _pending_from(row, kind)
            else:
                self._pending.pop((kind.name, number), None)

    def _sort(self) -> None:
        # First in time first; DeskApp.queue orders by each partner region's SLA deadline.
        self._queue = sorted(self._pending.values(), key=lambda reg: (reg.submitted_at, reg.number))

    def _ensure_org_current(self) -> None:
        """A local org file rewritten by another command is reloaded (the queue is then read afresh)."""
        if self._fake_path is not None and self._org_file_changed():
            self._load_fake()

    def _org_file_changed(self) -> bool:
        if self._fake_path is None:
            return False
        try:
            return self._fake_path.stat().st_mtime != self._fake_mtime
        except OSError:
            return True

    def registration(self, number: str, kind: RegistrationKind = DEAL) -> RegistrationRecord:
        if kind not in self.kinds():
            raise RegistrationDeletedError(f"{kind.label.lower()} {number} is not in Salesforce")
        with self._org() as gateway:
            fields = [str(f["name"]) for f in gateway.describe(kind.sobject).get("fields", [])]
            soql = format_soql(
                # field names come from describe: API names, never user input
                f"SELECT {', '.join(fields)}, {_PARTNER_FIELDS} "  # noqa: S608
                f"FROM {kind.sobject} WHERE Registration_Number__c = {{}} LIMIT 1",
                number,
            )
            rows = list(gateway.query(soql))
        if not rows:
            raise RegistrationDeletedError(f"registration {number} is not in Salesforce (deleted or never synced)")
        row = rows[0]
        status = str(row.get("Status__c") or "Submitted")
        pending = _pending_from(row, kind) if status in PENDING_STATUSES else None
        return RegistrationRecord(
            pending=pending, fields=row, modstamp=str(row.get("LastModifiedDate")), status=status, kind=kind
        )

    def open_registrations(self, partner_id: str, today: date) -> int:
        """The partner's registrations that count against its tier limit: pending, or approved and protected
        (deal and account registrations alike)."""
        count = 0
        for kind in self.kinds():
            soql = format_soql(
                f"SELECT Id, Status__c, Protection_End__c FROM {kind.sobject} "  # noqa: S608
                "WHERE Partner_Account__c = {} AND Status__c IN {}",
                partner_id,
                [*PENDING_STATUSES, "Approved"],
            )
            with self._org() as gateway:
                for row in gateway.query(soql):
                    end = row.get("Protection_End__c")
                    if row.get("Status__c") != "Approved" or end is None or date.fromisoformat(str(end)) >= today:
                        count += 1
        return count

    def conflicts(self, number: str) -> list[ConflictRecord]:
        soql = format_soql(
            f"SELECT {_CONFLICT_FIELDS} FROM Channel_Conflict__c WHERE Registration_Number__c = {{}}",  # noqa: S608
            number,
        )
        with self._org() as gateway:
            rows = list(gateway.query(soql))
        result = []
        for row in rows:
            opportunity = row.get("Opportunity__r") or {}
            score = row.get("Score__c")
            result.append(
                ConflictRecord(
                    kind=str(row.get("Kind__c") or ""),
                    rule=str(row.get("Rule__c") or ""),
                    severity=str(row.get("Severity__c") or ""),
                    status=str(row.get("Status__c") or "Open"),
                    score=float(score) if score is not None else None,
                    reason=str(row.get("Reason__c") or ""),
                    evidence=str(row.get("Evidence__c") or ""),
                    opportunity=str(opportunity.get("Name") or row.get("Opportunity__c") or ""),
                    partner_name=str(row.get("Partner_Name__c") or ""),
                    first_registration=str(row.get("First_Registration__c") or ""),
                )
            )
        return result

    def decided(self) -> list[dict[str, Any]]:
        """Approved and rejected registrations with their timing, partner, tier, region and product lines."""
        rows: list[dict[str, Any]] = []
        for kind in self.kinds():
            soql = format_soql(
                "SELECT Registration_Number__c, Status__c, Submitted_At__c, Decided_At__c, "  # noqa: S608
                f"Product_Lines__c, {_PARTNER_FIELDS} FROM {kind.sobject} WHERE Status__c IN {{}}",
                ["Approved", "Rejected"],
            )
            with self._lock, self._org() as gateway:
                rows.extend({**row, "kind": kind.name} for row in gateway.query(soql))
        return rows

    def registration_partners(self) -> dict[str, tuple[str, str]]:
        """Registration number -> (partner number, partner region), every registration of every kind."""
        found: dict[str, tuple[str, str]] = {}
        for kind in self.kinds():
            soql = (
                "SELECT Registration_Number__c, Partner_Account__r.Partner_Number__c, "  # noqa: S608
                f"Partner_Account__r.Partner_Region__c FROM {kind.sobject}"
            )
            with self._lock, self._org() as gateway:
                for row in gateway.query(soql):
                    partner = row.get("Partner_Account__r") or {}
                    found[str(row.get("Registration_Number__c") or "")] = (
                        str(partner.get("Partner_Number__c") or ""),
                        str(partner.get("Partner_Region__c") or ""),
                    )
        return found

    def conflict_rules(self, numbers: set[str] | None = None) -> dict[str, int]:
        """Conflicts filed in the org, counted by rule (or kind when no rule is named); only those on
        ``numbers`` when given (a scoped reader)."""
        counts: dict[str, int] = {}
        with self._lock, self._org() as gateway:
            for row in gateway.query("SELECT Rule__c, Kind__c, Registration_Number__c FROM Channel_Conflict__c"):
                if numbers is not None and str(row.get("Registration_Number__c") or "") not in numbers:
                    continue
                rule = str(row.get("Rule__c") or row.get("Kind__c") or "(unnamed)")
                counts[rule] = counts.get(rule, 0) + 1
        return counts

    def permission_sets(self, user_id: str) -> set[str]:
        """Names of the permission sets assigned to the user (the desk's role comes from them)."""
        soql = format_soql("SELECT PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = {}", user_id)
        with self._lock, self._org() as gateway:
            return {str((row.get("PermissionSet") or {}).get("Name") or "") for row in gateway.query(soql)} - {""}

    # ------------------------------------------------------------------ writes
    def decide(
        self, number: str, seen: SeenRecord, decision: Decision, *, today: date, kind: RegistrationKind = DEAL
    ) -> DecisionOutcome:
        """Write ``decision`` in one conditional call: only if the record is unmodified since ``seen``.

        ``PATCH`` with ``If-Unmodified-Since`` (the LastModifiedDate the manager's page showed): Salesforce
        itself refuses the write (412) when anyone changed the record since — another desk, a rep, a sync —
        so there is no window between a check and the write. A refused write that turns out to be this
        very decision (a repeated submit) reports "already recorded"; anything else is a concurrent change.
        """
        allowed = ("Approved",) if decision.action == "extend" else PENDING_STATUSES
        if seen.status not in allowed:
            raise ConcurrentDecisionError(
                f"registration {number} is already {seen.status}; nothing was written", seen.status, None
            )
        since = parse_utc(seen.modstamp)
        if since is None:
            raise ConcurrentDecisionError(
                f"registration {number}: the page's version is unreadable; open it again (nothing was written)",
                seen.status,
                None,
            )
        fields = _decision_fields(decision, today)
        with self._lock:
            with self._org(writes=True) as gateway:
                result = gateway.update_if_unmodified(kind.sobject, seen.record_id, fields, since)
            if not result.ok:
                if result.status_code in ("ENTITY_IS_DELETED", "NOT_FOUND"):
                    raise RegistrationDeletedError(f"registration {number} is not in Salesforce any more (deleted)")
                if result.status_code == PRECONDITION_FAILED:
                    return self.repeated(number, decision, today=today, kind=kind)
                raise SfsyncError(f"Salesforce refused the decision on {number}: {result.status_code}")
            self._queue_loaded = 0.0  # the next queue read folds this change in
            return DecisionOutcome(written=True, status=str(fields.get("Status__c", seen.status)), fields=fields)

    def repeated(
        self, number: str, decision: Decision, *, today: date, kind: RegistrationKind = DEAL
    ) -> DecisionOutcome:
        """The record changed since the manager's page: fine if it already holds this very decision (a
        repeated submit), a :class:`ConcurrentDecisionError` otherwise. Writes nothing."""
        fields = _decision_fields(decision, today)
        current = self.registration(number, kind)
        if _already_recorded(current.fields, fields):
            return DecisionOutcome(written=False, status=current.status, fields=fields)
        raise ConcurrentDecisionError(
            f"registration {number} was changed by someone else after you opened it "
            f"(now {current.status}); nothing was written",
            current.status,
            current.fields.get("Decision_Reason__c"),
        )


def _decision_fields(decision: Decision, today: date) -> dict[str, Any]:
    decided_at = utc_now().replace(microsecond=0).isoformat()
    if decision.action == "approve":
        return {
            "Status__c": "Approved",
            "Decision_Reason__c": (decision.text or "Approved")[:1000],
            "Decided_At__c": decided_at,
            "Protection_Start__c": today.isoformat(),
            "Protection_End__c": (today + timedelta(days=decision.protection_days)).isoformat(),
        }
    if decision.action == "reject":
        reason = decision.reason + (f": {decision.text}" if decision.text else "")
        return {
            "Status__c": "Rejected",
            "Decision_Reason__c": reason[:1000],
            "Decided_At__c": decided_at,
            "Protection_Start__c": None,
            "Protection_End__c": None,
        }
    if decision.action == "extend":
        if decision.extend_from is None:
            raise ValueError("an extension needs the protection end it extends")
        return {"Protection_End__c": (decision.extend_from + timedelta(days=decision.protection_days)).isoformat()}
    return {
        "Status__c": "Under Review",
        "Decision_Reason__c": (INFO_REQUESTED_PREFIX + decision.text)[:1000],
    }


def _already_recorded(current: dict[str, Any], fields: dict[str, Any]) -> bool:
    """The record already holds exactly this decision: a repeated submit, not a rival's change."""
    return all(
        (str(current.get(name)) if current.get(name) is not None else None) == value
        for name, value in fields.items()
        if name != "Decided_At__c"
    )
