"""FakeSalesforce as an identity provider (OAuth 2.0 web-server flow with PKCE, OpenID Connect) and its
conditional updates (If-Unmodified-Since), as Salesforce documents them."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from fake_api_helpers import Api

from sfsync.testing import FakeSalesforce

LOGIN = "https://login.salesforce.com"
CALLBACK = "https://desk.example/oauth/callback"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _authorize(fake: FakeSalesforce, **overrides: str) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": fake.consumer_key,
        "redirect_uri": CALLBACK,
        "scope": "openid id",
        "state": "s-1",
        "nonce": "n-1",
        "code_challenge": _challenge("v" * 60),
        "code_challenge_method": "S256",
        **overrides,
    }
    return requests.get(f"{LOGIN}/services/oauth2/authorize", params=params, allow_redirects=False, timeout=5)


def _code(response: requests.Response) -> str:
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query["state"] == ["s-1"]
    return query["code"][0]


def _token(fake: FakeSalesforce, code: str, **overrides: str) -> requests.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": fake.consumer_key,
        "client_secret": fake.consumer_secret,
        "redirect_uri": CALLBACK,
        "code_verifier": "v" * 60,
        **overrides,
    }
    return requests.post(f"{LOGIN}/services/oauth2/token", data=form, timeout=5)


@pytest.fixture
def signed_in(fake: FakeSalesforce) -> str:
    user = fake.add_user("cam@vendor.example", permission_sets=["sfsync_Channel_Manager"])
    fake.signed_in_user = user
    return user


def test_web_server_flow_issues_a_signed_id_token_and_userinfo(fake: FakeSalesforce, signed_in: str) -> None:
    body = _token(fake, _code(_authorize(fake))).json()
    assert {"access_token", "id_token", "id", "instance_url", "signature", "issued_at"} <= set(body)
    keys = requests.get(f"{LOGIN}/id/keys", timeout=5).json()["keys"]
    key = jwt.PyJWK(keys[0], algorithm="RS256").key
    claims = jwt.decode(body["id_token"], key, algorithms=["RS256"], audience=fake.consumer_key, issuer=LOGIN)
    assert claims["sub"] == body["id"] == f"{LOGIN}/id/{fake.org_id}/{signed_in}"
    assert claims["nonce"] == "n-1" and claims["exp"] > time.time()
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    info = requests.get(
        f"{LOGIN}/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"}, timeout=5
    ).json()
    assert info["user_id"] == signed_in and info["preferred_username"] == "cam@vendor.example"
    assert info["sub"] == claims["sub"]
    rows = Api(fake).rows(
        "SELECT PermissionSet.Name FROM PermissionSetAssignment WHERE AssigneeId = '" + signed_in + "'"
    )
    assert [r["PermissionSet"]["Name"] for r in rows] == ["sfsync_Channel_Manager"]


def test_code_is_single_use_and_needs_the_pkce_verifier(fake: FakeSalesforce, signed_in: str) -> None:
    code = _code(_authorize(fake))
    wrong = _token(fake, code, code_verifier="w" * 60)
    assert wrong.status_code == 400
    assert wrong.json() == {"error": "invalid_request", "error_description": "invalid code verifier"}
    missing = _token(fake, _code(_authorize(fake)), code_verifier="")
    assert missing.json()["error"] == "invalid_grant"
    # The failed exchange used the code up, as a replay would.
    again = _token(fake, code)
    assert again.json() == {"error": "invalid_grant", "error_description": "expired authorization code"}
    fresh = _code(_authorize(fake))
    assert _token(fake, fresh).status_code == 200
    assert _token(fake, fresh).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"client_secret": "nope"}, "invalid_client"),
        ({"client_id": "3MVG9other"}, "invalid_client_id"),
        ({"redirect_uri": "https://evil.example/oauth/callback"}, "redirect_uri_mismatch"),
    ],
)
def test_token_endpoint_errors(fake: FakeSalesforce, signed_in: str, override: dict[str, str], error: str) -> None:
    response = _token(fake, _code(_authorize(fake)), **override)
    assert response.status_code == 400 and response.json()["error"] == error
    assert "error_description" in response.json()


def test_authorize_refuses_an_unknown_app_or_callback_on_its_own_page(fake: FakeSalesforce, signed_in: str) -> None:
    assert _authorize(fake, client_id="3MVG9other").status_code == 400
    fake.oauth_callback_urls = {CALLBACK}
    assert _authorize(fake, redirect_uri="https://evil.example/oauth/callback").status_code == 400
    unsupported = _authorize(fake, response_type="token")
    assert "error=unsupported_response_type" in unsupported.headers["Location"]


def test_userinfo_refuses_a_token_it_did_not_issue(fake: FakeSalesforce) -> None:
    response = requests.get(f"{LOGIN}/services/oauth2/userinfo", headers={"Authorization": "Bearer forged"}, timeout=5)
    assert response.status_code == 403 and response.text == "Bad_OAuth_Token"


def test_without_a_signed_in_user_authorize_shows_the_login_page(fake: FakeSalesforce) -> None:
    response = _authorize(fake)
    assert response.status_code == 200 and "Password" in response.text


# ---------------------------------------------------------------- If-Unmodified-Since
def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def test_if_unmodified_since_refuses_a_record_modified_after_it(fake: FakeSalesforce, api: Api) -> None:
    seen = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    record = fake.insert("Account", {"Name": "Acme", "LastModifiedDate": seen.isoformat()})
    url = f"sobjects/Account/{record}"
    same = api.call("PATCH", url, json={"Name": "Acme 2"}, headers={"If-Unmodified-Since": _http_date(seen)})
    assert same.status_code == 204
    # That write stamped LastModifiedDate now: the version seen at 09:00 is stale.
    stale = api.call("PATCH", url, json={"Name": "Acme 3"}, headers={"If-Unmodified-Since": _http_date(seen)})
    assert stale.status_code == 412
    assert stale.json()[0]["errorCode"] == "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK"
    assert fake.lookup("Account", record)["Name"] == "Acme 2"  # type: ignore[index]
    later = datetime.now(UTC) + timedelta(seconds=5)
    ok = api.call("PATCH", url, json={"Name": "Acme 4"}, headers={"If-Unmodified-Since": _http_date(later)})
    assert ok.status_code == 204
    bad = api.call("PATCH", url, json={"Name": "x"}, headers={"If-Unmodified-Since": "yesterday"})
    assert bad.status_code == 400
