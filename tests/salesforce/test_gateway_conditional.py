"""``SalesforceGateway.update_if_unmodified``: optimistic concurrency in one call (If-Unmodified-Since)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.salesforce import SalesforceGateway
from sfsync.testing import FakeSalesforce

SEEN = datetime(2026, 3, 2, 8, 30, 15, 400000, tzinfo=UTC)


@pytest.fixture
def org() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


def gateway(org: FakeSalesforce) -> SalesforceGateway:
    settings = SalesforceSettings(
        auth="token",
        instance_url=org.instance_url,
        access_token=SecretStr(org.access_token),
        api_version=org.api_version,
        read_timeout=5.0,
    )
    return SalesforceGateway.connect(settings)


def test_unmodified_record_is_written_in_one_call(org: FakeSalesforce) -> None:
    record = org.insert("Account", {"Name": "Acme", "LastModifiedDate": SEEN.isoformat()})
    gw = gateway(org)
    before = len(org.request_log)
    result = gw.update_if_unmodified("Account", record, {"Name": "Acme Corp"}, SEEN)
    assert result.ok and result.salesforce_id == record
    calls = org.request_log[before:]
    assert [(c.method, c.status) for c in calls] == [("PATCH", 204)]
    assert org.lookup("Account", record)["Name"] == "Acme Corp"  # type: ignore[index]


def test_record_modified_since_is_refused_and_left_alone(org: FakeSalesforce) -> None:
    record = org.insert("Account", {"Name": "Acme", "LastModifiedDate": SEEN.isoformat()})
    org.update("Account", record, {"Name": "Changed by a rep"})  # stamps LastModifiedDate now
    result = gateway(org).update_if_unmodified("Account", record, {"Name": "Mine"}, SEEN)
    assert not result.ok
    assert result.status_code == "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK"
    assert org.lookup("Account", record)["Name"] == "Changed by a rep"  # type: ignore[index]
    # A refusal is final: not retried.
    assert [c.status for c in org.request_log if c.method == "PATCH"] == [412]


def test_deleted_or_malformed_record(org: FakeSalesforce) -> None:
    record = org.insert("Account", {"Name": "Acme", "LastModifiedDate": SEEN.isoformat()})
    org.delete("Account", record)
    gw = gateway(org)
    assert gw.update_if_unmodified("Account", record, {"Name": "x"}, SEEN).status_code == "ENTITY_IS_DELETED"
    assert gw.update_if_unmodified("Account", "not-an-id", {"Name": "x"}, SEEN).status_code == "MALFORMED_ID"
