from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from workspace_helpers import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from make_world(tmp_path)
