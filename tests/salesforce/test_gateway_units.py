"""Pure parts of the gateway: quoting, error table, Bulk 2.0 CSV building and result parsing."""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from sfsync.errors import (
    ApiAllowanceExhaustedError,
    AuthenticationError,
    RecordRejectedError,
    RetriableError,
    SalesforceApiError,
    UsageError,
)
from sfsync.salesforce import format_external_id, format_soql
from sfsync.salesforce._bulk import build_csv_parts, csv_value, flatten, parse_bulk_error, read_csv
from sfsync.salesforce._errors import SalesforceFault, SessionExpiredError, classify, translate
from sfsync.salesforce._soql import check_soql

URL = "https://acme.my.salesforce.com/services/data/v61.0/x"


def _exc(cls: type[SalesforceError], status: int, content: Any) -> SalesforceError:
    return cls(URL, status, "x", content)


# ---------------------------------------------------------------- quoting


@pytest.mark.parametrize("value", ["a/b", "a?b", "a#b", "100%", "O'Brien", 'say "hi"', "a b", "ü/é", "../x"])
def test_format_external_id_keeps_value_in_one_path_segment(value: str) -> None:
    formatted = format_external_id("Partner_Number__c", value)
    field, _, encoded = formatted.partition("/")
    assert field == "Partner_Number__c"
    assert not set(encoded) & set("/?#'\" ")
    assert unquote(encoded) == value


@given(st.text(min_size=1))
def test_format_external_id_round_trips(value: str) -> None:
    encoded = format_external_id("F__c", value).split("/", 1)[1]
    assert re.fullmatch(r"[A-Za-z0-9._~%-]*", encoded)
    assert unquote(encoded) == value


def test_format_external_id_refuses_non_scalars() -> None:
    with pytest.raises(UsageError):
        format_external_id("F__c", "")
    with pytest.raises(UsageError):
        format_external_id("F__c", None)  # type: ignore[arg-type]
    assert format_external_id("F__c", 42) == "F__c/42"


def _soql_unescape(literal: str) -> str:
    """Reverse of SOQL string escaping (the parser side)."""
    assert literal[0] == literal[-1] == "'"
    out, i, body = [], 0, literal[1:-1]
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"'}
    while i < len(body):
        if body[i] == "\\":
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            assert body[i] != "'", "unescaped quote would end the literal"
            out.append(body[i])
            i += 1
    return "".join(out)


@given(st.text())
def test_format_soql_quotes_every_string(value: str) -> None:
    soql = format_soql("SELECT Id FROM Account WHERE Name = {}", value)
    literal = soql.removeprefix("SELECT Id FROM Account WHERE Name = ")
    assert _soql_unescape(literal) == value


def test_check_soql_limits() -> None:
    check_soql("SELECT Id FROM Account")
    with pytest.raises(UsageError, match="100,000"):
        check_soql("SELECT Id FROM Account WHERE Name IN (" + ",".join(["'x'"] * 30_000) + ")")
    with pytest.raises(UsageError):
        check_soql("  ")


# ---------------------------------------------------------------- error table


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (503, None, "down", RetriableError),
        (500, "UNKNOWN_EXCEPTION", "boom", RetriableError),
        (502, None, "", RetriableError),
        (400, "UNABLE_TO_LOCK_ROW", "locked", RetriableError),
        (403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (concurrent API requests) Limit exceeded.", RetriableError),
        (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", ApiAllowanceExhaustedError),
        (401, "INVALID_SESSION_ID", "Session expired or invalid", SessionExpiredError),
        (400, "DUPLICATE_VALUE", "dup", RecordRejectedError),
        (400, "STRING_TOO_LONG", "long", RecordRejectedError),
        (400, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "rule", RecordRejectedError),
        (400, "INVALID_FIELD", "No such column", RecordRejectedError),
        (400, "MALFORMED_ID", "bad id", RecordRejectedError),
        (300, None, "", RecordRejectedError),
        (404, "NOT_FOUND", "The requested resource does not exist", SalesforceApiError),
        (404, "INVALID_FIELD", "unknown", SalesforceApiError),
        (403, "INSUFFICIENT_ACCESS", "no", SalesforceApiError),
        (418, "SOMETHING_NEW", "?", SalesforceApiError),  # fallback
        (599, None, "?", RetriableError),  # fallback for 5xx
    ],
)
def test_classification_table(status: int, code: str | None, message: str, expected: type[Exception]) -> None:
    assert issubclass(classify(SalesforceFault(status, code, message)), expected)


def test_session_expired_is_an_authentication_error_if_it_escapes() -> None:
    assert issubclass(SessionExpiredError, AuthenticationError)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            _exc(
                SalesforceMalformedRequest,
                400,
                [{"errorCode": "STRING_TOO_LONG", "message": "too long", "fields": ["Name"]}],
            ),
            RecordRejectedError,
        ),
        (
            _exc(SalesforceExpiredSession, 401, [{"errorCode": "INVALID_SESSION_ID", "message": "expired"}]),
            SessionExpiredError,
        ),
        (
            _exc(
                SalesforceRefusedRequest,
                403,
                [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
            ),
            ApiAllowanceExhaustedError,
        ),
        (_exc(SalesforceResourceNotFound, 404, [{"errorCode": "NOT_FOUND", "message": "nope"}]), SalesforceApiError),
        (_exc(SalesforceGeneralError, 503, "<html>Service Unavailable</html>"), RetriableError),
        (_exc(SalesforceMoreThanOneRecord, 300, ["/a/001", "/a/002"]), RecordRejectedError),
    ],
)
def test_translate_simple_salesforce_exceptions(exc: SalesforceError, expected: type[Exception]) -> None:
    error = translate(exc, "call")
    assert isinstance(error, expected)
    assert error.context.http_status is not None


