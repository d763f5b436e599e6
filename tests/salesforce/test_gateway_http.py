"""Gateway behaviour at the HTTP level with hand-written ``responses`` answers.

The fault tests against the stateful FakeSalesforce live in test_gateway_fake.py; these pin
the exact requests and answers: logins per auth mode, timeouts, 401 handling, the API budget.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from responses import matchers

from sfsync.config import SalesforceSettings
from sfsync.errors import (
    ApiAllowanceExhaustedError,
    ApiBudgetExceededError,
    AuthenticationError,
    ConfigError,
    RetriesExhaustedError,
    SalesforceApiError,
    UsageError,
)
from sfsync.salesforce import ApiUsage, SalesforceGateway

INSTANCE = "https://acme.my.salesforce.com"
DATA = f"{INSTANCE}/services/data/v61.0"
TOKEN = "00Dxx0000000001!AQ4AQFakeTokenValue"
UPSERT_URL = f"{DATA}/composite/sobjects/Account/Partner_Number__c"


def _settings(**overrides: Any) -> SalesforceSettings:
    base: dict[str, Any] = {
        "auth": "token",
        "instance_url": INSTANCE,
        "access_token": SecretStr(TOKEN),
        "max_attempts": 4,
        "connect_timeout": 3.0,
        "read_timeout": 7.0,
    }
    base.update(overrides)
    return SalesforceSettings(**base)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _ok_items(n: int, usage: str = "10/1000") -> responses.Response:
    body = [{"id": f"001{i:015d}", "success": True, "created": True, "errors": []} for i in range(n)]
    return responses.Response("PATCH", UPSERT_URL, json=body, headers={"Sforce-Limit-Info": f"api-usage={usage}"})


def _records(n: int) -> list[dict[str, Any]]:
    return [{"Partner_Number__c": f"P{i}", "Name": f"Partner {i}"} for i in range(n)]


# ---------------------------------------------------------------- auth modes


def test_token_auth_makes_no_login_call(mocked: responses.RequestsMock) -> None:
    mocked.add(_ok_items(2))
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    results = gw.upsert("Account", "Partner_Number__c", _records(2))
    assert [r.outcome for r in results] == ["created", "created"]
    assert len(mocked.calls) == 1
    assert mocked.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert gw.api_calls == 1
    assert gw.api_usage == ApiUsage(used=10, limit=1000)


def test_password_auth_uses_soap_login_on_the_domain(mocked: responses.RequestsMock) -> None:
    soap = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
        "<serverUrl>https://acme.my.salesforce.com/services/Soap/u/61.0/00D</serverUrl>"
        "<sessionId>SESSION-FROM-SOAP</sessionId></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    login = mocked.add("POST", "https://test.salesforce.com/services/Soap/u/61.0", body=soap)
    mocked.add(_ok_items(1))
    settings = _settings(
        auth="password",
        instance_url=None,
        access_token=None,
        domain="test",
        username="u@x.com",
        password=SecretStr("pw<&>"),
        security_token=SecretStr("tok"),
    )
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert login.call_count == 1
    assert gw.instance_url == INSTANCE
    gw.upsert("Account", "Partner_Number__c", _records(1))
    assert mocked.calls[1].request.headers["Authorization"] == "Bearer SESSION-FROM-SOAP"
    assert gw.api_calls == 1  # the login is not an API call


def _rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_jwt_auth_signs_iss_sub_aud(mocked: responses.RequestsMock, tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_bytes(_rsa_pem())
    seen: dict[str, Any] = {}

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = dict(part.split("=", 1) for part in str(request.body).split("&"))
        claims = jwt.decode(form["assertion"], options={"verify_signature": False})
        seen.update(claims)
        return 200, {}, json.dumps({"access_token": "JWT-SESSION", "instance_url": INSTANCE})

    mocked.add_callback("POST", "https://login.salesforce.com/services/oauth2/token", callback=token)
    settings = _settings(
        auth="jwt",
        instance_url=None,
        access_token=None,
        username="int@acme.com",
        consumer_key="3MVG9-key",
        private_key_file=key_file,
    )
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert seen["iss"] == "3MVG9-key"
    assert seen["sub"] == "int@acme.com"
    assert seen["aud"] == "https://login.salesforce.com"
    assert gw.instance_url == INSTANCE


def test_jwt_with_a_bad_key_is_a_config_error(tmp_path: Path) -> None:
    key_file = tmp_path / "server.key"
    key_file.write_text("not a key")
    settings = _settings(auth="jwt", username="int@acme.com", consumer_key="k", private_key_file=key_file)
    with pytest.raises(ConfigError, match="private_key"):
        SalesforceGateway.connect(settings, sleep=Sleeps())


def test_client_credentials_posts_to_my_domain(mocked: responses.RequestsMock) -> None:
    token = mocked.add(
        "POST",
        f"{INSTANCE}/services/oauth2/token",
        json={"access_token": "CC-SESSION", "instance_url": INSTANCE},
        match=[matchers.urlencoded_params_matcher({"grant_type": "client_credentials"})],
    )
    settings = _settings(
        auth="client_credentials", access_token=None, consumer_key="ck", consumer_secret=SecretStr("cs")
    )
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert token.call_count == 1
    assert mocked.calls[0].request.headers["Authorization"].startswith("Basic ")
    assert gw.instance_url == INSTANCE


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"auth": "token", "access_token": None}, ["access_token"]),
        ({"auth": "password", "username": "u"}, ["password", "security_token"]),
        ({"auth": "jwt"}, ["username", "consumer_key", "private_key"]),
        ({"auth": "client_credentials", "instance_url": None}, ["consumer_key", "consumer_secret"]),
    ],
)
def test_missing_credentials_name_the_keys(overrides: dict[str, Any], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        SalesforceGateway.connect(_settings(**overrides), sleep=Sleeps())
    for name in names:
        assert name in str(info.value)


def test_refused_login_is_an_authentication_error_without_secrets(mocked: responses.RequestsMock) -> None:
    mocked.add(
        "POST",
        f"{INSTANCE}/services/oauth2/token",
        status=400,
        json={"error": "invalid_client", "error_description": "invalid client credentials: s3cret"},
    )
    settings = _settings(auth="client_credentials", consumer_key="ck", consumer_secret=SecretStr("s3cret"))
    with pytest.raises(AuthenticationError) as info:
        SalesforceGateway.connect(settings, sleep=Sleeps())
    assert "s3cret" not in str(info.value)
    assert info.value.context.status_code == "invalid_client"
    assert info.value.__cause__ is None  # the chained exception would carry the request


# ---------------------------------------------------------------- timeouts, CA bundle


def test_every_request_carries_the_configured_timeout(mocked: responses.RequestsMock) -> None:
    mocked.add("POST", f"{INSTANCE}/services/oauth2/token", json={"access_token": "CC", "instance_url": INSTANCE})
    mocked.add(_ok_items(1))
    mocked.add("GET", f"{DATA}/limits/", json={"DailyApiRequests": {"Max": 100, "Remaining": 90}})
    mocked.add("GET", f"{DATA}/query/", json={"done": True, "totalSize": 0, "records": []})
    settings = _settings(auth="client_credentials", consumer_key="ck", consumer_secret=SecretStr("cs"))
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    gw.upsert("Account", "Partner_Number__c", _records(1))
    gw.limits()
    list(gw.query("SELECT Id FROM Account"))
    assert len(mocked.calls) == 4
    for call in mocked.calls:  # the login is simple-salesforce's own request: it gets one too
        assert call.request.req_kwargs["timeout"] == (3.0, 7.0)  # type: ignore[attr-defined]


def test_a_foreign_session_gets_the_timeout_too(mocked: responses.RequestsMock) -> None:
    mocked.add(_ok_items(1))
    session = requests.Session()
    gw = SalesforceGateway.connect(_settings(), session=session, sleep=Sleeps())
    gw.upsert("Account", "Partner_Number__c", _records(1))
    assert mocked.calls[0].request.req_kwargs["timeout"] == (3.0, 7.0)  # type: ignore[attr-defined]


def test_ca_bundle_setting_wins_over_the_environment(
    mocked: responses.RequestsMock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/elsewhere.pem")
    mocked.add(_ok_items(1))
    gw = SalesforceGateway.connect(_settings(ca_bundle=bundle), sleep=Sleeps())
    gw.upsert("Account", "Partner_Number__c", _records(1))
    assert mocked.calls[0].request.req_kwargs["verify"] == str(bundle)  # type: ignore[attr-defined]


def test_requests_ca_bundle_is_honoured(mocked: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    mocked.add(_ok_items(1))
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    gw.upsert("Account", "Partner_Number__c", _records(1))
    assert mocked.calls[0].request.req_kwargs["verify"] == "/etc/corp-ca.pem"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- retries and sessions


def test_503_is_retried_with_backoff_then_succeeds(mocked: responses.RequestsMock) -> None:
    mocked.add("PATCH", UPSERT_URL, status=503, body="Service Unavailable")
    mocked.add("PATCH", UPSERT_URL, status=503, body="Service Unavailable")
    mocked.add(_ok_items(3))
    sleeps = Sleeps()
    gw = SalesforceGateway.connect(_settings(), sleep=sleeps)
    results = gw.upsert("Account", "Partner_Number__c", _records(3))
    assert all(r.outcome == "created" for r in results)
    assert gw.api_calls == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 30 for s in sleeps)


def test_persistent_503_gives_up_after_max_attempts(mocked: responses.RequestsMock) -> None:
    mocked.add("PATCH", UPSERT_URL, status=503, body="Service Unavailable")
    sleeps = Sleeps()
    gw = SalesforceGateway.connect(_settings(max_attempts=4), sleep=sleeps)
    with pytest.raises(RetriesExhaustedError) as info:
        gw.upsert("Account", "Partner_Number__c", _records(3))
    assert gw.api_calls == 4
    assert len(sleeps) == 3
    assert info.value.context.http_status == 503
    assert "4 attempts" in str(info.value)


def test_retry_time_budget_bounds_the_backoff(mocked: responses.RequestsMock) -> None:
    mocked.add("PATCH", UPSERT_URL, status=503, body="down")
    sleeps = Sleeps()
    gw = SalesforceGateway.connect(_settings(max_attempts=20, max_retry_seconds=2.0), sleep=sleeps)
    with pytest.raises(RetriesExhaustedError):
        gw.upsert("Account", "Partner_Number__c", _records(1))
    assert sum(sleeps) <= 2.0


def test_timeouts_and_connection_errors_are_retried(mocked: responses.RequestsMock) -> None:
    mocked.add("PATCH", UPSERT_URL, body=requests.ReadTimeout("slow"))
    mocked.add("PATCH", UPSERT_URL, body=requests.ConnectionError("reset"))
    mocked.add(_ok_items(1))
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    assert gw.upsert("Account", "Partner_Number__c", _records(1))[0].outcome == "created"
    assert gw.api_calls == 3


def test_persistent_401_with_token_auth_stops_without_recursion(mocked: responses.RequestsMock) -> None:
    expired = mocked.add(
        "PATCH",
        UPSERT_URL,
        status=401,
        json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
    )
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    with pytest.raises(AuthenticationError, match="cannot log in again"):
        gw.upsert("Account", "Partner_Number__c", _records(1))
    assert expired.call_count == 1


def test_persistent_401_logs_in_once_then_fails(mocked: responses.RequestsMock) -> None:
    login = mocked.add(
        "POST", f"{INSTANCE}/services/oauth2/token", json={"access_token": "CC", "instance_url": INSTANCE}
    )
    expired = mocked.add(
        "PATCH",
        UPSERT_URL,
        status=401,
        json=[{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}],
    )
    settings = _settings(auth="client_credentials", consumer_key="ck", consumer_secret=SecretStr("cs"))
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    with pytest.raises(AuthenticationError, match="again right after a fresh login"):
        gw.upsert("Account", "Partner_Number__c", _records(1))
    assert login.call_count == 2  # connect + one re-login
    assert expired.call_count == 2  # the call + one retry
    assert gw.api_calls == 2


def test_expired_session_is_renewed_and_the_call_retried(mocked: responses.RequestsMock) -> None:
    tokens = iter(["FIRST", "SECOND"])
    mocked.add_callback(
        "POST",
        f"{INSTANCE}/services/oauth2/token",
        callback=lambda r: (200, {}, json.dumps({"access_token": next(tokens), "instance_url": INSTANCE})),
    )
    mocked.add(
        "PATCH",
        UPSERT_URL,
        status=401,
        json=[{"errorCode": "INVALID_SESSION_ID", "message": "expired"}],
        match=[matchers.header_matcher({"Authorization": "Bearer FIRST"})],
    )
    mocked.add(
        "PATCH",
        UPSERT_URL,
        json=[{"id": "001000000000000AAA", "success": True, "created": False, "errors": []}],
        match=[matchers.header_matcher({"Authorization": "Bearer SECOND"})],
    )
    settings = _settings(auth="client_credentials", consumer_key="ck", consumer_secret=SecretStr("cs"))
    gw = SalesforceGateway.connect(settings, sleep=Sleeps())
    assert gw.upsert("Account", "Partner_Number__c", _records(1))[0].outcome == "updated"
    assert gw.logins == 2


# ---------------------------------------------------------------- API allowance and budget


def test_total_requests_is_fatal_at_once(mocked: responses.RequestsMock) -> None:
    limit = mocked.add(
        "PATCH",
        UPSERT_URL,
        status=403,
        headers={"Sforce-Limit-Info": "api-usage=15000/15000"},
        json=[{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}],
    )
    sleeps = Sleeps()
    gw = SalesforceGateway.connect(_settings(), sleep=sleeps)
    with pytest.raises(ApiAllowanceExhaustedError) as info:
        gw.upsert("Account", "Partner_Number__c", _records(1))
    assert limit.call_count == 1
    assert sleeps == []
    assert "15,000 of 15,000" in str(info.value)


def test_concurrent_requests_limit_is_retried(mocked: responses.RequestsMock) -> None:
    mocked.add(
        "PATCH",
        UPSERT_URL,
        status=403,
        json=[
            {
                "errorCode": "REQUEST_LIMIT_EXCEEDED",
                "message": "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
            }
        ],
    )
    mocked.add(_ok_items(1))
    sleeps = Sleeps()
    gw = SalesforceGateway.connect(_settings(), sleep=sleeps)
    assert gw.upsert("Account", "Partner_Number__c", _records(1))[0].ok
    assert len(sleeps) == 1


def test_budget_ceiling_stops_before_the_next_call(mocked: responses.RequestsMock) -> None:
    mocked.add(_ok_items(200, usage="899/1000"))
    mocked.add(_ok_items(200, usage="900/1000"))
    gw = SalesforceGateway.connect(_settings(api_usage_ceiling=0.9), sleep=Sleeps())
    gw.upsert("Account", "Partner_Number__c", _records(400))
    assert gw.api_usage == ApiUsage(used=900, limit=1000)
    with pytest.raises(ApiBudgetExceededError, match="900 of 1,000"):
        gw.upsert("Account", "Partner_Number__c", _records(1))
    assert len(mocked.calls) == 2
    assert gw.api_calls == 2


# ---------------------------------------------------------------- request-level answers


def test_request_level_400_rejects_every_record_of_the_chunk(mocked: responses.RequestsMock) -> None:
    mocked.add(
        "PATCH",
        UPSERT_URL,
        status=400,
        json=[
            {
                "errorCode": "INVALID_FIELD",
                "message": "No such column 'Bogus__c' on sobject of type Account",
                "fields": ["Bogus__c"],
            }
        ],
    )
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    results = gw.upsert("Account", "Partner_Number__c", [{**r, "Bogus__c": 1} for r in _records(3)])
    assert [r.outcome for r in results] == ["rejected"] * 3
    assert {r.status_code for r in results} == {"INVALID_FIELD"}
    assert results[0].fields == ("Bogus__c",)
    assert [r.external_id for r in results] == ["P0", "P1", "P2"]


def test_unknown_object_is_fatal(mocked: responses.RequestsMock) -> None:
    mocked.add(
        "PATCH",
        f"{DATA}/composite/sobjects/Nope__c/Ext__c",
        status=404,
        json=[{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
    )
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    with pytest.raises(SalesforceApiError):
        gw.upsert("Nope__c", "Ext__c", [{"Ext__c": "1"}])


def test_names_that_are_not_api_names_are_refused() -> None:
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    with pytest.raises(UsageError):
        gw.upsert("Account/../x", "Partner_Number__c", _records(1))
    with pytest.raises(UsageError):
        gw.describe("Account?x=1")


def test_missing_external_ids_are_rejected_without_a_call(mocked: responses.RequestsMock) -> None:
    mocked.add(_ok_items(1))
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    records: list[dict[str, Any]] = [
        {"Partner_Number__c": None},
        {"Name": "x"},
        {"Partner_Number__c": "  "},
        {"Partner_Number__c": {"a": 1}},
        {"Partner_Number__c": "P9"},
    ]
    results = gw.upsert("Account", "Partner_Number__c", records)
    assert [r.outcome for r in results] == ["rejected"] * 4 + ["created"]
    assert all(r.status_code == "MISSING_EXTERNAL_ID" and r.fields == ("Partner_Number__c",) for r in results[:4])
    sent = json.loads(mocked.calls[0].request.body or b"")
    assert len(sent["records"]) == 1
    assert sent["records"][0]["attributes"] == {"type": "Account"}


def test_soql_over_the_limit_is_refused_before_any_call(mocked: responses.RequestsMock) -> None:
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    with pytest.raises(UsageError, match="100,000"):
        gw.query("SELECT Id FROM Account WHERE Name IN (" + ",".join(["'abcdef'"] * 15_000) + ")")
    with pytest.raises(UsageError, match="URI"):
        gw.query("SELECT Id FROM Account WHERE Name IN (" + ",".join(["'abcdef'"] * 2_000) + ")")
    assert gw.api_calls == 0


def test_query_streams_pages_and_strips_attributes(mocked: responses.RequestsMock) -> None:
    first = {
        "done": False,
        "totalSize": 3,
        "nextRecordsUrl": "/services/data/v61.0/query/01gxx-2",
        "records": [
            {
                "attributes": {"type": "Opportunity"},
                "Id": "006A",
                "Account": {"attributes": {"type": "Account"}, "Name": "Acme"},
            },
            {"attributes": {"type": "Opportunity"}, "Id": "006B", "Account": None},
        ],
    }
    second = {
        "done": True,
        "totalSize": 3,
        "records": [
            {"attributes": {"type": "Opportunity"}, "Id": "006C", "Account": {"attributes": {}, "Name": "Beta"}}
        ],
    }
    mocked.add("GET", f"{DATA}/queryAll/", json=first)
    mocked.add("GET", f"{DATA}/query/01gxx-2", json=second)
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    rows = gw.query("SELECT Id, Account.Name FROM Opportunity", include_deleted=True)
    assert next(rows) == {"Id": "006A", "Account": {"Name": "Acme"}}
    assert gw.api_calls == 1  # lazily: the second page is not fetched yet
    assert list(rows) == [{"Id": "006B", "Account": None}, {"Id": "006C", "Account": {"Name": "Beta"}}]
    assert gw.api_calls == 2


def test_describe_is_cached(mocked: responses.RequestsMock) -> None:
    describe = mocked.add("GET", f"{DATA}/sobjects/Account/describe/", json={"name": "Account", "fields": []})
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    assert gw.describe("Account")["name"] == "Account"
    assert gw.describe("Account")["name"] == "Account"
    assert describe.call_count == 1


def test_debug_log_has_no_token_and_no_values(mocked: responses.RequestsMock, caplog: pytest.LogCaptureFixture) -> None:
    mocked.add(_ok_items(1))
    mocked.add("GET", f"{DATA}/query/", json={"done": True, "totalSize": 0, "records": []})
    gw = SalesforceGateway.connect(_settings(), sleep=Sleeps())
    with caplog.at_level(logging.DEBUG, logger="sfsync.salesforce"):
        gw.upsert("Account", "Partner_Number__c", [{"Partner_Number__c": "SECRET-EXT", "Name": "Hidden Name"}])
        list(gw.query("SELECT Id FROM Account WHERE Name = 'Hidden Name'"))
    text = caplog.text
    assert "PATCH /services/data/v61.0/composite/sobjects/Account/Partner_Number__c -> 200" in text
    assert "/query/?q" in text
    for secret in (TOKEN, "SECRET-EXT", "Hidden Name"):
        assert secret not in text
