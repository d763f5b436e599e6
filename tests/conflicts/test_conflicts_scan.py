from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from conflict_builders import AS_OF, default_rules, make_opp, make_reg
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.conflicts import (
    Conflict,
    ConflictKind,
    ConflictStatus,
    ExistingConflict,
    MatchKind,
    NamedAccount,
    Opportunity,
    PartnerOfRecordLock,
    Rules,
    Severity,
    parse_rules,
    reconcile,
    scan,
)


def only(result_conflicts: list[Conflict], kind: ConflictKind | None = None) -> Conflict:
    chosen = [c for c in result_conflicts if kind is None or c.kind is kind]
    assert len(chosen) == 1, [c.key for c in result_conflicts]
    return chosen[0]


def test_direct_opportunity_on_deal_registration(rules: Rules) -> None:
    result = scan([make_opp()], [make_reg()], rules, as_of=AS_OF)
    c = only(result.conflicts)
    assert c.key == "O:006000000000001AAA:DR-1"
    assert c.kind is ConflictKind.DEAL_REGISTRATION
    assert c.severity is Severity.BLOCK
    assert c.match_kind is MatchKind.NAME
    assert c.partner_number == "P-100"
    assert c.partner_account_id == "001PARTNER000001"
    assert c.protection_end == date(2026, 7, 31)
    assert c.evidence.protected_name is None  # the partner's spelling is never published
    assert c.evidence.component("name").level == "exact"  # type: ignore[union-attr]
    assert c.evidence.product_lines == ["servers"]
    assert "Northwind Resellers (P-100)" in c.reason
    assert "until 2026-07-31" in c.reason
    assert "DR-1" in c.reason
    assert result.summary()["conflicts"] == 1


def test_out_of_scope_opportunities_are_skipped_with_reason(rules: Rules) -> None:
    opps = [
        make_opp("006A", owner_role="Partner Manager"),
        make_opp("006B", stage="Closed Lost"),
        make_opp("006C", account_name="", account_id=None, account_website="not a site", account_country="Narnia"),
        make_opp("006D", account_name=None, account_id=None),
        make_opp("006E", account_name="???", account_id=None, account_duns="12"),
    ]
    result = scan(opps, [make_reg()], rules, as_of=AS_OF)
    assert result.conflicts == []
    reasons = {s.opportunity_id: s.reason for s in result.skipped}
    assert reasons["006A"] == "not owned by a direct rep"
    assert "stage 'Closed Lost'" in reasons["006B"]
    for opp_id in ("006C", "006D", "006E"):
        assert reasons[opp_id].startswith("not enough evidence")


def test_minimum_deal_size_and_always_protected_lines(rules: Rules) -> None:
    small = make_reg(amount=Decimal(30000), product_lines="Servers")
    assert scan([make_opp()], [small], rules, as_of=AS_OF).conflicts == []
    small_storage = make_reg(amount=Decimal(30000), product_lines="Servers;Storage")
    assert len(scan([make_opp()], [small_storage], rules, as_of=AS_OF).conflicts) == 1
    euros = make_reg(amount=Decimal(46000), currency="EUR", product_lines="Servers")  # 50,600 USD
    assert len(scan([make_opp()], [euros], rules, as_of=AS_OF).conflicts) == 1
    unknown_currency = make_reg(amount=Decimal(10), currency="XYZ", product_lines="Servers")
    assert len(scan([make_opp()], [unknown_currency], rules, as_of=AS_OF).conflicts) == 1
    account_reg = make_reg("AR-1", kind="account", amount=Decimal(1), product_lines=[])
    c = only(scan([make_opp()], [account_reg], rules, as_of=AS_OF).conflicts)
    assert c.kind is ConflictKind.ACCOUNT_REGISTRATION
    assert c.evidence.product_lines == "all product lines"


def test_expiry_and_approved_extension(rules: Rules) -> None:
    expired = make_reg(protection_end=date(2026, 6, 1))
    assert scan([make_opp()], [expired], rules, as_of=AS_OF).conflicts == []
    extended = make_reg(protection_end=date(2026, 6, 1), extension_approved=True, extension_end=date(2026, 9, 1))
    c = only(scan([make_opp()], [extended], rules, as_of=AS_OF).conflicts)
    assert c.protection_end == date(2026, 9, 1)
    unapproved = make_reg(protection_end=date(2026, 6, 1), extension_approved=False, extension_end=date(2026, 9, 1))
    assert scan([make_opp()], [unapproved], rules, as_of=AS_OF).conflicts == []
    not_started = make_reg(protection_start=date(2026, 7, 1))
    assert scan([make_opp()], [not_started], rules, as_of=AS_OF).conflicts == []
    pending = make_reg(status="Submitted")
    assert [c.kind for c in scan([make_opp()], [pending], rules, as_of=AS_OF).conflicts] == []


