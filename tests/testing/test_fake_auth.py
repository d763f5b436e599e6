"""Login endpoints for every auth mode, driven by simple-salesforce and by plain requests."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
import simple_salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from sfsync.testing import FakeSalesforce

TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"


def works(sf: simple_salesforce.Salesforce, fake: FakeSalesforce) -> None:
    assert sf.sf_instance == "fake-org.my.salesforce.com"
    assert sf.query("SELECT Id FROM User")["totalSize"] == 1
    assert fake.api_calls >= 1


def test_soap_login_with_security_token(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        username=fake.username, password=fake.password, security_token=fake.security_token, version=fake.api_version
    )
    works(sf, fake)
    assert fake.api_calls == 1  # the login itself is not an API call


def test_soap_login_failure_is_a_fault(fake: FakeSalesforce) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        simple_salesforce.Salesforce(
            username=fake.username, password="wrong", security_token=fake.security_token, version=fake.api_version
        )
    assert info.value.code == "INVALID_LOGIN"
    raw = requests.post(
        "https://login.salesforce.com/services/Soap/u/60.0",
        timeout=5,
        data="<login><username>x</username><password>y</password></login>",
    )
    assert raw.status_code == 500
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in raw.text
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in raw.text


def test_jwt_bearer_login_verifies_the_signature(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        username=fake.username,
        consumer_key=fake.consumer_key,
        privatekey=fake.jwt_private_key_pem,
        version=fake.api_version,
    )
    works(sf, fake)
    other = FakeSalesforce()  # a different key pair
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        simple_salesforce.Salesforce(
            username=fake.username,
            consumer_key=fake.consumer_key,
            privatekey=other.jwt_private_key_pem,
            version=fake.api_version,
        )
    assert info.value.code == "invalid_grant"


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"iss": "someone-else"}, "invalid client credentials"),
        ({"sub": "nobody@example.com"}, "user hasn't approved this consumer"),
        ({"aud": "https://evil.example.com"}, "audience is invalid"),
        ({"exp": 1}, "expired authorization code"),
    ],
)
def test_jwt_claims_are_checked(fake: FakeSalesforce, claims: dict[str, object], description: str) -> None:
    payload = {
        "iss": fake.consumer_key,
        "sub": fake.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
        **claims,
    }
    assertion = jwt.encode(payload, fake.jwt_private_key_pem, algorithm="RS256")
    response = requests.post(
        TOKEN_URL, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}, timeout=5
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": description}


def test_client_credentials_login(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        domain="fake-org.my",
        version=fake.api_version,
    )
    works(sf, fake)
    response = requests.post(
        "https://fake-org.my.salesforce.com/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": fake.consumer_key, "client_secret": "wrong"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_oauth_password_login(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        username=fake.username,
        password=fake.password,
        consumer_key=fake.consumer_key,
        consumer_secret=fake.consumer_secret,
        version=fake.api_version,
    )
    works(sf, fake)


def test_token_response_shape(fake: FakeSalesforce) -> None:
    response = requests.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": fake.consumer_key,
            "client_secret": fake.consumer_secret,
        },
        timeout=5,
    )
    body = response.json()
    assert response.status_code == 200
    assert {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"} <= set(body)
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == fake.instance_url
    assert body["id"].endswith(f"/{fake.org_id}/{fake.user_id}")
    api = requests.get(
        f"{fake.instance_url}/services/data/v60.0/limits",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=5,
    )
    assert api.status_code == 200


def test_unknown_grant_type(fake: FakeSalesforce) -> None:
    response = requests.post(TOKEN_URL, data={"grant_type": "urn:example:no-such-grant"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_token_auth_with_simple_salesforce(fake: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
    )
    works(sf, fake)
    bad = simple_salesforce.Salesforce(instance_url=fake.instance_url, session_id="expired", version=fake.api_version)
    with pytest.raises(simple_salesforce.exceptions.SalesforceExpiredSession):
        bad.query("SELECT Id FROM User")


def test_jwt_without_a_known_public_key_is_decoded_unverified() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with FakeSalesforce() as fake:  # never asked for its own key pair: signatures are not checked
        sf = simple_salesforce.Salesforce(
            username=fake.username, consumer_key=fake.consumer_key, privatekey=pem, version=fake.api_version
        )
        works(sf, fake)
