"""The scan: plain records in, conflict decisions out. No I/O; the CLI wires Salesforce and the portal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from ._index import CustomerIndex, Match, MatchQuery
from ._models import (
    Agreement,
    Conflict,
    ConflictKind,
    MatchEvidence,
    NamedAccount,
    Opportunity,
    PartnerOfRecordLock,
    ProtectedCustomer,
    ProtectionSource,
    Registration,
    Severity,
    conflict_key,
    evidence_hash,
)
from ._protected import (
    build_protected_customers,
    named_account_customers,
    protection_decision,
    registration_customer,
)
from ._rules import Rules

__all__ = [
    "ConflictStatus",
    "ExistingConflict",
    "ReconcilePlan",
    "ScanResult",
    "SkippedOpportunity",
    "reconcile",
    "scan",
]

Keyed = Callable[[bytes], str]

_SOURCE_LABEL = {
    ProtectionSource.DEAL_REGISTRATION: "deal registration",
    ProtectionSource.ACCOUNT_REGISTRATION: "account registration",
    ProtectionSource.PARTNER_OF_RECORD: "partner-of-record lock",
    ProtectionSource.NAMED_ACCOUNT: "named account",
}
_KIND_OF_SOURCE = {
    ProtectionSource.DEAL_REGISTRATION: ConflictKind.DEAL_REGISTRATION,
    ProtectionSource.ACCOUNT_REGISTRATION: ConflictKind.ACCOUNT_REGISTRATION,
    ProtectionSource.PARTNER_OF_RECORD: ConflictKind.PARTNER_OF_RECORD,
}


class ConflictStatus(StrEnum):
    OPEN = "Open"
    ACKNOWLEDGED = "Acknowledged"
    RESOLVED = "Resolved"
    DISMISSED = "Dismissed"


@dataclass(frozen=True, slots=True)
class SkippedOpportunity:
    opportunity_id: str
    reason: str


@dataclass
class ScanResult:
    conflicts: list[Conflict]
    skipped: list[SkippedOpportunity]
    scanned_opportunity_ids: set[str]
    protected_count: int
    seconds: float
    as_of: datetime

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, int] = {}
        for c in self.conflicts:
            by_kind[c.kind.value] = by_kind.get(c.kind.value, 0) + 1
        return {
            "as_of": self.as_of.isoformat(),
            "opportunities": len(self.scanned_opportunity_ids),
            "protected_customers": self.protected_count,
            "conflicts": len(self.conflicts),
            "by_kind": by_kind,
            "skipped": len(self.skipped),
            "seconds": round(self.seconds, 3),
        }


def _describe(evidence: MatchEvidence) -> str:
    """Public text: which components agreed, which spoke against, how sure (never a partner value)."""
    agreed = [c.explanation for c in evidence.components if c.agreement is Agreement.AGREED]
    partly = [c.explanation for c in evidence.components if c.agreement is Agreement.PARTLY]
    against = [c.explanation for c in evidence.components if c.agreement is Agreement.DISAGREED]
    text = "; ".join(agreed + partly) or "no single component"
    if against:
        text += f" (against: {'; '.join(against)})"
    return f"{text}; match probability {100 * evidence.probability:.1f} %"


def _lines_evidence(
    opp_lines: frozenset[str], prot_lines: frozenset[str], side: str = "opportunity"
) -> list[str] | str:
    if not prot_lines:
        return "all product lines"
    if not opp_lines:
        return f"not specified on the {side}"
    return sorted(opp_lines & prot_lines)


def _overlaps(a: frozenset[str], b: frozenset[str]) -> bool:
    # Missing product lines on either side cannot rule a collision out.
    return not a or not b or not a.isdisjoint(b)


def _hash_payload(kind: ConflictKind, cust: ProtectedCustomer, evidence: MatchEvidence, **extra: str) -> dict[str, Any]:
    # The fingerprint covers the *published* facts: how each component compared, who protects, the
    # product lines. Not the partner's values (law 10: nothing a reader could test guesses against),
    # not cosmetic account-name edits, not the protection end date (an approved extension does not
    # reopen a dismissed conflict), not the scan time.
    return {
        "kind": kind.value,
        "partner": cust.partner_number,
        "source": cust.registration_number or cust.key,
        "levels": {c.component: c.level for c in evidence.components},
        "product_lines": evidence.product_lines,
        **extra,
    }


def _severity(rules: Rules, kind: ConflictKind, probability: float) -> Severity:
    if probability >= rules.matching.block_probability:
        return rules.severity[kind]
    return Severity.REVIEW


def _opportunity_conflict(opp: Opportunity, match: Match, rules: Rules, keyed: Keyed | None) -> Conflict:
    cust = match.customer
    kind = _KIND_OF_SOURCE[cust.source]
    vendor_data = cust.source is ProtectionSource.PARTNER_OF_RECORD
    lines = _lines_evidence(opp.product_lines, cust.product_lines)
    evidence = match.evidence.model_copy(
        update={"product_lines": lines, "protected_name": cust.name if vendor_data else None}
    )
    until = cust.protection_end.isoformat() if cust.protection_end else "further notice"
    partner = f"{cust.partner_name} ({cust.partner_number})" if cust.partner_name else str(cust.partner_number)
    what = _SOURCE_LABEL[cust.source]
    ref = f" {cust.registration_number}" if cust.registration_number else ""
    scope = f" for {', '.join(lines)}" if isinstance(lines, list) and lines else ""
    reason = (
        f"Direct opportunity {opp.name!r} is on a customer protected by partner {partner} "
        f"under {what}{ref}{scope} until {until}; matched on {_describe(evidence)}. "
        "Engage the partner of record before pursuing this opportunity."
    )
    return Conflict(
        key=conflict_key("O", opp.id, cust.registration_number or cust.key),
        kind=kind,
        severity=_severity(rules, kind, match.probability),
        rule=kind.value,
        opportunity_id=opp.id,
        opportunity_name=opp.name or None,
        registration_number=cust.registration_number,
        partner_number=cust.partner_number,
        partner_name=cust.partner_name,
        partner_account_id=cust.partner_account_id,
        protection_end=cust.protection_end,
        score=match.score,
        match_kind=match.kind,
        evidence=evidence,
        evidence_hash=evidence_hash(_hash_payload(kind, cust, evidence), keyed),
        reason=reason,
    )


def _first_in_time(a: ProtectedCustomer, b: ProtectedCustomer) -> tuple[ProtectedCustomer, ProtectedCustomer]:
    # Timestamps are UTC-normalised on input. Equal instants (same second, same fraction) are
    # broken by registration number so the outcome is stable run after run.
    ka = (a.submitted_at or datetime.max.replace(tzinfo=UTC), a.key)
    kb = (b.submitted_at or datetime.max.replace(tzinfo=UTC), b.key)
    return (a, b) if ka <= kb else (b, a)


def _second_partner_conflicts(live: Sequence[ProtectedCustomer], rules: Rules, keyed: Keyed | None) -> list[Conflict]:
    if len(live) < 2:
        return []
    index = CustomerIndex(live, rules.matching)
    seen: set[tuple[str, str]] = set()
    out: list[Conflict] = []
    for cust in live:
        for match in index.match(MatchQuery.from_customer(cust, side="registration")):
            other = match.customer
            if other.key == cust.key or other.partner_number == cust.partner_number:
                continue
            if rules.require_product_line_overlap and not _overlaps(cust.product_lines, other.product_lines):
                continue
            first, second = _first_in_time(cust, other)
            if (first.key, second.key) in seen:
                continue
            seen.add((first.key, second.key))
            first_at = first.submitted_at.isoformat() if first.submitted_at else "unknown"
            second_at = second.submitted_at.isoformat() if second.submitted_at else "unknown"
            tie = first.submitted_at == second.submitted_at
            # The comparison is symmetric: the same evidence whichever side found the match.
            evidence = match.evidence.model_copy(
                update={
                    "submitted_at": {"first": first_at, "second": second_at},
                    "product_lines": _lines_evidence(second.product_lines, first.product_lines, "registration"),
                    "first_registration": first.registration_number,
                }
            )
            rule_text = (
                "both were submitted at the same instant; the lower registration number counts as first"
                if tie
                else "first in time wins"
            )
            reason = (
                f"Registration {second.registration_number} by partner {second.partner_name} "
                f"({second.partner_number}), submitted {second_at}, is on a customer already registered by "
                f"partner {first.partner_name} ({first.partner_number}) under {first.registration_number}, "
                f"submitted {first_at} ({rule_text}); matched on {_describe(evidence)}. "
                f"Decide the later registration against {first.registration_number} before approving it."
            )
            kind = ConflictKind.SECOND_PARTNER
            out.append(
                Conflict(
                    key=conflict_key("R", str(first.registration_number), str(second.registration_number)),
                    kind=kind,
                    severity=_severity(rules, kind, match.probability),
                    rule=kind.value,
                    registration_number=second.registration_number,
                    other_registration_number=first.registration_number,
                    partner_number=first.partner_number,
                    partner_name=first.partner_name,
                    partner_account_id=first.partner_account_id,
                    protection_end=first.protection_end,
                    score=match.score,
                    match_kind=match.kind,
                    evidence=evidence,
                    evidence_hash=evidence_hash(
                        _hash_payload(kind, first, evidence, second=str(second.registration_number or second.key)),
                        keyed,
                    ),
                    reason=reason,
                )
            )
    return out


def _named_account_conflicts(
    live: Sequence[ProtectedCustomer], named: Sequence[ProtectedCustomer], rules: Rules, keyed: Keyed | None
) -> list[Conflict]:
    if not named or not live:
        return []
    index = CustomerIndex(named, rules.matching)
    out: list[Conflict] = []
    for cust in live:
        for match in index.match(MatchQuery.from_customer(cust, side="registration")):
            account = match.customer
            label = account.name or account.account_id or account.key
            # A named account is the vendor's own data: its name may be shown.
            evidence = match.evidence.model_copy(update={"named_account": label, "protected_name": account.name})
            reason = (
                f"Registration {cust.registration_number} by partner {cust.partner_name} "
                f"({cust.partner_number}) is on {label}, a named account the vendor's direct team leads; "
                f"matched on {_describe(evidence)}. Review the registration before approving or renewing it."
            )
            kind = ConflictKind.NAMED_ACCOUNT
            out.append(
                Conflict(
                    key=conflict_key("N", str(cust.registration_number), account.key),
                    kind=kind,
                    severity=_severity(rules, kind, match.probability),
                    rule=kind.value,
                    registration_number=cust.registration_number,
                    partner_number=cust.partner_number,
                    partner_name=cust.partner_name,
                    partner_account_id=cust.partner_account_id,
                    protection_end=cust.protection_end,
                    score=match.score,
                    match_kind=match.kind,
                    evidence=evidence,
                    evidence_hash=evidence_hash(_hash_payload(kind, cust, evidence, account=account.key), keyed),
                    reason=reason,
                )
            )
    return out


def scan(
    opportunities: Iterable[Opportunity],
    registrations: Iterable[Registration],
    rules: Rules,
    *,
    as_of: datetime | None = None,
    locks: Iterable[PartnerOfRecordLock] = (),
    named_accounts: Iterable[NamedAccount] = (),
    check_registrations: bool = True,
    keyed_hash: Keyed | None = None,
) -> ScanResult:
    """Decide conflicts for direct-rep ``opportunities`` against customers protected at ``as_of``.

    ``opportunities`` may be the ones changed since a watermark (incremental) or all of them (full
    scan): the decision for one opportunity never depends on the others. Registration checks (second
    partner, named account) always cover every live registration: protection is rebuilt each run.
    Bad or thin input never raises: an opportunity with nothing to match on is listed in ``skipped``.
    ``keyed_hash``: HMAC for ``Evidence_Hash__c`` under a key the scanner holds (unkeyed SHA-256 of
    the published evidence otherwise).
    """
    started = time.perf_counter()
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    regs = list(registrations)
    protected = build_protected_customers(regs, locks, rules, moment)
    index = CustomerIndex(protected, rules.matching)
    conflicts: list[Conflict] = []
    skipped: list[SkippedOpportunity] = []
    scanned: set[str] = set()
    for opp in opportunities:
        scanned.add(opp.id)
        if not rules.direct_owner.matches(opp):
            skipped.append(SkippedOpportunity(opp.id, "not owned by a direct rep"))
            continue
        if not rules.stages.in_scope(opp.stage):
            skipped.append(SkippedOpportunity(opp.id, f"stage {opp.stage!r} is not in scope"))
            continue
        prepared = index.prepare(MatchQuery.from_opportunity(opp))
        if not prepared.has_evidence:
            skipped.append(
                SkippedOpportunity(opp.id, "not enough evidence: no usable account name, website, DUNS or account id")
            )
            continue
        for match in index.match(prepared):
            if rules.require_product_line_overlap and not _overlaps(opp.product_lines, match.customer.product_lines):
                continue
            conflicts.append(_opportunity_conflict(opp, match, rules, keyed_hash))
    if check_registrations:
        today = rules.as_of.local_date(moment)
        pending = {s.casefold() for s in rules.registration_statuses.pending}
        live: list[ProtectedCustomer] = []
        for reg in regs:
            protects = protection_decision(reg, rules, today).protects
            waiting = reg.status in pending and (reg.effective_end is None or today <= reg.effective_end)
            if protects or waiting:
                live.append(registration_customer(reg))
        conflicts.extend(_second_partner_conflicts(live, rules, keyed_hash))
        conflicts.extend(_named_account_conflicts(live, named_account_customers(named_accounts), rules, keyed_hash))
    conflicts.sort(key=lambda c: c.key)
    return ScanResult(
        conflicts=conflicts,
        skipped=skipped,
        scanned_opportunity_ids=scanned,
        protected_count=len(protected),
        seconds=time.perf_counter() - started,
        as_of=moment,
    )


@dataclass(frozen=True, slots=True)
class ExistingConflict:
    """A ``Channel_Conflict__c`` as read back from Salesforce."""

    key: str
    status: ConflictStatus
    evidence_hash: str | None
    opportunity_id: str | None = None

    SOQL_FIELDS: ClassVar[tuple[str, ...]] = ("Conflict_Key__c", "Status__c", "Evidence_Hash__c", "Opportunity__c")

    @classmethod
    def from_salesforce(cls, record: Mapping[str, Any]) -> ExistingConflict:
        """From a queried ``Channel_Conflict__c`` row. A blank or unknown status counts as Open, so a
        record nobody has triaged is refreshed rather than frozen."""
        raw = str(record.get("Status__c") or "").strip().casefold()
        status = next((s for s in ConflictStatus if s.value.casefold() == raw), ConflictStatus.OPEN)
        return cls(
            key=str(record["Conflict_Key__c"]),
            status=status,
            evidence_hash=record.get("Evidence_Hash__c"),
            opportunity_id=record.get("Opportunity__c"),
        )


@dataclass
class ReconcilePlan:
    """What to write so a rerun is idempotent and human decisions stick."""

    create: list[Conflict] = field(default_factory=list)
    update: list[Conflict] = field(default_factory=list)  # evidence changed, still open: refresh
    reopen: list[Conflict] = field(default_factory=list)  # evidence changed after a human decision
    unchanged: list[str] = field(default_factory=list)
    resolve: list[str] = field(default_factory=list)  # open, but no longer detected

    def records(self) -> list[dict[str, Any]]:
        """``Channel_Conflict__c`` upsert payloads keyed by ``Conflict_Key__c``."""
        out: list[dict[str, Any]] = []
        for c in self.create + self.reopen:
            out.append({**c.to_salesforce(), "Status__c": ConflictStatus.OPEN.value})
        out.extend(c.to_salesforce() for c in self.update)
        out.extend({"Conflict_Key__c": k, "Status__c": ConflictStatus.RESOLVED.value} for k in self.resolve)
        return out

    @property
    def writes(self) -> int:
        return len(self.create) + len(self.update) + len(self.reopen) + len(self.resolve)


_ACTIVE = {ConflictStatus.OPEN, ConflictStatus.ACKNOWLEDGED}


def reconcile(
    conflicts: Iterable[Conflict],
    existing: Mapping[str, ExistingConflict],
    *,
    scanned_opportunity_ids: set[str] | None = None,
) -> ReconcilePlan:
    """Compare this run's conflicts with what Salesforce holds.

    * new key: create (Open);
    * same evidence hash: nothing, whatever the status: a dismissed conflict stays dismissed;
    * changed evidence: refresh an Open one; reopen an Acknowledged, Resolved or Dismissed one;
    * an Open/Acknowledged conflict no longer detected (opportunity moved to another account,
      protection expired, ...) is resolved, but only if its opportunity was scanned this run
      (``scanned_opportunity_ids``; None means a full scan: every absent conflict counts).
    """
    plan = ReconcilePlan()
    found: set[str] = set()
    for c in conflicts:
        found.add(c.key)
        old = existing.get(c.key)
        if old is None:
            plan.create.append(c)
        elif old.evidence_hash == c.evidence_hash:
            plan.unchanged.append(c.key)
        elif old.status is ConflictStatus.OPEN:
            plan.update.append(c)
        else:
            plan.reopen.append(c)
    for key, old in sorted(existing.items()):
        if key in found or old.status not in _ACTIVE:
            continue
        # Incremental scan: an opportunity not read this run may still be in conflict; leave it.
        if (
            scanned_opportunity_ids is not None
            and old.opportunity_id is not None
            and (old.opportunity_id not in scanned_opportunity_ids)
        ):
            continue
        plan.resolve.append(key)
    return plan
