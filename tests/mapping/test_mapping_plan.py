"""The compiled mapping plan (``sfsync/mapping/_plan.py``) gives what the general code gives.

``to_salesforce`` and ``to_portal`` run each field through a plan compiled once per mapping and
hand anything the plan declines to the general code, kept as ``_to_salesforce_general`` and
``_to_portal_general`` (every field through the general code). These tests run both on the demo
portal's rows, the sync benchmark's rows and adversarial rows (nulls, empty and blank strings,
unicode, very long values, bad types, bytes, Decimal/float/int, naive and aware datetimes, dates,
subclasses, missing columns) and compare payloads with their key order and value types, problems,
and raised errors.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from _mapping_helpers import BASE, REPO, with_fields
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfsync.mapping import MappingSet, ObjectMapping, load_mappings, register_transform
from sfsync.mapping._model import OutboundRecord
from sfsync.mapping._types import format_sf_datetime, from_sf
from sfsync.portal import SqlPortal
from sfsync.services.demo_data import create_portal

GOLDEN = Path(__file__).parent / "golden"
PUSHING = ["deal_registration", "deal_registration_lead", "account_registration"]
PULLING = ["deal_registration", "deal_registration_lead", "account_registration", "direct_opportunities"]
NOW = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


class Text(str):
    __slots__ = ()


class Items(list[Any]):
    pass


class Stamp(datetime):
    pass


def _outcome(call: Callable[[], Any]) -> Any:
    """What a call gives, in a form that compares types too (True is not 1, "1" is not 1)."""
    try:
        result = call()
    except Exception as exc:  # the same error, with the same words, from both paths
        problems = getattr(exc, "problems", None)
        return ("raised", type(exc).__name__, str(exc), repr(problems))
    if isinstance(result, OutboundRecord):
        return ("record", repr(result.payload), repr(result.errors), result.external_id)
    return ("values", repr(result))


def assert_push_same(mapping: ObjectMapping, row: dict[str, Any]) -> None:
    for is_create in (True, False):
        record_type = "0125g0000000001AAA"
        compiled = _outcome(partial(mapping.to_salesforce, row, is_create=is_create, record_type_id=record_type))
        general = _outcome(
            partial(mapping._to_salesforce_general, row, is_create=is_create, record_type_id=record_type)
        )
        assert compiled == general, (mapping.name, is_create)


def assert_pull_same(mapping: ObjectMapping, record: dict[str, Any]) -> None:
    assert _outcome(lambda: mapping.to_portal(record)) == _outcome(lambda: mapping._to_portal_general(record))


# ------------------------------------------------------------------ realistic rows


@pytest.fixture(scope="module")
def demo_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The demo portal's rows as the engine reads them (SqlPortal: types as the database gives them)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'portal.db'}"
    create_portal(url, REPO / "mappings" / "portal_schema.sql", seed=7, now=NOW, deals=300, accounts=80)
    rows: dict[str, list[dict[str, Any]]] = {}
    with SqlPortal(url) as portal:
        for table in ("deal_registrations", "account_registrations"):
            batches = portal.changed_rows(table, updated_at="updated_at", since=None, overlap=timedelta(0))
            rows[table] = [dict(row) for batch in batches for row in batch]
    return rows


def _bench_rows(size: int) -> list[dict[str, Any]]:
    spec = importlib.util.spec_from_file_location("_sfsync_sync_bench", REPO / "bench" / "sync_bench.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [row for chunk in bench._deal_rows(size, NOW, 500) for row in chunk]
    # as the portal hands them to the engine: timestamps aware in UTC (naive UTC in the table)
    return [
        {k: (v.replace(tzinfo=UTC) if isinstance(v, datetime) else v) for k, v in row.items()} | {"withdrawn_at": None}
        for row in rows
    ]


def test_demo_rows_map_the_same(shipped: MappingSet, demo_rows: dict[str, list[dict[str, Any]]]) -> None:
    for name in PUSHING:
        mapping = shipped.get(name)
        for row in demo_rows[mapping.portal.table]:
            assert_push_same(mapping, row)
    assert len(demo_rows["deal_registrations"]) == 300


def test_bench_rows_map_the_same(shipped: MappingSet) -> None:
    rows = _bench_rows(600)
    for name in ("deal_registration", "deal_registration_lead"):
        mapping = shipped.get(name)
        for row in rows:
            assert_push_same(mapping, row)
    # and the compiled path really maps them: none of them needs the general code for a problem
    assert all(shipped.get("deal_registration").to_salesforce(row, is_create=True).ok for row in rows)


def test_golden_records_pull_the_same(shipped: MappingSet) -> None:
    for name in PULLING:
        record = json.loads((GOLDEN / f"{name}.json").read_text())["salesforce_record"]
        assert_pull_same(shipped.get(name), record)
        for key in list(record):
            assert_pull_same(shipped.get(name), {k: v for k, v in record.items() if k != key})


# ------------------------------------------------------------------ adversarial values

ADVERSARIAL: list[Any] = [
    None,
    "",
    " ",
    "\t\n ",
    "\u00a0",
    "x",
    "  Mixed Case  ",
    "ÜNÏCÖDÉ straße",
    "北京 🚀 ﬁ",
    "İstanbul ǅ",
    "a" * 300,
    "é" * 40,
    "€" * 38,
    "x" * 100_000,
    "servers, STORAGE ,pcs",
    "Servers,Mainframes",
    "Servers, PCs, Servers, PCs",
    "s/m",
    "s/n",
    "s/e",
    "o",
    "S/ / P",
    "servers,,",
    ",",
    " , ",
    "mainframes",
    "SERVERS;PCs",
    "p-001",
    "USD",
    "eur ",
    b"bytes",
    bytearray(b"x"),
    0,
    1,
    -5,
    10**20,
    2**53 + 1,
    1.5,
    0.1,
    float("nan"),
    float("inf"),
    -0.0,
    Decimal("0"),
    Decimal("125500"),
    Decimal("125500.005"),
    Decimal("-1.5"),
    Decimal("NaN"),
    Decimal("Infinity"),
    Decimal("1E+3"),
    Decimal("1e30"),
    Decimal("12345678901234567890123456.78"),
    True,
    False,
    date(2026, 12, 22),
    date(1, 1, 1),
    datetime(2026, 5, 1, 12, 0, 0, 999_999),
    datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
    datetime(2026, 5, 1, 12, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo("Europe/Paris")),
    datetime(5, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime.min,
    Stamp(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "2026-12-22",
    " 2026-12-22 ",
    "2026-12-22T10:00:00",
    "2026-12-22T10:00:00+02:00",
    "15/12/2026",
    "$1,234.50",
    "EUR 99",
    "1e20",
    "1_000",
    "yes",
    "true",
    "0",
    ["servers", "pcs"],
    ["", None],
    [],
    ["servers", None],
    ["Servers", 3],
    ("servers",),
    {"a": 1},
    object(),
    Text("  servers  "),
    Text(""),
    Items(["servers"]),
    Items(["", ""]),
]


def _golden_row(name: str) -> dict[str, Any]:
    path = GOLDEN / f"{name}.json"
    if path.exists():
        case = json.loads(path.read_text())
        if "portal_row" in case:
            row: dict[str, Any] = case["portal_row"]
            return row
    return {}


def _variants(base: dict[str, Any], columns: list[str]) -> Iterator[dict[str, Any]]:
    for column in columns:
        for value in ADVERSARIAL:
            yield {**base, column: value}
        yield {k: v for k, v in base.items() if k != column}


@pytest.mark.parametrize("name", PUSHING)
def test_adversarial_rows_map_the_same(
    shipped: MappingSet, demo_rows: dict[str, list[dict[str, Any]]], name: str
) -> None:
    mapping = shipped.get(name)
    base = _golden_row(name) or demo_rows[mapping.portal.table][0]
    columns = sorted({c for fm in mapping.portal_owned() for c in fm.columns} | {mapping.portal.external_id_column})
    for row in _variants(base, columns):
        assert_push_same(mapping, row)


SF_ADVERSARIAL: list[Any] = [
    None,
    "",
    "  ",
    "Under Review",
    "under review",
    "Escalated",
    "ok ✓ 北京",
    "x" * 5000,
    "2026-11-01",
    " 2026-11-01 ",
    "2026-11-01T10:00:00.000+0000",
    " 2026-11-01T10:00:00.000+0000 ",
    "2026-11-01T10:00:00.000+0530",
    "2026-11-01T10:00:00.000Z",
    "2026-11-01T10:00:00",
    "0001-01-01T00:00:00.000+0000",
    "noon",
    "12.50",
    "abc",
    "true",
    "0",
    0,
    1,
    12.5,
    float("nan"),
    10**20,
    True,
    False,
    ["a"],
    {"Partner_Number__c": "P-001"},
    {"Name": None},
    {},
]


@pytest.mark.parametrize("name", PULLING)
def test_adversarial_records_pull_the_same(shipped: MappingSet, name: str) -> None:
    mapping = shipped.get(name)
    base = json.loads((GOLDEN / f"{name}.json").read_text())["salesforce_record"]
    for fm in mapping.salesforce_owned():
        key = fm.soql_path().split(".", 1)[0]
        for value in SF_ADVERSARIAL:
            assert_pull_same(mapping, {**base, key: value})


# ------------------------------------------------------------------ every kind of field and transform


@register_transform("plan_test_shout", inverse=lambda value: value.lower())
def _shout(value: Any) -> Any:
    return f"{value}!".upper()


def _classified(text: str) -> str:
    """Every clear portal-owned field of a test mapping gets a classification (the policy check wants one)."""
    items = text.split("\n    - ")
    return "\n    - ".join(
        item.replace("owner: portal", 'owner: portal, clear: "a test value, no partner data"', 1)
        if "owner: portal" in item and "encrypt" not in item
        else item
        for item in items
    )


KINDS = with_fields(
    _classified("""
    - {column: code, field: Code__c, type: picklist, values: [A, B, C], owner: portal, transforms: [trim, upper]}
    - {column: email, field: Email__c, type: email, length: 40, owner: portal, transforms: [trim, lower, null_if_empty]}
    - {column: heading, field: Heading__c, type: string, length: 60, owner: portal,
       transforms: [title, null_if_empty, trim, upper]}
    - {column: status, field: Status__c, type: string, length: 20, owner: portal,
       transforms: [{map: {open: Open, closed: Closed}}]}
    - {column: level, field: Level__c, type: string, length: 20, owner: portal,
       transforms: [{map: {1: One, 2: Two, "true": Yes}, default: Other}]}
    - {column: flagged, field: Flagged__c, type: boolean, owner: portal, transforms: [{map: {y: true, n: false}}]}
    - {column: qty, field: Qty__c, type: int, owner: portal, transforms: [number]}
    - {column: price, field: Price__c, type: currency, precision: 10, scale: 2, owner: portal,
       transforms: [{round: 2, mode: half_even}]}
    - {column: total, field: Total__c, type: double, owner: portal,
       transforms: [{currency: 2, decimal_separator: ",", thousands_separator: "."}]}
    - {column: pct, field: Pct__c, type: percent, precision: 5, scale: 2, owner: portal}
    - {column: amount, field: Amount__c, type: double, owner: portal, required: true}
    - {column: note, field: Note__c, type: textarea, length: 100, owner: portal, transforms: [{truncate: 50}]}
    - {column: [first_name, last_name], field: Full_Name__c, type: string, length: 80, owner: portal,
       transforms: [{concat: " "}]}
    - {field: Source__c, type: string, length: 20, owner: portal, transforms: [{constant: portal}]}
    - {column: tags, field: Tags__c, type: multipicklist, owner: portal, transforms: [{split: ";"}, trim, lower]}
    - {column: lines, field: Lines__c, type: multipicklist, values: [Servers, PCs], owner: portal}
    - {column: split_lines, field: Split_Lines__c, type: multipicklist, values: [Servers, PCs], owner: portal,
       transforms: [{split: ",", maxsplit: 2}, trim]}
    - {column: mapped_lines, field: Mapped_Lines__c, type: multipicklist, values: [Servers, PCs], owner: portal,
       transforms: [{split: "/"}, upper, {map: {S: Servers, P: PCs, N: null, E: ""}}]}
    - {column: day, field: Day__c, type: date, owner: portal, transforms: [{date: "%d/%m/%Y"}]}
    - {column: day_iso, field: Day_Iso__c, type: date, owner: portal, transforms: [{date: iso, timezone: Asia/Tokyo}]}
    - {column: at, field: At__c, type: datetime, owner: portal, transforms: [{datetime: iso, timezone: Europe/Paris}]}
    - {column: at_utc, field: At_Utc__c, type: datetime, owner: portal, transforms: [{datetime: iso}]}
    - {column: stamp, field: Stamp__c, type: datetime, owner: portal}
    - {column: plain_day, field: Plain_Day__c, type: date, owner: portal}
    - {column: flag, field: Flag__c, type: boolean, owner: portal, default: false}
    - {column: must, field: Must__c, type: boolean, owner: portal, required: true}
    - {column: region, field: Region__c, type: string, length: 10, owner: portal, default: EMEA,
       transforms: [trim, null_if_empty]}
    - {column: account, field: Account__c, type: reference, owner: portal,
       transforms: [trim, {lookup: Account.Number__c, relationship: Acct}]}
    - {column: partner, field: Partner__c, type: reference, owner: portal, required: true,
       transforms: [{lookup: Account.Partner_Number__c}]}
    - {column: owner_id, field: OwnerId, type: reference, owner: portal}
    - {column: secret, field: Secret__c, type: string, length: 255, owner: portal, encrypt: true}
    - {column: secret_trim, field: Secret_Trim__c, type: textarea, length: 1000, owner: portal,
       transforms: [trim], encrypt: {max_plaintext_bytes: 12}}
    - {column: secret_num, field: Secret_Num__c, type: string, length: 255, owner: portal,
       transforms: [{currency: 0}], encrypt: {max_plaintext_bytes: 10}}
    - {column: secret_day, field: Secret_Day__c, type: string, length: 255, owner: portal,
       transforms: [{date: iso}], encrypt: {max_plaintext_bytes: 16}}
    - {column: secret_any, field: Secret_Any__c, type: string, length: 255, owner: portal, required: true,
       encrypt: {max_plaintext_bytes: 30}}
    - {column: shout, field: Shout__c, type: string, length: 40, owner: portal, transforms: [{python: plan_test_shout}]}
    - {column: once, field: Once__c, type: string, length: 40, owner: portal, on_create_only: true, transforms: [trim]}
    - {column: sf_status, field: Sf_Status__c, type: picklist, owner: salesforce, on_null: keep,
       values: [Open, Closed], transforms: [{map: {Open: open, Closed: closed}}]}
    - {column: sf_amount, field: Sf_Amount__c, type: currency, owner: salesforce}
    - {column: sf_count, field: Sf_Count__c, type: int, owner: salesforce}
    - {column: sf_at, field: Sf_At__c, type: datetime, owner: salesforce}
    - {column: sf_day, field: Sf_Day__c, type: date, owner: salesforce, transforms: [{date: "%d/%m/%Y"}]}
    - {column: sf_flag, field: Sf_Flag__c, type: boolean, owner: salesforce, on_null: default, default: false}
    - {column: sf_text, field: Sf_Text__c, type: textarea, owner: salesforce, on_null: reject, transforms: [trim]}
    - {column: sf_upper, field: Sf_Upper__c, type: string, owner: salesforce, transforms: [upper, null_if_empty]}
    - {column: [sf_a, sf_b], field: Sf_Pair__c, type: string, owner: salesforce, transforms: [{split: ","}]}
    - {column: sf_owner, field: Owner.Name, type: string, owner: salesforce}
    - {column: sf_shout, field: Sf_Shout__c, type: string, owner: salesforce, transforms: [{python: plan_test_shout}]}
