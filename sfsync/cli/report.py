"""``sfsync report``: the channel desk's numbers (SLA attainment, approval rates, conflicts by rule)."""

from __future__ import annotations

from typing import Annotated

import typer

from sfsync.cli._common import console, state


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)


def report_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print the numbers as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print metric,group,value rows as CSV.")] = False,
) -> None:
    """SLA attainment (answered within 24 h / 48 h business hours, p50/p90), approval rate by partner, tier
    and product line, and conflicts by rule — the same numbers as the desk's Reports page."""
    import json

    from sfsync.desk.org import DeskOrg
    from sfsync.desk.reports import build_report
    from sfsync.desk.sla import Calendars
    from sfsync.errors import UsageError

    if as_json and as_csv:
        raise UsageError("choose one of --json and --csv")
    settings = state(ctx).settings()
    org = DeskOrg(settings)
    try:
        report = build_report(
            org,
            Calendars(settings.desk),
            due_hours=settings.desk.due_hours,
            breach_hours=settings.desk.breach_hours,
        )
    finally:
        org.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    if as_csv:
        typer.echo(report.to_csv(), nl=False)
        return
    p50 = "—" if report.p50_hours is None else f"{report.p50_hours} h"
    p90 = "—" if report.p90_hours is None else f"{report.p90_hours} h"
    lines = [
        f"{report.decided} registrations decided; approval rate {report.approval_rate:.0%}",
        f"answered within {settings.desk.due_hours:g} business h: {report.within_due:.0%}; "
        f"within {settings.desk.breach_hours:g}: {report.within_breach:.0%}; p50 {p50}, p90 {p90}",
    ]
    for title, rates in (
        ("partner", report.by_partner),
        ("tier", report.by_tier),
        ("product line", report.by_product_line),
    ):
        lines.append(f"approval rate by {title}:")
        lines.extend(f"  {r.group:<32} {r.approval_rate:>5.0%} of {r.decided}" for r in rates)
    lines.append("conflicts by rule:")
    lines.extend(f"  {rule:<48} {count}" for rule, count in report.conflicts_by_rule.items())
    console.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
