"""Protected customers, rebuilt each run from registrations, partner-of-record locks and named accounts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import ConfigError, ErrorContext
from ._models import (
    NamedAccount,
    PartnerOfRecordLock,
    ProtectedCustomer,
    ProtectionSource,
    Registration,
    RegistrationKind,
)
from ._rules import Rules

__all__ = [
    "ProtectionDecision",
    "build_protected_customers",
    "load_named_accounts",
    "named_account_customers",
    "protection_decision",
    "registration_customer",
]


@dataclass(frozen=True, slots=True)
class ProtectionDecision:
    protects: bool
    why: str


def protection_decision(reg: Registration, rules: Rules, today: date) -> ProtectionDecision:
    """Does this registration protect its customer on ``today`` (a date in the rules' time zone)?"""
    if reg.status not in {s.casefold() for s in rules.registration_statuses.approved}:
        return ProtectionDecision(False, f"status {reg.status!r} is not approved")
    if reg.protection_start is not None and today < reg.protection_start:
        return ProtectionDecision(False, f"protection starts {reg.protection_start.isoformat()}")
    end = reg.effective_end
    if end is not None and today > end:
        return ProtectionDecision(False, f"protection ended {end.isoformat()}")
    if reg.kind is RegistrationKind.DEAL:
        minimum = rules.minimum_usd()
        if minimum is not None and reg.amount is not None:
            usd = rules.to_usd(reg.amount, reg.currency)
            always = reg.product_lines & rules.always_protected_product_lines
            # An unknown currency cannot be compared: the registration keeps protecting (a missed
            # conflict costs more than a checked one).
            if usd is not None and usd < minimum and not always:
                return ProtectionDecision(False, f"below the minimum deal size of {minimum} USD")
    return ProtectionDecision(True, "approved and within its protection window")


def registration_customer(reg: Registration) -> ProtectedCustomer:
    source = (
        ProtectionSource.DEAL_REGISTRATION
        if reg.kind is RegistrationKind.DEAL
        else ProtectionSource.ACCOUNT_REGISTRATION
    )
    return ProtectedCustomer(
        key=reg.registration_number,
        source=source,
        name=reg.customer_name,
        website=reg.customer_website,
        country=reg.customer_country,
        postal_code=reg.customer_postal_code,
        duns=reg.customer_duns,
        account_id=reg.customer_account_id,
        partner_number=reg.partner_number,
        partner_name=reg.partner_name,
        partner_account_id=reg.partner_account_id,
        registration_number=reg.registration_number,
        product_lines=reg.product_lines,
        protection_end=reg.effective_end,
        submitted_at=reg.submitted_at,
    )


def _lock_customer(lock: PartnerOfRecordLock) -> ProtectedCustomer:
    lines = frozenset({lock.product_line.strip().casefold()}) if lock.product_line else frozenset()
    return ProtectedCustomer(
        key=lock.key,
        source=ProtectionSource.PARTNER_OF_RECORD,
        name=lock.customer_name,
        website=lock.customer_website,
        country=lock.customer_country,
        postal_code=lock.customer_postal_code,
        duns=lock.customer_duns,
        account_id=lock.customer_account_id,
        partner_number=lock.partner_number,
        partner_name=lock.partner_name,
        partner_account_id=lock.partner_account_id,
        product_lines=lines,
        protection_end=lock.until,
    )


def build_protected_customers(
    registrations: Iterable[Registration],
    locks: Iterable[PartnerOfRecordLock],
    rules: Rules,
    as_of: datetime,
) -> list[ProtectedCustomer]:
    """Every customer protected at ``as_of``: approved registrations in their window (approved
    extensions count, the minimum deal size applies unless a product line is always protected)
    and active partner-of-record locks. Expired protection simply is not there."""
    today = rules.as_of.local_date(as_of)
    out = [registration_customer(r) for r in registrations if protection_decision(r, rules, today).protects]
    for lock in locks:
        if lock.since <= today and (lock.until is None or today <= lock.until):
            out.append(_lock_customer(lock))
    return out


def named_account_customers(named: Iterable[NamedAccount]) -> list[ProtectedCustomer]:
    return [
        ProtectedCustomer(
            key=na.key,
            source=ProtectionSource.NAMED_ACCOUNT,
            name=na.name,
            website=na.domain,
            country=na.country,
            duns=na.duns,
            account_id=na.account_id,
        )
        for na in named
    ]


_NAMED_ALIASES = {
    "website": "domain",
    "account name": "name",
    "accountid": "account_id",
    "account_id": "account_id",
    "duns_number": "duns",
    "dunsnumber": "duns",
    "billing_country": "country",
    "billingcountry": "country",
}


def _named(row: dict[str, Any], source: str, line: int | None) -> NamedAccount | None:
    clean: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            raise ConfigError("more values than header columns", ErrorContext(file=source, line=line))
        name = key.strip().casefold()
        name = _NAMED_ALIASES.get(name, name)
        text = None if value is None else str(value).strip()
        clean[name] = text or None
    if not any(clean.values()):
        return None  # blank line
    try:
        account = NamedAccount.model_validate(clean)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"named account: {field}: {err['msg']}", ErrorContext(file=source, line=line, field_name=field)
        ) from None
    if not (account.name or account.domain or account.duns or account.account_id):
        raise ConfigError(
            "named account needs at least one of name, domain, duns, account_id",
            ErrorContext(file=source, line=line),
        )
    return account


def load_named_accounts(path: str | Path) -> list[NamedAccount]:
    """The vendor's named (direct-led) account list from CSV (header row: name, domain, duns,
    account_id, country) or YAML (a list of such mappings, or ``{named_accounts: [...]}``)."""
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read named accounts: {exc.strerror}", ErrorContext(file=source)) from None
    out: list[NamedAccount] = []
    if path.suffix.casefold() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            return []
        for csv_row in reader:
            account = _named(csv_row, source, reader.line_num)
            if account is not None:
                out.append(account)
        return out
    if path.suffix.casefold() not in {".yaml", ".yml"}:
        raise ConfigError("named accounts must be a .csv, .yaml or .yml file", ErrorContext(file=source))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"named accounts file is not valid YAML: {exc.problem}",
            ErrorContext(file=source, line=mark.line + 1 if mark else None),
        ) from None
    items_node = root
    if isinstance(data, dict):
        data = data.get("named_accounts")
        if isinstance(root, yaml.MappingNode):
            items_node = next((v for k, v in root.value if k.value == "named_accounts"), None)
    if data is None:
        return []
    if not isinstance(data, list):
        raise ConfigError("named accounts must be a list of mappings", ErrorContext(file=source, line=1))
    for i, item in enumerate(data):
        line = None
        if isinstance(items_node, yaml.SequenceNode) and i < len(items_node.value):
            line = items_node.value[i].start_mark.line + 1
        if not isinstance(item, dict):
            raise ConfigError("each named account must be a mapping", ErrorContext(file=source, line=line))
        row: dict[str, Any] = {str(k): v for k, v in item.items()}
        if isinstance(items_node, yaml.SequenceNode) and isinstance(items_node.value[i], yaml.MappingNode):
            # Scalars as written: YAML would read an account id like 001000000000001 as an octal number.
            for key_node, value_node in items_node.value[i].value:
                if isinstance(value_node, yaml.ScalarNode) and not value_node.tag.endswith(":null"):
                    row[str(key_node.value)] = value_node.value
        account = _named(row, source, line)
        if account is not None:
            out.append(account)
    return out