def _rules_in(tz: str) -> Rules:
    from conflict_builders import RULES_YAML

    return parse_rules(RULES_YAML + f"as_of: {{timezone: {tz}}}\n")


def test_protection_ending_today_in_another_time_zone() -> None:
    reg = make_reg(protection_end=date(2026, 6, 15))
    late_utc = datetime(2026, 6, 15, 23, 30, tzinfo=UTC)
    # In UTC it is still the 15th: the last day protects (the end date is inclusive).
    assert len(scan([make_opp()], [reg], _rules_in("UTC"), as_of=late_utc).conflicts) == 1
    # In Auckland it is already the 16th: protection is over.
    assert scan([make_opp()], [reg], _rules_in("Pacific/Auckland"), as_of=late_utc).conflicts == []
    # Early on the 16th UTC is still the 15th in Los Angeles.
    early_utc = datetime(2026, 6, 16, 3, 0, tzinfo=UTC)
    assert scan([make_opp()], [reg], _rules_in("UTC"), as_of=early_utc).conflicts == []
    assert len(scan([make_opp()], [reg], _rules_in("America/Los_Angeles"), as_of=early_utc).conflicts) == 1


def test_product_line_overlap(rules: Rules) -> None:
    assert scan([make_opp(product_lines="PCs")], [make_reg()], rules, as_of=AS_OF).conflicts == []
    c = only(scan([make_opp(product_lines=None)], [make_reg()], rules, as_of=AS_OF).conflicts)
    assert c.evidence.product_lines == "not specified on the opportunity"
    from conflict_builders import RULES_YAML

    relaxed = parse_rules(RULES_YAML.replace("overlap: true", "overlap: false"))
    assert len(scan([make_opp(product_lines="PCs")], [make_reg()], relaxed, as_of=AS_OF).conflicts) == 1


def test_partner_of_record_lock(rules: Rules) -> None:
    lock = PartnerOfRecordLock(
        lock_id="L-9",
        customer_name="Acme Foods",
        customer_country="DE",
        partner_number="P-300",
        partner_name="Contoso Channel",
        product_line="Servers",
        since=date(2025, 1, 1),
        until=date(2026, 12, 31),
    )
    c = only(scan([make_opp()], [], rules, as_of=AS_OF, locks=[lock]).conflicts)
    assert (c.kind, c.severity) == (ConflictKind.PARTNER_OF_RECORD, Severity.WARN)
    assert c.key == "O:006000000000001AAA:POR-L-9"
    assert "partner-of-record lock" in c.reason
    old = lock.model_copy(update={"until": date(2026, 1, 1)})
    assert scan([make_opp()], [], rules, as_of=AS_OF, locks=[old]).conflicts == []
    storage_only = lock.model_copy(update={"product_line": "Storage"})
    assert scan([make_opp()], [], rules, as_of=AS_OF, locks=[storage_only]).conflicts == []


def test_second_partner_first_in_time_by_utc(rules: Rules) -> None:
    # B's timestamp reads later (10:00) but is 08:00 UTC: B was first.
    a = make_reg(
        "DR-A", partner_number="P-1", partner_name="Alpha", submitted_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    )
    b = make_reg(
        "DR-B",
        partner_number="P-2",
        partner_name="Beta",
        customer_name="ACME FOODS",
        customer_website=None,
        status="submitted",
        submitted_at=datetime(2026, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2))),
    )
    c = only(scan([], [a, b], rules, as_of=AS_OF).conflicts, ConflictKind.SECOND_PARTNER)
    assert c.key == "R:DR-B:DR-A"
    assert (c.registration_number, c.other_registration_number) == ("DR-A", "DR-B")
    assert c.partner_number == "P-2"  # the first registrant is the partner of record
    assert c.evidence.submitted_at == {"first": "2026-05-01T08:00:00+00:00", "second": "2026-05-01T09:00:00+00:00"}
    assert "first in time wins" in c.reason
    # same partner twice: no conflict
    same = make_reg("DR-C", partner_number="P-1", submitted_at=datetime(2026, 5, 3, tzinfo=UTC))
    assert scan([], [a, same], rules, as_of=AS_OF).conflicts == []


