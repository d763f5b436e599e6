"""The conflict scan around Salesforce and the portal: read, decide (pure core), write back.

Protected customers come from the portal (it holds the plaintext the partner submitted and the
decisions pulled back from Salesforce); Opportunities come from Salesforce, incrementally over
``SystemModstamp`` or in full. Conflicts are upserted as ``Channel_Conflict__c`` under a
deterministic key, and the registrations involved get ``Conflict_Flag__c`` (which the next pull
carries back to the portal). A direct rep reading a conflict sees the partner of record and the
protection end, never the partner's confidential deal fields.

Named (direct-led) accounts come from two places, merged (the same account listed twice counts once):

* the file ``[conflicts] named_accounts`` (CSV or YAML, see ``load_named_accounts``), when set; a
  missing or broken file stops the scan with a usage error naming it;
* the Salesforce query ``SELECT Id, Name, Website, DunsNumber, BillingCountry FROM Account WHERE
  Named_Account__c = true``, when the org's Account has a ``Named_Account__c`` checkbox (an org
  without that field simply contributes nothing).

Incremental scans read the Opportunities whose own ``SystemModstamp`` or whose Account's
``SystemModstamp`` moved since the watermark (minus ``[sync] overlap_seconds``): editing an
Account (a new website, a DUNS number) does not touch its Opportunities' stamps, yet changes the
evidence. ``--full`` reads every Opportunity. A dry run reads the watermark but writes nothing
(no conflict, no flag, no watermark). The watermark does not advance when Salesforce rejected a
conflict record, so the next incremental scan tries those Opportunities again.

``Conflict_Flag__c`` is true on exactly the registrations that have a conflict in the Open or
Acknowledged state after the scan (a conflict a channel manager dismissed or that got resolved
no longer flags its registrations).

What is written to Salesforce (and printed) never carries the partner's plaintext: the evidence
lists each compared component (AccountId, DUNS, website, name, postal code, country), how it
compared, its weight and a public explanation, plus the Opportunity side's own account name; never
a value the partner submitted. ``Evidence_Hash__c`` is an HMAC under the keyring's index key over
the published evidence (a plain SHA-256 of that published evidence when no keyring opens), so it
cannot be used to test guesses. Competitive notes, contacts and deal amounts are never read.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import ValidationError

from sfsync.config import Settings
from sfsync.conflicts._models import (
    Conflict,
    ConflictKind,
    NamedAccount,
    Opportunity,
    PartnerOfRecordLock,
    Registration,
    RegistrationKind,
)
from sfsync.conflicts._protected import load_named_accounts
from sfsync.conflicts._rules import load_rules
from sfsync.conflicts._scan import ConflictStatus, ExistingConflict, ReconcilePlan, reconcile, scan
from sfsync.errors import ConfigError, ErrorContext
from sfsync.mapping import MappingSet
from sfsync.salesforce import RecordResult, format_soql
from sfsync.sync._state import StateStore

__all__ = ["ConflictScanReport", "list_conflicts", "load_registrations", "scan_conflicts"]

log = logging.getLogger("sfsync.conflicts")

CONFLICT_OBJECT = "Channel_Conflict__c"
CONFLICT_KEY_FIELD = "Conflict_Key__c"
WATERMARK_NAME = "conflicts"
FLAG_FIELD = "Conflict_Flag__c"
NAMED_ACCOUNT_FIELD = "Named_Account__c"
# The portal tables the shipped mappings define, and the column prefix of the customer identity.
_SOURCES: tuple[tuple[RegistrationKind, str, str], ...] = (
    (RegistrationKind.DEAL, "deal_registrations", "end_customer_"),
    (RegistrationKind.ACCOUNT, "account_registrations", "customer_"),
)
_TABLE_KIND = {table: kind for kind, table, _prefix in _SOURCES}
_ACTIVE = frozenset({ConflictStatus.OPEN, ConflictStatus.ACKNOWLEDGED})
# Conflicts whose "protected" side is a partner's registration (its customer name is the partner's
# confidential plaintext); for named accounts and partner-of-record locks it is the vendor's own data.
_REGISTRATION_PROTECTED = frozenset(
    {ConflictKind.DEAL_REGISTRATION, ConflictKind.ACCOUNT_REGISTRATION, ConflictKind.SECOND_PARTNER}
)


class _Gateway(Protocol):
    @property
    def api_calls(self) -> int: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]: ...

    def describe(self, sobject: str) -> dict[str, Any]: ...

    def upsert(
        self, sobject: str, external_id_field: str, records: Sequence[Mapping[str, Any]]
    ) -> list[RecordResult]: ...


@dataclass
class ConflictScanReport:
    dry_run: bool
    full: bool
    opportunities: int = 0
    registrations: int = 0
    protected_customers: int = 0
    skipped: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    bad_registrations: list[str] = field(default_factory=list)
    named_accounts: int = 0
    partner_of_record_locks: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    reopened: int = 0
    resolved: int = 0
    unchanged: int = 0
    flags_set: int = 0
    flags_cleared: int = 0
    rejected: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "full": self.full,
            "opportunities": self.opportunities,
            "registrations": self.registrations,
            "protected_customers": self.protected_customers,
            "skipped": self.skipped,
            "skipped_reasons": self.skipped_reasons,
            "bad_registrations": self.bad_registrations,
            "named_accounts": self.named_accounts,
            "partner_of_record_locks": self.partner_of_record_locks,
            "conflicts": len(self.conflicts),
            "by_kind": self.by_kind,
            "created": self.created,
            "updated": self.updated,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "unchanged": self.unchanged,
            "flags_set": self.flags_set,
            "flags_cleared": self.flags_cleared,
            "rejected": self.rejected,
            "api_calls": self.api_calls,
            "seconds": self.seconds,
            "details": [
                {
                    "key": c.key,
                    "kind": c.kind.value,
                    "severity": c.severity.value,
                    "opportunity_id": c.opportunity_id,
                    "opportunity_name": c.opportunity_name,
                    "name": c.to_salesforce()["Name"],
                    "registration_number": c.registration_number,
                    "other_registration_number": c.other_registration_number,
                    "partner_number": c.partner_number,
                    "partner_name": c.partner_name,
                    "protection_end": c.protection_end.isoformat() if c.protection_end else None,
                    "score": c.score,
                    "reason": c.reason,
                    "evidence": c.evidence.model_dump(mode="json", exclude_none=True),
                }
                for c in self.conflicts
            ],
        }


def _partner_accounts(gateway: _Gateway) -> dict[str, str]:
    soql = format_soql("SELECT Id, Partner_Number__c FROM Account WHERE Partner_Number__c != null")
    return {str(r["Partner_Number__c"]): str(r["Id"]) for r in gateway.query(soql)}


def _columns(prefix: str) -> tuple[str, ...]:
    # Only what the scan uses: the partner's confidential deal fields (notes, contacts) are never read.
    identity = tuple(f"{prefix}{c}" for c in ("name", "website", "domain", "country", "postal_code", "duns"))
    return (
        "registration_number", "partner_number", *identity, "product_lines", "amount", "currency", "status",
        "submitted_at", "decided_at", "protection_start", "protection_end",
    )  # fmt: skip


def load_registrations(
    portal_url: str,
    partner_account_ids: Mapping[str, str] | None = None,
    *,
    problems: list[str] | None = None,
) -> list[Registration]:
    """Every registration in the portal (deleted rows excluded), as the conflict core models them.

    A row the model refuses (no registration number, an unreadable timestamp, ...) is left out
    with a warning naming the table, the registration and the field, and appended to ``problems``.
    """
    engine = sa.create_engine(portal_url)
    registrations: list[Registration] = []
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            tables = set(inspector.get_table_names())
            partners: dict[str, str] = {}
            if "partners" in tables:
                partner_table = sa.Table("partners", sa.MetaData(), autoload_with=connection)
                partners = {
                    str(r.partner_number): str(r.name)
                    for r in connection.execute(sa.select(partner_table.c.partner_number, partner_table.c.name))
                }
            for kind, table_name, prefix in _SOURCES:
                if table_name not in tables:
                    continue
                table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
                query = sa.select(*(table.c[name] for name in _columns(prefix) if name in table.c))
                if "deleted_at" in table.c:
                    query = query.where(table.c.deleted_at.is_(None))
                for row in connection.execute(query).mappings():
                    try:
                        registrations.append(
                            _registration(kind, prefix, dict(row), partners, partner_account_ids or {})
                        )
                    except (ValidationError, ValueError, TypeError, KeyError) as exc:
                        problem = f"{table_name} {row.get('registration_number')!r}: {_why(exc)}"
                        log.warning("registration left out of the conflict scan: %s", problem)
                        if problems is not None:
                            problems.append(problem)
    except sa.exc.SQLAlchemyError as exc:
        raise ConfigError(
            f"cannot read registrations from the portal: {type(exc).__name__}", ErrorContext(extra={"table": "portal"})
        ) from None
    finally:
        engine.dispose()
    return registrations


def _registration(
    kind: RegistrationKind,
    prefix: str,
    row: Mapping[str, Any],
    partners: Mapping[str, str],
    partner_account_ids: Mapping[str, str],
) -> Registration:
    partner = str(row["partner_number"])
    website = row.get(f"{prefix}website") or row.get(f"{prefix}domain")
    amount = row.get("amount")
    return Registration(
        registration_number=str(row["registration_number"]),
        kind=kind,
        partner_number=partner,
        partner_name=partners.get(partner, ""),
        partner_account_id=partner_account_ids.get(partner),
        customer_name=row.get(f"{prefix}name"),
        customer_website=website,
        customer_country=row.get(f"{prefix}country"),
        customer_postal_code=row.get(f"{prefix}postal_code"),
        customer_duns=row.get(f"{prefix}duns"),
        product_lines=[p for p in str(row.get("product_lines") or "").split(",") if p.strip()],
        amount=Decimal(str(amount)) if amount is not None else None,
        currency=row.get("currency"),
        status=str(row.get("status") or "submitted"),
        submitted_at=_as_datetime(row["submitted_at"]),
        decided_at=_as_datetime(row["decided_at"]) if row.get("decided_at") else None,
        protection_start=row.get("protection_start"),
        protection_end=row.get("protection_end"),
    )


def _why(exc: Exception) -> str:
    """Which field and what is wrong, without echoing the value (it may be confidential)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'row'}: {first['msg']}"
    if isinstance(exc, KeyError):
        return f"{exc.args[0]}: missing"
    return type(exc).__name__


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opportunity_soql(since: datetime | None, overlap: timedelta) -> str:
    # Account.SystemModstamp too: the watermark must pass Account edits, or they are read forever.
    fields = ", ".join((*Opportunity.SOQL_FIELDS, "Account.SystemModstamp"))
    if since is None:
        return format_soql("SELECT {:literal} FROM Opportunity ORDER BY SystemModstamp, Id", fields)
    floor = (since - overlap).astimezone(UTC).replace(microsecond=0)
    # The Account's stamp too: a new website or DUNS on the account is new evidence for its
    # Opportunities, whose own SystemModstamp does not move.
    return format_soql(
        "SELECT {:literal} FROM Opportunity WHERE SystemModstamp >= {} OR Account.SystemModstamp >= {} "
        "ORDER BY SystemModstamp, Id",
        fields,
        floor,
        floor,
    )


