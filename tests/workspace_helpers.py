"""A small world for engine tests: portal, state store, fake org, keyring."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from sfsync.config import AuthMode, SalesforceSettings
from sfsync.crypto import Keyring
from sfsync.mapping import MappingSet, load_mappings
from sfsync.portal import SqlPortal
from sfsync.salesforce import SalesforceGateway
from sfsync.services.connect import save_fake_org
from sfsync.services.demo_data import create_portal, seed_org
from sfsync.sync._engine import EngineOptions, SyncEngine, SyncOptions
from sfsync.sync._protect import KeyringProtector
from sfsync.sync._state import StateStore
from sfsync.testing import FakeSalesforce, FaultPlan, export_org_metadata

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@dataclass
class World:
    """A portal, a state store, a fake org and an engine over the deal registration mapping."""

    root: Path
    portal_url: str
    state_url: str
    fake: FakeSalesforce
    mappings: MappingSet
    keyring: Keyring
    gateway: SalesforceGateway

    def engine(self, **overrides: Any) -> SyncEngine:
        options: dict[str, Any] = {
            "mappings": self.mappings,
            "portal": SqlPortal(self.portal_url),
            "state": StateStore(self.state_url),
            "salesforce": self.gateway,
            "protector": KeyringProtector(self.keyring),
        }
        tuning = {k: overrides.pop(k) for k in list(overrides) if k in EngineOptions.model_fields}
        options.update(overrides)
        return SyncEngine(**options, options=EngineOptions(**tuning))

    def run(self, **options: Any) -> Any:
        options.setdefault("mappings", ("deal_registration",))
        return self.engine().run(SyncOptions(**options))

    def portal_rows(self, table: str = "deal_registrations") -> list[dict[str, Any]]:
        engine = sa.create_engine(self.portal_url)
        with engine.connect() as connection:
            rows = [dict(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()]
        engine.dispose()
        return rows

    def portal_execute(self, sql: str, **params: Any) -> None:
        engine = sa.create_engine(self.portal_url)
        with engine.begin() as connection:
            connection.execute(sa.text(sql), params)
        engine.dispose()

    def plain(self, record: dict[str, Any], field: str, sobject: str = "Deal_Registration__c") -> str | None:
        """A field of a Salesforce record as the portal sees it (decrypted when it is a token)."""
        from sfsync.crypto import FieldCipher, FieldContext

        value = record.get(field)
        if not isinstance(value, str) or not value.startswith("sfe1."):
            return value
        key = str(record.get("Registration_Number__c"))
        return FieldCipher(self.keyring).decrypt(value, FieldContext(sobject, field, key))

    def deals_in_salesforce(self) -> dict[str, dict[str, Any]]:
        return {str(r["Registration_Number__c"]): r for r in self.fake.records("Deal_Registration__c")}


def make_world(
    root: Path, *, deals: int = 40, faults: FaultPlan | None = None, settings: dict[str, Any] | None = None
) -> Iterator[World]:
    portal_url = f"sqlite:///{root / 'portal.db'}"
    registered = create_portal(
        portal_url, REPO / "mappings" / "portal_schema.sql", seed=3, now=NOW, deals=deals, accounts=5
    )
    # Law 9: the org is what the export of the mappings under test deploys, nothing more.
    metadata = export_org_metadata(root / "salesforce", [REPO / "mappings"], REPO / "mappings" / "conflict_rules.yaml")
    with FakeSalesforce.from_metadata(metadata, faults=faults) as fake:
        seed_org(fake, registered, seed=3, today=NOW.date(), planted=2, noise=3)
        gateway = SalesforceGateway.connect(
            SalesforceSettings(
                auth=AuthMode.TOKEN,
                instance_url=fake.instance_url,
                access_token=SecretStr(fake.access_token),
                **(settings or {}),
            ),
            sleep=lambda _seconds: None,
        )
        yield World(
            root,
            portal_url,
            f"sqlite:///{root / 'state.db'}",
            fake,
            load_mappings([REPO / "mappings"]),
            Keyring.generate(),
            gateway,
        )


CONFIG = """\
[salesforce]
fake_org = "org.json"
[portal]
url = "sqlite:///portal.db"
[state]
url = "sqlite:///state.db"
[mappings]
paths = ["{mappings}"]
[crypto]
keyring = "keys/keyring.json"
master_key_file = "keys/master.key"
"""


def build_local_dir(tmp_path: Path) -> Path:
    """A working directory whose sfsync.toml runs against a local org file (no network)."""
    registered = create_portal(
        f"sqlite:///{tmp_path / 'portal.db'}",
        REPO / "mappings" / "portal_schema.sql",
        seed=5,
        now=NOW,
        deals=30,
        accounts=4,
    )
    metadata = export_org_metadata(
        tmp_path / "salesforce", [REPO / "mappings"], REPO / "mappings" / "conflict_rules.yaml"
    )
    fake = FakeSalesforce.from_metadata(metadata)
    seed_org(fake, registered, seed=5, today=NOW.date(), planted=1, noise=2)
    save_fake_org(fake, tmp_path / "org.json")
    (tmp_path / "keys").mkdir()
    master = tmp_path / "keys" / "master.key"
    master.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    os.chmod(master, 0o600)
    (tmp_path / "sfsync.toml").write_text(CONFIG.format(mappings=REPO / "mappings"), encoding="utf-8")
    # The key holder's first act: create the keyring, which approves the shipped field policy.
    from sfsync.cli import main

    assert main(["--config", str(tmp_path / "sfsync.toml"), "crypto", "keygen"]) == 0
    return tmp_path


def rotate_every_group(config: Path) -> dict[str, str]:
    """`sfsync crypto rotate` for the default group and every partner; returns {old primary: new primary}."""
    import contextlib
    import io
    import json

    from sfsync.cli import main

    def status() -> dict[str, Any]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(["--config", str(config), "crypto", "status", "--json", "--no-usage"]) == 0
        data: dict[str, Any] = json.loads(out.getvalue())
        return data

    before = {k["partner"]: k["key_id"] for k in status()["keys"] if k["primary"]}
    for partner in before:
        args = ["--partner", partner] if partner else []
        assert main(["--config", str(config), "crypto", "rotate", *args]) == 0
    after = {k["partner"]: k["key_id"] for k in status()["keys"] if k["primary"]}
    return {before[p]: after[p] for p in before}