def test_two_partners_in_the_same_second(rules: Rules) -> None:
    moment = datetime(2026, 5, 1, 9, 0, 0, tzinfo=UTC)
    x = make_reg("DR-200", partner_number="P-1", submitted_at=moment)
    y = make_reg("DR-100", partner_number="P-2", submitted_at=moment.astimezone(timezone(timedelta(hours=-5))))
    for order in ([x, y], [y, x]):
        c = only(scan([], order, rules, as_of=AS_OF).conflicts, ConflictKind.SECOND_PARTNER)
        assert c.key == "R:DR-100:DR-200"
        assert "same instant" in c.reason


def test_registration_on_named_account(rules: Rules) -> None:
    named = [
        NamedAccount(name="Acme Foods AG", domain="acmefoods.de", country="DE"),
        NamedAccount(name="Globex", country="US"),
    ]
    result = scan([], [make_reg()], rules, as_of=AS_OF, named_accounts=named)
    c = only(result.conflicts, ConflictKind.NAMED_ACCOUNT)
    assert c.key.startswith("N:DR-1:NA-")
    assert c.match_kind is MatchKind.DOMAIN
    assert "named account" in c.reason
    assert c.severity is Severity.WARN


def test_keys_and_evidence_hash_are_stable_and_track_evidence(rules: Rules) -> None:
    first = scan([make_opp()], [make_reg()], rules, as_of=AS_OF).conflicts
    again = scan([make_opp()], [make_reg()], rules, as_of=AS_OF + timedelta(days=3)).conflicts
    assert [(c.key, c.evidence_hash) for c in first] == [(c.key, c.evidence_hash) for c in again]
    assert len(first[0].evidence_hash) == 64
    # new evidence (the account now has the protected website): same key, new hash
    richer = scan([make_opp(account_website="acmefoods.de")], [make_reg()], rules, as_of=AS_OF).conflicts
    assert richer[0].key == first[0].key
    assert richer[0].evidence_hash != first[0].evidence_hash
    # an approved extension moves the end date but is not new evidence
    extended = make_reg(extension_approved=True, extension_end=date(2026, 12, 31))
    later = scan([make_opp()], [extended], rules, as_of=AS_OF).conflicts
    assert later[0].evidence_hash == first[0].evidence_hash


def test_long_keys_are_hashed_to_fit_80_chars(rules: Rules) -> None:
    reg = make_reg("DR-" + "9" * 90)
    c = only(scan([make_opp()], [reg], rules, as_of=AS_OF).conflicts)
    assert len(c.key) <= 80
    assert c.key == only(scan([make_opp()], [reg], rules, as_of=AS_OF).conflicts).key


def test_no_confidential_deal_fields_reach_salesforce(rules: Rules) -> None:
    reg = make_reg(
        amount=Decimal("987654.32"),
        competitive_notes="SECRET-NOTE beat Globex on price",
        contact_email="buyer@acmefoods.de",
        contact_name="Jane Buyer",
    )
    c = only(scan([make_opp()], [reg], rules, as_of=AS_OF).conflicts)
    text = json.dumps(c.to_salesforce(), default=str) + c.reason + json.dumps(c.evidence, default=str)
    for secret in ("SECRET", "Globex", "buyer@", "Jane", "987654", "987,654"):
        assert secret not in text


def test_reconcile_rerun_dismissed_changed_and_moved(rules: Rules) -> None:
    run1 = scan([make_opp()], [make_reg()], rules, as_of=AS_OF)
    plan = reconcile(run1.conflicts, {})
    assert [c.key for c in plan.create] == ["O:006000000000001AAA:DR-1"]
    assert plan.records()[0]["Status__c"] == "Open"
    c = run1.conflicts[0]
    # rerun after a channel manager dismissed it: nothing written, stays dismissed
    existing = {c.key: ExistingConflict(c.key, ConflictStatus.DISMISSED, c.evidence_hash, c.opportunity_id)}
    rerun = reconcile(scan([make_opp()], [make_reg()], rules, as_of=AS_OF).conflicts, existing)
    assert (rerun.writes, rerun.unchanged) == (0, [c.key])
    # evidence changed: the dismissed conflict reopens
    changed = scan([make_opp(account_website="www.acmefoods.de")], [make_reg()], rules, as_of=AS_OF)
    reopen = reconcile(changed.conflicts, existing)
    assert [x.key for x in reopen.reopen] == [c.key]
    assert reopen.records()[0]["Status__c"] == "Open"
    # open + changed evidence: refreshed, status untouched
    open_existing = {c.key: ExistingConflict(c.key, ConflictStatus.OPEN, c.evidence_hash, c.opportunity_id)}
    refresh = reconcile(changed.conflicts, open_existing)
    assert [x.key for x in refresh.update] == [c.key]
    assert "Status__c" not in refresh.records()[0]
    # the opportunity moved to another account: the open conflict is resolved
    moved = scan(
        [make_opp(account_id="001OTHER", account_name="Initech", account_country="US")],
        [make_reg()],
        rules,
        as_of=AS_OF,
    )
    assert moved.conflicts == []
    resolved = reconcile(moved.conflicts, open_existing, scanned_opportunity_ids=moved.scanned_opportunity_ids)
    assert resolved.resolve == [c.key]
    assert resolved.records() == [{"Conflict_Key__c": c.key, "Status__c": "Resolved"}]
    # an incremental run that did not read that opportunity leaves it alone
    untouched = reconcile([], open_existing, scanned_opportunity_ids={"006OTHER"})
    assert untouched.writes == 0
    # a dismissed conflict no longer detected stays dismissed
    assert reconcile([], existing).writes == 0


