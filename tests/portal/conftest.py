"""Portal tests run on SQLite and on a real PostgreSQL (private schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "portal.db"
        sa.create_engine(f"sqlite:///{path}").dispose()
        path.touch()
        yield f"sqlite:///{path}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def portal_engine(db_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db_url)
    yield engine
    engine.dispose()
