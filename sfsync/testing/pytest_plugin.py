"""pytest plugin (entry point ``pytest11: sfsync``): FakeSalesforce fixtures for any test suite.

The org is built the law-9 way: ``salesforce_metadata`` exports the metadata (the shipped mappings
and the conflict scan's declarations, as ``sfsync mappings export-metadata`` does) once per
session, and ``fake_salesforce`` deploys that export into a fresh fake for each test. A project
with its own mappings overrides ``salesforce_metadata`` to return its own export folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sfsync.testing._fake import FakeSalesforce
from sfsync.testing._metadata_org import export_org_metadata

__all__ = ["fake_salesforce", "fake_salesforce_env", "salesforce_metadata"]


@pytest.fixture(scope="session")
def salesforce_metadata(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SFDX project folder holding the exported metadata (shipped mappings + conflict scan)."""
    return export_org_metadata(tmp_path_factory.mktemp("salesforce-metadata"))


@pytest.fixture
def fake_salesforce(salesforce_metadata: Path) -> Iterator[FakeSalesforce]:
    """A started FakeSalesforce built only from ``salesforce_metadata`` plus the standard objects;
    its HTTP mock stops after the test."""
    with FakeSalesforce.from_metadata(salesforce_metadata) as fake:
        yield fake


@pytest.fixture
def fake_salesforce_env(fake_salesforce: FakeSalesforce) -> dict[str, str]:
    """``SFSYNC_SALESFORCE__*`` variables for token auth against ``fake_salesforce``.

    Apply them with ``monkeypatch.setenv`` (this fixture does not touch ``os.environ``).
    """
    return {
        "SFSYNC_SALESFORCE__AUTH": "token",
        "SFSYNC_SALESFORCE__INSTANCE_URL": fake_salesforce.instance_url,
        "SFSYNC_SALESFORCE__ACCESS_TOKEN": fake_salesforce.access_token,
        "SFSYNC_SALESFORCE__API_VERSION": fake_salesforce.api_version,
    }
