"""A small, self-contained desk directory: settings, keyring, local org and users — for tests, the bench
and trying the desk without the full demo.

Registrations carry every case the desk must handle: a clean approvable deal, a deal below the minimum
size, an always-registered storage deal, a partner over its tier limit, a blocking conflict filed in the
org, a value whose partner key was destroyed, and partner text with markup in it.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from pydantic import SecretStr

from sfsync.crypto import FieldCipher, FieldContext, LocalKeyringProvider
from sfsync.crypto._providers import MIN_SCRYPT_N
from sfsync.desk.org import ACCOUNT, REGISTRATION_OBJECT
from sfsync.desk.users import Role, UserStore
from sfsync.services.connect import save_fake_org
from sfsync.services.paths import shipped_mappings_dir
from sfsync.text.time import utc_now

__all__ = ["SAMPLE_PASSWORD", "SampleDesk", "build_sample_desk"]

SAMPLE_PASSWORD = "sample desk password"

_SETTINGS = """\
# A sample channel desk: sfsync desk --config {config}
[salesforce]
fake_org = "org.json"

[mappings]
paths = ["{mappings}"]

[crypto]
keyring = "keys/keyring.json"
master_key_file = "keys/master.key"

[desk]
users = "desk/users.json"
audit_log = "desk/audit.jsonl"

# A channel manager who answers EMEA partners only, and one who answers a single partner.
[desk.scopes."emea-manager"]
regions = ["EMEA"]

