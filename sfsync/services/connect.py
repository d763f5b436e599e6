"""How every command reaches Salesforce: the real org, or a local FakeSalesforce org in a file.

``[salesforce] fake_org = "org.json"`` (what ``sfsync demo`` and ``sfsync init --local`` write)
runs every command offline against a FakeSalesforce whose records persist in that file, so a
newcomer can inspect and rerun everything without an org.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings, Settings
from sfsync.errors import ConfigError, ErrorContext
from sfsync.salesforce import SalesforceGateway

__all__ = ["connect_salesforce", "save_fake_org"]


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
    from sfsync.testing import FakeSalesforce

    if not fake_path.is_file():
        raise ConfigError(
            f"the local org file {fake_path} does not exist; run `sfsync demo` to create one, or remove "
            "[salesforce] fake_org to use a real org",
            ErrorContext(field_name="salesforce.fake_org"),
        )
    try:
        fake = FakeSalesforce.load(fake_path)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"the local org file {fake_path} cannot be read ({type(exc).__name__}); it may come from an older "
            "sfsync: rerun `sfsync demo` to rebuild it",
            ErrorContext(field_name="salesforce.fake_org"),
        ) from None
    with fake:
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
