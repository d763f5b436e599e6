"""The re-identification check against an org: what the published fields give away together.

A direct rep can read every clear field and every band of every registration, and every
Account of the org. :func:`reidentification_from_org` reads exactly that (through the gateway)
and counts, per mapping, the registrations whose published values leave one candidate Account
(see :func:`sfsync.mapping._policy.reidentification`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from sfsync.mapping import MappingSet
from sfsync.mapping._policy import ReidentificationReport, reidentification
from sfsync.salesforce import format_soql

__all__ = ["reidentification_from_org"]

_ACCOUNT_FIELDS = (
    "Id",
    "Name",
    "Website",
    "BillingCountry",
    "BillingPostalCode",
    "DunsNumber",
    "NumberOfEmployees",
    "Partner_Number__c",
)


class _Gateway(Protocol):
    def query(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]: ...

    def describe(self, sobject: str) -> dict[str, Any]: ...


def _existing(gateway: _Gateway, sobject: str, wanted: list[str]) -> list[str]:
    known = {str(f.get("name")) for f in gateway.describe(sobject).get("fields", [])}
    return [name for name in wanted if name in known]


def reidentification_from_org(gateway: _Gateway, mappings: MappingSet) -> ReidentificationReport:
    """Read the registrations' published fields and the org's Accounts; count the singled-out ones."""
    records: dict[str, list[dict[str, Any]]] = {}
    for m in mappings:
        if m.is_read_only or m.direction == "pull":
            continue
        published = [m.salesforce.external_id_field]
        for fm in m.portal_owned():
            if fm.protection == "clear" and fm.lookup is None:
                published.append(fm.field)
            elif fm.band is not None:
                published.append(fm.band.field)
        fields = _existing(gateway, m.salesforce.object, list(dict.fromkeys(published)))
        soql = format_soql("SELECT {:literal} FROM {:literal}", ", ".join(fields), m.salesforce.object)
        records.setdefault(m.salesforce.object, []).extend(gateway.query(soql))
    account_fields = _existing(gateway, "Account", list(_ACCOUNT_FIELDS))
    accounts = list(gateway.query(format_soql("SELECT {:literal} FROM Account", ", ".join(account_fields))))
    return reidentification(mappings, records, accounts)