def test_salesforce_payload_fits_the_fake_org_schema(rules: Rules) -> None:
    from sfsync.testing._fake import FakeSalesforce

    fake = FakeSalesforce()
    partner = fake.insert("Account", {"Name": "Northwind Resellers"})
    opp_id = fake.insert("Opportunity", {"Name": "Acme refresh", "StageName": "Prospecting", "CloseDate": "2026-09-30"})
    c = only(scan([make_opp(opp_id)], [make_reg(partner_account_id=partner)], rules, as_of=AS_OF).conflicts)
    record = reconcile([c], {}).records()[0]
    new_id = fake.insert("Channel_Conflict__c", record)
    stored = fake.get("Channel_Conflict__c", new_id)
    assert stored["Conflict_Key__c"] == c.key
    assert stored["Severity__c"] == "Block"
    assert stored["Status__c"] == "Open"
    assert stored["Opportunity__c"] == opp_id


@pytest.mark.parametrize("website", ["http://", "::::", "www.", "ftp://x", "a" * 300, "https://exa mple.com"])
def test_malformed_websites_never_crash(rules: Rules, website: str) -> None:
    result = scan([make_opp(account_website=website)], [make_reg()], rules, as_of=AS_OF)
    assert len(result.conflicts) == 1  # the name still matches


def test_existing_conflict_and_opportunity_from_salesforce_records() -> None:
    old = ExistingConflict.from_salesforce(
        {
            "attributes": {},
            "Conflict_Key__c": "O:1:2",
            "Status__c": "dismissed",
            "Evidence_Hash__c": "ab",
            "Opportunity__c": "0061",
        }
    )
    assert (old.status, old.evidence_hash, old.opportunity_id) == (ConflictStatus.DISMISSED, "ab", "0061")
    assert ExistingConflict.from_salesforce({"Conflict_Key__c": "k", "Status__c": None}).status is ConflictStatus.OPEN
    opp = Opportunity.from_salesforce(
        {
            "attributes": {"type": "Opportunity"},
            "Id": "006X",
            "Name": "Deal",
            "AccountId": "001X",
            "Account": {
                "Name": "Acme",
                "Website": "acme.com",
                "BillingCountry": "DE",
                "BillingPostalCode": "1",
                "DunsNumber": "123456789",
            },
            "Owner": {
                "UserRole": {"Name": "Direct Sales Rep"},
                "Profile": {"Name": "Standard"},
                "Sales_Channel__c": "Direct",
            },
            "StageName": "Prospecting",
            "Amount": 1000.5,
            "Product_Lines__c": "Servers;PCs",
            "SystemModstamp": "2026-06-01T10:00:00.000+0000",
        }
    )
    assert (opp.account_name, opp.account_duns, opp.owner_role) == ("Acme", "123456789", "Direct Sales Rep")
    assert opp.product_lines == frozenset({"servers", "pcs"})
    assert opp.field_value("Owner.Sales_Channel__c") == "Direct"
    assert opp.system_modstamp is not None and opp.system_modstamp.tzinfo is not None
    missing = Opportunity.from_salesforce({"Id": "006Y", "Account": None, "Owner": None})
    assert missing.account_name is None


