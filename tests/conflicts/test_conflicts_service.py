"""The conflict scan through its service (``scan_conflicts``) against a local org: a FakeSalesforce
and a SQLite portal planted by ``org_world`` (read its docstring for the cast), tried the way a
channel manager would: scan, look at the records, dismiss one, rescan, move an Opportunity, ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from org_world import (
    CONFIDENTIAL,
    CONFIDENTIAL_AMOUNT,
    CONFIDENTIAL_CUSTOMER_NAME,
    NAMED_ACCOUNTS_CSV,
    REPO,
    Clock,
    OrgWorld,
    create_portal,
    seed_org,
    upserts,
    write_rules,
)
from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings, Settings
from sfsync.conflicts import ConflictKind, MatchKind, Severity
from sfsync.errors import ConfigError
from sfsync.mapping import MappingSet, load_mappings
from sfsync.salesforce import RecordResult, SalesforceGateway
from sfsync.services.conflict_scan import (
    WATERMARK_NAME,
    ConflictScanReport,
    list_conflicts,
    load_registrations,
    scan_conflicts,
)
from sfsync.sync._state import StateStore
from sfsync.testing import FakeSalesforce

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SEEDED = NOW - timedelta(days=2)
NEWEST_SEEDED = SEEDED + timedelta(minutes=90)  # the ninth Opportunity's SystemModstamp
MAPPINGS = load_mappings([REPO / "mappings"])


@dataclass
class Local:
    root: Path
    settings: Settings
    fake: FakeSalesforce
    gateway: SalesforceGateway
    clock: Clock
    state: StateStore
    org: OrgWorld

    def scan(
        self, *, full: bool = False, dry_run: bool = False, days: float = 0, mappings: MappingSet | None = MAPPINGS
    ) -> ConflictScanReport:
        """Scan ``days`` after NOW (the org's clock is not moved)."""
        return scan_conflicts(
            self.settings,
            self.gateway,
            mappings=mappings,
            state=self.state,
            full=full,
            dry_run=dry_run,
            now=NOW + timedelta(days=days),
        )

    def conflicts(self) -> dict[str, dict[str, Any]]:
        return {str(r["Conflict_Key__c"]): r for r in self.fake.records("Channel_Conflict__c")}

    def flagged(self) -> set[str]:
        return {
            str(r["Registration_Number__c"])
            for obj in ("Deal_Registration__c", "Account_Registration__c")
            for r in self.fake.records(obj)
            if r["Conflict_Flag__c"]
        }

    def key(self, opp: str, registration: str) -> str:
        return f"O:{self.org.opps[opp]}:{registration}"

    def named_key(self, registration: str) -> str:
        return f"N:{registration}:NA-{self.org.accounts['stark']}"


def _settings(root: Path, **conflicts: Any) -> Settings:
    return Settings.model_validate(
        {
            "portal": {"url": f"sqlite:///{root / 'portal.db'}"},
            "state": {"url": f"sqlite:///{root / 'state.db'}"},
            "conflicts": {"rules": str(root / "rules.yaml"), "named_accounts": str(root / "named.csv"), **conflicts},
        }
    )


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    create_portal(f"sqlite:///{tmp_path / 'portal.db'}", NOW)
    (tmp_path / "named.csv").write_text(NAMED_ACCOUNTS_CSV, encoding="utf-8")
    write_rules(tmp_path / "rules.yaml")
    # The org was set up two days ago, one Opportunity every ten minutes; "now" is NOW.
    clock = Clock(SEEDED)
    with FakeSalesforce(clock=clock) as fake:
        org = seed_org(fake, NOW.date(), tick=lambda: clock.advance(minutes=10))
        clock.now = NOW
        gateway = SalesforceGateway.connect(
            SalesforceSettings(
                auth=AuthMode.TOKEN, instance_url=fake.instance_url, access_token=SecretStr(fake.access_token)
            ),
            sleep=lambda _s: None,
        )
        settings = _settings(tmp_path)
        state = StateStore(settings.state.url)
        try:
            yield Local(tmp_path, settings, fake, gateway, clock, state, org)
        finally:
            state.close()


def _expected_keys(local: Local) -> set[str]:
    return {
        local.key("protected", "DR-000001"),
        local.key("account_reg", "AR-000001"),
        "R:DR-000001:DR-000003",
        local.named_key("DR-000004"),
        next(k for k in local.conflicts() if k.startswith("N:DR-000005:NA-")),
    }


# ---------------------------------------------------------------------------------------- the first scan


def test_first_scan_flags_exactly_the_planted_conflicts_with_their_evidence(local: Local) -> None:
    report = local.scan()
    records = local.conflicts()
    assert set(records) == _expected_keys(local)
    assert {c.key for c in report.conflicts} == set(records)
    assert report.by_kind == {
        "deal_registration": 1,
        "account_registration": 1,
        "second_partner": 1,
        "named_account": 2,
    }
    assert report.created == 5 and report.rejected == 0
    assert report.opportunities == 9 and report.registrations == 6 and report.named_accounts == 2
    assert all(r["Status__c"] == "Open" for r in records.values())
    # No conflict for the expired registration, the named account itself, the unrelated account,
    # the channel rep, the closed deal or the junk ones.
    quiet = {"expired", "named", "unrelated", "channel", "closed_won", "no_account", "junk_account"}
    flagged_opps = {r["Opportunity__c"] for r in records.values()}
    assert not flagged_opps & {local.org.opps[k] for k in quiet}

    deal = records[local.key("protected", "DR-000001")]
    assert deal["Kind__c"] == "deal_registration" and deal["Severity__c"] == "Block"
    assert deal["Partner_Name__c"] == "Northwind Solutions"
    assert deal["Partner_Account__c"] == local.org.accounts["P-001"]
    assert deal["Registration_Number__c"] == "DR-000001"
    assert deal["Protection_End__c"] == (NOW.date() + timedelta(days=80)).isoformat()
    evidence = json.loads(deal["Evidence__c"])
    levels = {c["component"]: c["level"] for c in evidence["components"]}
    assert evidence["opportunity_account"] == "ACME FOODS" and "protected_name" not in evidence
    assert levels["name"] == "exact" and levels["country"] == "agree" and evidence["product_lines"] == ["servers"]
    assert "Northwind Solutions (P-001)" in deal["Reason__c"] and "DR-000001" in deal["Reason__c"]
    assert "company name" in deal["Reason__c"]

    by_key = {c.key: c for c in report.conflicts}
    account = by_key[local.key("account_reg", "AR-000001")]
    assert account.kind is ConflictKind.ACCOUNT_REGISTRATION and account.match_kind is MatchKind.DUNS
    assert account.evidence.component("duns").level == "agree" and account.severity is Severity.BLOCK  # type: ignore[union-attr]
    assert "D-U-N-S" in records[account.key]["Reason__c"] and "123456789" not in records[account.key]["Evidence__c"]

    # First in time by UTC wins: DR-000001 (Northwind) was a day earlier than DR-000003 (Contoso).
    second = by_key["R:DR-000001:DR-000003"]
    assert second.kind is ConflictKind.SECOND_PARTNER
    assert (second.registration_number, second.other_registration_number) == ("DR-000003", "DR-000001")
    assert second.partner_number == "P-001"
    assert records[second.key]["Registration_Number__c"] == "DR-000003"
    assert "first in time wins" in second.reason

    named_sf = by_key[local.named_key("DR-000004")]  # from Account.Named_Account__c
    assert named_sf.kind is ConflictKind.NAMED_ACCOUNT and named_sf.evidence.component("website").level == "own_agree"  # type: ignore[union-attr]
    named_file = next(c for c in report.conflicts if c.key.startswith("N:DR-000005:"))  # from the file
    assert "Wayne Energy" in named_file.reason


def test_bad_input_is_skipped_or_quietly_unmatched_never_a_crash(local: Local) -> None:
    report = local.scan()
    # The Opportunity without an account has nothing to match on: counted, with the documented reason.
    assert report.skipped == 3
    assert report.skipped_reasons == {
        "not enough evidence": 1,
        "not owned by a direct rep": 1,
        "stage 'Closed Won' is not in scope": 1,
    }
    # "???" with a website of "http://" in "Atlantis" still has its account id: scanned, matches nothing.
    junk = local.org.opps["junk_account"]
    assert all(c.opportunity_id != junk for c in report.conflicts)
    assert report.to_dict()["skipped_reasons"]["not enough evidence"] == 1


def test_list_conflicts_reads_back_what_channel_managers_see(local: Local) -> None:
    local.scan()
    rows = list_conflicts(local.gateway)
    assert [r["Conflict_Key__c"] for r in rows] == sorted(_expected_keys(local))
    assert list_conflicts(local.gateway, statuses=["Dismissed"]) == []


# ---------------------------------------------------------------------------------------- reruns


def test_rerun_duplicates_nothing_and_writes_nothing(local: Local) -> None:
    local.scan()
    before = local.conflicts()
    for full in (True, False):
        mark = len(local.fake.request_log)
        local.clock.advance(hours=1)
        report = local.scan(full=full)
        assert upserts(local.fake, mark) == [], f"full={full}"
        assert report.created == report.updated == report.reopened == report.resolved == 0
        assert report.flags_set == report.flags_cleared == 0
    assert local.conflicts() == before


def test_dismissed_conflict_stays_dismissed_until_the_evidence_changes(local: Local) -> None:
    local.scan()
    key = local.key("account_reg", "AR-000001")
    record = local.conflicts()[key]
    local.clock.advance(hours=1)
    local.fake.update("Channel_Conflict__c", record["Id"], {"Status__c": "Dismissed"})
    # A rerun finds the same evidence: the decision sticks (and the flag goes: nothing open).
    mark = len(local.fake.request_log)
    report = local.scan(full=True)
    assert local.conflicts()[key]["Status__c"] == "Dismissed"
    assert report.reopened == 0 and report.unchanged == 5
    assert "AR-000001" not in local.flagged()
    assert [c.path.split("/", 4)[-1] for c in upserts(local.fake, mark)] == [
        "composite/sobjects/Account_Registration__c/Registration_Number__c"
    ]
    # New evidence: the account gets the registered customer's website. The Opportunity itself
    # did not change, yet the incremental scan sees it and reopens the conflict.
    local.clock.advance(hours=1)
    local.fake.update("Account", local.org.accounts["initech"], {"Website": "https://initechdental.example"})
    report = local.scan()
    assert report.full is False and report.reopened == 1
    reopened = local.conflicts()[key]
    assert reopened["Status__c"] == "Open"
    levels = {c["component"]: c["level"] for c in json.loads(reopened["Evidence__c"])["components"]}
    assert levels["website"] == "own_agree" and "initechdental" not in reopened["Evidence__c"]
    assert "AR-000001" in local.flagged()


def test_opportunity_moved_to_another_account_resolves_on_the_incremental_scan(local: Local) -> None:
    local.scan()
    assert "AR-000001" in local.flagged()
    local.clock.advance(hours=2)
    local.fake.update("Opportunity", local.org.opps["account_reg"], {"AccountId": local.org.accounts["quartz"]})
    report = local.scan()
    # The moved one, and the newest seeded one inside the overlap window.
    assert report.full is False and report.opportunities == 2
    assert report.resolved == 1
    records = local.conflicts()
    assert records[local.key("account_reg", "AR-000001")]["Status__c"] == "Resolved"
    # The other conflicts were not read this time and stay open; their flags stay too.
    assert records[local.key("protected", "DR-000001")]["Status__c"] == "Open"
    assert local.flagged() == {"DR-000001", "DR-000003", "DR-000004", "DR-000005"}
    assert report.flags_cleared == 1


def test_flags_follow_open_conflicts_and_only_known_registrations(local: Local) -> None:
    report = local.scan()
    assert local.flagged() == {"DR-000001", "DR-000003", "DR-000004", "DR-000005", "AR-000001"}
    assert report.flags_set == 5
    assert "DR-000002" not in local.flagged()  # expired: no conflict, no flag
    # Without mappings nothing says where the flag lives: none is written.
    local.fake.update(
        "Deal_Registration__c",
        next(r["Id"] for r in local.fake.records("Deal_Registration__c") if r["Registration_Number__c"] == "DR-000002"),
        {"Conflict_Flag__c": True},
    )
    assert local.scan(full=True, mappings=None).flags_cleared == 0
    assert "DR-000002" in local.flagged()
    # With them, a flag nobody earned is cleared.
    assert local.scan(full=True).flags_cleared == 1
    assert "DR-000002" not in local.flagged()


def test_protection_expiry_resolves_on_a_later_full_scan(local: Local) -> None:
    local.scan()
    # 81 days later DR-000001's protection is over: its Opportunity conflict resolves; the
    # second-partner one stays (DR-000003 is still a live, pending registration on the customer).
    report = local.scan(full=True, days=81)
    records = local.conflicts()
    assert records[local.key("protected", "DR-000001")]["Status__c"] == "Resolved"
    assert report.resolved >= 1


# ---------------------------------------------------------------------------------------- incremental


def _opportunity_queries(fake: FakeSalesforce, mark: int) -> list[Any]:
    return [c for c in fake.request_log[mark:] if c.method == "GET" and "/query" in c.path]


def test_incremental_reads_only_opportunities_changed_since_the_watermark(local: Local) -> None:
    first = local.scan()
    assert first.full is True and first.opportunities == 9
    watermark = local.state.get_watermark(WATERMARK_NAME, "pull")
    assert watermark is not None and watermark.replace(tzinfo=UTC) == NEWEST_SEEDED
    # Nothing changed: only the overlap window (5 minutes behind the watermark) is read again.
    local.clock.advance(days=1)
    again = local.scan()
    assert again.opportunities == 1
    assert again.unchanged == 3  # the registration conflicts, always rechecked; no write at all
    # One Opportunity edited, one Account edited (its Opportunity's stamp does not move).
    local.fake.update("Opportunity", local.org.opps["unrelated"], {"StageName": "Proposal/Price Quote"})
    local.clock.advance(minutes=10)  # beyond the 5-minute overlap
    local.fake.update("Account", local.org.accounts["globex"], {"BillingPostalCode": "EC1 1AA"})
    report = local.scan()
    assert report.opportunities == 2 + 1 and report.full is False  # + the overlap window's
    stamp = local.state.get_watermark(WATERMARK_NAME, "pull")
    assert stamp is not None and stamp.replace(tzinfo=UTC) == local.clock.now  # the Account's edit
    # ...so the next incremental scan does not read that Account's Opportunity again.
    local.clock.advance(days=1)
    assert local.scan().opportunities == 1  # the overlap window only: the Globex one, stamped last
    # --full reads everything again, whatever the watermark.
    assert local.scan(full=True).opportunities == 9


def test_dry_run_writes_nothing(local: Local) -> None:
    mark = len(local.fake.request_log)
    report = local.scan(dry_run=True)
    assert report.dry_run and report.created == 5 and report.flags_set == 5
    assert upserts(local.fake, mark) == []
    assert local.fake.records("Channel_Conflict__c") == []
    assert local.flagged() == set()
    assert local.state.get_watermark(WATERMARK_NAME, "pull") is None


# ---------------------------------------------------------------------------------------- the law


def test_conflict_records_never_carry_the_partners_confidential_fields(local: Local) -> None:
    report = local.scan()
    local.clock.advance(hours=1)
    local.fake.update("Account", local.org.accounts["initech"], {"Website": "https://initechdental.example"})
    report2 = local.scan()
    secrets_ = [
        *CONFIDENTIAL.values(),
        str(CONFIDENTIAL_AMOUNT),
        "987654",
        CONFIDENTIAL_CUSTOMER_NAME,
        # the partners' own spelling of the other customers, and the registrations' shared domain
        "Initech Dental Inc.",
        "Stark Motors Inc.",
        "Wayne Energy LLC",
        "acmefoods.example",
    ]
    records = local.fake.records("Channel_Conflict__c")
    assert len(records) == 5
    texts = [json.dumps(r, default=str) for r in records]
    texts += [json.dumps(report.to_dict(), default=str), json.dumps(report2.to_dict(), default=str)]
    texts += [c.model_dump_json() for c in report.conflicts]
    for text in texts:
        for secret in secrets_:
            assert secret.casefold() not in text.casefold(), secret
    # What the rep may see is there: partner of record and protection end.
    deal = local.conflicts()[local.key("protected", "DR-000001")]
    assert deal["Partner_Name__c"] == "Northwind Solutions" and deal["Protection_End__c"]


def test_registrations_are_read_without_confidential_columns(local: Local) -> None:
    registrations = load_registrations(local.settings.portal.url)
    dumped = json.dumps([r.model_dump(mode="json") for r in registrations])
    for secret in CONFIDENTIAL.values():
        assert secret not in dumped


# ---------------------------------------------------------------------------------------- configuration


def test_missing_named_accounts_file_is_a_config_error(local: Local) -> None:
    settings = _settings(local.root, named_accounts=str(local.root / "nope.csv"))
    with pytest.raises(ConfigError) as caught:
        scan_conflicts(settings, local.gateway, state=None, now=NOW)
    assert "nope.csv" in str(caught.value) and local.fake.records("Channel_Conflict__c") == []


def test_named_accounts_from_salesforce_alone_when_no_file(local: Local) -> None:
    settings = _settings(local.root, named_accounts=None)
    report = scan_conflicts(settings, local.gateway, mappings=MAPPINGS, state=local.state, now=NOW)
    kinds = [c.key for c in report.conflicts if c.kind is ConflictKind.NAMED_ACCOUNT]
    assert kinds == [local.named_key("DR-000004")] and report.named_accounts == 1


def test_named_account_listed_in_file_and_org_counts_once(local: Local) -> None:
    stark = local.org.accounts["stark"]
    (local.root / "named.csv").write_text(f"name,account_id\nStark Motors,{stark}\n", encoding="utf-8")
    report = local.scan()
    assert report.named_accounts == 1
    assert [c.key for c in report.conflicts if c.kind is ConflictKind.NAMED_ACCOUNT] == [local.named_key("DR-000004")]


def test_broken_rules_file_stops_before_anything_is_read(local: Local) -> None:
    write_rules(local.root / "rules.yaml", broken=True)
    mark = len(local.fake.request_log)
    with pytest.raises(ConfigError) as caught:
        local.scan()
    assert caught.value.context.file == str(local.root / "rules.yaml")
    assert caught.value.context.line is not None
    assert local.fake.request_log[mark:] == []


class _RejectingGateway:
    """The real gateway, except that Salesforce rejects every Channel_Conflict__c record."""

    def __init__(self, inner: SalesforceGateway) -> None:
        self.inner = inner

    @property
    def api_calls(self) -> int:
        return self.inner.api_calls

    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        return self.inner.query(soql, include_deleted=include_deleted)

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.inner.describe(sobject)

    def upsert(self, sobject: str, external_id_field: str, records: Any) -> list[RecordResult]:
        if sobject != "Channel_Conflict__c":
            return self.inner.upsert(sobject, external_id_field, records)
        return [
            RecordResult(
                index=i,
                external_id=str(r[external_id_field]),
                salesforce_id=None,
                outcome="rejected",
                status_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                message="validation rule",
            )
            for i, r in enumerate(records)
        ]


def test_rejected_conflicts_keep_the_watermark_so_the_next_scan_retries(local: Local) -> None:
    report = scan_conflicts(
        local.settings, _RejectingGateway(local.gateway), mappings=MAPPINGS, state=local.state, now=NOW
    )
    assert report.rejected == 5
    assert local.state.get_watermark(WATERMARK_NAME, "pull") is None
    # Salesforce accepts them now: the next (still full) scan writes them all.
    retry = local.scan()
    assert retry.full is True and retry.created == 5 and len(local.conflicts()) == 5


def test_unknown_country_and_malformed_website_still_match_on_the_name(local: Local) -> None:
    # The rep typed the country as free text and pasted a broken website: the name match stands
    # (unknown_country: allow) and the evidence says the country could not be checked.
    account = local.fake.insert(
        "Account", {"Name": "Acme Foods", "BillingCountry": "Atlantis", "Website": "http//acme foods"}
    )
    opp = local.fake.insert(
        "Opportunity",
        {
            "Name": "Acme Foods storage",
            "AccountId": account,
            "StageName": "Prospecting",
            "CloseDate": "2027-01-31",
            "Product_Lines__c": "Storage",
            "OwnerId": local.org.users["direct"],
        },
    )
    report = local.scan()
    conflict = next(c for c in report.conflicts if c.opportunity_id == opp)
    assert conflict.registration_number == "DR-000001" and conflict.match_kind is MatchKind.NAME
    assert conflict.evidence.component("country").level == "missing"  # type: ignore[union-attr]
    assert conflict.evidence.component("website").level == "missing"  # type: ignore[union-attr]


def test_bad_portal_rows_are_named_and_never_stop_the_scan(local: Local) -> None:
    today = NOW.date()
    engine = sa.create_engine(local.settings.portal.url)
    with engine.begin() as connection:
        table = sa.Table("deal_registrations", sa.MetaData(), autoload_with=connection)
        base = {
            "product_lines": "servers",
            "amount": 100000,
            "expected_close_date": today,
            "submitted_at": datetime(2026, 11, 1),
            "updated_at": datetime(2026, 11, 1),
            "status": "approved",
            "protection_start": today,
            "protection_end": today + timedelta(days=30),
        }
        connection.execute(
            table.insert(),
            [
                # nothing to match on: an empty name, a junk website, an unknown country
                {**base, "registration_number": "DR-000010", "partner_number": "P-001",
                 "end_customer_name": "", "end_customer_website": "::::", "end_customer_country": "ZZ"},
                # no partner: the model refuses it
                {**base, "registration_number": "DR-000011", "partner_number": "",
                 "end_customer_name": "Tyrell Robotics", "end_customer_website": None, "end_customer_country": "US"},
            ],
        )  # fmt: skip
    engine.dispose()
    report = local.scan()
    assert report.bad_registrations == [
        "deal_registrations 'DR-000011': partner_number: String should have at least 1 character"
    ]
    assert report.registrations == 7
    assert {c.key for c in report.conflicts} == _expected_keys(local)


def test_past_channel_sale_makes_a_partner_of_record_lock(local: Local) -> None:
    fake = local.fake
    account = fake.insert(
        "Account", {"Name": "Tyrell Robotics Inc.", "BillingCountry": "US", "Website": "https://tyrellrobotics.example"}
    )
    # Sold through Fabrikam four months ago (Servers), and an old sale through Contoso two years ago.
    fake.insert(
        "Opportunity",
        {
            "Name": "Tyrell servers",
            "AccountId": account,
            "StageName": "Closed Won",
            "CloseDate": (NOW.date() - timedelta(days=120)).isoformat(),
            "Amount": 90000,
            "Product_Lines__c": "Servers",
            "OwnerId": local.org.users["channel"],
            "Partner_Account__c": local.org.accounts["P-003"],
        },
    )
    fake.insert(
        "Opportunity",
        {
            "Name": "Tyrell storage 2024",
            "AccountId": account,
            "StageName": "Closed Won",
            "CloseDate": (NOW.date() - timedelta(days=730)).isoformat(),
            "Amount": 50000,
            "Product_Lines__c": "Storage",
            "OwnerId": local.org.users["channel"],
            "Partner_Account__c": local.org.accounts["P-002"],
        },
    )
    servers = fake.insert(
        "Opportunity",
        {
            "Name": "Tyrell server refresh",
            "AccountId": account,
            "StageName": "Qualification",
            "CloseDate": (NOW.date() + timedelta(days=30)).isoformat(),
            "Amount": 200000,
            "Product_Lines__c": "Servers",
            "OwnerId": local.org.users["direct"],
        },
    )
    storage = fake.insert(
        "Opportunity",
        {
            "Name": "Tyrell storage refresh",
            "AccountId": account,
            "StageName": "Qualification",
            "CloseDate": (NOW.date() + timedelta(days=30)).isoformat(),
            "Amount": 200000,
            "Product_Lines__c": "Storage",
            "OwnerId": local.org.users["direct"],
        },
    )
    report = local.scan(full=True)
    assert report.partner_of_record_locks == 1  # the 2-year-old sale is past its term
    on_servers = [c for c in report.conflicts if c.opportunity_id == servers]
    assert len(on_servers) == 1
    assert on_servers[0].kind.value == "partner_of_record"
    assert on_servers[0].partner_number == "P-003"
    assert not [c for c in report.conflicts if c.opportunity_id == storage]

    # A longer term in the rules makes the two-year-old sale count too.
    rules = local.root / "rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\npartner_of_record_days: 1000\n", encoding="utf-8")
    longer = local.scan(full=True)
    assert longer.partner_of_record_locks == 2
    on_storage = [c for c in longer.conflicts if c.opportunity_id == storage]
    assert [c.partner_number for c in on_storage] == ["P-002"]
