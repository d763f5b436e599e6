"""The demo's invented world: partners, their registrations, and a Salesforce org with direct reps.

Everything is generated from a seed, so two demos print the same figures. All names, domains,
DUNS numbers and contacts are invented (``.example`` domains).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sfsync.testing import FakeSalesforce

PARTNERS: tuple[tuple[str, str, str], ...] = (
    ("P-001", "Northwind Solutions", "platinum"),
    ("P-002", "Contoso Systems", "gold"),
    ("P-003", "Fabrikam IT", "registered"),
    ("P-004", "Tailspin Networks", "titanium"),
    ("P-005", "Litware Integration", "certified"),
    ("P-006", "Proseware Partners", "gold"),
    ("P-007", "Wingtip Technologies", "platinum"),
    ("P-008", "Adatum Consulting", "registered"),
    ("P-009", "Lucerne Data", "gold"),
    ("P-010", "Margie's Systems", "certified"),
    ("P-011", "Trey Research IT", "gold"),
    ("P-012", "Coho Infrastructure", "titanium"),
)

_STEMS = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Oscorp",
    "Wonka",
    "Gringotts",
    "Monarch",
    "Nakatomi",
    "Pied Piper",
    "Aperture",
    "Black Mesa",
    "Massive Dynamic",
    "Dunder",
    "Bluth",
    "Prestige",
    "Sterling",
    "Vortex",
    "Zenith",
    "Polaris",
    "Halcyon",
    "Meridian",
    "Northstar",
    "Evergreen",
    "Summit",
    "Keystone",
    "Redwood",
    "Bluewater",
    "Silverline",
    "Ironclad",
    "Brightpath",
    "Clearview",
    "Copperleaf",
)
# Direct-only prospects: stems no partner ever registers, so they are true negatives.
_NOISE_STEMS = (
    "Quartzline",
    "Lumenfield",
    "Nimbusworks",
    "Orchard Vale",
    "Pinecrest",
    "Riverbend",
    "Sablegate",
    "Tidewater",
    "Upland",
    "Verdant Peak",
    "Willowbrook",
    "Yellowfin",
    "Ashgrove",
    "Birchmont",
    "Cedarhurst",
    "Driftwood",
)
_TRADES = (
    "Foods",
    "Tools",
    "Logistics",
    "Dental",
    "Health",
    "Energy",
    "Robotics",
    "Pharma",
    "Textiles",
    "Motors",
    "Capital",
    "Media",
    "Analytics",
    "Airlines",
    "Hotels",
    "Biotech",
    "Software",
    "Mining",
    "Retail",
    "Labs",
)
_COUNTRIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    # ISO code, country name as Salesforce stores it, legal suffixes, postal code pattern
    ("US", "United States", ("Inc.", "LLC", "Corp."), "#####"),
    ("GB", "United Kingdom", ("Ltd", "PLC"), "EC# #AA"),
    ("DE", "Germany", ("GmbH", "AG"), "#####"),
    ("FR", "France", ("SARL", "SA"), "75###"),
    ("NL", "Netherlands", ("BV", "NV"), "#### AA"),
    ("CA", "Canada", ("Inc.", "Ltd."), "A#A #A#"),
)
_PRODUCT_LINES = ("servers", "storage", "networking", "pcs")
_SF_PRODUCT_LINE = {"servers": "Servers", "storage": "Storage", "networking": "Networking", "pcs": "PCs"}
_FIRST = ("Jane", "Max", "Amal", "Chen", "Lucia", "Omar", "Priya", "Sven", "Ines", "Kofi", "Mira", "Tom")
_LAST = ("Roe", "Mustermann", "Haddad", "Wei", "Rossi", "Farouk", "Iyer", "Larsen", "Duarte", "Mensah", "Novak")


@dataclass(frozen=True)
class Customer:
    name: str
    domain: str
    country: str
    country_name: str
    postal_code: str
    duns: str | None


def _postal(rng: random.Random, pattern: str) -> str:
    return "".join(
        str(rng.randint(0, 9)) if c == "#" else rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") if c == "A" else c
        for c in pattern
    )


_QUALIFIERS = (
    "",
    "Northern",
    "Pacific",
    "Atlantic",
    "Central",
    "Western",
    "Eastern",
    "Southern",
    "Alpine",
    "Coastal",
    "Metro",
    "United",
    "Global",
    "Premier",
    "Advanced",
    "Digital",
    "Regional",
    "National",
    "Continental",
    "Harbor",
)


def make_customers(rng: random.Random, count: int) -> list[Customer]:
    capacity = len(_STEMS) * len(_TRADES) * len(_QUALIFIERS)
    if count > capacity:
        raise ValueError(f"at most {capacity} distinct sample customers, not {count}")
    seen: set[str] = set()
    customers: list[Customer] = []
    while len(customers) < count:
        stem, trade = rng.choice(_STEMS), rng.choice(_TRADES)
        # Plain "Stem Trade" names first; qualified ones only once those run short.
        qualifier = rng.choice(_QUALIFIERS) if len(seen) >= len(_STEMS) * len(_TRADES) // 2 else ""
        base = f"{stem} {qualifier} {trade}" if qualifier else f"{stem} {trade}"
        if base in seen:
            continue
        seen.add(base)
        code, country_name, suffixes, pattern = rng.choice(_COUNTRIES)
        domain = base.lower().replace(" ", "") + ".example"
        duns = f"{rng.randint(10**8, 10**9 - 1)}" if rng.random() < 0.6 else None
        customers.append(
            Customer(f"{base} {rng.choice(suffixes)}", domain, code, country_name, _postal(rng, pattern), duns)
        )
    return customers


def _ts(value: datetime) -> datetime:
    """Portal timestamps are naive UTC (see mappings/portal_schema.sql)."""
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def create_portal(
    url: str, ddl_path: Path, *, seed: int, now: datetime, deals: int = 300, accounts: int = 80
) -> list[tuple[str, Customer]]:
    """Create the portal schema and fill it; returns (registration number, customer) pairs."""
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    statements = [
        s.strip()
        for s in ddl_path.read_text(encoding="utf-8").split(";\n")
        # a piece made only of comments is not a statement (PostgreSQL refuses an empty query)
        if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())
    ]
    customers = make_customers(rng, deals + accounts)
    registered: list[tuple[str, Customer]] = []
    with engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)
        created = _ts(now - timedelta(days=400))
        metadata = sa.MetaData()
        partners, deal_table, account_table = (
            sa.Table(name, metadata, autoload_with=connection)
            for name in ("partners", "deal_registrations", "account_registrations")
        )
        connection.execute(
            partners.insert(),
            [
                {
                    "partner_number": n,
                    "name": name,
                    "tier": tier,
                    "active": True,
                    "created_at": created,
                    "updated_at": created,
                }
                for n, name, tier in PARTNERS
            ],
        )
        deal_rows: list[dict[str, Any]] = []
        for index in range(deals):
            customer = customers[index]
            submitted = now - timedelta(days=rng.randint(1, 60), minutes=rng.randint(0, 1440))
            lines = rng.sample(_PRODUCT_LINES, rng.randint(1, 3))
            contact = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            number = f"DR-{index + 1:06d}"
            deal_rows.append(
                {
                    "registration_number": number,
                    "partner_number": rng.choice(PARTNERS)[0],
                    "end_customer_name": customer.name,
                    "end_customer_website": f"https://www.{customer.domain}/",
                    "end_customer_domain": customer.domain,
                    "end_customer_country": customer.country,
                    "end_customer_postal_code": customer.postal_code,
                    "end_customer_duns": customer.duns,
                    "product_lines": ",".join(lines),
                    "amount": Decimal(rng.randrange(15_000, 900_000, 500)),
                    "currency": "USD",
                    "expected_close_date": (now + timedelta(days=rng.randint(20, 180))).date(),
                    "extension_requested": False,
                    "competitive_notes": rng.choice(
                        (
                            "Incumbent competitor is pitching a three-year subscription; customer prefers capex.",
                            "Customer CIO wants a storage refresh before fiscal year end; we ran the proof of concept.",
                            "Competing bid from a direct rep expected; partner has the relationship with procurement.",
                            None,
                        )
                    ),
                    "customer_contact_name": contact,
                    "customer_contact_email": f"{contact.split(maxsplit=1)[0].lower()}@{customer.domain}",
                    "customer_contact_phone": f"+1 555 01{rng.randint(10, 99)}",
                    "submitted_at": _ts(submitted),
                    "updated_at": _ts(submitted),
                }
            )
            registered.append((number, customer))
        connection.execute(deal_table.insert(), deal_rows)
        account_rows: list[dict[str, Any]] = []
        for index in range(accounts):
            customer = customers[deals + index]
            submitted = now - timedelta(days=rng.randint(1, 90))
            term_start = submitted.date() + timedelta(days=2)
            number = f"AR-{index + 1:06d}"
            account_rows.append(
                {
                    "registration_number": number,
                    "partner_number": rng.choice(PARTNERS)[0],
                    "customer_name": customer.name,
                    "customer_website": f"https://{customer.domain}",
                    "customer_domain": customer.domain,
                    "customer_country": customer.country,
                    "customer_postal_code": customer.postal_code,
                    "customer_duns": customer.duns,
                    "employee_count": rng.randint(5, 400),
                    "product_lines": ",".join(rng.sample(_PRODUCT_LINES, rng.randint(1, 2))),
                    "term_start": term_start,
                    "term_end": term_start + timedelta(days=365),
                    "justification": "Partner has managed this customer's infrastructure since 2021.",
                    "customer_contact_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    "customer_contact_email": f"it@{customer.domain}",
                    "submitted_at": _ts(submitted),
                    "updated_at": _ts(submitted),
                }
            )
            registered.append((number, customer))
        connection.execute(account_table.insert(), account_rows)
    engine.dispose()
    return registered


def _name_variant(rng: random.Random, customer: Customer) -> str:
    """How a direct rep might type the same customer's name into Salesforce."""
    words = customer.name.split()
    base = " ".join(words[:-1])
    return rng.choice(
        (
            base.upper(),
            f"{base} Corporation",
            base.replace(" ", "-"),
            f"{base}, {words[-1]}",
            base,
        )
    )


