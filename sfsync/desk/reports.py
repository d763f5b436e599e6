"""Desk reports: SLA attainment, approval rates, conflicts by rule — the numbers behind ``/reports`` and
``sfsync report``.

SLA attainment is measured on decided registrations (Approved or Rejected with a ``Decided_At__c``, deal and
account registrations alike): the business hours from submission to decision under the calendar of the
partner's region, against that calendar's due and breach marks. A scoped user's report counts only the
registrations in scope.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sfsync.desk.org import DeskOrg
from sfsync.desk.scope import Scope
from sfsync.desk.sla import BusinessCalendar, Calendars
from sfsync.text.time import parse_utc

__all__ = ["DeskReport", "Rate", "build_report"]


@dataclass(frozen=True)
class Rate:
    group: str
    approved: int
    rejected: int

    @property
    def decided(self) -> int:
        return self.approved + self.rejected

    @property
    def approval_rate(self) -> float:
        return self.approved / self.decided if self.decided else 0.0


@dataclass
class DeskReport:
    decided: int = 0
    within_due: float = 0.0  # share answered within due_hours
    within_breach: float = 0.0
    p50_hours: float | None = None
    p90_hours: float | None = None
    approval_rate: float = 0.0
    by_partner: list[Rate] = field(default_factory=list)
    by_tier: list[Rate] = field(default_factory=list)
    by_product_line: list[Rate] = field(default_factory=list)
    conflicts_by_rule: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def rates(items: list[Rate]) -> list[dict[str, Any]]:
            return [{**asdict(r), "approval_rate": round(r.approval_rate, 4)} for r in items]

        return {
            "decided": self.decided,
            "sla": {
                "answered_within_due_share": round(self.within_due, 4),
                "answered_within_breach_share": round(self.within_breach, 4),
                "p50_business_hours": self.p50_hours,
                "p90_business_hours": self.p90_hours,
            },
            "approval_rate": round(self.approval_rate, 4),
            "by_partner": rates(self.by_partner),
            "by_tier": rates(self.by_tier),
            "by_product_line": rates(self.by_product_line),
            "conflicts_by_rule": self.conflicts_by_rule,
        }

    def to_csv(self) -> str:
        """One table: metric, group, value (spreadsheet-friendly)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["metric", "group", "value"])
        writer.writerow(["decided", "", self.decided])
        writer.writerow(["answered_within_due_share", "", f"{self.within_due:.4f}"])
        writer.writerow(["answered_within_breach_share", "", f"{self.within_breach:.4f}"])
        writer.writerow(["p50_business_hours", "", "" if self.p50_hours is None else self.p50_hours])
        writer.writerow(["p90_business_hours", "", "" if self.p90_hours is None else self.p90_hours])
        writer.writerow(["approval_rate", "", f"{self.approval_rate:.4f}"])
        for metric, items in (
            ("approval_rate_by_partner", self.by_partner),
            ("approval_rate_by_tier", self.by_tier),
            ("approval_rate_by_product_line", self.by_product_line),
        ):
            for rate in items:
                writer.writerow([metric, rate.group, f"{rate.approval_rate:.4f}"])
        for rule, count in self.conflicts_by_rule.items():
            writer.writerow(["conflicts_by_rule", rule, count])
        return out.getvalue()


def _percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)


def _rates(counts: dict[str, Counter[str]]) -> list[Rate]:
    return sorted(
        (Rate(group, c["Approved"], c["Rejected"]) for group, c in counts.items()),
        key=lambda r: (-r.decided, r.group),
    )


def build_report(
    org: DeskOrg,
    calendar: BusinessCalendar | Calendars,
    *,
    due_hours: float,
    breach_hours: float,
    scope: Scope | None = None,
) -> DeskReport:
    rows = org.decided()
    if scope is not None and scope.limited:
        rows = [row for row in rows if scope.allows(*_partner_of(row))]
    report = DeskReport(decided=len(rows))
    hours: list[float] = []
    within_due = within_breach = 0
    partner: dict[str, Counter[str]] = defaultdict(Counter)
    tier: dict[str, Counter[str]] = defaultdict(Counter)
    line: dict[str, Counter[str]] = defaultdict(Counter)
    approved = 0
    for row in rows:
        status = str(row.get("Status__c"))
        approved += status == "Approved"
        account = row.get("Partner_Account__r") or {}
        partner[str(account.get("Name") or "(no partner)")][status] += 1
        tier[str(account.get("Partner_Tier__c") or "(no tier)")][status] += 1
        for product_line in str(row.get("Product_Lines__c") or "").split(";"):
            if product_line:
                line[product_line][status] += 1
        submitted, decided = parse_utc(row.get("Submitted_At__c")), parse_utc(row.get("Decided_At__c"))
        if submitted is not None and decided is not None:
            if isinstance(calendar, Calendars):
                clock = calendar.for_region(_partner_of(row)[1])
                due, breach = clock.due_hours, clock.breach_hours
            else:
                clock, due, breach = calendar, due_hours, breach_hours
            taken = clock.business_hours(submitted, decided)
            hours.append(taken)
            within_due += taken <= due
            within_breach += taken <= breach
    if hours:
        report.within_due = within_due / len(hours)
        report.within_breach = within_breach / len(hours)
    report.p50_hours, report.p90_hours = _percentile(hours, 0.5), _percentile(hours, 0.9)
    report.approval_rate = approved / len(rows) if rows else 0.0
    report.by_partner, report.by_tier, report.by_product_line = _rates(partner), _rates(tier), _rates(line)
    numbers: set[str] | None = None
    if scope is not None and scope.limited:
        numbers = {n for n, (p, r) in org.registration_partners().items() if scope.allows(p, r)}
    report.conflicts_by_rule = dict(sorted(org.conflict_rules(numbers).items(), key=lambda item: (-item[1], item[0])))
    return report


def _partner_of(row: dict[str, Any]) -> tuple[str, str]:
    account = row.get("Partner_Account__r") or {}
    return str(account.get("Partner_Number__c") or ""), str(account.get("Partner_Region__c") or "")
