"""End to end in a real browser: Debian's Chromium driven by Playwright, against a served sample desk.

Without Chromium these tests skip with the reason, except in CI (``CI`` set), where they fail: the
browser is part of what CI installs (``.ci/run``). Set ``SFSYNC_DESK_SCREENSHOTS=docs/desk`` to refresh
the screenshots in the docs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from desk_helpers import Desk
from desk_sample import SAMPLE_PASSWORD

from sfsync.cli import main
from sfsync.desk.org import REGISTRATION_OBJECT
from sfsync.errors import EXIT_FATAL

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _chromium() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    reason = "Chromium is not installed (apt-get install -y chromium)"
    if _in_ci():
        pytest.fail(f"{reason}; CI requires it", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        if _in_ci():
            pytest.fail("playwright is not installed; CI requires it", pytrace=False)
        pytest.skip("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def served(desk: Desk) -> Iterator[str]:
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(desk.app.app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the desk did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _shot(page: Any, name: str, tmp_path: Path) -> None:
    target = Path(os.environ.get("SFSYNC_DESK_SCREENSHOTS", str(tmp_path)))
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def _login(page: Any, base: str, user: str, password: str = SAMPLE_PASSWORD) -> None:
    page.goto(f"{base}/")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login")
    page.wait_for_selector("#queue")


def _org_record(desk: Desk, number: str) -> dict[str, Any]:
    data = json.loads((desk.sample.directory / "org.json").read_text())
    return next(r for r in data["records"][REGISTRATION_OBJECT] if r["Registration_Number__c"] == number)


def test_manager_logs_in_triages_and_approves(browser: Any, served: str, desk: Desk, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _login(page, served, "manager")
    rows = page.locator("#queue tbody tr")
    assert rows.count() == desk.sample.pending
    assert "breached" in page.inner_text("#queue")
    _shot(page, "queue", tmp_path)

    number = desk.number("clean")
    page.click(f"a[href='/registrations/{number}']")
    page.wait_for_selector("#triage")
    fields = page.inner_text("#partner-fields")
    assert "Coho Winery" in fields and "dana@cohowinery.example" in fields
    assert "approve" in page.inner_text("#recommendation")
    assert "Coho" not in page.url
    _shot(page, "registration", tmp_path)

    page.click("#approve")
    page.wait_for_selector("text=written to Salesforce")
    assert _org_record(desk, number)["Status__c"] == "Approved"
    assert "Approved" in page.inner_text("h1")

    page.click("a[href='/reports']")
    page.wait_for_selector("#sla svg")
    assert "SLA attainment (5 decided)" in page.inner_text("#sla")
    _shot(page, "reports", tmp_path)
    context.close()


def test_markup_in_partner_text_never_runs(browser: Any, served: str, desk: Desk) -> None:
    context = browser.new_context()
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _login(page, served, "manager")
    page.goto(f"{served}/registrations/{desk.number('script')}")
    assert "<script>alert('customer')</script> Evil Corp" in page.inner_text("#partner-fields")
    assert dialogs == [] and page.title() != "pwned"
    context.close()


def test_direct_rep_sees_nothing_decrypted(browser: Any, served: str, desk: Desk) -> None:
    context = browser.new_context()
    page = context.new_page()
    _login(page, served, "rep")
    page.goto(f"{served}/registrations/{desk.number('clean')}")
    body = page.inner_text("body")
    assert "Coho Winery" not in body and "cohowinery" not in body
    assert "Your role sees no confidential partner fields" in body
    assert page.locator("#approve").count() == 0
    context.close()


def test_audit_verify_catches_a_tampered_entry(
    browser: Any, served: str, desk: Desk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    _login(page, served, "auditor")
    page.goto(f"{served}/registrations/{desk.number('clean')}")
    page.goto(f"{served}/audit")
    assert "entries verified" in page.inner_text("body")
    log = desk.settings.desk.audit_log
    lines = log.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["registration"] = "DR-000001"  # someone hides which registration they read
    lines[-1] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    page.goto(f"{served}/audit")
    assert re.search(r"fails verification", page.inner_text("body"))
    _shot(page, "audit", tmp_path)
    context.close()
    capsys.readouterr()
    assert main(["--config", str(desk.sample.config), "audit", "verify"]) == EXIT_FATAL
    assert "was altered" in capsys.readouterr().err


@pytest.fixture
def demo_desk(tmp_path: Path) -> Iterator[Any]:
    """The real demo directory (`sfsync demo`), a manager in its desk, and the desk served."""
    import uvicorn

    from sfsync.config import load_settings
    from sfsync.desk.app import create_app
    from sfsync.desk.demo import add_demo_users
    from sfsync.services.demo import run_demo

    directory = tmp_path / "demo"
    run_demo(directory)
    settings = load_settings(directory / "sfsync.toml", environ={})
    password = add_demo_users(settings)  # what `sfsync demo` prints
    app = create_app(settings, cookie_secure=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app.app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the desk did not start")
        time.sleep(0.05)
    yield directory, f"http://127.0.0.1:{port}", password
    server.should_exit = True
    thread.join(timeout=10)
    app.org.close()


@pytest.mark.slow
def test_demo_decision_reaches_the_portal_after_a_sync(browser: Any, demo_desk: Any) -> None:
    import sqlite3
    import subprocess
    import sys

    directory, base, password = demo_desk
    context = browser.new_context()
    page = context.new_page()
    _login(page, base, "manager", password)
    first = page.locator("#queue tbody tr a").first
    number = first.inner_text()
    first.click()
    page.wait_for_selector("#triage")
    page.fill("input[name=protection_days]", "120")
    page.click("#approve")
    page.wait_for_selector("text=written to Salesforce")
    context.close()

    portal = directory / "portal.db"
    with sqlite3.connect(portal) as db:
        before = db.execute("SELECT status FROM deal_registrations WHERE registration_number = ?", (number,)).fetchone()
    assert before in {("submitted",), ("under_review",)}
    # `sfsync run` in its own process, as cron would run it beside the desk.
    result = subprocess.run(
        [sys.executable, "-m", "sfsync.cli", "--config", str(directory / "sfsync.toml"), "run"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    with sqlite3.connect(portal) as db:
        status, start, end = db.execute(
            "SELECT status, protection_start, protection_end FROM deal_registrations WHERE registration_number = ?",
            (number,),
        ).fetchone()
    assert status == "approved"
    assert start is not None and end is not None
    assert (directory / "desk" / "audit.jsonl").is_file()  # the demo's desk files stay in the demo directory


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def sso_served(sample_dir: Any) -> Iterator[tuple[Any, str, str]]:
    """A sample desk in Salesforce login mode, served, with FakeSalesforce's login page on a loopback port.

    The browser talks to the authorize endpoint over real HTTP (a small server handing the request to the
    fake); the desk's own calls (token, keys, userinfo, permission sets) reach the same fake in-process."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    import uvicorn

    from sfsync.config import load_settings
    from sfsync.desk.app import create_app

    desk_port, idp = _free_port(), None
    base = f"http://127.0.0.1:{desk_port}"
    holder: dict[str, Any] = {}

    class Authorize(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, headers, body = holder["fake"]._authorize(holder["idp"], query)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            return

    idp = ThreadingHTTPServer(("127.0.0.1", 0), Authorize)
    holder["idp"] = f"http://127.0.0.1:{idp.server_address[1]}"
    threading.Thread(target=idp.serve_forever, daemon=True).start()
    with sample_dir.config.open("a", encoding="utf-8") as config:
        config.write(
            f'\n[desk.login]\nmode = "salesforce"\nlogin_url = "{holder["idp"]}"\n'
            f'consumer_key = "3MVG9browser"\ncallback_url = "{base}/oauth/callback"\n'
        )
    secret = "browser-test-secret"
    app = create_app(
        load_settings(sample_dir.config, environ={"SFSYNC_DESK__LOGIN__CONSUMER_SECRET": secret}),
        cookie_secure=False,
    )
    app.org.open()
    fake = app.org.fake
    fake.consumer_key, fake.consumer_secret = "3MVG9browser", secret
    fake.signed_in_user = fake.add_user("cam@vendor.example", permission_sets=["sfsync_Channel_Manager"])
    holder["fake"] = fake
    server = uvicorn.Server(
        uvicorn.Config(app.app, host="127.0.0.1", port=desk_port, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the desk did not start")
        time.sleep(0.05)
    yield app, base, sample_dir.numbers["clean"]
    server.should_exit = True
    thread.join(timeout=10)
    idp.shutdown()
    app.org.close()


def test_salesforce_login_in_the_browser(browser: Any, sso_served: tuple[Any, str, str]) -> None:
    app, base, number = sso_served
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/registrations/{number}")
    assert page.locator("#password").count() == 0
    page.click("#login-salesforce")  # to the org's login page, which (signed in) sends the browser back
    page.wait_for_selector("#partner-fields")  # back where the user was going
    assert page.url == f"{base}/registrations/{number}"
    assert "cam@vendor.example (manager)" in page.inner_text("header")
    assert "Coho Winery" in page.inner_text("#partner-fields")
    assert [e.detail for e in app.audit.entries(user="cam@vendor.example") if e.action == "login"] == ["via salesforce"]
    context.close()