@dataclass(frozen=True)
class PlantedConflict:
    opportunity_name: str
    registration_number: str
    how: str


def seed_org(
    fake: FakeSalesforce,
    registered: list[tuple[str, Customer]],
    *,
    seed: int,
    today: date,
    planted: int = 8,
    noise: int = 120,
) -> list[PlantedConflict]:
    """Partner accounts, direct and channel reps, and Opportunities; some collide with registrations."""
    rng = random.Random(seed + 1)
    for number, name, tier in PARTNERS:
        fake.insert(
            "Account",
            {
                "Name": name,
                "Partner_Number__c": number,
                "IsPartner": True,
                "Partner_Tier__c": tier.capitalize(),  # declared for the channel desk (sfsync.salesforce.DESK_READS)
                # the partner's region: its SLA calendar and the scoped desk users who answer it
                "Partner_Region__c": ("AMER", "EMEA", "APAC")[int(number[2:]) % 3],
                "Type": "Channel Partner / Reseller",
            },
        )
    direct_role = fake.insert("UserRole", {"Name": "Direct Sales"})
    channel_role = fake.insert("UserRole", {"Name": "Channel Account Manager"})
    profile = fake.insert("Profile", {"Name": "Standard User"})
    direct_reps = [
        fake.insert(
            "User",
            {
                "Username": f"rep{i}@vendor.example",
                "LastName": f"Rep {i}",
                "FirstName": "Direct",
                "Email": f"rep{i}@vendor.example",
                "UserRoleId": direct_role,
                "ProfileId": profile,
                "Sales_Channel__c": "Direct",
            },
        )
        for i in range(1, 5)
    ]
    channel_rep = fake.insert(
        "User",
        {
            "Username": "cam@vendor.example",
            "LastName": "Manager",
            "FirstName": "Channel",
            "Email": "cam@vendor.example",
            "UserRoleId": channel_role,
            "ProfileId": profile,
            "Sales_Channel__c": "Channel",
        },
    )
    conflicts: list[PlantedConflict] = []
    deals = [(n, c) for n, c in registered if n.startswith("DR-")]
    # The demo approves the first registrations in Salesforce; plant collisions among those.
    for number, customer in deals[:planted]:
        how = rng.choice(("name", "domain", "duns")) if customer.duns else rng.choice(("name", "domain"))
        account_fields: dict[str, Any] = {
            "Name": _name_variant(rng, customer),
            "BillingCountry": customer.country,
            "BillingPostalCode": customer.postal_code,
            "Type": "Prospect",
        }
        if how == "domain":
            account_fields["Website"] = f"http://{customer.domain.split('.')[0]}.example/contact"
            account_fields["Name"] = f"{customer.name.split()[0]} Group"
        elif how == "duns":
            account_fields["DunsNumber"] = customer.duns
        account = fake.insert("Account", account_fields)
        name = f"{account_fields['Name']} - hardware refresh"
        fake.insert(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account,
                "StageName": "Qualification",
                "CloseDate": (today + timedelta(days=45)).isoformat(),
                "Amount": 240000,
                "Product_Lines__c": "Servers;Storage;Networking;PCs",
                "OwnerId": rng.choice(direct_reps),
            },
        )
        conflicts.append(PlantedConflict(name, number, how))
    for index in range(noise):
        stem, trade = rng.choice(_NOISE_STEMS), rng.choice(_TRADES)
        account = fake.insert(
            "Account",
            {
                "Name": f"{stem} {trade} Holdings {index}",
                "BillingCountry": "US",
                "Website": f"https://{stem.lower().replace(' ', '')}{index}.example",
                "Type": "Prospect",
            },
        )
        fake.insert(
            "Opportunity",
            {
                "Name": f"{stem} {trade} {index} expansion",
                "AccountId": account,
                "StageName": rng.choice(("Prospecting", "Qualification", "Proposal/Price Quote")),
                "CloseDate": (today + timedelta(days=rng.randint(10, 120))).isoformat(),
                "Amount": rng.randrange(10_000, 500_000, 1000),
                "Product_Lines__c": _SF_PRODUCT_LINE[rng.choice(_PRODUCT_LINES)],
                "OwnerId": rng.choice([*direct_reps, channel_rep]),
            },
        )
    return conflicts
