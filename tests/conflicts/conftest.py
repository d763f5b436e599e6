"""Fixtures for the conflict tests (builders live in conflict_builders.py)."""

from __future__ import annotations

import pytest
from conflict_builders import default_rules

from sfsync.conflicts import Rules


@pytest.fixture
def rules() -> Rules:
    return default_rules()
