"""Builders for conflict tests: small, explicit records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sfsync.conflicts import Opportunity, Registration, Rules, parse_rules

RULES_YAML = """
version: 1
direct_owner:
  roles: [Direct Sales Rep]
  profiles: [Direct Sales]
  field: {name: Owner.Sales_Channel__c, values: [Direct]}
stages: {exclude: [Closed Won, Closed Lost]}
require_product_line_overlap: true
minimum_deal_size: {amount: 50000, currency: USD}
always_protected_product_lines: [Storage]
exchange_rates: {EUR: 1.10}
matching:
  ignore_domains: [gmail.com]
"""

AS_OF = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


def default_rules() -> Rules:
    return parse_rules(RULES_YAML, "test-rules.yaml")


def make_reg(number: str = "DR-1", **overrides: Any) -> Registration:
    values: dict[str, Any] = {
        "registration_number": number,
        "kind": "deal",
        "partner_number": "P-100",
        "partner_name": "Northwind Resellers",
        "partner_account_id": "001PARTNER000001",
        "customer_name": "Acme Foods GmbH",
        "customer_website": "https://www.acmefoods.de",
        "customer_country": "DE",
        "customer_postal_code": "10115",
        "product_lines": "Servers;Storage",
        "amount": Decimal("120000"),
        "currency": "USD",
        "status": "approved",
        "submitted_at": datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
        "decided_at": datetime(2026, 5, 2, 9, 0, tzinfo=UTC),
        "protection_start": date(2026, 5, 2),
        "protection_end": date(2026, 7, 31),
    }
    values.update(overrides)
    return Registration.model_validate(values)


def make_opp(opp_id: str = "006000000000001AAA", **overrides: Any) -> Opportunity:
    values: dict[str, Any] = {
        "id": opp_id,
        "name": "Acme server refresh",
        "account_id": "001000000000777AAA",
        "account_name": "ACME Foods",
        "account_website": None,
        "account_country": "Germany",
        "owner_role": "Direct Sales Rep",
        "stage": "Prospecting",
        "product_lines": "Servers",
    }
    values.update(overrides)
    return Opportunity.model_validate(values)
