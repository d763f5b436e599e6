"""SOQL fidelity: filters, literals, relationship paths, ordering, pagination, error bodies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fake_api_helpers import Api
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from sfsync.testing import FakeSalesforce
from sfsync.testing._soql import SoqlError


def seed_accounts(fake: FakeSalesforce) -> dict[str, str]:
    ids = {}
    for name, country, tier, partner in [
        ("Acme Corp", "US", "Gold", True),
        ("acme labs", "DE", "Platinum", True),
        ("Globex", "US", None, False),
        ("Initech", None, "Registered", True),
        ("100% Pure_Data", "FR", None, False),
    ]:
        fields: dict[str, Any] = {"Name": name, "BillingCountry": country, "IsPartner": partner}
        if tier:
            fields["Partner_Tier__c"] = tier
        ids[name] = fake.insert("Account", fields)
    return ids


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["Name"] for r in rows]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name LIKE 'acme%'", {"Acme Corp", "acme labs"}),
        ("Name LIKE '%CORP'", {"Acme Corp"}),
        ("Name LIKE 'Glob_x'", {"Globex"}),
        ("Name LIKE '100\\% Pure\\_%'", {"100% Pure_Data"}),
        ("Name LIKE '%\\_%'", {"100% Pure_Data"}),
        ("BillingCountry IN ('US', 'DE')", {"Acme Corp", "acme labs", "Globex"}),
        ("BillingCountry NOT IN ('US', 'DE')", {"Initech", "100% Pure_Data"}),
        ("BillingCountry = null", {"Initech"}),
        ("BillingCountry != null AND IsPartner = true", {"Acme Corp", "acme labs"}),
        ("BillingCountry <> 'US'", {"acme labs", "Initech", "100% Pure_Data"}),
        ("NOT IsPartner = true", {"Globex", "100% Pure_Data"}),
        ("(BillingCountry = 'US' OR BillingCountry = 'FR') AND IsPartner = false", {"Globex", "100% Pure_Data"}),
        ("BillingCountry = 'US' OR (BillingCountry = 'FR' AND IsPartner = true)", {"Acme Corp", "Globex"}),
        ("NOT (BillingCountry = 'US' OR BillingCountry = null)", {"acme labs", "100% Pure_Data"}),
        ("name = 'GLOBEX'", {"Globex"}),
        ("Partner_Tier__c IN ('Gold', 'Platinum')", {"Acme Corp", "acme labs"}),
        ("Name > 'H' AND Name < 'J'", {"Initech"}),
    ],
)
def test_where_filters(fake: FakeSalesforce, api: Api, where: str, expected: set[str]) -> None:
    seed_accounts(fake)
    assert set(names(api.rows(f"SELECT Name FROM Account WHERE {where}"))) == expected


def test_string_escapes_in_literals(fake: FakeSalesforce, api: Api) -> None:
    tricky = 'O\'Brien "Q" \\ back\nline\ttab'
    fake.insert("Account", {"Name": tricky})
    fake.insert("Account", {"Name": "plain"})
    soql = "SELECT Name FROM Account WHERE Name = 'O\\'Brien \\\"Q\\\" \\\\ back\\nline\\ttab'"
    assert names(api.rows(soql)) == [tricky]
    assert names(api.rows(format_soql("SELECT Name FROM Account WHERE Name = {}", tricky))) == [tricky]


def test_datetime_comparisons_are_instants_ignoring_milliseconds(api: Api) -> None:
    moments = {
        "early": datetime(2024, 1, 31, 9, 59, 59, 999000, tzinfo=UTC),
        "exact": datetime(2024, 1, 31, 10, 0, 0, 500000, tzinfo=UTC),  # .500 is dropped when comparing
        "late": datetime(2024, 1, 31, 10, 0, 1, tzinfo=UTC),
    }
    fake = api.fake
    for name, moment in moments.items():
        fake.insert("Account", {"Name": name, "SystemModstamp": moment, "LastModifiedDate": moment})
    assert set(names(api.rows("SELECT Name FROM Account WHERE SystemModstamp >= 2024-01-31T10:00:00Z"))) == {
        "exact",
        "late",
    }
    assert names(api.rows("SELECT Name FROM Account WHERE SystemModstamp = 2024-01-31T10:00:00.000Z")) == ["exact"]
    # The same instant written with an offset.
    assert names(api.rows("SELECT Name FROM Account WHERE SystemModstamp = 2024-01-31T11:00:00+01:00")) == ["exact"]
    assert names(api.rows("SELECT Name FROM Account WHERE SystemModstamp < 2024-01-31T05:00:00-05:00")) == ["early"]
    # format_soql renders aware datetimes with +00:00.
    soql = format_soql("SELECT Name FROM Account WHERE SystemModstamp > {}", moments["exact"])
    assert names(api.rows(soql)) == ["late"]
    # Stored values keep their milliseconds and Salesforce's wire format.
    row = api.rows("SELECT SystemModstamp FROM Account WHERE Name = 'exact'")[0]
    assert row["SystemModstamp"] == "2024-01-31T10:00:00.500+0000"


def test_date_literals(fake: FakeSalesforce, api: Api) -> None:
    acc = fake.insert("Account", {"Name": "A"})
    for day in ("2024-01-30", "2024-01-31", "2024-02-01"):
        fake.insert("Opportunity", {"Name": day, "AccountId": acc, "StageName": "Prospecting", "CloseDate": day})
    rows = api.rows("SELECT Name FROM Opportunity WHERE CloseDate >= 2024-01-31 ORDER BY CloseDate")
    assert names(rows) == ["2024-01-31", "2024-02-01"]
    response = api.query("SELECT Name FROM Opportunity WHERE CloseDate = '2024-01-31'")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_relationship_fields_nest_and_are_null_without_parent(fake: FakeSalesforce, api: Api) -> None:
    partner = fake.insert("Account", {"Name": "Partner", "Partner_Number__c": "P-001"})
    customer = fake.insert("Account", {"Name": "Customer"})
    fake.insert(
        "Opportunity",
        {
            "Name": "with",
            "AccountId": customer,
            "Partner_Account__c": partner,
            "StageName": "Prospecting",
            "CloseDate": "2024-05-01",
        },
    )
    fake.insert("Opportunity", {"Name": "without", "StageName": "Prospecting", "CloseDate": "2024-05-01"})
    rows = api.rows(
        "SELECT Name, Account.Name, Partner_Account__r.Partner_Number__c, Owner.Name, "
        "Owner.UserRole.Name FROM Opportunity ORDER BY Name"
    )
    with_row, without_row = rows
    assert with_row["Account"]["Name"] == "Customer"
    assert with_row["Account"]["attributes"]["type"] == "Account"
    assert with_row["Partner_Account__r"]["Partner_Number__c"] == "P-001"
    assert with_row["Owner"]["UserRole"]["Name"] == "Integration"
    assert without_row["Account"] is None
    assert without_row["Partner_Account__r"] is None
    assert with_row["attributes"]["url"].endswith(f"/sobjects/Opportunity/{with_row['attributes']['url'][-18:]}")
    # Relationship paths filter too.
    assert names(api.rows("SELECT Name FROM Opportunity WHERE Partner_Account__r.Partner_Number__c = 'P-001'")) == [
        "with"
    ]
    assert names(api.rows("SELECT Name FROM Opportunity WHERE Account.Name = null")) == ["without"]


def test_order_by_several_fields_nulls_limit_offset(fake: FakeSalesforce, api: Api) -> None:
    seed_accounts(fake)
    rows = api.rows("SELECT Name FROM Account ORDER BY BillingCountry ASC NULLS LAST, Name DESC")
    assert names(rows) == ["acme labs", "100% Pure_Data", "Globex", "Acme Corp", "Initech"]
    rows = api.rows("SELECT Name FROM Account ORDER BY BillingCountry DESC NULLS FIRST, Name LIMIT 3")
    assert names(rows) == ["Initech", "Acme Corp", "Globex"]
    rows = api.rows("SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1")
    assert names(rows) == ["acme labs", "Acme Corp"] or names(rows) == ["Acme Corp", "acme labs"]
    assert len(rows) == 2


def test_count(fake: FakeSalesforce, api: Api) -> None:
    seed_accounts(fake)
    body = api.query("SELECT COUNT() FROM Account WHERE IsPartner = true").json()
    assert body == {"totalSize": 3, "done": True, "records": []}
    body = api.query("SELECT COUNT(Id) total FROM Account").json()
    assert body["records"][0]["total"] == 5


def test_pagination_follows_next_records_url(api: Api) -> None:
    fake = api.fake
    fake.page_size = 7
    for i in range(30):
        fake.insert("Account", {"Name": f"A{i:02d}"})
    first = api.query("SELECT Name FROM Account ORDER BY Name").json()
    assert first["totalSize"] == 30
    assert first["done"] is False
    assert len(first["records"]) == 7
    assert first["nextRecordsUrl"].startswith(f"/services/data/v{fake.api_version}/query/01g")
    assert first["nextRecordsUrl"].endswith("-7")
    rows = api.rows("SELECT Name FROM Account ORDER BY Name")
    assert names(rows) == [f"A{i:02d}" for i in range(30)]
    # Pages of an open cursor can be read again; once its last page is read, the cursor is closed.
    body = first
    while not body["done"]:
        body = api.get(body["nextRecordsUrl"]).json()
    gone = api.get(first["nextRecordsUrl"])
    assert gone.status_code == 400
    assert gone.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_pagination_with_simple_salesforce(fake: FakeSalesforce) -> None:
    import simple_salesforce

    fake.page_size = 5
    for i in range(12):
        fake.insert("Account", {"Name": f"A{i}"})
    sf = simple_salesforce.Salesforce(
        instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
    )
    result = sf.query_all("SELECT Id, Name FROM Account")
    assert result["totalSize"] == 12
    assert len(result["records"]) == 12
    assert len(list(sf.query_all_iter("SELECT Id FROM Account"))) == 12


def test_batch_size_header(fake: FakeSalesforce, api: Api) -> None:
    for i in range(450):
        fake.insert("Account", {"Name": f"A{i}"})
    body = api.get(
        "query/", params={"q": "SELECT Id FROM Account"}, headers={"Sforce-Query-Options": "batchSize=200"}
    ).json()
    assert len(body["records"]) == 200


def test_query_all_sees_soft_deleted_rows(fake: FakeSalesforce, api: Api) -> None:
    keep = fake.insert("Account", {"Name": "keep"})
    gone = fake.insert("Account", {"Name": "gone"})
    fake.delete("Account", gone)
    assert names(api.rows("SELECT Name FROM Account")) == ["keep"]
    rows = api.rows("SELECT Name, IsDeleted FROM Account ORDER BY Name", all_rows=True)
    assert [(r["Name"], r["IsDeleted"]) for r in rows] == [("gone", True), ("keep", False)]
    assert names(api.rows("SELECT Name FROM Account WHERE IsDeleted = true", all_rows=True)) == ["gone"]
    assert keep != gone


def test_id_comparisons_accept_15_char_ids(fake: FakeSalesforce, api: Api) -> None:
    rid = fake.insert("Account", {"Name": "A"})
    assert names(api.rows(f"SELECT Name FROM Account WHERE Id = '{rid[:15]}'")) == ["A"]
    assert names(api.rows(f"SELECT Name FROM Account WHERE Id IN ('{rid}')")) == ["A"]


def test_multipicklist_includes_excludes(fake: FakeSalesforce, api: Api) -> None:
    fake.insert(
        "Opportunity",
        {"Name": "a", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Product_Lines__c": "Storage;Servers"},
    )
    fake.insert(
        "Opportunity", {"Name": "b", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Product_Lines__c": "PCs"}
    )
    assert fake.records("Opportunity")[0]["Product_Lines__c"] == "Servers;Storage"
    assert names(api.rows("SELECT Name FROM Opportunity WHERE Product_Lines__c INCLUDES ('Servers')")) == ["a"]
    assert names(api.rows("SELECT Name FROM Opportunity WHERE Product_Lines__c EXCLUDES ('Servers')")) == ["b"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Account", "MALFORMED_QUERY"),
        ("SELECT Name FROM", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE Name = 'unterminated", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account WHERE Name ~ 'x'", "MALFORMED_QUERY"),
        ("SELECT Name, (SELECT Id FROM Contacts) FROM Account", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account GROUP BY Name", "MALFORMED_QUERY"),
        ("SELECT Name FROM Account LIMIT x", "MALFORMED_QUERY"),
        ("SELECT Bogus__c FROM Account", "INVALID_FIELD"),
        ("SELECT Name FROM Account WHERE Bogus__c = 1", "INVALID_FIELD"),
        ("SELECT Nope__r.Name FROM Account", "INVALID_FIELD"),
        ("SELECT Name FROM Account WHERE IsPartner = 'true'", "INVALID_FIELD"),
        ("SELECT Name FROM Account WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Name FROM Account WHERE IsPartner LIKE 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE Id = 'bogus'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("", "MALFORMED_QUERY"),
    ],
)
def test_bad_soql_error_bodies(api: Api, soql: str, code: str) -> None:
    response = api.query(soql)
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, list)
    assert body[0]["errorCode"] == code
    assert isinstance(body[0]["message"], str) and body[0]["message"]


def test_statement_longer_than_100k_chars_is_malformed(fake: FakeSalesforce) -> None:
    # A GET that long is refused with 414 first; the statement limit matters for Bulk query jobs.
    long_name = "x" * 100_001
    with pytest.raises(SoqlError) as info:
        fake.run_query(f"SELECT Id FROM Account WHERE Name = '{long_name}'", include_deleted=False)
    assert info.value.error_code == "MALFORMED_QUERY"
    assert "100000" in info.value.message


def test_uri_over_16384_bytes_is_414(api: Api) -> None:
    names_list = ",".join(f"'{i:05d}'" for i in range(3000))
    response = api.query(f"SELECT Id FROM Account WHERE Name IN ({names_list})")
    assert response.status_code == 414
    assert "Sforce-Limit-Info" in response.headers


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30))
def test_format_soql_round_trips_any_name(value: str) -> None:
    with FakeSalesforce() as fake:
        api = Api(fake)
        fake.insert("Account", {"Name": value})
        fake.insert("Account", {"Name": value + "!"})
        rows = api.rows(format_soql("SELECT Name FROM Account WHERE Name = {}", value))
        assert [r["Name"] for r in rows if r["Name"] == value] == [value]
        like = format_soql("SELECT Name FROM Account WHERE Name LIKE '%{:like}%'", value)
        assert value in names(api.rows(like))


_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and a < b,
    ">": lambda a, b: a is not None and a > b,
    "<=": lambda a, b: a is not None and a <= b,
    ">=": lambda a, b: a is not None and a >= b,
}


@settings(max_examples=60, deadline=None)
@given(
    amounts=st.lists(st.one_of(st.none(), st.integers(min_value=-50, max_value=50)), min_size=1, max_size=12),
    op1=st.sampled_from(sorted(_OPS)),
    op2=st.sampled_from(sorted(_OPS)),
    v1=st.integers(min_value=-50, max_value=50),
    v2=st.integers(min_value=-50, max_value=50),
    joiner=st.sampled_from(["AND", "OR"]),
    negate=st.booleans(),
)
def test_numeric_filters_match_an_oracle(
    amounts: list[int | None], op1: str, op2: str, v1: int, v2: int, joiner: str, negate: bool
) -> None:
    with FakeSalesforce(page_size=5) as fake:
        api = Api(fake)
        for i, amount in enumerate(amounts):
            fake.insert(
                "Opportunity",
                {"Name": f"O{i:02d}", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Amount": amount},
            )
        where = f"(Amount {op1} {v1} {joiner} Amount {op2} {v2})"
        if negate:
            where = f"NOT {where}"
        got = sorted(names(api.rows(f"SELECT Name FROM Opportunity WHERE {where}")))

        def keep(a: int | None) -> bool:
            first, second = _OPS[op1](a, v1), _OPS[op2](a, v2)
            result = (first and second) if joiner == "AND" else (first or second)
            return not result if negate else result

        expected = sorted(f"O{i:02d}" for i, a in enumerate(amounts) if keep(a))
        assert got == expected
