"""Fixtures for FakeSalesforce's own fidelity tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_api_helpers import Api
from org_helpers import fidelity_schema

from sfsync.testing import FakeSalesforce


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce(fidelity_schema()) as org:
        yield org


@pytest.fixture
def api(fake: FakeSalesforce) -> Api:
    return Api(fake)
