"""pytest plugin with FakeSalesforce fixtures for any test suite — opt-in, never loaded by itself.

Load it in a suite's ``conftest.py``::

    pytest_plugins = ["sfsync.testing.pytest_plugin"]

or for one run: ``pytest -p sfsync.testing.pytest_plugin``. (Installing sfsync registers no
``pytest11`` entry point, so other projects' test sessions are left alone.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sfsync.testing._fake import FakeSalesforce

__all__ = ["fake_salesforce", "fake_salesforce_env"]


@pytest.fixture
def fake_salesforce() -> Iterator[FakeSalesforce]:
    """A started FakeSalesforce with the default schema; its HTTP mock stops after the test."""
    with FakeSalesforce() as fake:
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