[desk.scopes."tailspin-manager"]
partners = ["P-104"]
"""

PARTNERS = (
    ("P-101", "Contoso Channel", "Gold"),
    ("P-102", "Fabrikam Resellers", "Registered"),
    ("P-103", "Northwind Partners", "Certified"),
    ("P-104", "Tailspin Integrators", "Platinum"),
)
# The partner's region: its SLA calendar and which scoped desk users see it.
PARTNER_REGIONS = {"P-101": "AMER", "P-102": "EMEA", "P-103": "EMEA", "P-104": "APAC"}
_CUSTOMERS = (
    "Alpine Ski House",
    "Blue Yonder Airlines",
    "Coho Winery",
    "Litware Inc",
    "Lucerne Publishing",
    "Margie's Travel",
    "Trey Research",
    "Wide World Importers",
    "Adventure Works",
    "Proseware GmbH",
)
_LINES = ("Servers", "Networking", "PCs", "Storage")


@dataclass
class SampleDesk:
    directory: Path
    config: Path
    numbers: dict[str, str] = field(default_factory=dict)  # case name -> registration number
    pending: int = 0


def _write_secret(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def build_sample_desk(
    directory: Path,
    *,
    pending: int = 24,
    now: datetime | None = None,
    seed: int = 15,
    password: str = SAMPLE_PASSWORD,
    cheap_hashes: bool = False,
) -> SampleDesk:
    """Write a sample desk into ``directory`` (created; must not hold one already)."""
    from sfsync.testing import FakeSalesforce

    now = now or utc_now()
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "sfsync.toml"
    config.write_text(_SETTINGS.format(config=config, mappings=shipped_mappings_dir()), encoding="utf-8")
    keys = directory / "keys"
    keys.mkdir(mode=0o700)
    master = secrets.token_urlsafe(32)
    _write_secret(keys / "master.key", master)
    # cheap_hashes (tests): a light scrypt for the master key too; the keyring file records the cost.
    provider = (
        LocalKeyringProvider(keys / "keyring.json", SecretStr(master), scrypt_n=MIN_SCRYPT_N)
        if cheap_hashes
        else LocalKeyringProvider(keys / "keyring.json", SecretStr(master))
    )
    keyring = provider.create()
    shredded_partner = "P-199"
    keyring.rotate(shredded_partner)
    cipher = FieldCipher(keyring)

    fake = FakeSalesforce()
    partner_ids = {
        number: fake.insert(
            "Account",
            {
                "Name": name,
                "Partner_Number__c": number,
                "IsPartner": True,
                "Partner_Tier__c": tier,
                "Partner_Region__c": PARTNER_REGIONS[number],
                "Type": "Channel Partner / Reseller",
            },
        )
        for number, name, tier in PARTNERS
    }
    sample = SampleDesk(directory=directory, config=config)

    from sfsync.mapping import load_mappings

    deal_mapping = next(
        m for m in load_mappings([shipped_mappings_dir()]).all() if m.salesforce.object == REGISTRATION_OBJECT
    )
    bands = {fm.field: (fm.band.field, fm.band.band_of) for fm in deal_mapping.fields if fm.band is not None}

    def seal(number: str, api_field: str, value: str, partner: str | None = None) -> str:
        return cipher.encrypt(value, FieldContext(REGISTRATION_OBJECT, api_field, number), partner=partner)

    def register(
        number: str,
        partner: str,
        *,
        hours_ago: float,
        amount: float,
        lines: tuple[str, ...],
        customer: str,
        notes: str = "",
        status: str = "Submitted",
        key_partner: str | None = None,
        contact: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> str:
        domain = customer.lower().replace(" ", "").replace("'", "") + ".example"
        fields: dict[str, Any] = {
            "Registration_Number__c": number,
            "Partner_Account__c": partner_ids[partner],
            "End_Customer_Name__c": seal(number, "End_Customer_Name__c", customer, key_partner),
            "End_Customer_Domain__c": seal(number, "End_Customer_Domain__c", domain, key_partner),
            "End_Customer_Website__c": seal(number, "End_Customer_Website__c", f"https://www.{domain}/", key_partner),
            "Product_Lines__c": ";".join(lines),
            "Currency_Code__c": "USD",
            "Submitted_At__c": (now - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat(),
            "Status__c": status,
        }
        # Encrypted under the field policy, with the public band the mapping derives beside each.
        for api_name, plaintext in (
            ("End_Customer_Country__c", rng.choice(("US", "DE", "FR", "GB", "JP"))),
            ("Amount__c", f"{amount:.2f}"),
            ("Expected_Close_Date__c", (now + timedelta(days=60)).date().isoformat()),
        ):
            fields[api_name] = seal(number, api_name, plaintext, key_partner)
            band = bands.get(api_name)
            if band is not None:
                fields[band[0]] = band[1](plaintext)
        # Stamped when submitted, as a real org's older records are (not all "just now").
        stamp = (now - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat()
        fields.update({"CreatedDate": stamp, "LastModifiedDate": stamp, "SystemModstamp": stamp})
        if contact:
            fields["Customer_Contact_Name__c"] = seal(number, "Customer_Contact_Name__c", "Dana Smith", key_partner)
            fields["Customer_Contact_Email__c"] = seal(
                number, "Customer_Contact_Email__c", f"dana@{domain}", key_partner
            )
        if notes:
            fields["Competitive_Notes__c"] = seal(number, "Competitive_Notes__c", notes, key_partner)
        fields.update(extra or {})
        fake.insert(REGISTRATION_OBJECT, fields)
        if status in ("Submitted", "Under Review"):
            sample.pending += 1
        return number

    cases = sample.numbers
    cases["clean"] = register(
        "DR-900001",
        "P-101",
        hours_ago=30,
        amount=120000,
        lines=("Servers",),
        customer="Coho Winery",
        notes="Customer wants a server refresh before Q3.",
    )
    cases["small"] = register(
        "DR-900002", "P-101", hours_ago=5, amount=20000, lines=("Networking",), customer="Trey Research"
    )
    cases["storage"] = register(
        "DR-900003", "P-103", hours_ago=60, amount=9000, lines=("Storage",), customer="Litware Inc"
    )
    cases["script"] = register(
        "DR-900004",
        "P-103",
        hours_ago=2,
        amount=80000,
        lines=("PCs",),
        customer="<script>alert('customer')</script> Evil Corp",
        notes="<script>document.title='pwned'</script><img src=x onerror=alert(1)>",
    )
    cases["shredded"] = register(
        "DR-900005",
        "P-104",
        hours_ago=12,
        amount=300000,
        lines=("Servers",),
        customer="Adventure Works",
        key_partner=shredded_partner,
    )
    cases["conflict"] = register(
        "DR-900006", "P-104", hours_ago=20, amount=500000, lines=("Servers", "Storage"), customer="Blue Yonder Airlines"
    )
    cases["no_contact"] = register(
        "DR-900007",
        "P-103",
        hours_ago=1,
        amount=90000,
        lines=("Servers",),
        customer="Lucerne Publishing",
        contact=False,
    )
    # Fabrikam is Registered (10 open allowed by default) and holds more than that.
    for index in range(12):
        number = register(
            f"DR-9001{index:02d}",
            "P-102",
            hours_ago=3 + index * 7,
            amount=70000 + index,
            lines=(rng.choice(_LINES[:3]),),
            customer=rng.choice(_CUSTOMERS),
        )
        cases.setdefault("over_limit", number)
    cases["approved"] = register(
        "DR-900090",
        "P-101",
        hours_ago=200,
        amount=150000,
        lines=("Servers",),
        customer="Wide World Importers",
        status="Approved",
        extra={
            "Protection_Start__c": (now - timedelta(days=5)).date().isoformat(),
            "Protection_End__c": (now + timedelta(days=85)).date().isoformat(),
            "Decision_Reason__c": "Approved",
        },
    )
    # Decided registrations for the reports: answered after 10, 30 and 60 business hours (a Monday start).
    monday = (now - timedelta(days=now.weekday() + 14)).replace(hour=8, minute=0, second=0, microsecond=0)
    for index, (partner, status, answered_after, line) in enumerate(
        (
            ("P-101", "Approved", 10, "Servers"),
            ("P-103", "Rejected", 30, "Networking"),
            ("P-104", "Approved", 60, "Storage"),
        )
    ):
        decided_at = monday + timedelta(hours=answered_after)
        extra: dict[str, Any] = {"Decided_At__c": decided_at.isoformat(), "Decision_Reason__c": status}
        if status == "Approved":
            extra.update(
                {
                    "Protection_Start__c": decided_at.date().isoformat(),
                    "Protection_End__c": (decided_at + timedelta(days=90)).date().isoformat(),
                }
            )
        cases[f"decided_{index}"] = register(
            f"DR-90080{index}",
            partner,
            hours_ago=(now - monday).total_seconds() / 3600,
            amount=100000,
            lines=(line,),
            customer=rng.choice(_CUSTOMERS),
            status=status,
            extra=extra,
        )
    for index in range(max(0, pending - sample.pending)):
        partner = PARTNERS[index % len(PARTNERS)][0]
        register(
            f"DR-91{index:04d}",
            partner,
            hours_ago=rng.uniform(0.5, 24 * 14),
            amount=rng.randrange(40, 900) * 1000,
            lines=(rng.choice(_LINES),),
            customer=rng.choice(_CUSTOMERS),
            notes="Partner ran the evaluation.",
        )

    opportunity = fake.insert(
        "Opportunity",
        {
            "Name": "Blue Yonder - data centre refresh",
            "StageName": "Qualification",
            "CloseDate": (now + timedelta(days=30)).date().isoformat(),
            "Amount": 450000,
        },
    )
    fake.insert(
        "Channel_Conflict__c",
        {
            "Name": "CC-1",
            "Conflict_Key__c": "sample-conflict-1",
            "Opportunity__c": opportunity,
            "Partner_Account__c": partner_ids["P-104"],
            "Partner_Name__c": "Tailspin Integrators",
            "Registration_Number__c": cases["conflict"],
            "Kind__c": "deal_registration",
            "Severity__c": "Block",
            "Status__c": "Open",
            "Score__c": 92.5,
            "Rule__c": "direct_opportunity_on_registered_customer",
            "Reason__c": "A direct opportunity is open on this customer (domain and name match).",
            "Evidence__c": "domain: blueyonderairlines.example = blueyonderairlines.example\nname: 0.94 token match",
        },
    )
    # Account registrations: a clean one, the same customer registered later by another partner (the scan
    # filed "second_partner", first in time wins), and a named (direct-led) account.
    account_mapping = next(
        m for m in load_mappings([shipped_mappings_dir()]).all() if m.salesforce.object == ACCOUNT.sobject
    )
    account_bands = {fm.field: (fm.band.field, fm.band.band_of) for fm in account_mapping.fields if fm.band is not None}

    def register_account(number: str, partner: str, *, hours_ago: float, customer: str, country: str) -> str:
        def sealed(api_field: str, value: str) -> str:
            return cipher.encrypt(value, FieldContext(ACCOUNT.sobject, api_field, number))

        stamp = (now - timedelta(hours=hours_ago)).replace(microsecond=0).isoformat()
        domain = customer.lower().replace(" ", "") + ".example"
        fields: dict[str, Any] = {
            "Registration_Number__c": number,
            "Partner_Account__c": partner_ids[partner],
            "Customer_Name__c": sealed("Customer_Name__c", customer),
            "Customer_Domain__c": sealed("Customer_Domain__c", domain),
            "Customer_Country__c": sealed("Customer_Country__c", country),
            "Customer_Contact_Name__c": sealed("Customer_Contact_Name__c", "Robin Lee"),
            "Customer_Contact_Email__c": sealed("Customer_Contact_Email__c", f"robin@{domain}"),
            "Justification__c": sealed("Justification__c", "Installed base of 40 servers; we run their support."),
            "Product_Lines__c": "Servers;Storage",
            "Requested_Term_Start__c": now.date().isoformat(),
            "Requested_Term_End__c": (now + timedelta(days=120)).date().isoformat(),
            "Submitted_At__c": stamp,
            "Status__c": "Submitted",
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        band_field, band_of = account_bands["Customer_Country__c"]
        fields[band_field] = band_of(country)
        fake.insert(ACCOUNT.sobject, fields)
        sample.pending += 1
        return number

    cases["account_clean"] = register_account(
        "AR-900001", "P-103", hours_ago=26, customer="Fourth Coffee", country="DE"
    )
    cases["account_second"] = register_account(
        "AR-900002", "P-101", hours_ago=4, customer="Fourth Coffee", country="DE"
    )
    cases["account_named"] = register_account(
        "AR-900003", "P-104", hours_ago=8, customer="Contoso Pharmaceuticals", country="JP"
    )
    for key, kind, rule, first, reason in (
        (
            "account_second",
            "second_partner",
            "earlier_registration_by_another_partner",
            cases["account_clean"],
            "Northwind Partners registered this customer first (AR-900001).",
        ),
        (
            "account_named",
            "named_account",
            "named_account_registered",
            "",
            "The customer is on the vendor's named account list (direct-led).",
        ),
    ):
        fake.insert(
            "Channel_Conflict__c",
            {
                "Name": f"CC-{key}",
                "Conflict_Key__c": f"sample-{key}",
                "Registration_Number__c": cases[key],
                "First_Registration__c": first or None,
                "Kind__c": kind,
                "Severity__c": "Block",
                "Status__c": "Open",
                "Score__c": 97.0,
                "Rule__c": rule,
                "Reason__c": reason,
                "Evidence__c": "name: exact match after normalisation\ncountry: DE = DE",
            },
        )
    keyring.destroy_partner(shredded_partner)
    provider.save(keyring)
    save_fake_org(fake, directory / "org.json")

    hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1) if cheap_hashes else None
    users = UserStore(directory / "desk" / "users.json", hasher)
    for name, role in (
        ("manager", Role.MANAGER),
        ("manager2", Role.MANAGER),
        ("auditor", Role.AUDITOR),
        ("rep", Role.REP),
        ("emea-manager", Role.MANAGER),
        ("tailspin-manager", Role.MANAGER),
    ):
        users.set_user(name, role, password)
    (directory / "desk" / "sample.json").write_text(json.dumps(cases, indent=1), encoding="utf-8")
    return sample
