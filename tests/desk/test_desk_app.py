"""HTTP tests of the desk through Starlette's test client, on a sample desk directory."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from desk_helpers import Desk, csrf_of, login, modstamp_of

from sfsync.desk.app import SESSION_COOKIE
from sfsync.desk.org import REGISTRATION_OBJECT


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", html, flags=re.S)))


def _decide(client: object, number: str, page: str, **form: str) -> object:
    data = {"csrf": csrf_of(page), "modstamp": modstamp_of(page), **form}
    return client.post(f"/registrations/{number}/decision", data=data, follow_redirects=True)  # type: ignore[attr-defined]


def _org_record(desk: Desk, number: str) -> dict[str, object]:
    data = json.loads(desk.sample.directory.joinpath("org.json").read_text())
    [record] = [r for r in data["records"][REGISTRATION_OBJECT] if r["Registration_Number__c"] == number]
    return record


# ---------------------------------------------------------------- login, sessions, headers
def test_anonymous_is_sent_to_login_and_headers_forbid_caching(desk: Desk) -> None:
    response = desk.client().get("/")
    assert response.status_code == 401
    assert 'action="/login"' in response.text
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_session_cookie_flags(desk: Desk) -> None:
    client = desk.client()
    response = client.post(
        "/login", data={"username": "manager", "password": "sample desk password"}, follow_redirects=False
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_secure_flag_when_configured(make_desk: Callable[[], Desk]) -> None:
    desk = make_desk()
    desk.app.cookie_secure = True
    response = desk.client().post(
        "/login", data={"username": "manager", "password": "sample desk password"}, follow_redirects=False
    )
    assert "Secure" in response.headers["set-cookie"]


def test_wrong_password_then_rate_limited(desk: Desk) -> None:
    client = desk.client()
    for _ in range(desk.settings.desk.login_attempts):
        response = client.post("/login", data={"username": "manager", "password": "wrong password!"})
        assert response.status_code == 401
    # Now even the right password is refused until the window passes.
    response = client.post("/login", data={"username": "manager", "password": "sample desk password"})
    assert response.status_code == 429
    desk.clock.mono += desk.settings.desk.login_window_seconds + 1
    login(client, "manager")


def test_failures_against_many_names_from_one_address_are_limited(desk: Desk) -> None:
    client = desk.client()
    for index in range(desk.settings.desk.login_attempts):
        client.post("/login", data={"username": f"guess{index}", "password": "wrong password!"})
    assert client.post("/login", data={"username": "rep", "password": "sample desk password"}).status_code == 429


def test_expired_session_goes_back_to_login_and_decides_nothing(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    desk.clock.mono += desk.settings.desk.session_minutes * 60 + 1
    response = client.post(
        f"/registrations/{number}/decision",
        data={"csrf": csrf_of(page), "modstamp": modstamp_of(page), "action": "approve", "protection_days": "90"},
    )
    assert response.status_code == 401
    assert "session has expired" in response.text
    assert _org_record(desk, number)["Status__c"] == "Submitted"


def test_open_redirect_after_login_is_refused(desk: Desk) -> None:
    client = desk.client()
    response = client.post(
        "/login",
        data={"username": "manager", "password": "sample desk password", "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_logout_needs_the_csrf_token(desk: Desk) -> None:
    client = desk.client("manager")
    page = client.get("/").text
    cookie = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf": "forged"})
    assert cookie in desk.app.sessions  # a forged (cross-site) logout ends nothing on the server
    client.cookies.set(SESSION_COOKIE, cookie)
    client.post("/logout", data={"csrf": csrf_of(page)})
    assert cookie not in desk.app.sessions
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/").status_code == 401


# ---------------------------------------------------------------- queue
def test_queue_orders_by_sla_and_shows_no_confidential_field(desk: Desk) -> None:
    client = desk.client("manager")
    response = client.get("/")
    assert response.status_code == 200
    numbers = re.findall(r'href="/(?:account-)?registrations/((?:DR|AR)-\d+)"', response.text)
    assert desk.number("approved") not in numbers  # decided: not in the queue
    assert desk.number("account_clean") in numbers  # account registrations wait beside deal registrations
    assert f"({desk.sample.pending})" in response.text
    hours = [float(h) for h in re.findall(r"</span> ([0-9.]+) h</td>", response.text)]
    assert hours == sorted(hours, reverse=True) and len(hours) == len(numbers)
    assert "Coho Winery" not in response.text and "Evil Corp" not in response.text
    assert "120000" not in response.text and "120,000" not in response.text  # the amount shows as its band only
    assert "breached" in response.text and "on time" in response.text


def test_queue_filters_and_pages(make_desk: Callable[[], Desk]) -> None:
    desk = make_desk()
    desk.app.desk = desk.app.desk.model_copy(update={"page_size": 5})
    client = desk.client("rep")
    first = client.get("/")
    assert "page 1 of" in first.text and len(re.findall(r'href="/(?:account-)?registrations/', first.text)) == 5
    pages = int(re.search(r"page 1 of (\d+)", first.text).group(1))  # type: ignore[union-attr]
    seen = set()
    for page in range(1, pages + 1):
        seen.update(re.findall(r'registrations/((?:DR|AR)-\d+)"', client.get(f"/?page={page}").text))
    assert len(seen) == desk.sample.pending
    fabrikam = client.get("/?partner=Fabrikam+Resellers&page=1").text
    assert "(12)" in fabrikam or "Fabrikam Resellers" in fabrikam
    filtered = client.get("/?tier=Certified").text
    rows = re.findall(r"<td>(Registered|Certified|Gold|Platinum)</td>", filtered)
    assert rows and set(rows) == {"Certified"}
    storage = client.get("/?product_line=Storage").text
    assert desk.number("storage") in storage and desk.number("small") not in storage
    emea = client.get("/?region=EMEA").text
    regions = re.findall(r'<td class="partner-region">(\w*)</td>', emea)
    assert regions and set(regions) == {"EMEA"}
    accounts = client.get("/?kind=account").text
    assert set(re.findall(r"registrations/([A-Z]{2})-", accounts)) == {"AR"}
    assert client.get("/?page=999").status_code == 200
    assert client.get("/?page=abc").status_code == 200


# ---------------------------------------------------------------- registration page
def test_manager_sees_plaintext_triage_and_the_view_is_audited(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    response = client.get(f"/registrations/{number}")
    text = _text(response.text)
    assert "Coho Winery" in text and "dana@cohowinery.example" in text
    assert "Recommendation: approve" in text
    assert response.headers["cache-control"] == "no-store"
    [view] = [e for e in desk.app.audit.entries(registration=number) if e.action == "view"]
    assert view.user == "manager" and "End_Customer_Name__c" in view.detail
    assert "Coho" not in desk.app.audit.path.read_text()


def test_direct_rep_sees_nothing_decrypted_and_cannot_decide(desk: Desk) -> None:
    client = desk.client("rep")
    number = desk.number("clean")
    response = client.get(f"/registrations/{number}")
    assert response.status_code == 200
    assert "Coho Winery" not in response.text and "cohowinery" not in response.text
    assert "Customer wants a server refresh" not in response.text
    assert "confidential" in response.text
    assert 'name="modstamp"' not in response.text  # no decision form
    assert not [e for e in desk.app.audit.entries(registration=number) if e.action == "view"]
    forged = client.post(
        f"/registrations/{number}/decision", data={"csrf": csrf_of(response.text), "modstamp": "x", "action": "approve"}
    )
    assert forged.status_code == 403
    assert _org_record(desk, number)["Status__c"] == "Submitted"


def test_auditor_reads_but_cannot_decide(desk: Desk) -> None:
    client = desk.client("auditor")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    assert "Coho Winery" in page and 'name="modstamp"' not in page
    response = client.post(f"/registrations/{number}/decision", data={"csrf": csrf_of(page), "action": "approve"})
    assert response.status_code == 403
    assert client.get("/audit").status_code == 200
    assert desk.client("manager").get("/audit").status_code == 403


def test_partner_markup_is_escaped(desk: Desk) -> None:
    client = desk.client("manager")
    response = client.get(f"/registrations/{desk.number('script')}")
    assert "<script>" not in response.text and "<img src=x" not in response.text
    assert "&lt;script&gt;alert(&#39;customer&#39;)&lt;/script&gt; Evil Corp" in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


def test_destroyed_key_shows_cannot_decrypt_not_a_crash(desk: Desk) -> None:
    client = desk.client("manager")
    response = client.get(f"/registrations/{desk.number('shredded')}")
    assert response.status_code == 200
    assert "cannot decrypt: key destroyed" in response.text
    assert "Adventure Works" not in response.text
    assert "Recommendation: review" in _text(response.text)


def test_tampered_or_moved_value_says_so(desk: Desk) -> None:
    fake = desk.app.org
    desk.app.org.open()
    source = _org_record(desk, desk.number("clean"))
    target = desk.number("small")
    record = next(r for r in fake.fake.records(REGISTRATION_OBJECT) if r["Registration_Number__c"] == target)
    # The clean registration's customer name copied into another record: bound to its place, it will not open.
    fake.fake.update(
        REGISTRATION_OBJECT,
        record["Id"],
        {"End_Customer_Name__c": source["End_Customer_Name__c"], "Customer_Contact_Name__c": "not a token"},
    )
    response = desk.client("manager").get(f"/registrations/{target}")
    assert "cannot decrypt: DecryptionError (tampered or moved value)" in response.text
    assert "cannot decrypt: not an sfsync token" in response.text
    assert "Coho Winery" not in response.text


def test_hundred_kilobytes_of_notes(desk: Desk) -> None:
    desk.app.org.open()
    org = desk.app.org.fake
    number = desk.number("small")
    record = next(r for r in org.records(REGISTRATION_OBJECT) if r["Registration_Number__c"] == number)
    from sfsync.crypto import FieldCipher, FieldContext, load_keyring

    cipher = FieldCipher(load_keyring(desk.settings))
    repeat = 102_400 // len("<b>x</b> ")
    notes = "<b>x</b> " * repeat
    token = cipher.encrypt(notes, FieldContext(REGISTRATION_OBJECT, "Competitive_Notes__c", number))
    # A real org could hold this in a widened Long Text Area; the fake's schema says 32768, so set it directly.
    org._records[REGISTRATION_OBJECT][record["Id"]]["Competitive_Notes__c"] = token
    response = desk.client("manager").get(f"/registrations/{number}")
    assert response.status_code == 200
    assert response.text.count("&lt;b&gt;x&lt;/b&gt;") == repeat
    assert "<b>x</b>" not in response.text


def test_triage_failures_and_conflicts(desk: Desk) -> None:
    client = desk.client("manager")
    small = _text(client.get(f"/registrations/{desk.number('small')}").text)
    assert "Recommendation: reject (Below minimum deal size)" in small
    storage = _text(client.get(f"/registrations/{desk.number('storage')}").text)
    assert "Storage is always registered" in storage
    over = _text(client.get(f"/registrations/{desk.number('over_limit')}").text)
    assert "Tier registration limit reached" in over and "limit 10" in over
    conflict = _text(client.get(f"/registrations/{desk.number('conflict')}").text)
    assert "Blue Yonder - data centre refresh" in conflict and "92.5" in conflict
    assert "Recommendation: reject" in conflict
    missing = _text(client.get(f"/registrations/{desk.number('no_contact')}").text)
    assert "Recommendation: request info" in missing


def test_unknown_or_deleted_registration_is_a_404_page(desk: Desk) -> None:
    client = desk.client("manager")
    assert client.get("/registrations/DR-000000").status_code == 404
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    record = next(r for r in desk.app.org.fake.records(REGISTRATION_OBJECT) if r["Registration_Number__c"] == number)
    desk.app.org.fake.delete(REGISTRATION_OBJECT, record["Id"])
    response = client.post(
        f"/registrations/{number}/decision",
        data={"csrf": csrf_of(page), "modstamp": modstamp_of(page), "action": "approve", "protection_days": "90"},
    )
    assert response.status_code == 404
    assert "not in Salesforce" in response.text


# ---------------------------------------------------------------- decisions
def test_approve_writes_to_the_org_file_and_is_idempotent(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    response = _decide(client, number, page, action="approve", protection_days="120")
    assert "Approved — written to Salesforce" in response.text  # type: ignore[attr-defined]
    record = _org_record(desk, number)
    today = desk.clock.wall.date()
    assert record["Status__c"] == "Approved"
    assert record["Protection_End__c"] == (today + timedelta(days=120)).isoformat()
    # The same form submitted again (double click, back button): nothing written twice.
    again = _decide(client, number, page, action="approve", protection_days="120")
    assert "already recorded" in again.text  # type: ignore[attr-defined]
    assert _org_record(desk, number)["SystemModstamp"] == record["SystemModstamp"]
    decisions = [e for e in desk.app.audit.entries(registration=number) if e.action.startswith("decision")]
    assert [e.action for e in decisions] == ["decision:approve"]
    assert number not in client.get("/").text


def test_a_decision_while_a_sync_holds_the_local_org_waits_then_says_so(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sfsync run` holds org.json from its load to its save; a decision meanwhile must not be saved in
    between (the run's save would drop it): it waits, and past the wait says so and writes nothing."""
    import sfsync.desk.org as desk_org
    from sfsync.services.connect import local_org_lock

    monkeypatch.setattr(desk_org, "LOCAL_ORG_WAIT_SECONDS", 0.2)
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    before = _org_record(desk, number)
    with local_org_lock(desk.sample.directory / "org.json"):
        response = _decide(client, number, page, action="approve", protection_days="90")
    assert "in use by another sfsync command" in response.text  # type: ignore[attr-defined]
    assert _org_record(desk, number) == before
    assert not [e for e in desk.app.audit.entries(registration=number) if e.action.startswith("decision:")]
    page = client.get(f"/registrations/{number}").text
    assert (
        "Approved — written to Salesforce" in _decide(client, number, page, action="approve", protection_days="90").text
    )  # type: ignore[attr-defined]


