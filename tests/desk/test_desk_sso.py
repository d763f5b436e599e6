"""Salesforce as the desk's identity provider, against FakeSalesforce (the sample's local org answers the
authorize, token, userinfo and keys endpoints, and holds the users' permission set assignments)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from desk_helpers import Clock
from desk_sample import SampleDesk

from sfsync.config import load_settings
from sfsync.desk.app import SESSION_COOKIE, DeskApp, create_app
from sfsync.errors import ConfigError
from sfsync.text.time import utc_now

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CALLBACK = "https://desk.example/oauth/callback"
SECRET = "desk-app-secret-for-tests-only"
LOGIN_SECTION = f"""
[desk.login]
mode = "salesforce"
consumer_key = "3MVG9deskTestApp"
callback_url = "{CALLBACK}"
"""


@dataclass
class Sso:
    app: DeskApp
    fake: Any
    users: dict[str, str]

    def client(self) -> TestClient:
        return TestClient(self.app.app, base_url="http://testserver")

    def to_salesforce(self, client: TestClient, user: str | None) -> str:
        """Start a login and let ``user`` log in at Salesforce: the callback URL Salesforce redirects to."""
        self.fake.signed_in_user = self.users[user] if user else None
        start = client.get("/oauth/start?next=/", follow_redirects=False)
        assert start.status_code == 303
        assert start.headers["location"].startswith("https://login.salesforce.com/services/oauth2/authorize?")
        answer = requests.get(start.headers["location"], allow_redirects=False, timeout=5)
        assert answer.status_code == 302
        return str(answer.headers["Location"])

    def callback(self, client: TestClient, url: str) -> Any:
        assert url.startswith(CALLBACK)
        parts = urlsplit(url)
        return client.get(f"{parts.path}?{parts.query}", follow_redirects=False)

    def login(self, client: TestClient, user: str) -> Any:
        return self.callback(client, self.to_salesforce(client, user))


@pytest.fixture
def sso(sample_dir: SampleDesk, request: pytest.FixtureRequest) -> Iterator[Sso]:
    """The desk with Salesforce login; a test may pin the desk's org with ``@pytest.mark.parametrize("sso",
    ["org_id = ..."], indirect=True)``."""
    with sample_dir.config.open("a", encoding="utf-8") as config:
        config.write(LOGIN_SECTION + (f"{request.param}\n" if hasattr(request, "param") else ""))
    settings = load_settings(sample_dir.config, environ={"SFSYNC_DESK__LOGIN__CONSUMER_SECRET": SECRET})
    clock = Clock(utc_now())
    app = create_app(settings, cookie_secure=False, now=clock.now, monotonic=clock.monotonic)
    app.org.open()
    fake = app.org.fake
    # The connected app the desk is registered as, and the org's users with their permission sets.
    fake.consumer_key, fake.consumer_secret = "3MVG9deskTestApp", SECRET
    fake.oauth_callback_urls = {CALLBACK}
    users = {
        "manager": fake.add_user("cam@vendor.example", permission_sets=["sfsync_Channel_Manager"]),
        "auditor": fake.add_user("audrey@vendor.example", permission_sets=["sfsync_Channel_Auditor"]),
        "rep": fake.add_user("rex@vendor.example", permission_sets=["sfsync_Direct_Rep"]),
        "nobody": fake.add_user("nina@vendor.example"),
    }
    yield Sso(app, fake, users)
    app.org.close()


def test_manager_logs_in_with_salesforce_and_reads_plaintext(sso: Sso, sample_dir: SampleDesk) -> None:
    client = sso.client()
    response = sso.login(client, "manager")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert SESSION_COOKIE in response.headers["set-cookie"] and "HttpOnly" in response.headers["set-cookie"]
    page = client.get(f"/registrations/{sample_dir.numbers['clean']}").text
    assert "Coho Winery" in page and 'id="approve"' in page
    assert "cam@vendor.example (manager)" in page
    [entry] = [e for e in sso.app.audit.entries(user="cam@vendor.example") if e.action == "login"]
    assert entry.detail == "via salesforce"


def test_auditor_permission_set_gives_the_read_only_role(sso: Sso) -> None:
    client = sso.client()
    assert sso.login(client, "auditor").status_code == 303
    assert client.get("/audit").status_code == 200
    assert "audrey@vendor.example (auditor)" in client.get("/").text


@pytest.mark.parametrize("user", ["rep", "nobody"])
def test_direct_rep_or_user_without_a_desk_permission_set_is_refused(sso: Sso, user: str) -> None:
    client = sso.client()
    response = sso.login(client, user)
    assert response.status_code == 403
    assert "the desk shows you nothing" in response.text
    assert f"{SESSION_COOKIE}=" not in response.headers.get("set-cookie", "")
    assert client.get("/").status_code == 401
    refused = [e for e in sso.app.audit.entries() if e.action == "login-refused"]
    expected = {"rep": "rex@vendor.example", "nobody": "nina@vendor.example"}[user]
    assert [e.user for e in refused] == [expected]


def test_replayed_callback_is_refused(sso: Sso) -> None:
    client = sso.client()
    url = sso.to_salesforce(client, "manager")
    assert sso.callback(client, url).status_code == 303
    again = sso.callback(sso.client(), url)
    assert again.status_code == 401 and "unknown, used already or expired" in again.text
    replay_same_browser = sso.callback(client, url)
    assert replay_same_browser.status_code == 401


def test_callback_in_another_browser_or_with_a_forged_state_is_refused(sso: Sso) -> None:
    started = sso.client()
    url = sso.to_salesforce(started, "manager")
    other = sso.client()  # no login cookie: a link sent to someone else (login CSRF)
    response = sso.callback(other, url)
    assert response.status_code == 401 and "another browser" in response.text
    forged = sso.callback(sso.client(), f"{CALLBACK}?code=aPrxforged&state=made-up")
    assert forged.status_code == 401 and "unknown" in forged.text


def test_salesforce_error_on_the_callback_is_shown_escaped(sso: Sso) -> None:
    client = sso.client()
    url = sso.to_salesforce(client, "manager")
    state = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["state"]
    response = sso.callback(
        client, f"{CALLBACK}?error=access_denied&error_description=%3Cscript%3Ex%3C%2Fscript%3E&state={state}"
    )
    assert response.status_code == 401
    assert "access_denied" in response.text and "<script>x" not in response.text


def _tamper_code(sso: Sso, url: str, **changes: Any) -> None:
    code = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))["code"]
    sso.fake._auth_codes[code].update(changes)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"nonce": "another-login"}, "nonce mismatch"),
        ({"client_id": "3MVG9someOtherApp"}, "another application"),
        ({"host": "https://evil.example"}, "another login server"),
    ],
)
def test_id_token_with_wrong_claims_is_refused(sso: Sso, changes: dict[str, str], words: str) -> None:
    client = sso.client()
    url = sso.to_salesforce(client, "manager")
    _tamper_code(sso, url, **changes)
    response = sso.callback(client, url)
    assert response.status_code == 401 and words in response.text
    assert client.get("/").status_code == 401


def test_expired_id_token_is_refused(sso: Sso) -> None:
    client = sso.client()
    url = sso.to_salesforce(client, "manager")
    real = sso.fake.clock
    sso.fake.clock = lambda: real() - timedelta(hours=1)  # the org issued it an hour ago: exp has passed
    response = sso.callback(client, url)
    assert response.status_code == 401 and "expired" in response.text


def test_id_token_signed_by_another_key_is_refused(sso: Sso) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    assert sso.login(sso.client(), "manager").status_code == 303  # the desk now knows the org's key
    sso.fake._oidc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # same kid, other key
    response = sso.login(sso.client(), "manager")
    assert response.status_code == 401 and "signature does not verify" in response.text


def test_password_login_is_off_in_salesforce_mode(sso: Sso) -> None:
    client = sso.client()
    form = client.get("/login").text
    assert 'id="login-salesforce"' in form and 'name="password"' not in form
    response = client.post("/login", data={"username": "manager", "password": "sample desk password"})
    assert response.status_code == 400 and client.get("/").status_code == 401


def test_salesforce_login_settings_are_checked(sample_dir: SampleDesk, tmp_path: Any) -> None:
    with sample_dir.config.open("a", encoding="utf-8") as config:
        config.write(LOGIN_SECTION)
    with pytest.raises(ConfigError, match="consumer_secret"):
        load_settings(sample_dir.config, environ={})
    secret_in_file = tmp_path / "bad.toml"
    secret_in_file.write_text(sample_dir.config.read_text() + 'consumer_secret = "oops"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[desk.login\] consumer_secret is a secret"):
        load_settings(secret_in_file, environ={})


def test_start_needs_salesforce_mode(make_desk: Callable[[], Any]) -> None:
    desk = make_desk()
    assert desk.client().get("/oauth/start").status_code == 404


def test_fake_org_id_is_a_well_formed_salesforce_id() -> None:
    from sfsync.config import DeskLoginSettings
    from sfsync.testing import FakeSalesforce

    assert DeskLoginSettings(org_id=FakeSalesforce().org_id).org_id is not None
    with pytest.raises(ValueError, match="organization Id"):
        DeskLoginSettings(org_id="00D5g0000000FAKEEAQ")  # 19 characters


@pytest.mark.parametrize("sso", ['org_id = "00D5g0000000FAK"'], indirect=True)
def test_a_pinned_org_admits_its_own_users(sso: Sso) -> None:
    assert sso.fake.org_id.startswith("00D5g0000000FAK")
    assert sso.login(sso.client(), "manager").status_code == 303


@pytest.mark.parametrize("sso", ['org_id = "00D0A0000000OTHER2"'], indirect=True)
def test_a_user_of_another_org_is_refused_before_any_permission_lookup(
    sso: Sso, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Salesforce vouches for users of every org; a manager permission set in another org means nothing here."""
    lookups: list[str] = []
    monkeypatch.setattr(sso.app.org, "permission_sets", lambda user_id: lookups.append(user_id) or set())
    client = sso.client()
    response = sso.login(client, "manager")
    assert response.status_code == 403
    assert "another org" in response.text
    assert lookups == []
    assert client.get("/").status_code == 401
    [refused] = [e for e in sso.app.audit.entries() if e.action == "login-refused"]
    assert refused.detail == "via salesforce; another org"
