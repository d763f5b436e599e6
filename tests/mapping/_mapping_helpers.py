"""Helpers for the mapping tests (imported by name: the tests folder is not a package)."""

from __future__ import annotations

import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "mappings"

BASE = """\
version: 1
name: demo
direction: both
portal:
  table: deals
  primary_key: id
  updated_at: updated_at
  external_id_column: number
salesforce:
  object: Deal__c
  external_id_field: Number__c
fields:
  - column: name
    field: Name__c
    type: string
    length: 80
    owner: portal
    clear: a test value that is no partner data
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line containing ``needle``."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def with_fields(extra: str, base: str = BASE) -> str:
    """BASE plus more field entries (YAML list items, dedented then indented under fields:)."""
    return base + textwrap.indent(textwrap.dedent(extra).strip("\n") + "\n", "  ")