""")
)

KINDS_ROW: dict[str, Any] = {
    "number": "N-1",
    "name": "Name",
    "code": " b ",
    "email": " Someone@Example.COM ",
    "heading": "  a heading  ",
    "status": "open",
    "level": 1,
    "flagged": "y",
    "qty": "12",
    "price": Decimal("12.345"),
    "total": "1.234,565",
    "pct": 12.5,
    "amount": 3,
    "note": "n" * 70,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "tags": "A; b ;c",
    "lines": "Servers;PCs",
    "split_lines": "Servers, PCs,Servers",
    "mapped_lines": "s/p",
    "day": "22/12/2026",
    "day_iso": datetime(2026, 12, 22, 20, 0, tzinfo=UTC),
    "at": "2026-12-22T10:00:00",
    "at_utc": datetime(2026, 12, 22, 10, 0, 0, 500_000, tzinfo=UTC),
    "stamp": datetime(2026, 12, 22, 10, 0),
    "plain_day": date(2026, 12, 22),
    "flag": None,
    "must": True,
    "region": " ",
    "account": " A-1 ",
    "partner": 42,
    "owner_id": "005000000000001AAA",
    "secret": "secret text",
    "secret_trim": "  twelve bytes  ",
    "secret_num": Decimal("1234567.5"),
    "secret_day": date(2026, 1, 2),
    "secret_any": Decimal("5.10"),
    "shout": "hey",
    "once": " first ",
}

KINDS_RECORD: dict[str, Any] = {
    "Id": "a0X000000000001AAA",
    "Number__c": "N-1",
    "Sf_Status__c": "Open",
    "Sf_Amount__c": 12.5,
    "Sf_Count__c": 3.0,
    "Sf_At__c": "2026-11-01T10:00:00.000+0000",
    "Sf_Day__c": "2026-11-01",
    "Sf_Flag__c": None,
    "Sf_Text__c": " text ",
    "Sf_Upper__c": "upper",
    "Sf_Pair__c": "left,right",
    "Owner": {"Name": "Owner Name"},
    "Sf_Shout__c": "hey",
}


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> ObjectMapping:
    path = tmp_path_factory.mktemp("kinds") / "kinds.yaml"
    path.write_text(KINDS, encoding="utf-8")
    return load_mappings([path]).get("demo")


def test_every_field_kind_maps_the_same(kinds: ObjectMapping) -> None:
    assert_push_same(kinds, KINDS_ROW)
    assert kinds.to_salesforce(KINDS_ROW, is_create=True).ok, kinds.to_salesforce(KINDS_ROW, is_create=True).errors
    for row in _variants(KINDS_ROW, sorted(set(KINDS_ROW) - {"number"})):
        assert_push_same(kinds, row)


def test_every_field_kind_pulls_the_same(kinds: ObjectMapping) -> None:
    assert_pull_same(kinds, KINDS_RECORD)
    assert kinds.to_portal(KINDS_RECORD)["sf_a"] == "left"
    for key in KINDS_RECORD:
        assert_pull_same(kinds, {k: v for k, v in KINDS_RECORD.items() if k != key})
        for value in SF_ADVERSARIAL:
            assert_pull_same(kinds, {**KINDS_RECORD, key: value})


def test_read_only_mapping_pulls_the_same(shipped: MappingSet) -> None:
    mapping = shipped.get("direct_opportunities")
    assert mapping.is_read_only
    assert_pull_same(mapping, {})
    assert_pull_same(mapping, {"Id": "006000000000001AAA"})


def test_python_transforms_run_once_per_value(tmp_path: Path) -> None:
    """A site's function is never run by the plan and then again by the general code."""
    calls: list[Any] = []

    @register_transform("plan_test_counted")
    def counted(value: Any) -> Any:
        calls.append(value)
        return value

    path = tmp_path / "counted.yaml"
    path.write_text(
        with_fields(
            _classified(
                "- {column: c, field: C__c, type: string, length: 9, owner: portal,"
                " transforms: [{python: plan_test_counted}]}"
            )
        ),
        encoding="utf-8",
    )
    mapping = load_mappings([path]).get("demo")
    mapping.to_salesforce({"number": "1", "name": "n", "c": "x"}, is_create=True)
    assert calls == ["x"]


