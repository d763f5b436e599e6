"""Quoting for SOQL values and for external ids in URLs."""

from __future__ import annotations

import re
from urllib.parse import quote

from simple_salesforce.format import format_soql

from sfsync.errors import UsageError

__all__ = ["MAX_SOQL_CHARS", "MAX_URI_BYTES", "check_soql", "format_external_id", "format_soql", "with_row_limit"]

MAX_SOQL_CHARS = 100_000
MAX_URI_BYTES = 16_384


def format_external_id(field: str, value: str | int) -> str:
    """``Field__c/value`` with the value percent-encoded for a URL path segment.

    Every character outside ``A-Z a-z 0-9 - . _ ~`` is encoded, so ``/ ? # %`` and quotes in an
    external id stay inside one path segment (simple-salesforce's ``SFType.upsert`` puts the raw
    value into the URL).
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise UsageError(f"external id for {field} must be a string or an integer, not {type(value).__name__}")
    text = str(value)
    if text == "":
        raise UsageError(f"external id for {field} is empty")
    return f"{field}/{quote(text, safe='')}"


def check_soql(soql: str) -> None:
    """Refuse statements Salesforce would refuse, before spending an API call on them."""
    if not soql.strip():
        raise UsageError("empty SOQL statement")
    if len(soql) > MAX_SOQL_CHARS:
        raise UsageError(
            f"SOQL statement is {len(soql):,} characters; Salesforce accepts at most {MAX_SOQL_CHARS:,} "
            "(split long IN lists into several queries)"
        )


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
# Clauses after which (or instead of which) a LIMIT cannot simply be appended.
_NO_APPENDED_LIMIT = re.compile(
    r"\b(LIMIT|OFFSET|FOR\s+(VIEW|REFERENCE|UPDATE)|UPDATE\s+(TRACKING|VIEWSTAT)|GROUP\s+BY)\b", re.IGNORECASE
)


def with_row_limit(soql: str, limit: int) -> str | None:
    """``soql`` with ``LIMIT limit`` appended, or None when the statement already limits or
    locks its rows, or groups them (string literals are not read as clauses)."""
    if _NO_APPENDED_LIMIT.search(_QUOTED.sub("''", soql)):
        return None
    return f"{soql.rstrip()} LIMIT {limit}"
