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
from contextlib import ExitStack, contextmanager
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
    "PENDING_STATUSES",
    "ConcurrentDecisionError",
    "ConflictRecord",
    "Decision",
    "DecisionOutcome",
    "DeskOrg",
    "PendingRegistration",
    "RegistrationDeletedError",
    "RegistrationRecord",
]

REGISTRATION_OBJECT = "Deal_Registration__c"
PENDING_STATUSES = ("Submitted", "Under Review")
INFO_REQUESTED_PREFIX = "Information requested: "
# Re-read this far behind the newest SystemModstamp seen: Salesforce commits are not stamped in commit order.
_OVERLAP_SECONDS = 300

# Object and field names below are constants of this module; every value goes through format_soql.
# Clear fields only: the amount, country and close date are ciphertext; their public bands are listed instead.
_QUEUE_FIELDS = (
    "Id, Registration_Number__c, Partner_Account__c, Partner_Account__r.Name, Partner_Account__r.Partner_Tier__c, "
    "Product_Lines__c, Amount_Band__c, Currency_Code__c, End_Customer_Region__c, Submitted_At__c, Status__c, "
    "Decision_Reason__c, SystemModstamp"
)
_CONFLICT_FIELDS = (
    "Id, Conflict_Key__c, Kind__c, Rule__c, Severity__c, Status__c, Score__c, Reason__c, Evidence__c, "
    "Opportunity__c, Opportunity__r.Name, Partner_Name__c, Registration_Number__c"
)


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
    amount_band: str  # public band of the amount (e.g. "100000-250000")
    region: str  # public band of the customer's country (AMER, EMEA, APAC, Other)
    submitted_at: datetime
    status: str
    info_requested: bool


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


@dataclass
class RegistrationRecord:
    pending: PendingRegistration | None
    fields: dict[str, Any]
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


def _product_lines(value: Any) -> tuple[str, ...]:
    return tuple(part for part in str(value or "").split(";") if part)