def test_cosmetic_account_name_edits_keep_the_evidence_hash(rules: Rules) -> None:
    first = only(scan([make_opp(account_name="ACME Foods")], [make_reg()], rules, as_of=AS_OF).conflicts)
    recased = only(scan([make_opp(account_name="Acme Foods GmbH")], [make_reg()], rules, as_of=AS_OF).conflicts)
    assert first.evidence.opportunity_account != recased.evidence.opportunity_account
    assert first.evidence_hash == recased.evidence_hash
    assert first.to_salesforce()["Name"].startswith("Deal registration: ")
    assert (
        first.to_salesforce()["Name"].endswith(" / DR-1") and "006000000000001AAA" not in first.to_salesforce()["Name"]
    )


def test_channel_manager_scenario_round_trip_through_the_fake_org(rules: Rules) -> None:
    """Plant direct-rep opportunities on protected, expired, named and unrelated accounts; scan; store
    the conflicts in the fake org; read them back; rerun: nothing is duplicated or rewritten."""
    from sfsync.testing._fake import FakeSalesforce

    fake = FakeSalesforce()
    partner = fake.insert("Account", {"Name": "Northwind Resellers"})

    def opp(name: str, **kw: object) -> Opportunity:
        oid = fake.insert("Opportunity", {"Name": name, "StageName": "Prospecting", "CloseDate": "2026-09-30"})
        return make_opp(oid, name=name, **kw)

    protected = opp("Acme refresh", account_name="Acme Foods", account_country="DE")
    expired = opp("Globex deal", account_name="Globex Logistics", account_country="US")
    named = opp(
        "Initech expansion", account_name="Initech", account_website="https://initech.com", account_country="US"
    )
    unrelated = opp("Umbrella pilot", account_name="Umbrella Pharma", account_country="GB")
    regs = [
        make_reg("DR-1", partner_account_id=partner),
        make_reg(
            "DR-2",
            customer_name="Globex Logistics Inc",
            customer_website=None,
            customer_country="US",
            protection_end=date(2026, 6, 1),
            partner_account_id=partner,
        ),
        make_reg(
            "AR-3",
            kind="account",
            partner_number="P-200",
            customer_name="Initech LLC",
            customer_website="initech.com",
            customer_country="US",
            product_lines=[],
            partner_account_id=partner,
        ),
    ]
    named_accounts = [NamedAccount(name="Initech", domain="initech.com", country="US")]
    opps = [protected, expired, named, unrelated]
    result = scan(opps, regs, rules, as_of=AS_OF, named_accounts=named_accounts)
    got = {(c.kind, c.opportunity_id, c.registration_number) for c in result.conflicts}
    assert got == {
        (ConflictKind.DEAL_REGISTRATION, protected.id, "DR-1"),
        (ConflictKind.ACCOUNT_REGISTRATION, named.id, "AR-3"),
        (ConflictKind.NAMED_ACCOUNT, None, "AR-3"),
    }
    for record in reconcile(result.conflicts, {}).records():
        fake.insert("Channel_Conflict__c", record)
    stored = fake.records("Channel_Conflict__c")
    assert len(stored) == 3
    # a channel manager dismisses one
    dismissed = next(r for r in stored if r["Opportunity__c"] == protected.id)
    fake.update("Channel_Conflict__c", dismissed["Id"], {"Status__c": "Dismissed"})
    existing = {r["Conflict_Key__c"]: ExistingConflict.from_salesforce(r) for r in fake.records("Channel_Conflict__c")}
    again = scan(opps, regs, rules, as_of=AS_OF + timedelta(hours=1), named_accounts=named_accounts)
    plan = reconcile(again.conflicts, existing, scanned_opportunity_ids=again.scanned_opportunity_ids)
    assert plan.writes == 0
    assert len(plan.unchanged) == 3


_junk = st.one_of(st.none(), st.text(max_size=40), st.sampled_from(["http://", "@", "..", "www.", "xn--", "::1"]))


@settings(max_examples=60, deadline=None)
@given(name=_junk, website=_junk, country=_junk, duns=_junk, postal=_junk, account_id=_junk)
def test_scan_never_crashes_on_junk_accounts(
    name: str | None,
    website: str | None,
    country: str | None,
    duns: str | None,
    postal: str | None,
    account_id: str | None,
) -> None:
    opp = make_opp(
        account_name=name,
        account_website=website,
        account_country=country,
        account_duns=duns,
        account_postal_code=postal,
        account_id=account_id or None,
    )
    result = scan([opp], [make_reg()], default_rules(), as_of=AS_OF)
    assert {c.opportunity_id for c in result.conflicts} <= {opp.id}
    assert len(result.skipped) <= 1
    assert not (result.conflicts and result.skipped)
