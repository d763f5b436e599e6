"""The conflict scan around Salesforce and the portal: read, decide (pure core), write back.

Protected customers come from the portal (it holds the plaintext the partner submitted and the
decisions pulled back from Salesforce); Opportunities come from Salesforce, incrementally over
``SystemModstamp`` or in full. Conflicts are upserted as ``Channel_Conflict__c`` under a
deterministic key, and the registrations involved get ``Conflict_Flag__c`` (which the next pull
carries back to the portal). A direct rep reading a conflict sees the partner of record and the
protection end, never the partner's confidential deal fields.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import sqlalchemy as sa

from sfsync.config import Settings
from sfsync.conflicts._models import Conflict, NamedAccount, Opportunity, Registration, RegistrationKind
from sfsync.conflicts._protected import load_named_accounts
from sfsync.conflicts._rules import load_rules
from sfsync.conflicts._scan import ExistingConflict, reconcile, scan
from sfsync.errors import ConfigError, ErrorContext
from sfsync.mapping import MappingSet
from sfsync.salesforce import RecordResult, format_soql
from sfsync.sync._state import StateStore

__all__ = ["ConflictScanReport", "list_conflicts", "load_registrations", "scan_conflicts"]

log = logging.getLogger("sfsync.conflicts")

CONFLICT_OBJECT = "Channel_Conflict__c"
CONFLICT_KEY_FIELD = "Conflict_Key__c"
WATERMARK_NAME = "conflicts"
# The portal tables the shipped mappings define, and the mapping that carries each to Salesforce.
_SOURCES: tuple[tuple[RegistrationKind, str, str, str], ...] = (
    (RegistrationKind.DEAL, "deal_registrations", "end_customer_", "deal_registration"),
    (RegistrationKind.ACCOUNT, "account_registrations", "customer_", "account_registration"),
)


class _Gateway(Protocol):
    @property
    def api_calls(self) -> int: ...

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]: ...

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
                    "registration_number": c.registration_number,
                    "partner_number": c.partner_number,
                    "partner_name": c.partner_name,
                    "protection_end": c.protection_end.isoformat() if c.protection_end else None,
                    "score": c.score,
                    "reason": c.reason,
                }
                for c in self.conflicts
            ],
        }


def _partner_accounts(gateway: _Gateway) -> dict[str, str]:
    soql = format_soql("SELECT Id, Partner_Number__c FROM Account WHERE Partner_Number__c != null")
    return {str(r["Partner_Number__c"]): str(r["Id"]) for r in gateway.query(soql)}


def load_registrations(portal_url: str, partner_account_ids: Mapping[str, str] | None = None) -> list[Registration]:
    """Every registration in the portal (deleted rows excluded), as the conflict core models them."""
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
            for kind, table_name, prefix, _mapping in _SOURCES:
                if table_name not in tables:
                    continue
                table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
                query = sa.select(table)
                if "deleted_at" in table.c:
                    query = query.where(table.c.deleted_at.is_(None))
                for row in connection.execute(query).mappings():
                    registrations.append(_registration(kind, prefix, dict(row), partners, partner_account_ids or {}))
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


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _opportunity_soql(since: datetime | None, overlap: timedelta) -> str:
    fields = ", ".join(Opportunity.SOQL_FIELDS)
    if since is None:
        return format_soql("SELECT {:literal} FROM Opportunity ORDER BY SystemModstamp, Id", fields)
    floor = (since - overlap).astimezone(UTC).replace(microsecond=0)
    return format_soql(
        "SELECT {:literal} FROM Opportunity WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id", fields, floor
    )


def _existing_conflicts(gateway: _Gateway) -> dict[str, ExistingConflict]:
    soql = format_soql("SELECT {:literal} FROM {:literal}", ", ".join(ExistingConflict.SOQL_FIELDS), CONFLICT_OBJECT)
    existing = (ExistingConflict.from_salesforce(r) for r in gateway.query(soql))
    return {c.key: c for c in existing}


def _named_accounts(settings: Settings) -> list[NamedAccount]:
    path = settings.conflicts.named_accounts
    if path is None:
        return []
    if not path.is_file():
        raise ConfigError(f"named accounts file {path} does not exist", ErrorContext(file=str(path)))
    return load_named_accounts(path)


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
    """One scan: rebuild protections, read Opportunities, decide, reconcile, write (unless dry run)."""
    started = time.monotonic()
    calls = gateway.api_calls
    moment = now or datetime.now(UTC)
    report = ConflictScanReport(dry_run=dry_run, full=full)
    rules = load_rules(settings.conflicts.rules)
    named = _named_accounts(settings)
    registrations = load_registrations(settings.portal.url, _partner_accounts(gateway))
    report.registrations = len(registrations)
    since = None if full or state is None else state.get_watermark(WATERMARK_NAME, "pull")
    overlap = timedelta(seconds=settings.sync.overlap_seconds)
    opportunities: list[Opportunity] = []
    newest: datetime | None = None
    for record in gateway.query(_opportunity_soql(since, overlap)):
        opportunity = Opportunity.from_salesforce(record)
        opportunities.append(opportunity)
        stamp = opportunity.system_modstamp
        if stamp is not None and (newest is None or stamp > newest):
            newest = stamp
    report.opportunities = len(opportunities)
    result = scan(opportunities, registrations, rules, as_of=moment, named_accounts=named)
    report.conflicts = result.conflicts
    report.skipped = len(result.skipped)
    report.protected_customers = result.protected_count
    report.by_kind = result.summary()["by_kind"]
    plan = reconcile(
        result.conflicts,
        _existing_conflicts(gateway),
        scanned_opportunity_ids=None if since is None else result.scanned_opportunity_ids,
    )
    report.created, report.updated = len(plan.create), len(plan.update)
    report.reopened, report.resolved, report.unchanged = len(plan.reopen), len(plan.resolve), len(plan.unchanged)
    if not dry_run:
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
        _sync_flags(gateway, mappings, result.conflicts, report)
        if state is not None and newest is not None:
            state.set_watermark(WATERMARK_NAME, "pull", newest if since is None or newest > since else since)
    report.api_calls = gateway.api_calls - calls
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _sync_flags(
    gateway: _Gateway, mappings: MappingSet | None, conflicts: Sequence[Conflict], report: ConflictScanReport
) -> None:
    """Conflict_Flag__c true on every registration in a conflict, false on those no longer in one."""
    if mappings is None:
        return
    flagged = {c.registration_number for c in conflicts if c.registration_number} | {
        c.other_registration_number for c in conflicts if c.other_registration_number
    }
    for _kind, _table, _prefix, mapping_name in _SOURCES:
        if mapping_name not in mappings:
            continue
        mapping = mappings.get(mapping_name)
        if not any(fm.field == "Conflict_Flag__c" for fm in mapping.fields):
            continue
        obj, ext = mapping.salesforce.object, mapping.salesforce.external_id_field
        currently = {
            str(r[ext])
            for r in gateway.query(
                format_soql("SELECT {:literal} FROM {:literal} WHERE Conflict_Flag__c = true", ext, obj)
            )
        }
        prefix = "DR-" if mapping_name == "deal_registration" else "AR-"
        mine = {n for n in flagged if n is not None and n.startswith(prefix)}
        to_set = sorted(mine - currently)
        to_clear = sorted(currently - mine)
        # Only registrations that exist in Salesforce can be flagged: upserting an unknown
        # external id would create an empty registration.
        known = (
            {
                str(r[ext])
                for start in range(0, len(to_set), 500)
                for r in gateway.query(
                    format_soql(
                        "SELECT {:literal} FROM {:literal} WHERE {:literal} IN {}",
                        ext,
                        obj,
                        ext,
                        to_set[start : start + 500],
                    )
                )
            }
            if to_set
            else set()
        )
        records = [{ext: n, "Conflict_Flag__c": True} for n in to_set if n in known]
        records += [{ext: n, "Conflict_Flag__c": False} for n in to_clear]
        if not records:
            continue
        for outcome in gateway.upsert(obj, ext, records):
            if outcome.outcome == "rejected":
                report.rejected += 1
        report.flags_set += sum(1 for r in records if r["Conflict_Flag__c"])
        report.flags_cleared += sum(1 for r in records if not r["Conflict_Flag__c"])


def list_conflicts(gateway: _Gateway, *, statuses: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Conflict records as Salesforce holds them (what channel managers see)."""
    fields = (
        "Conflict_Key__c",
        "Status__c",
        "Severity__c",
        "Kind__c",
        "Opportunity__c",
        "Partner_Name__c",
        "Registration_Number__c",
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
