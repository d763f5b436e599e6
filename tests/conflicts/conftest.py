"""Fixtures for the conflict tests (builders live in conflict_builders.py; the corpus in bench/)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The hard corpus and the evaluation helpers are bench code, not shipped: make them importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from conflict_builders import default_rules

from sfsync.conflicts import Rules


@pytest.fixture
def rules() -> Rules:
    return default_rules()
