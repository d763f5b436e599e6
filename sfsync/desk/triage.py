"""Eligibility checks and the recommended decision for one registration.

The rules are the program's, from ``[desk]``: a minimum deal size per product line and currency (``'*'``
for any line), product lines that are registered whatever the size, and how many open registrations a
partner of each tier may hold. Conflicts come from the org (what the conflict scan filed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from sfsync.config import DeskSettings
from sfsync.desk.org import ConflictRecord, PendingRegistration

__all__ = ["Check", "Recommendation", "Triage", "triage"]

Outcome = Literal["pass", "fail", "warn"]
_OPEN_CONFLICT = frozenset({"Open", "Acknowledged"})
_REJECT_REASON_BY_KIND = {
    "named_account": "Named account (direct-led)",
    "second_partner": "Registered first by another partner",
    "partner_of_record": "Registered first by another partner",
}


@dataclass(frozen=True)
class Check:
    name: str
    outcome: Outcome
    detail: str


@dataclass(frozen=True)
class Recommendation:
    action: Literal["approve", "reject", "request_info", "review"]
    reject_reason: str | None
    reasons: tuple[str, ...]


@dataclass
class Triage:
    checks: list[Check] = field(default_factory=list)
    conflicts: list[ConflictRecord] = field(default_factory=list)
    recommendation: Recommendation = Recommendation("review", None, ())


def _minimum(settings: DeskSettings, line: str, currency: str) -> float | None:
    for key in (line, "*"):
        by_currency = settings.minimum_deal_size.get(key)
        if by_currency is not None and currency in by_currency:
            return by_currency[currency]
    return None


def deal_size_check(settings: DeskSettings, reg: PendingRegistration) -> Check:
    always = [line for line in reg.product_lines if line in settings.always_registered]
    if always:
        return Check("Minimum deal size", "pass", f"{', '.join(always)} is always registered, whatever the size")
    if reg.amount is None:
        return Check("Minimum deal size", "warn", "no deal amount")
    minimums = [m for line in reg.product_lines or ("*",) if (m := _minimum(settings, line, reg.currency)) is not None]
    if not minimums:
        return Check("Minimum deal size", "warn", f"no minimum configured for {reg.currency}")
    threshold = Decimal(str(min(minimums)))
    if reg.amount >= threshold:
        return Check("Minimum deal size", "pass", f"{reg.amount:,.2f} {reg.currency} ≥ {threshold:,.0f}")
    return Check("Minimum deal size", "fail", f"{reg.amount:,.2f} {reg.currency} < minimum {threshold:,.0f}")


def tier_check(settings: DeskSettings, reg: PendingRegistration, open_registrations: int) -> Check:
    limit = settings.tier_limits.get(reg.tier)
    if limit is None:
        return Check("Tier limit", "warn", f"no limit configured for tier {reg.tier!r}")
    # This registration is one of the partner's open ones: the limit counts it.
    if open_registrations > limit:
        return Check("Tier limit", "fail", f"{reg.tier}: {open_registrations} open, limit {limit}")
    return Check("Tier limit", "pass", f"{reg.tier}: {open_registrations} open of {limit} allowed")


def term_check(settings: DeskSettings, term: tuple[date, date] | None) -> Check:
    """An account registration asks for a protection term; it must fit the program's longest window."""
    if term is None:
        return Check("Requested term", "warn", "no requested protection term")
    start, end = term
    days = (end - start).days
    if days <= 0:
        return Check("Requested term", "warn", f"the term ends ({end}) before it starts ({start})")
    if days > settings.max_protection_days:
        return Check(
            "Requested term",
            "warn",
            f"{days} days asked, longer than the {settings.max_protection_days} days a manager may grant",
        )
    return Check("Requested term", "pass", f"{days} days, {start} to {end}")


def info_check(missing: list[str]) -> Check:
    if missing:
        return Check("Information complete", "warn", "missing: " + ", ".join(missing))
    return Check("Information complete", "pass", "customer and contact given")


def triage(
    settings: DeskSettings,
    reg: PendingRegistration,
    *,
    open_registrations: int,
    conflicts: list[ConflictRecord],
    missing_information: list[str],
    unreadable: list[str],
    requested_term: tuple[date, date] | None = None,
) -> Triage:
    """Checks and a recommendation. An account registration has no deal size: its requested protection term
    is checked instead; its conflicts (a named account, the same customer registered first by another
    partner, a direct opportunity) come from the conflict scan like a deal's."""
    first = deal_size_check(settings, reg) if reg.kind == "deal" else term_check(settings, requested_term)
    checks = [
        first,
        tier_check(settings, reg, open_registrations),
        info_check(missing_information),
    ]
    if unreadable:
        checks.append(Check("Partner fields readable", "warn", "cannot decrypt: " + ", ".join(unreadable)))
    live = [c for c in conflicts if c.status in _OPEN_CONFLICT]
    for conflict in live:
        outcome: Outcome = "fail" if _decisive(reg, conflict) else "warn"
        score = f", score {conflict.score:.1f}" if conflict.score is not None else ""
        checks.append(Check(f"Conflict: {conflict.kind or conflict.rule}", outcome, f"{conflict.reason}{score}"))
    return Triage(checks=checks, conflicts=conflicts, recommendation=_recommend(checks, live, unreadable))


_ACCOUNT_DECISIVE = frozenset({"second_partner", "named_account"})


def _decisive(reg: PendingRegistration, conflict: ConflictRecord) -> bool:
    """A conflict that fails the registration: any Block; for an account registration, which claims the whole
    customer, also a Warn that another partner registered it first or that it is a named account (a Review is
    an uncertain match and stays a warning)."""
    if conflict.severity == "Block":
        return True
    return reg.kind == "account" and conflict.severity == "Warn" and conflict.kind in _ACCOUNT_DECISIVE


def _recommend(checks: list[Check], live: list[ConflictRecord], unreadable: list[str]) -> Recommendation:
    failed = [c for c in checks if c.outcome == "fail"]
    if failed:
        first = failed[0]
        if first.name == "Minimum deal size":
            reason = "Below minimum deal size"
        elif first.name == "Tier limit":
            reason = "Tier registration limit reached"
        else:
            failed_names = {c.name for c in failed}
            blocking = next(c for c in live if f"Conflict: {c.kind or c.rule}" in failed_names)
            reason = _REJECT_REASON_BY_KIND.get(blocking.kind, "Direct opportunity already open")
        return Recommendation("reject", reason, tuple(f"{c.name}: {c.detail}" for c in failed))
    if unreadable:
        return Recommendation("review", None, ("some partner fields cannot be read; decide on what is readable",))
    missing = [c for c in checks if c.name == "Information complete" and c.outcome == "warn"]
    if missing:
        return Recommendation("request_info", None, tuple(c.detail for c in missing))
    warnings = [c for c in checks if c.outcome == "warn"]
    if warnings:
        return Recommendation("review", None, tuple(f"{c.name}: {c.detail}" for c in warnings))
    return Recommendation("approve", None, ("every eligibility check passed; no open conflict",))
