"""Online validation against describe() JSON: the shipped mappings on FakeSalesforce, and each check."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from _mapping_helpers import SHIPPED
from org_helpers import with_disabled_schema

from sfsync.errors import SalesforceApiError
from sfsync.mapping import MappingSet, ValidationReport, load_mappings, validate_online
from sfsync.testing import FakeSalesforce

OBJECTS = (
    "Deal_Registration__c",
    "Account_Registration__c",
    "Lead",
    "Opportunity",
    "Account",
    "User",
    "UserRole",
    "Profile",
)


@pytest.fixture(scope="module")
def org() -> Iterator[dict[str, dict[str, Any]]]:
    """Describe JSON of the org `export-metadata --include-disabled` deploys, fetched over HTTP."""
    with FakeSalesforce(with_disabled_schema()) as fake:
        url = f"{fake.instance_url}/services/data/v{fake.api_version}/sobjects/{{}}/describe"
        headers = {"Authorization": f"Bearer {fake.access_token}"}
        described = {}
        for name in OBJECTS:
            response = requests.get(url.format(name), headers=headers, timeout=5)
            response.raise_for_status()
            described[name] = response.json()
        yield described


def describer(org: dict[str, dict[str, Any]], calls: list[str] | None = None) -> Callable[[str], dict[str, Any]]:
    def describe(name: str) -> dict[str, Any]:
        if calls is not None:
            calls.append(name)
        if name not in org:
            raise SalesforceApiError(f"The requested resource does not exist: {name}")
        return org[name]

    return describe


def field(org: dict[str, dict[str, Any]], obj: str, name: str) -> dict[str, Any]:
    return next(f for f in org[obj]["fields"] if f["name"] == name)


def run(org: dict[str, dict[str, Any]], shipped: MappingSet, name: str = "deal_registration") -> ValidationReport:
    return validate_online(MappingSet([shipped.get(name)]), describer(org), include_disabled=True)


@pytest.fixture
def broken(org: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return copy.deepcopy(org)


def test_shipped_mappings_match_the_fake_org(org: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    calls: list[str] = []
    report = validate_online(shipped, describer(org, calls), include_disabled=True)
    assert report.problems == [], [str(p) for p in report.problems]
    assert len(calls) == len(set(calls))  # one describe per object
    assert set(report.mappings_checked) == set(shipped.names())


def test_real_gateway_describe_on_fake(shipped: MappingSet) -> None:
    """The same check through SalesforceGateway (as `validate --online` does), if it is available."""
    gateway_module = pytest.importorskip("sfsync.salesforce")
    from sfsync.config import SalesforceSettings

    with FakeSalesforce(with_disabled_schema()) as fake:
        settings = SalesforceSettings(instance_url=fake.instance_url, access_token=fake.access_token)
        gateway = gateway_module.SalesforceGateway.connect(settings)
        report = validate_online(shipped, gateway.describe, include_disabled=True)
    assert report.ok, [str(p) for p in report.errors]


def test_missing_object(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    del broken["Deal_Registration__c"]
    [problem] = run(broken, shipped).errors
    assert problem.code == "object_not_found" and "does not exist" in problem.message
    assert problem.line is not None and problem.file is not None and problem.file.endswith("deal_registration.yaml")


def test_missing_field_with_suggestion(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Amount__c")["name"] = "Amount_USD__c"
    [problem] = run(broken, shipped).errors
    assert problem.code == "field_not_found" and problem.field == "Amount__c"
    assert "has no field Amount__c; did you mean 'Amount_USD__c'?" in problem.message


def test_relationship_path_resolution(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "User", "UserRoleId")["relationshipName"] = "Role"
    field(broken, "Account", "DunsNumber")["name"] = "Duns__c"
    messages = [p.message for p in run(broken, shipped, "direct_opportunities").errors]
    assert any("User has no relationship UserRole" in m for m in messages)
    assert any("Account has no field DunsNumber" in m for m in messages)


def test_not_createable_or_updateable(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Amount__c")["createable"] = False
    field(broken, "Deal_Registration__c", "Currency_Code__c")["updateable"] = False
    field(broken, "Deal_Registration__c", "Submitted_At__c")["updateable"] = False  # on_create_only: fine
    problems = run(broken, shipped).errors
    assert {(p.field, p.code) for p in problems} == {("Amount__c", "permission"), ("Currency_Code__c", "permission")}
    assert any("on_create_only" in (p.hint or "") for p in problems)


def test_type_mismatch(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Submitted_At__c")["type"] = "date"
    [problem] = run(broken, shipped).errors
    assert "declared datetime, but Submitted_At__c is a date field" in problem.message


def test_length_shorter_in_org(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Currency_Code__c")["length"] = 2
    [problem] = run(broken, shipped).errors
    assert problem.code == "too_long" and "holds 2" in problem.message


def test_ciphertext_does_not_fit_org_field(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "End_Customer_Name__c")["length"] = 200
    [problem] = run(broken, shipped).errors
    assert problem.code == "ciphertext_too_long" and problem.field == "End_Customer_Name__c"
    assert "holds 200 in Salesforce" in problem.message


def test_encrypted_field_must_be_text_in_org(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Customer_Contact_Email__c")["type"] = "email"
    messages = [p.message for p in run(broken, shipped).errors]
    assert any("ciphertext needs Text or Long Text Area" in m for m in messages)


def test_encrypt_true_without_length_uses_org_length(org: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    text = (
        (SHIPPED / "deal_registration.yaml")
        .read_text()
        .replace(
            "    length: 255\n    owner: portal\n    label: Customer Contact Name\n"
            "    transforms: [trim, null_if_empty]\n"
            "    encrypt: {max_plaintext_bytes: 149, per_partner_key: true}",
            "    owner: portal\n    label: Customer Contact Name\n    transforms: [trim, null_if_empty]\n"
            "    encrypt: true",
        )
    )
    (tmp_path / "d.yaml").write_text(text)
    mapping_set = load_mappings([tmp_path / "d.yaml"])
    contact = mapping_set.get("deal_registration").field_for("Customer_Contact_Name__c")
    assert contact.encrypt is True and contact.length is None
    assert validate_online(mapping_set, describer(org)).ok


def test_picklist_values(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    values = field(broken, "Deal_Registration__c", "Product_Lines__c")["picklistValues"]
    for entry in values:
        if entry["value"] == "PCs":
            entry["active"] = False
    problems = run(broken, shipped).errors
    assert problems and all(p.code == "picklist" for p in problems)
    assert any("'PCs' is not an active value of the Product_Lines__c picklist" in p.message for p in problems)


def test_salesforce_owned_picklist_not_fully_mapped(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Status__c")["picklistValues"].append(
        {"value": "Escalated", "label": "Escalated", "active": True, "defaultValue": False}
    )
    report = run(broken, shipped)
    assert report.ok
    assert "Escalated are not in the map" in report.warnings[0].message


def test_external_id_flags(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Registration_Number__c")["externalId"] = False
    [problem] = run(broken, shipped).errors
    assert problem.code == "external_id" and "External ID" in (problem.hint or "")


def test_external_id_not_unique_is_a_warning(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Registration_Number__c")["unique"] = False
    report = run(broken, shipped)
    assert report.ok and "HTTP 300" in report.warnings[0].message


def test_record_type_missing(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    for info in broken["Lead"]["recordTypeInfos"]:
        if info["developerName"] == "Deal_Registration":
            info["developerName"] = "DealReg"
    [problem] = run(broken, shipped, "deal_registration_lead").errors
    assert problem.code == "record_type" and "no record type Deal_Registration" in problem.message


def test_lookup_checks(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    field(broken, "Deal_Registration__c", "Partner_Account__c")["relationshipName"] = "Partner__r"
    field(broken, "Account", "Partner_Number__c")["externalId"] = False
    field(broken, "Account", "Partner_Number__c")["unique"] = False
    field(broken, "Account", "Partner_Number__c")["idLookup"] = False
    messages = [p.message for p in run(broken, shipped).errors]
    assert any("relationship of Partner_Account__c is Partner__r" in m for m in messages)
    assert any("Account.Partner_Number__c is not an external id" in m for m in messages)


def test_blind_index_checks(broken: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    reader = "reader: the duplicate check of the registration desk"
    text = (
        (SHIPPED / "deal_registration.yaml")
        .read_text()
        .replace(
            "    encrypt: {max_plaintext_bytes: 16, per_partner_key: true}\n    account_field: DunsNumber",
            "    encrypt:\n      max_plaintext_bytes: 16\n      per_partner_key: true\n"
            f"      blind_index: {{field: End_Customer_DUNS_BIdx__c, normalizer: duns, {reader}}}",
        )
        .replace(
            "    encrypt: {max_plaintext_bytes: 149, per_partner_key: true}\n    account_field: Website",
            "    encrypt:\n      max_plaintext_bytes: 149\n      per_partner_key: true\n"
            f"      blind_index: {{field: End_Customer_Domain_BIdx__c, normalizer: domain, {reader}}}",
            1,
        )
    )
    (tmp_path / "d.yaml").write_text(text)
    mapping_set = load_mappings([tmp_path / "d.yaml"])
    broken["Deal_Registration__c"]["fields"].append(
        {
            "name": "End_Customer_Domain_BIdx__c",
            "type": "string",
            "length": 64,
            "createable": True,
            "updateable": True,
            "nillable": True,
            "externalId": False,
            "unique": True,
        }
    )
    report = validate_online(mapping_set, describer(broken))
    messages = [p.message for p in report.errors]
    assert any("no blind index field End_Customer_DUNS_BIdx__c" in m for m in messages)
    assert any("End_Customer_Domain_BIdx__c is Unique" in m for m in messages)
    assert any("End_Customer_Domain_BIdx__c is not indexed" in p.message for p in report.warnings)


def test_band_field_checks(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    broken["Deal_Registration__c"]["fields"] = [
        f for f in broken["Deal_Registration__c"]["fields"] if f["name"] != "Amount_Band__c"
    ]
    field(broken, "Deal_Registration__c", "End_Customer_Region__c")["type"] = "picklist"
    messages = [p.message for p in run(broken, shipped).errors]
    assert any("no band field Amount_Band__c" in m for m in messages)
    assert any("End_Customer_Region__c must be a Text field" in m for m in messages)


def test_required_field_not_mapped(broken: dict[str, dict[str, Any]], shipped: MappingSet) -> None:
    broken["Deal_Registration__c"]["fields"].append(
        {
            "name": "Region__c",
            "type": "picklist",
            "createable": True,
            "updateable": True,
            "nillable": False,
            "defaultedOnCreate": False,
            "length": 255,
        }
    )
    [problem] = run(broken, shipped).errors
    assert problem.code == "required" and "Region__c is required by Salesforce on create" in problem.message


def test_describe_failure_is_reported_not_raised(shipped: MappingSet) -> None:
    def failing(name: str) -> dict[str, Any]:
        raise ConnectionError("network down")

    report = validate_online(shipped, failing)
    assert not report.ok
    assert {p.code for p in report.errors} == {"object_not_found"}
