"""A small, hand-planted world for the conflict service and CLI tests: a SQLite portal and a
FakeSalesforce org whose every registration and Opportunity is chosen so the right answer is known.

Partners: P-001 Northwind, P-002 Contoso, P-003 Fabrikam.

Portal registrations (``today`` is the scan date):

* DR-000001 Northwind, "Acme Foods GmbH" (DE), approved, protected through today+80;
* DR-000002 Contoso, "Globex Logistics Ltd" (GB), approved but expired yesterday-5;
* DR-000003 Contoso, "Acme Foods GmbH" again, submitted one day after DR-000001 (second partner);
* DR-000004 Northwind, "Stark Motors" (US), submitted, on a named account flagged in Salesforce;
* DR-000005 Fabrikam, "Wayne Energy" (US), submitted, on a named account from the named-accounts file;
* AR-000001 Fabrikam, account registration of "Initech Dental Inc." (US, DUNS 123456789), approved.

Salesforce Opportunities (keys of ``OrgWorld.opps``):

* ``protected``: direct rep, "ACME FOODS" in DE (name match with DR-000001);
* ``account_reg``: direct rep, "Initech Dental" with the same DUNS as AR-000001;
* ``expired``: direct rep, Globex Logistics (DR-000002 expired: no conflict);
* ``named``: direct rep, on the Stark Motors named account (direct-led: no conflict for the rep);
* ``unrelated``: direct rep, "Quartzline Mining";
* ``channel``: a channel rep on Acme Foods (not a direct rep: skipped);
* ``closed_won``: a direct rep on Acme Foods, Closed Won (stage out of scope: skipped);
* ``no_account``: junk name, no account (not enough evidence);
* ``junk_account``: account named "???" with a malformed website and an unknown country (not enough evidence).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sfsync.testing import FakeSalesforce

REPO = Path(__file__).resolve().parents[2]

# The partner's confidential deal fields: none may ever appear in a conflict record.
CONFIDENTIAL = {
    "competitive_notes": "Zircon-7 bake-off: incumbent offered 41 percent off, CFO leans to us",
    "customer_contact_name": "Quilla Vantongeren",
    "customer_contact_email": "quilla.vantongeren@acmefoods.example",
    "customer_contact_phone": "+49 30 5550 8817",
}
CONFIDENTIAL_AMOUNT = Decimal("987654.32")
# Encrypted in Salesforce too (mapping `encrypt`): the partner's own spelling of its customer.
CONFIDENTIAL_CUSTOMER_NAME = "Acme Foods GmbH"

PARTNERS = (("P-001", "Northwind Solutions"), ("P-002", "Contoso Systems"), ("P-003", "Fabrikam IT"))

NAMED_ACCOUNTS_CSV = "name,domain,duns,account_id,country\nWayne Energy,wayneenergy.example,,,US\n"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def create_portal(url: str, now: datetime) -> None:
    today = now.date()
    engine = sa.create_engine(url)
    ddl = (REPO / "mappings" / "portal_schema.sql").read_text(encoding="utf-8")
    with engine.begin() as connection:
        for statement in (s.strip() for s in ddl.split(";\n")):
            if statement:
                connection.exec_driver_sql(statement)
        meta = sa.MetaData()
        partners, deals, accounts = (
            sa.Table(n, meta, autoload_with=connection)
            for n in ("partners", "deal_registrations", "account_registrations")
        )
        created = _naive(now - timedelta(days=400))
        connection.execute(
            partners.insert(),
            [{"partner_number": n, "name": name, "created_at": created, "updated_at": created} for n, name in PARTNERS],
        )

        def deal(
            number: str, partner: str, name: str, domain: str, country: str, submitted: datetime, **extra: Any
        ) -> dict[str, Any]:
            row: dict[str, Any] = {
                "registration_number": number,
                "partner_number": partner,
                "end_customer_name": name,
                "end_customer_website": f"https://www.{domain}/",
                "end_customer_domain": domain,
                "end_customer_country": country,
                "end_customer_postal_code": None,
                "end_customer_duns": None,
                "product_lines": "servers,storage",
                "amount": Decimal("150000"),
                "currency": "USD",
                "expected_close_date": today + timedelta(days=60),
                "competitive_notes": None,
                "customer_contact_name": None,
                "customer_contact_email": None,
                "customer_contact_phone": None,
                "submitted_at": _naive(submitted),
                "updated_at": _naive(submitted),
                "status": "submitted",
                "protection_start": None,
                "protection_end": None,
                "decided_at": None,
            }
            row.update(extra)
            return row

        approved = {"status": "approved", "decided_at": _naive(now - timedelta(days=9))}
        connection.execute(
            deals.insert(),
            [
                deal(
                    "DR-000001",
                    "P-001",
                    CONFIDENTIAL_CUSTOMER_NAME,
                    "acmefoods.example",
                    "DE",
                    now - timedelta(days=11),
                    amount=CONFIDENTIAL_AMOUNT,
                    **CONFIDENTIAL,
                    **approved,
                    protection_start=today - timedelta(days=9),
                    protection_end=today + timedelta(days=80),
                ),
                deal(
                    "DR-000002",
                    "P-002",
                    "Globex Logistics Ltd",
                    "globexlogistics.example",
                    "GB",
                    now - timedelta(days=120),
                    **approved,
                    protection_start=today - timedelta(days=95),
                    protection_end=today - timedelta(days=5),
                ),
                deal(
                    "DR-000003",
                    "P-002",
                    CONFIDENTIAL_CUSTOMER_NAME,
                    "acmefoods.example",
                    "DE",
                    now - timedelta(days=10),
                ),
                deal("DR-000004", "P-001", "Stark Motors Inc.", "starkmotors.example", "US", now - timedelta(days=3)),
                deal("DR-000005", "P-003", "Wayne Energy LLC", "wayneenergy.example", "US", now - timedelta(days=2)),
            ],
        )
        connection.execute(
            accounts.insert(),
            [
                {
                    "registration_number": "AR-000001",
                    "partner_number": "P-003",
                    "customer_name": "Initech Dental Inc.",
                    "customer_website": "https://initechdental.example",
                    "customer_domain": "initechdental.example",
                    "customer_country": "US",
                    "customer_duns": "123456789",
                    "product_lines": "servers",
                    "term_start": today - timedelta(days=30),
                    "term_end": today + timedelta(days=335),
                    "submitted_at": _naive(now - timedelta(days=32)),
                    "updated_at": _naive(now - timedelta(days=32)),
                    "status": "approved",
                    "decided_at": _naive(now - timedelta(days=30)),
                    "protection_start": today - timedelta(days=30),
                    "protection_end": today + timedelta(days=335),
                }
            ],
        )
    engine.dispose()


class Clock:
    """The fake org's clock, moved by hand so SystemModstamp watermarks are exact."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class OrgWorld:
    fake: FakeSalesforce
    opps: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)