def test_an_empty_cell_shares_no_mutable_value(tmp_path: Path) -> None:
    """The outcome of an empty cell is worked out once; only immutable values are reused."""
    path = tmp_path / "constant.yaml"
    path.write_text(
        with_fields(
            "- {column: p, field: P__c, type: reference, owner: portal, clear: a test value of no partner,"
            " transforms: [{constant: P-1}, {lookup: Account.Number__c}]}"
        ),
        encoding="utf-8",
    )
    mapping = load_mappings([path]).get("demo")
    first = mapping.to_salesforce({"number": "1", "name": "n", "p": None}, is_create=True).payload
    second = mapping.to_salesforce({"number": "2", "name": "n", "p": None}, is_create=True).payload
    assert first["P__r"] == second["P__r"] == {"Number__c": "P-1"}
    assert first["P__r"] is not second["P__r"]


values = st.one_of(
    st.sampled_from(ADVERSARIAL),
    st.none(),
    st.text(max_size=40),
    st.text(alphabet=" ,;abcSERVERSpcs", max_size=30),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones()),
    st.lists(st.one_of(st.none(), st.text(max_size=8)), max_size=4),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_random_rows_map_the_same(shipped: MappingSet, kinds: ObjectMapping, data: st.DataObject) -> None:
    for mapping, base in ((shipped.get("deal_registration"), _golden_row("deal_registration")), (kinds, KINDS_ROW)):
        columns = sorted(base)
        row = {column: data.draw(values) if data.draw(st.booleans()) else base[column] for column in columns}
        assert_push_same(mapping, row)