def _account_stamp(record: Mapping[str, Any]) -> datetime | None:
    account = record.get("Account")
    value = account.get("SystemModstamp") if isinstance(account, Mapping) else None
    if value is None:
        return None
    try:
        return _as_datetime(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class _Existing:
    conflicts: dict[str, ExistingConflict]
    registration_numbers: dict[str, str]


def _existing_conflicts(gateway: _Gateway) -> _Existing:
    fields = (*ExistingConflict.SOQL_FIELDS, "Registration_Number__c")
    soql = format_soql("SELECT {:literal} FROM {:literal}", ", ".join(fields), CONFLICT_OBJECT)
    conflicts: dict[str, ExistingConflict] = {}
    numbers: dict[str, str] = {}
    for record in gateway.query(soql):
        existing = ExistingConflict.from_salesforce(record)
        conflicts[existing.key] = existing
        if record.get("Registration_Number__c"):
            numbers[existing.key] = str(record["Registration_Number__c"])
    return _Existing(conflicts, numbers)


def _named_accounts(settings: Settings, gateway: _Gateway) -> list[NamedAccount]:
    """The named-accounts file (if configured) merged with Accounts flagged Named_Account__c."""
    accounts: list[NamedAccount] = []
    path = settings.conflicts.named_accounts
    if path is not None:
        if not path.is_file():
            raise ConfigError(
                f"named accounts file {path} does not exist ([conflicts] named_accounts)",
                ErrorContext(file=str(path), field_name="conflicts.named_accounts"),
            )
        accounts.extend(load_named_accounts(path))
    fields = {str(f.get("name")) for f in gateway.describe("Account").get("fields", ())}
    if NAMED_ACCOUNT_FIELD in fields:
        soql = format_soql(
            "SELECT Id, Name, Website, DunsNumber, BillingCountry FROM Account WHERE {:literal} = true ORDER BY Id",
            NAMED_ACCOUNT_FIELD,
        )
        accounts.extend(NamedAccount.from_salesforce(r) for r in gateway.query(soql))
    else:
        log.debug("Account has no %s field: named accounts come from the file only", NAMED_ACCOUNT_FIELD)
    # The same account in the file (with its Id) and in the org counts once.
    unique: dict[str, NamedAccount] = {}
    for account in accounts:
        unique.setdefault(account.key, account)
    return list(unique.values())


def _public(conflict: Conflict) -> Conflict:
    """The conflict as Salesforce and reports may show it: no plaintext the partner submitted.

    The core never puts the partner's values into evidence or reasons (names and websites are
    described by how they compared, platforms by the platform); this is the second lock on that
    door: a protected-side name on a registration-protected conflict is dropped.
    """
    if conflict.kind in _REGISTRATION_PROTECTED and conflict.evidence.protected_name is not None:
        return conflict.model_copy(update={"evidence": conflict.evidence.model_copy(update={"protected_name": None})})
    return conflict


def evidence_hasher(settings: Settings) -> Callable[[bytes], str] | None:
    """HMAC-SHA256 under the keyring's index key, bound to ``Channel_Conflict__c.Evidence_Hash__c``;
    None when no keyring can be opened (the hash then covers only the published evidence)."""
    from sfsync.crypto import load_keyring
    from sfsync.errors import SfsyncError

    try:
        indexer = load_keyring(settings).blind_indexer()
    except (SfsyncError, OSError, ValueError) as exc:
        log.info("no keyring for a keyed evidence hash (%s): hashing the published evidence", type(exc).__name__)
        return None

    def keyed(data: bytes) -> str:
        return indexer.index(data.decode("utf-8"), "exact", 256, sobject=CONFLICT_OBJECT, field="Evidence_Hash__c")

    return keyed


def partner_of_record_locks(
    gateway: _Gateway, *, as_of: datetime, term: timedelta = timedelta(days=365)
) -> list[PartnerOfRecordLock]:
    """Locks from past channel sales: won Opportunities sold through a partner, per product line,
    each lasting ``term`` (rules: ``partner_of_record_days``) after its close date."""
    since = (as_of - term).date()
    soql = format_soql(
        "SELECT Id, AccountId, Account.Name, Account.Website, Account.BillingCountry, Account.BillingPostalCode, "
        "Account.DunsNumber, Partner_Account__c, Partner_Account__r.Partner_Number__c, Partner_Account__r.Name, "
        "Product_Lines__c, CloseDate FROM Opportunity WHERE IsWon = true AND Partner_Account__c != null "
        "AND CloseDate >= {}",
        since,
    )
    locks: list[PartnerOfRecordLock] = []
    for record in gateway.query(soql):
        partner = record.get("Partner_Account__r") or {}
        number = partner.get("Partner_Number__c")
        close = record.get("CloseDate")
        if not number or not close:
            continue
        account = record.get("Account") or {}
        closed = date.fromisoformat(str(close)[:10])
        lines: list[str | None] = [p for p in str(record.get("Product_Lines__c") or "").split(";") if p.strip()]
        lines = lines or [None]
        for line in lines:
            locks.append(
                PartnerOfRecordLock(
                    lock_id=f"{record['Id']}:{line or 'all'}",
                    customer_name=account.get("Name"),
                    customer_website=account.get("Website"),
                    customer_country=account.get("BillingCountry"),
                    customer_postal_code=account.get("BillingPostalCode"),
                    customer_duns=account.get("DunsNumber"),
                    customer_account_id=record.get("AccountId"),
                    partner_number=str(number),
                    partner_name=str(partner.get("Name") or ""),
                    partner_account_id=record.get("Partner_Account__c"),
                    product_line=line,
                    since=closed,
                    until=closed + term,
                )
            )
    return locks


def scan_conflicts(
    settings: Settings,
    gateway: _Gateway,
    *,
    mappings: MappingSet | None = None,
    state: StateStore | None = None,
    full: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ConflictScanReport:
    """One scan: rebuild protections, read Opportunities, decide, reconcile, write (unless dry run).

    ``state`` holds the Opportunity watermark: without it (or with ``full``) every Opportunity is
    read. ``mappings`` tells which Salesforce objects carry ``Conflict_Flag__c``; without it no flag
    is written. ``dry_run`` reads everything and writes nothing, not even the watermark.
    """
    started = time.monotonic()
    calls = gateway.api_calls
    moment = now or datetime.now(UTC)
    rules = load_rules(settings.conflicts.rules)
    named = _named_accounts(settings, gateway)
    bad: list[str] = []
    registrations = load_registrations(settings.portal.url, _partner_accounts(gateway), problems=bad)
    since = None if full or state is None else state.get_watermark(WATERMARK_NAME, "pull")
    report = ConflictScanReport(dry_run=dry_run, full=since is None)
    report.registrations = len(registrations)
    report.bad_registrations = bad
    report.named_accounts = len(named)
    overlap = timedelta(seconds=settings.sync.overlap_seconds)
    opportunities: list[Opportunity] = []
    newest: datetime | None = None
    for record in gateway.query(_opportunity_soql(since, overlap)):
        opportunity = Opportunity.from_salesforce(record)
        opportunities.append(opportunity)
        for stamp in (opportunity.system_modstamp, _account_stamp(record)):
            if stamp is not None and (newest is None or stamp > newest):
                newest = stamp
    report.opportunities = len(opportunities)
    locks = partner_of_record_locks(gateway, as_of=moment, term=timedelta(days=rules.partner_of_record_days))
    report.partner_of_record_locks = len(locks)
    result = scan(
        opportunities,
        registrations,
        rules,
        as_of=moment,
        locks=locks,
        named_accounts=named,
        keyed_hash=evidence_hasher(settings),
    )
    conflicts = [_public(c) for c in result.conflicts]
    report.conflicts = conflicts
    report.skipped = len(result.skipped)
    for skipped in result.skipped:
        # "not enough evidence: ..." and friends, counted by their headline.
        headline = skipped.reason.split(":", 1)[0]
        report.skipped_reasons[headline] = report.skipped_reasons.get(headline, 0) + 1
    report.protected_customers = result.protected_count
    report.by_kind = result.summary()["by_kind"]
    existing = _existing_conflicts(gateway)
    plan = reconcile(
        conflicts,
        existing.conflicts,
        scanned_opportunity_ids=None if since is None else result.scanned_opportunity_ids,
    )
    report.created, report.updated = len(plan.create), len(plan.update)
    report.reopened, report.resolved, report.unchanged = len(plan.reopen), len(plan.resolve), len(plan.unchanged)
    if dry_run:
        report.flags_set, report.flags_cleared, _rejected = _sync_flags(
            gateway, mappings, registrations, _flagged(conflicts, existing, plan), write=False
        )
    else:
        records = plan.records()
        if records:
            outcomes = gateway.upsert(CONFLICT_OBJECT, CONFLICT_KEY_FIELD, records)
            for outcome in outcomes:
                if outcome.outcome == "rejected":
                    report.rejected += 1
                    log.warning(
                        "conflict %s rejected by Salesforce: %s %s",
                        outcome.external_id,
                        outcome.status_code,
                        outcome.message,
                    )
        report.flags_set, report.flags_cleared, flags_rejected = _sync_flags(
            gateway, mappings, registrations, _flagged(conflicts, existing, plan), write=True
        )
        report.rejected += flags_rejected
        # A rejected conflict must be tried again: the watermark stays where it was.
        if state is not None and newest is not None and not report.rejected:
            state.set_watermark(WATERMARK_NAME, "pull", newest if since is None or newest > since else since)
    report.api_calls = gateway.api_calls - calls
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _flagged(conflicts: Sequence[Conflict], existing: _Existing, plan: ReconcilePlan) -> set[str]:
    """Registrations with a conflict that is Open or Acknowledged once this scan's plan is written."""
    status: dict[str, ConflictStatus] = {k: c.status for k, c in existing.conflicts.items()}
    for conflict in (*plan.create, *plan.reopen, *plan.update):
        status[conflict.key] = ConflictStatus.OPEN
    for key in plan.resolve:
        status[key] = ConflictStatus.RESOLVED
    flagged: set[str] = set()
    found: set[str] = set()
    for conflict in conflicts:
        found.add(conflict.key)
        if status.get(conflict.key, ConflictStatus.OPEN) in _ACTIVE:
            flagged.update(n for n in (conflict.registration_number, conflict.other_registration_number) if n)
    # Conflicts of Opportunities an incremental scan did not read stay as they are in Salesforce.
    for key, number in existing.registration_numbers.items():
        if key not in found and status[key] in _ACTIVE:
            flagged.add(number)
    return flagged


def _sync_flags(
    gateway: _Gateway,
    mappings: MappingSet | None,
    registrations: Sequence[Registration],
    flagged: set[str],
    *,
    write: bool,
) -> tuple[int, int, int]:
    """Conflict_Flag__c true on every flagged registration, false on the others: (set, cleared, rejected).

    Only differences are written, so a rerun with nothing new writes nothing.
    """
    if mappings is None:
        return 0, 0, 0
    kind_of = {r.registration_number: r.kind for r in registrations}
    set_count = cleared = rejected = 0
    for mapping in mappings:
        kind = _TABLE_KIND.get(mapping.source.table) if mapping.source is not None else None
        if kind is None or not any(fm.field == FLAG_FIELD for fm in mapping.fields):
            continue
        obj, ext = mapping.salesforce.object, mapping.salesforce.external_id_field
        currently = {
            str(r[ext])
            for r in gateway.query(
                format_soql("SELECT {:literal} FROM {:literal} WHERE {:literal} = true", ext, obj, FLAG_FIELD)
            )
            if r.get(ext)
        }
        mine = {n for n in flagged if kind_of.get(n) is kind}
        to_set = sorted(mine - currently)
        to_clear = sorted(currently - mine)
        # Only registrations that exist in Salesforce can be flagged: upserting an unknown
        # external id would create an empty registration.
        known: set[str] = set()
        for start in range(0, len(to_set), 500):
            soql = format_soql(
                "SELECT {:literal} FROM {:literal} WHERE {:literal} IN {}", ext, obj, ext, to_set[start : start + 500]
            )
            known.update(str(r[ext]) for r in gateway.query(soql))
        records: list[dict[str, Any]] = [{ext: n, FLAG_FIELD: True} for n in to_set if n in known]
        records += [{ext: n, FLAG_FIELD: False} for n in to_clear]
        if not records:
            continue
        if write:
            for outcome in gateway.upsert(obj, ext, records):
                if outcome.outcome == "rejected":
                    rejected += 1
                    log.warning(
                        "%s on %s %s rejected by Salesforce: %s %s",
                        FLAG_FIELD,
                        obj,
                        outcome.external_id,
                        outcome.status_code,
                        outcome.message,
                    )
        set_count += sum(1 for r in records if r[FLAG_FIELD])
        cleared += sum(1 for r in records if not r[FLAG_FIELD])
    return set_count, cleared, rejected


def list_conflicts(gateway: _Gateway, *, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Conflict records as Salesforce holds them (what channel managers see)."""
    fields = (
        "Conflict_Key__c",
        "Name",
        "Status__c",
        "Severity__c",
        "Kind__c",
        "Opportunity__c",
        "Partner_Name__c",
        "Registration_Number__c",
        "First_Registration__c",
        "Protection_End__c",
        "Score__c",
        "Reason__c",
    )
    if statuses:
        soql = format_soql(
            "SELECT {:literal} FROM {:literal} WHERE Status__c IN {} ORDER BY Conflict_Key__c",
            ", ".join(fields),
            CONFLICT_OBJECT,
            list(statuses),
        )
    else:
        soql = format_soql(
            "SELECT {:literal} FROM {:literal} ORDER BY Conflict_Key__c", ", ".join(fields), CONFLICT_OBJECT
        )
    return [{k: r.get(k) for k in fields} for r in gateway.query(soql)]