def seed_org(
    fake: FakeSalesforce,
    today: date,
    *,
    registrations_in_salesforce: bool = True,
    tick: Callable[[], object] | None = None,
) -> OrgWorld:
    """``tick`` runs before each Opportunity is created (to spread their SystemModstamps)."""
    world = OrgWorld(fake)
    for number, name in PARTNERS:
        world.accounts[number] = fake.insert(
            "Account",
            {"Name": name, "Partner_Number__c": number, "IsPartner": True, "Type": "Channel Partner / Reseller"},
        )
    direct = fake.insert("UserRole", {"Name": "Direct Sales Rep"})
    channel = fake.insert("UserRole", {"Name": "Channel Account Manager"})
    profile = fake.insert("Profile", {"Name": "Standard User"})
    world.users["direct"] = fake.insert(
        "User",
        {
            "Username": "rep1@vendor.example",
            "LastName": "Rep",
            "Email": "rep1@vendor.example",
            "UserRoleId": direct,
            "ProfileId": profile,
            "Sales_Channel__c": "Direct",
        },
    )
    world.users["channel"] = fake.insert(
        "User",
        {
            "Username": "cam@vendor.example",
            "LastName": "Manager",
            "Email": "cam@vendor.example",
            "UserRoleId": channel,
            "ProfileId": profile,
            "Sales_Channel__c": "Channel",
        },
    )

    def account(key: str, **fields: Any) -> str:
        world.accounts[key] = fake.insert("Account", {"Type": "Prospect", **fields})
        return world.accounts[key]

    account("acme", Name="ACME FOODS", BillingCountry="DE", BillingPostalCode="10115")
    account("initech", Name="Initech Dental", BillingCountry="US", DunsNumber="123456789")
    account("globex", Name="Globex Logistics", BillingCountry="GB", Website="http://globexlogistics.example")
    account(
        "stark",
        Name="Stark Motors",
        BillingCountry="US",
        Website="https://www.starkmotors.example",
        Named_Account__c=True,
    )
    account("quartz", Name="Quartzline Mining", BillingCountry="US", Website="https://quartzline.example")
    account("junk", Name="???", BillingCountry="Atlantis", Website="http://")

    def opp(
        key: str,
        account_key: str | None,
        *,
        owner: str = "direct",
        stage: str = "Qualification",
        name: str | None = None,
        lines: str = "Servers",
    ) -> None:
        fields: dict[str, Any] = {
            "Name": name or f"{key} deal",
            "StageName": stage,
            "CloseDate": (today + timedelta(days=45)).isoformat(),
            "Amount": 240000,
            "Product_Lines__c": lines,
            "OwnerId": world.users[owner],
        }
        if account_key is not None:
            fields["AccountId"] = world.accounts[account_key]
        if tick is not None:
            tick()
        world.opps[key] = fake.insert("Opportunity", fields)

    opp("protected", "acme", name="Acme Foods - server refresh")
    opp("account_reg", "initech", lines="Servers;PCs")
    opp("expired", "globex")
    opp("named", "stark")
    opp("unrelated", "quartz")
    opp("channel", "acme", owner="channel")
    opp("closed_won", "acme", stage="Closed Won")
    opp("no_account", None, name="-")
    opp("junk_account", "junk", name="?!")
    if registrations_in_salesforce:
        for number in ("DR-000001", "DR-000002", "DR-000003", "DR-000004", "DR-000005"):
            fake.insert("Deal_Registration__c", {"Registration_Number__c": number})
        fake.insert("Account_Registration__c", {"Registration_Number__c": "AR-000001"})
    return world


def write_rules(path: Path, *, broken: bool = False) -> Path:
    text = (REPO / "mappings" / "conflict_rules.yaml").read_text(encoding="utf-8")
    if broken:
        text = text.replace("require_product_line_overlap: true", "require_product_line_overlap: maybe")
    path.write_text(text, encoding="utf-8")
    return path


def random_token() -> str:
    return secrets.token_hex(4)


def upserts(fake: FakeSalesforce, since: int = 0) -> list[Any]:
    """The write calls (collections upserts, single-record PATCH/POST) the fake served after ``since``."""
    return [c for c in fake.request_log[since:] if c.method in {"PATCH", "POST", "DELETE"}]