# ------------------------------------------------------------------ the helpers the plan leans on


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 5, 1, 12, 0, 0, 999_999, tzinfo=UTC),
        datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=-7))),
        datetime(1000, 1, 1, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 1000, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        Stamp(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
    ],
)
def test_format_sf_datetime_is_the_strftime_form(value: datetime) -> None:
    utc = value.astimezone(UTC)
    assert format_sf_datetime(value) == utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01T10:00:00.000+0000",
        " 2026-11-01T10:00:00.000+0000\n",
        "2026-11-01T10:00:00.000-0000",
        "2026-11-01T10:00:00.000+0530",
        "2026-11-01T10:00:00.000+00:00",
        "2026-11-01T10:00:00+0000",
        "2026-11-01 10:00:00Z",
        "2026-11-01T10:00:00",
    ],
)
def test_salesforce_timestamps_parse_as_with_the_regex(text: str) -> None:
    import re

    from sfsync.mapping._types import to_utc_datetime

    expected = to_utc_datetime(re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.strip()))
    parsed = from_sf("datetime", text)
    assert (parsed, parsed.tzinfo) == (expected, expected.tzinfo)


def test_base_mapping_is_compiled(tmp_path: Path) -> None:
    """The plain fields take the compiled path (a guard against every field quietly declining)."""
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    mapping = load_mappings([path]).get("demo")
    [plan] = mapping._compiled_push[0]
    assert plan.convert is not None and plan.convert("text") == "text"
