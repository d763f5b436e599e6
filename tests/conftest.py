"""Fixtures shared by the whole suite.

PostgreSQL is real in the tests about SQL portals and state stores. In CI (``CI`` set) a missing
server is a failure, never a skip; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

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
    return build_distributions(tmp_path_factory.mktemp("distributions"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep expensive shared set-up to one worker under pytest-xdist (``make test`` runs two, with
    ``--dist loadgroup``): the tests of a module with a module-scoped fixture run in one worker, so it is
    set up once; every test of a file that uses the built wheel and sdist runs in one worker, so the
    session builds them once, not once per worker."""
    group_of: dict[str, str] = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        definitions = getattr(item, "_fixtureinfo", None)
        names = definitions.name2fixturedefs if definitions is not None else {}
        if "sfsync_distributions" in names:
            group_of[path] = "distributions"
        elif path not in group_of and any(defs[-1].scope == "module" for defs in names.values() if defs):
            group_of[path] = path
    for item in items:
        group = group_of.get(item.nodeid.split("::", 1)[0])
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