def _pending_from(row: dict[str, Any]) -> PendingRegistration:
    partner = row.get("Partner_Account__r") or {}
    submitted = parse_utc(row.get("Submitted_At__c")) or parse_utc(row.get("SystemModstamp")) or utc_now()
    return PendingRegistration(
        record_id=str(row["Id"]),
        number=str(row.get("Registration_Number__c") or ""),
        partner_id=row.get("Partner_Account__c"),
        partner_name=str(partner.get("Name") or "(no partner)"),
        tier=str(partner.get("Partner_Tier__c") or "(no tier)"),
        product_lines=_product_lines(row.get("Product_Lines__c")),
        amount=None,
        currency=str(row.get("Currency_Code__c") or "USD"),
        amount_band=str(row.get("Amount_Band__c") or ""),
        region=str(row.get("End_Customer_Region__c") or ""),
        submitted_at=submitted,
        status=str(row.get("Status__c") or "Submitted"),
        info_requested=str(row.get("Decision_Reason__c") or "").startswith(INFO_REQUESTED_PREFIX),
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
        self._pending: dict[str, PendingRegistration] = {}
        self._watermark: datetime | None = None
        self._queue_loaded = 0.0
        self._queue_cache_seconds = queue_cache_seconds

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
        with self._lock:
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

    # ------------------------------------------------------------------ reads
    def pending(self, *, refresh: bool = False) -> list[PendingRegistration]:
        """Every registration awaiting a decision, earliest submission first.

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
        soql = format_soql(
            f"SELECT {_QUEUE_FIELDS} FROM {REGISTRATION_OBJECT} "  # noqa: S608
            "WHERE Status__c IN {} AND Withdrawn_At__c = null",
            list(PENDING_STATUSES),
        )
        self._queue_loaded = time.monotonic()
        with self._org() as gateway:
            rows = list(gateway.query(soql))
        self._pending = {}
        self._watermark = None
        self._fold(rows)

    def _read_changed(self) -> None:
        if self._watermark is None:
            self._read_all_pending()
            return
        since = (self._watermark - timedelta(seconds=_OVERLAP_SECONDS)).replace(microsecond=0)
        soql = format_soql(
            f"SELECT {_QUEUE_FIELDS}, IsDeleted, Withdrawn_At__c FROM {REGISTRATION_OBJECT} "  # noqa: S608
            "WHERE SystemModstamp >= {}",
            since,
        )
        self._queue_loaded = time.monotonic()
        with self._org() as gateway:
            rows = list(gateway.query(soql, include_deleted=True))
        self._fold(rows)

    def _fold(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            stamp = parse_utc(row.get("SystemModstamp"))
            if stamp is not None and (self._watermark is None or stamp > self._watermark):
                self._watermark = stamp
            number = str(row.get("Registration_Number__c") or "")
            still_pending = (
                row.get("Status__c") in PENDING_STATUSES and not row.get("IsDeleted") and not row.get("Withdrawn_At__c")
            )
            if still_pending:
                self._pending[number] = _pending_from(row)
            else:
                self._pending.pop(number, None)
        # First in time first: the order of the SLA clock (see DeskApp.queue).
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

    def registration(self, number: str) -> RegistrationRecord:
        with self._org() as gateway:
            fields = [str(f["name"]) for f in gateway.describe(REGISTRATION_OBJECT).get("fields", [])]
            soql = format_soql(
                # field names come from describe: API names, never user input
                f"SELECT {', '.join(fields)}, Partner_Account__r.Name, Partner_Account__r.Partner_Tier__c "  # noqa: S608
                f"FROM {REGISTRATION_OBJECT} WHERE Registration_Number__c = {{}} LIMIT 1",
                number,
            )
            rows = list(gateway.query(soql))
        if not rows:
            raise RegistrationDeletedError(f"registration {number} is not in Salesforce (deleted or never synced)")
        row = rows[0]
        status = str(row.get("Status__c") or "Submitted")
        pending = _pending_from(row) if status in PENDING_STATUSES else None
        return RegistrationRecord(pending=pending, fields=row, modstamp=str(row.get("SystemModstamp")), status=status)

    def open_registrations(self, partner_id: str, today: date) -> int:
        """The partner's registrations that count against its tier limit: pending, or approved and protected."""
        soql = format_soql(
            f"SELECT Id, Status__c, Protection_End__c FROM {REGISTRATION_OBJECT} "  # noqa: S608
            "WHERE Partner_Account__c = {} AND Status__c IN {}",
            partner_id,
            [*PENDING_STATUSES, "Approved"],
        )
        count = 0
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
                )
            )
        return result

    def decided(self) -> list[dict[str, Any]]:
        """Approved and rejected registrations with their timing, partner, tier and product lines (reports)."""
        soql = format_soql(
            "SELECT Registration_Number__c, Status__c, Submitted_At__c, Decided_At__c, Product_Lines__c, "  # noqa: S608
            f"Partner_Account__r.Name, Partner_Account__r.Partner_Tier__c FROM {REGISTRATION_OBJECT} "
            "WHERE Status__c IN {}",
            ["Approved", "Rejected"],
        )
        with self._lock, self._org() as gateway:
            return list(gateway.query(soql))

    def conflict_rules(self) -> dict[str, int]:
        """Conflicts filed in the org, counted by rule (or kind when no rule is named)."""
        counts: dict[str, int] = {}
        with self._lock, self._org() as gateway:
            for row in gateway.query("SELECT Rule__c, Kind__c FROM Channel_Conflict__c"):
                rule = str(row.get("Rule__c") or row.get("Kind__c") or "(unnamed)")
                counts[rule] = counts.get(rule, 0) + 1
        return counts

    # ------------------------------------------------------------------ writes
    def decide(self, number: str, expected_modstamp: str, decision: Decision, *, today: date) -> DecisionOutcome:
        """Write ``decision`` if the record still carries ``expected_modstamp``.

        Holding the desk's lock from the read to the write serialises managers of this desk; a change made
        elsewhere in between (another desk, a rep in Salesforce) shows as a new SystemModstamp and stops the
        write. A repeated submit of the decision already recorded writes nothing.
        """
        fields = _decision_fields(decision, today)
        with self._lock:
            current = self.registration(number)
            if current.modstamp != expected_modstamp:
                if _already_recorded(current.fields, fields):
                    return DecisionOutcome(written=False, status=current.status, fields=fields)
                raise ConcurrentDecisionError(
                    f"registration {number} was changed by someone else after you opened it "
                    f"(now {current.status}); nothing was written",
                    current.status,
                    current.fields.get("Decision_Reason__c"),
                )
            allowed = ("Approved",) if decision.action == "extend" else PENDING_STATUSES
            if current.status not in allowed:
                raise ConcurrentDecisionError(
                    f"registration {number} is already {current.status}; nothing was written",
                    current.status,
                    current.fields.get("Decision_Reason__c"),
                )
            with self._org(writes=True) as gateway:
                [result] = gateway.update(REGISTRATION_OBJECT, [{"Id": current.fields["Id"], **fields}])
            if not result.ok:
                if result.status_code == "ENTITY_IS_DELETED":
                    raise RegistrationDeletedError(f"registration {number} was deleted in Salesforce")
                raise SfsyncError(f"Salesforce refused the decision on {number}: {result.status_code}")
            self._queue_loaded = 0.0  # the next queue read folds this change in
            return DecisionOutcome(written=True, status=str(fields.get("Status__c", current.status)), fields=fields)


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