def test_second_manager_is_told_and_nothing_is_overwritten(make_desk: Callable[[], Desk]) -> None:
    desk = make_desk()
    number = desk.number("clean")
    first, second = desk.client("manager"), desk.client("manager2")
    page_first = first.get(f"/registrations/{number}").text
    page_second = second.get(f"/registrations/{number}").text
    _decide(first, number, page_first, action="reject", reason="Other", text="duplicate")
    response = _decide(second, number, page_second, action="approve", protection_days="90")
    assert "changed by someone else" in response.text  # type: ignore[attr-defined]
    assert "nothing was written" in response.text  # type: ignore[attr-defined]
    record = _org_record(desk, number)
    assert record["Status__c"] == "Rejected" and record["Decision_Reason__c"] == "Other: duplicate"
    refused = [e for e in desk.app.audit.entries(registration=number) if e.action == "decision-refused"]
    assert [e.user for e in refused] == ["manager2"]


def test_change_made_elsewhere_after_opening_blocks_the_write(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    record = next(r for r in desk.app.org.fake.records(REGISTRATION_OBJECT) if r["Registration_Number__c"] == number)
    desk.app.org.fake.update(REGISTRATION_OBJECT, record["Id"], {"Status__c": "Under Review"})
    response = _decide(client, number, page, action="approve", protection_days="90")
    assert "changed by someone else" in response.text  # type: ignore[attr-defined]


def test_decision_written_to_the_org_file_by_another_process_is_seen(desk: Desk) -> None:
    """Another command (another desk, `sfsync run`) rewrites org.json: the desk reloads it before deciding."""
    from sfsync.services.connect import save_fake_org
    from sfsync.testing import FakeSalesforce

    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    path = desk.sample.directory / "org.json"
    other = FakeSalesforce.load(path)
    record = next(r for r in other.records(REGISTRATION_OBJECT) if r["Registration_Number__c"] == number)
    other.update(REGISTRATION_OBJECT, record["Id"], {"Status__c": "Rejected", "Decision_Reason__c": "Other"})
    save_fake_org(other, path)
    response = _decide(client, number, page, action="approve", protection_days="90")
    assert "changed by someone else" in response.text  # type: ignore[attr-defined]
    assert _org_record(desk, number)["Status__c"] == "Rejected"
    assert number not in client.get("/").text


def test_reject_needs_a_reason_from_the_picklist(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("small")
    page = client.get(f"/registrations/{number}").text
    assert "Choose a rejection reason" in _decide(client, number, page, action="reject", reason="made up").text  # type: ignore[attr-defined]
    assert _org_record(desk, number)["Status__c"] == "Submitted"
    response = _decide(client, number, page, action="reject", reason="Below minimum deal size", text="20k")
    assert "Rejected" in response.text  # type: ignore[attr-defined]
    assert _org_record(desk, number)["Decision_Reason__c"] == "Below minimum deal size: 20k"


def test_protection_window_bounds(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    for bad in ("0", "100000", "ninety"):
        response = _decide(client, number, page, action="approve", protection_days=bad)
        assert "protection window must" in response.text  # type: ignore[attr-defined]
    assert _org_record(desk, number)["Status__c"] == "Submitted"


def test_request_info_keeps_it_in_the_queue(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("no_contact")
    page = client.get(f"/registrations/{number}").text
    assert "Say what information" in _decide(client, number, page, action="request_info").text  # type: ignore[attr-defined]
    _decide(client, number, page, action="request_info", text="Who is the customer contact?")
    record = _org_record(desk, number)
    assert record["Status__c"] == "Under Review"
    assert record["Decision_Reason__c"] == "Information requested: Who is the customer contact?"
    queue = client.get("/").text
    assert number in queue and "information requested" in queue


def test_forged_csrf_token_is_refused(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    response = client.post(
        f"/registrations/{number}/decision", data={"csrf": "forged", "modstamp": modstamp_of(page), "action": "approve"}
    )
    assert response.status_code == 403
    assert _org_record(desk, number)["Status__c"] == "Submitted"


def test_no_plaintext_in_logs_or_urls(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = desk.client("manager")
    number = desk.number("clean")
    page = client.get(f"/registrations/{number}").text
    assert "Coho" not in " ".join(re.findall(r'(?:href|action)="([^"]*)"', page))
    _decide(client, number, page, action="approve", protection_days="90")
    assert "Coho" not in caplog.text and "cohowinery" not in caplog.text


def test_queue_refresh_folds_in_new_changed_and_deleted_rows(desk: Desk) -> None:
    client = desk.client("manager")
    before = client.get("/").text
    assert f"({desk.sample.pending})" in before
    org = desk.app.org
    org._queue_cache_seconds = 0.0
    fake = org.fake
    records = {r["Registration_Number__c"]: r for r in fake.records(REGISTRATION_OBJECT)}
    partner = records[desk.number("clean")]["Partner_Account__c"]
    fake.insert(
        REGISTRATION_OBJECT,
        {
            "Registration_Number__c": "DR-955555",
            "Partner_Account__c": partner,
            "Status__c": "Submitted",
            "Product_Lines__c": "Servers",
            "Amount__c": 1,
            "Submitted_At__c": "2026-11-20T10:00:00+00:00",
        },
    )
    fake.update(REGISTRATION_OBJECT, records[desk.number("small")]["Id"], {"Status__c": "Rejected"})
    fake.delete(REGISTRATION_OBJECT, records[desk.number("storage")]["Id"])
    fake.update(
        REGISTRATION_OBJECT, records[desk.number("script")]["Id"], {"Withdrawn_At__c": "2026-11-29T10:00:00+00:00"}
    )
    after = client.get("/").text
    numbers = set(re.findall(r'href="/registrations/(DR-\d+)"', after))
    assert "DR-955555" in numbers
    assert not {desk.number("small"), desk.number("storage"), desk.number("script")} & numbers
    assert f"({desk.sample.pending - 2})" in after


def test_extend_protection_of_an_approved_registration(desk: Desk) -> None:
    client = desk.client("manager")
    number = desk.number("approved")
    page = client.get(f"/registrations/{number}").text
    assert 'id="extend-button"' in page and 'name="modstamp"' in page
    before = _org_record(desk, number)
    end = before["Protection_End__c"]
    data = {
        "csrf": csrf_of(page),
        "modstamp": modstamp_of(page),
        "action": "extend",
        "extend_days": "30",
        "protection_start": before["Protection_Start__c"],
        "protection_end": end,
    }
    response = client.post(f"/registrations/{number}/decision", data=data, follow_redirects=True)
    assert "protection extended" in response.text
    from datetime import date

    after = _org_record(desk, number)
    assert after["Protection_End__c"] == (date.fromisoformat(str(end)) + timedelta(days=30)).isoformat()
    assert after["Status__c"] == "Approved"
    again = client.post(f"/registrations/{number}/decision", data=data, follow_redirects=True)
    assert "already recorded" in again.text
    assert _org_record(desk, number)["Protection_End__c"] == after["Protection_End__c"]
    too_long = client.post(
        f"/registrations/{number}/decision",
        data={**data, "modstamp": after["SystemModstamp"], "extend_days": "400"},
        follow_redirects=True,
    )
    assert "at most 180 days" in too_long.text
    # An extension is not a way to decide a pending registration.
    pending = desk.number("clean")
    pending_page = client.get(f"/registrations/{pending}").text
    response = client.post(
        f"/registrations/{pending}/decision",
        follow_redirects=True,
        data={**data, "csrf": csrf_of(pending_page), "modstamp": modstamp_of(pending_page)},
    )
    assert "already Submitted" in response.text or "nothing was written" in response.text
    assert _org_record(desk, pending)["Status__c"] == "Submitted"


@pytest.mark.parametrize("number", ["DR-1' OR Status__c != '", "..%2F..%2Forg.json", "DR-900001\\", "%00", "x" * 5000])
def test_hostile_registration_numbers_are_just_not_found(desk: Desk, number: str) -> None:
    response = desk.client("manager").get(f"/registrations/{number}")
    assert response.status_code == 404
    assert "Coho Winery" not in response.text
