"""Reports: the numbers (sfsync.desk.reports), the page, and ``sfsync report --json | --csv``."""

from __future__ import annotations

import csv
import io
import json

import pytest
from desk_helpers import Desk

from sfsync.cli import main
from sfsync.desk.reports import build_report


def test_numbers_from_the_sample(desk: Desk) -> None:
    report = build_report(desk.app.org, desk.app.calendar, due_hours=24, breach_hours=48)
    # Decided: the sample's three answered after 10, 30 and 60 business hours, plus one approval without a
    # decision time (counted in the rates, not in the SLA figures).
    assert report.decided == 4
    assert report.within_due == pytest.approx(1 / 3)
    assert report.within_breach == pytest.approx(2 / 3)
    assert (report.p50_hours, report.p90_hours) == (30.0, 60.0)
    assert report.approval_rate == pytest.approx(3 / 4)
    tiers = {r.group: (r.approved, r.rejected) for r in report.by_tier}
    assert tiers == {"Gold": (2, 0), "Certified": (0, 1), "Platinum": (1, 0)}
    lines = {r.group: r.approval_rate for r in report.by_product_line}
    assert lines["Networking"] == 0.0 and lines["Storage"] == 1.0
    assert report.conflicts_by_rule == {
        "direct_opportunity_on_registered_customer": 1,
        "earlier_registration_by_another_partner": 1,
        "named_account_registered": 1,
    }


def test_a_desk_decision_shows_in_the_report(desk: Desk) -> None:
    import re

    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    modstamp = re.search(r'name="modstamp" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    client.post(
        f"/registrations/{number}/decision",
        data={"csrf": csrf, "modstamp": modstamp, "action": "reject", "reason": "Other"},
    )
    report = build_report(desk.app.org, desk.app.calendar, due_hours=24, breach_hours=48)
    assert report.decided == 5
    assert {r.group: r.rejected for r in report.by_partner}["Contoso Channel"] == 1


def test_reports_page_by_role(desk: Desk) -> None:
    page = desk.client("auditor").get("/reports")
    assert page.status_code == 200
    assert "SLA attainment (4 decided)" in page.text and "<svg" in page.text
    assert "direct_opportunity_on_registered_customer" in page.text
    assert desk.client("manager").get("/reports").status_code == 200
    assert desk.client("rep").get("/reports").status_code == 403


def test_report_command_json_and_csv(desk: Desk, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(desk.sample.config)
    capsys.readouterr()
    assert main(["--config", config, "report", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decided"] == 4 and data["sla"]["p50_business_hours"] == 30.0
    assert main(["--config", config, "report", "--csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["metric", "group", "value"]
    assert ["approval_rate_by_tier", "Certified", "0.0000"] in rows
    assert main(["--config", config, "report"]) == 0
    assert "approval rate by tier" in capsys.readouterr().out
    assert main(["--config", config, "report", "--json", "--csv"]) == 2
