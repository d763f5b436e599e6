"""How every command reaches Salesforce: the real org, or a local FakeSalesforce org in a file.

``[salesforce] fake_org = "org.json"`` (what ``sfsync demo`` and ``sfsync init --local`` write)
runs every command offline against a FakeSalesforce whose records persist in that file, so a
newcomer can inspect and rerun everything without an org.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings, Settings
from sfsync.errors import ConfigError, ErrorContext, LockHeldError
from sfsync.salesforce import SalesforceGateway

if TYPE_CHECKING:
    from sfsync.testing import FakeSalesforce

__all__ = ["connect_salesforce", "local_org_lock", "save_fake_org"]

# How long a command waits for another one (a sync, a desk decision) to finish with the local org file.
LOCAL_ORG_WAIT_SECONDS = 600.0


@contextmanager
def local_org_lock(path: Path, *, timeout_seconds: float = LOCAL_ORG_WAIT_SECONDS) -> Iterator[None]:
    """Hold the local org file for a load → change → save sequence (an exclusive ``flock`` on
    ``<org>.lock``).

    Every command loads the whole org, works on it in memory and saves it back: without this lock a
    desk decision saved while ``sfsync run`` works would be overwritten by the run's save (a lost
    update), and two runs would each keep only their own writes.
    """
    try:
        import fcntl
    except ModuleNotFoundError:  # pragma: no cover - not POSIX: no advisory locking
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeldError(
                        f"the local org file {path} is in use by another sfsync command (a sync or a desk "
                        f"decision) for more than {timeout_seconds:.0f} s; try again when it has finished",
                        ErrorContext(file=str(path)),
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def save_fake_org(fake: object, path: Path) -> None:
    """Write the fake org atomically: a crash mid-write never leaves a truncated file."""
    from sfsync.testing import FakeSalesforce

    if not isinstance(fake, FakeSalesforce):
        raise TypeError("fake must be a FakeSalesforce")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".org-", suffix=".json", dir=path.parent)
    os.close(handle)
    try:
        fake.save(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextmanager
def connect_salesforce(settings: Settings) -> Iterator[SalesforceGateway]:
    """A logged-in gateway; for a fake org, the org is loaded first and saved back afterwards."""
    fake_path = settings.salesforce.fake_org
    if fake_path is None:
        yield SalesforceGateway.connect(settings.salesforce)
        return
    if not fake_path.is_file():
        raise ConfigError(
            f"the local org file {fake_path} does not exist; run `sfsync demo` to create one, or remove "
            "[salesforce] fake_org to use a real org",
            ErrorContext(field_name="salesforce.fake_org"),
        )
    with local_org_lock(fake_path), _loaded_fake(fake_path) as fake:
        local = SalesforceSettings.model_validate(
            {
                **settings.salesforce.model_dump(exclude={"fake_org", "access_token"}),
                "auth": AuthMode.TOKEN,
                "instance_url": fake.instance_url,
                "access_token": SecretStr(fake.access_token),
                "fake_org": None,
            }
        )
        gateway = SalesforceGateway.connect(local)
        try:
            yield gateway
        finally:
            save_fake_org(fake, fake_path)


@contextmanager
def _loaded_fake(fake_path: Path) -> Iterator[FakeSalesforce]:
    from sfsync.testing import FakeSalesforce

    try:
        fake = FakeSalesforce.load(fake_path)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"the local org file {fake_path} cannot be read ({type(exc).__name__}); it may come from an older "
            "sfsync: rerun `sfsync demo` to rebuild it",
            ErrorContext(field_name="salesforce.fake_org"),
        ) from None
    with fake:
        yield fake
