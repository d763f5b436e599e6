from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

from sfsync.config import DeskSettings
from sfsync.desk.org import ConflictRecord, PendingRegistration
from sfsync.desk.triage import deal_size_check, tier_check, triage

SETTINGS = DeskSettings(
    minimum_deal_size={"*": {"USD": 50000}, "Servers": {"USD": 75000, "EUR": 70000}},
    always_registered=["Storage"],
    tier_limits={"Registered": 2, "Gold": 5},
)


def registration(
    amount: str | None = "100000", lines: tuple[str, ...] = ("Servers",), currency: str = "USD", tier: str = "Gold"
) -> PendingRegistration:
    return PendingRegistration(
        record_id="a005g000000000AAAA",
        number="DR-1",
        partner_id="0015g000000000AAAA",
        partner_name="P",
        tier=tier,
        product_lines=lines,
        amount=Decimal(amount) if amount is not None else None,
        currency=currency,
        amount_band="",
        region="AMER",
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        status="Submitted",
        info_requested=False,
    )


def conflict(severity: str = "Block", kind: str = "deal_registration", status: str = "Open") -> ConflictRecord:
    return ConflictRecord(
        kind=kind,
        rule="r",
        severity=severity,
        status=status,
        score=90.0,
        reason="same domain",
        evidence="domain",
        opportunity="Opp",
        partner_name="P",
    )


def test_minimum_by_product_line_and_currency() -> None:
    assert deal_size_check(SETTINGS, registration("74999.99")).outcome == "fail"
    assert deal_size_check(SETTINGS, registration("75000")).outcome == "pass"
    assert deal_size_check(SETTINGS, registration("60000", ("Networking",))).outcome == "pass"
    assert deal_size_check(SETTINGS, registration("69000", currency="EUR")).outcome == "fail"


def test_unknown_currency_is_a_warning_not_a_pass() -> None:
    check = deal_size_check(SETTINGS, registration("1000000", currency="JPY"))
    assert check.outcome == "warn" and "JPY" in check.detail


def test_always_registered_line_passes_whatever_the_size() -> None:
    assert deal_size_check(SETTINGS, registration("10", ("Servers", "Storage"))).outcome == "pass"


def test_tier_limit_counts_this_registration() -> None:
    assert tier_check(SETTINGS, registration(tier="Registered"), 2).outcome == "pass"
    assert tier_check(SETTINGS, registration(tier="Registered"), 3).outcome == "fail"
    assert tier_check(SETTINGS, registration(tier="Titanium"), 1).outcome == "warn"


def test_recommendations() -> None:
    clean = triage(SETTINGS, registration(), open_registrations=1, conflicts=[], missing_information=[], unreadable=[])
    assert clean.recommendation.action == "approve"
    small = triage(
        SETTINGS, registration("100"), open_registrations=1, conflicts=[], missing_information=[], unreadable=[]
    )
    assert (small.recommendation.action, small.recommendation.reject_reason) == ("reject", "Below minimum deal size")
    blocked = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[conflict(kind="named_account")],
        missing_information=[],
        unreadable=[],
    )
    assert blocked.recommendation.reject_reason == "Named account (direct-led)"
    warned = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[conflict("Warn")],
        missing_information=[],
        unreadable=[],
    )
    assert warned.recommendation.action == "review"
    dismissed = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[conflict(status="Dismissed")],
        missing_information=[],
        unreadable=[],
    )
    assert dismissed.recommendation.action == "approve"
    incomplete = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[],
        missing_information=["contact name"],
        unreadable=[],
    )
    assert incomplete.recommendation.action == "request_info"
    unreadable = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[],
        missing_information=[],
        unreadable=["End Customer Name"],
    )
    assert unreadable.recommendation.action == "review"


def test_account_registration_triage() -> None:
    account = replace(registration(), kind="account", amount=None)
    term = (date(2026, 12, 1), date(2027, 3, 31))
    clean = triage(
        SETTINGS,
        account,
        open_registrations=1,
        conflicts=[],
        missing_information=[],
        unreadable=[],
        requested_term=term,
    )
    assert clean.checks[0].name == "Requested term"  # no deal size for a whole account
    assert clean.recommendation.action == "approve"
    too_long = triage(
        SETTINGS,
        account,
        open_registrations=1,
        conflicts=[],
        missing_information=[],
        unreadable=[],
        requested_term=(date(2026, 12, 1), date(2028, 1, 1)),
    )
    assert too_long.checks[0].outcome == "warn" and too_long.recommendation.action == "review"
    # First in time wins: another partner's earlier registration of the customer fails an account registration
    # even at Warn severity; a deal registration with the same Warn is left for review; a Review stays a warning.
    for kind, reason in (
        ("second_partner", "Registered first by another partner"),
        ("named_account", "Named account (direct-led)"),
    ):
        result = triage(
            SETTINGS,
            account,
            open_registrations=1,
            conflicts=[conflict("Warn", kind=kind)],
            missing_information=[],
            unreadable=[],
            requested_term=term,
        )
        assert (result.recommendation.action, result.recommendation.reject_reason) == ("reject", reason)
    deal = triage(
        SETTINGS,
        registration(),
        open_registrations=1,
        conflicts=[conflict("Warn", kind="second_partner")],
        missing_information=[],
        unreadable=[],
    )
    assert deal.recommendation.action == "review"
    unsure = triage(
        SETTINGS,
        account,
        open_registrations=1,
        conflicts=[conflict("Review", kind="second_partner")],
        missing_information=[],
        unreadable=[],
        requested_term=term,
    )
    assert unsure.recommendation.action == "review"
