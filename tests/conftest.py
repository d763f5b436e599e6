"""Fixtures shared by the whole suite.

PostgreSQL is real in the tests about SQL portals and state stores. In CI (``CI`` set) a missing
server is a failure, never a skip; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from packaging_helpers import REPO, Distributions, build_distributions

# The FakeSalesforce fixtures (fake_salesforce, fake_salesforce_env) are opt-in: installing sfsync
# registers no pytest plugin anywhere; a suite that wants them loads them like this.
pytest_plugins = ["sfsync.testing.pytest_plugin"]

POSTGRES_URL = os.environ.get("SFSYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def _postgres_server() -> str:
    try:
        engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 5})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any driver or network failure means "no server"
        reason = f"PostgreSQL is not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}"
        if _in_ci():
            pytest.fail(f"{reason} (CI requires it)", pytrace=False)
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def postgres_url(_postgres_server: str) -> Iterator[str]:
    """A PostgreSQL URL whose default schema is private to this test and dropped afterwards."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_postgres_server)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in _postgres_server else "?"
    try:
        yield f"{_postgres_server}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def sfsync_distributions(tmp_path_factory: pytest.TempPathFactory) -> Distributions:
    """sfsync's wheel and sdist, built once per session from a fresh copy of the repository and shared by
    every test that installs or inspects them."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of the repository")
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return build_distributions(tmp_path_factory.mktemp("distributions"))
    # Under pytest-xdist (`make test` runs two workers, one file per worker at a time) the workers share
    # the parent of their base temporary directories: the first worker to ask builds there, under a lock,
    # and the other reuses its build (pytest-xdist's documented recipe for once-per-run fixtures).
    import fcntl

    shared = tmp_path_factory.getbasetemp().parent / "distributions"
    shared.mkdir(exist_ok=True)
    with (shared / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = shared / "built"
        if built.is_dir():
            wheels, sdists = sorted(built.glob("*.whl")), sorted(built.glob("*.tar.gz"))
            return Distributions(wheel=wheels[0], sdist=sdists[0])
        made = build_distributions(shared / "work")
        built.mkdir()
        return Distributions(wheel=Path(shutil.copy2(made.wheel, built)), sdist=Path(shutil.copy2(made.sdist, built)))