def test_translate_keeps_code_message_and_fields() -> None:
    exc = _exc(
        SalesforceMalformedRequest,
        400,
        [{"errorCode": "STRING_TOO_LONG", "message": "Name: too long", "fields": ["Name"]}],
    )
    error = translate(exc, "upsert Account")
    assert error.context.status_code == "STRING_TOO_LONG"
    assert error.context.sf_message == "Name: too long"
    assert error.context.fields == ("Name",)
    more = translate(_exc(SalesforceMoreThanOneRecord, 300, ["/a", "/b"]), "upsert")
    assert more.context.status_code == "MULTIPLE_RECORDS"
    assert "2 records" in (more.context.sf_message or "")


# ---------------------------------------------------------------- Bulk 2.0 CSV


def test_flatten_relationships_and_csv_values() -> None:
    record = {"Name": "Acme", "Partner_Account__r": {"Partner_Number__c": "P1"}, "attributes": {"type": "X"}}
    assert flatten(record) == {"Name": "Acme", "Partner_Account__r.Partner_Number__c": "P1"}
    assert csv_value(None) == "#N/A"
    assert csv_value(True) == "true"
    assert csv_value(3) == "3"
    assert csv_value(["A", "B"]) == "A;B"


def test_csv_rows_keep_order_quote_and_leave_missing_columns_empty() -> None:
    records: list[dict[str, Any]] = [
        {"Ext__c": "a", "Name": 'He said "hi", then\nleft'},
        {"Ext__c": "b", "Other__c": None},
    ]
    (part,) = build_csv_parts(records, [0, 1])
    assert part.indexes == (0, 1)
    assert b"\r\n" not in part.data
    rows = list(csv.reader(io.StringIO(part.data.decode(), newline="")))
    assert rows[0] == ["Ext__c", "Name", "Other__c"]
    assert rows[1] == ["a", 'He said "hi", then\nleft', ""]
    assert rows[2] == ["b", "", "#N/A"]


def test_csv_split_into_parts_under_the_size_limit() -> None:
    records = [{"Ext__c": f"id-{i:04d}", "Name": "x" * 50} for i in range(100)]
    parts = list(build_csv_parts(records, range(100), max_bytes=1000))
    assert len(parts) > 5
    assert all(len(p.data) <= 1000 for p in parts)
    assert [i for p in parts for i in p.indexes] == list(range(100))
    assert all(p.data.startswith(b"Ext__c,Name\n") for p in parts)
    total_rows = sum(len(list(read_csv(p.data.decode()))) for p in parts)
    assert total_rows == 100


@pytest.mark.parametrize(
    ("cell", "code", "message", "fields"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            "REQUIRED_FIELD_MISSING",
            "Required fields are missing: [Name]",
            ("Name",),
        ),
        (
            "DUPLICATE_VALUE:duplicate value found: Partner_Number__c duplicates value on record with id: "
            "001000000000001:--",
            "DUPLICATE_VALUE",
            "duplicate value found: Partner_Number__c duplicates value on record with id: 001000000000001",
            (),
        ),
        (
            "STRING_TOO_LONG:Name: data value too large: xxxx (max length=255):Name --",
            "STRING_TOO_LONG",
            "Name: data value too large: xxxx (max length=255)",
            ("Name",),
        ),
        ("something odd", "BULK_ERROR", "something odd", ()),
    ],
)
def test_parse_bulk_error(cell: str, code: str, message: str, fields: tuple[str, ...]) -> None:
    error = parse_bulk_error(cell)
    assert (error.status_code, error.message, error.fields) == (code, message, fields)


_cells = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\x00")),
)


@given(st.lists(st.dictionaries(st.sampled_from(["A", "B", "C__c"]), _cells), min_size=1, max_size=20))
def test_csv_parts_round_trip_through_the_csv_module(rows: list[dict[str, Any]]) -> None:
    records = [{"Ext__c": f"k{i}", **row} for i, row in enumerate(rows)]
    parts = list(build_csv_parts(records, range(len(records)), max_bytes=10_000_000))
    parsed = [row for part in parts for row in read_csv(part.data.decode("utf-8"))]
    assert [row["Ext__c"] for row in parsed] == [r["Ext__c"] for r in records]
    for record, row in zip(records, parsed, strict=True):
        for key, value in record.items():
            assert row[key] == csv_value(value)


def test_csv_line_quotes_exactly_the_cells_that_need_it() -> None:
    """The unquoted fast path (no cell holds a comma, quote or line break) and the quoting path
    give RFC 4180 rows that read back cell for cell; a lone CR is quoted too."""
    import csv
    import io

    from sfsync.salesforce._bulk import csv_line

    rows = [
        ["sfe1.kabc.AAAA-_", "#N/A", "", "plain"],
        ["a,b", 'say "hi"', "line\nbreak", "lone\rcr"],
        [",", '"', "\r\n", ""],
        ["x"],
    ]
    for cells in rows:
        line = csv_line(cells)
        assert line.endswith(b"\n")
        parsed = next(csv.reader(io.StringIO(line.decode("utf-8"), newline="")))
        assert parsed == cells
    assert csv_line(["a", "b"]) == b"a,b\n"
    assert csv_line(["lone\rcr"]) == b'"lone\rcr"\n'
