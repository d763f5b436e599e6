"""A sample desk directory (sfsync.desk.sample) and desks built on it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from desk_helpers import Clock, Desk
from desk_sample import SampleDesk, build_sample_desk

from sfsync.config import load_settings
from sfsync.desk.app import DeskApp, create_app
from sfsync.text.time import utc_now


@pytest.fixture
def sample_dir(tmp_path: Path) -> SampleDesk:
    return build_sample_desk(tmp_path / "desk", cheap_hashes=True)


@pytest.fixture
def make_desk(sample_dir: SampleDesk) -> Iterator[Callable[[], Desk]]:
    made: list[DeskApp] = []

    def make() -> Desk:
        settings = load_settings(sample_dir.config, environ={})
        clock = Clock(utc_now())
        app = create_app(settings, cookie_secure=False, now=clock.now, monotonic=clock.monotonic)
        made.append(app)
        return Desk(sample_dir, settings, app, clock)

    yield make
    for app in made:
        app.org.close()


@pytest.fixture
def desk(make_desk: Callable[[], Desk]) -> Desk:
    return make_desk()
