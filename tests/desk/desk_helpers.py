"""Helpers the desk tests share: a hand-moved clock, a desk bundle, login and form scraping."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime

from desk_sample import SAMPLE_PASSWORD, SampleDesk

from sfsync.config import Settings
from sfsync.desk.app import DeskApp

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


@dataclass
class Clock:
    """Wall time and monotonic time the test moves by hand."""

    wall: datetime
    mono: float = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


@dataclass
class Desk:
    sample: SampleDesk
    settings: Settings
    app: DeskApp
    clock: Clock

    def number(self, case: str) -> str:
        return self.sample.numbers[case]

    def client(self, user: str | None = None) -> TestClient:
        client = TestClient(self.app.app, base_url="http://testserver")
        if user is not None:
            login(client, user)
        return client


def login(client: TestClient, user: str, password: str = SAMPLE_PASSWORD) -> None:
    response = client.post("/login", data={"username": user, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def modstamp_of(html: str) -> str:
    match = re.search(r'name="modstamp" value="([^"]+)"', html)
    assert match, "no decision form on the page"
    return match.group(1)
