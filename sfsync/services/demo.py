"""``sfsync demo``: the whole product, end to end, offline, in one directory.

The directory is built beside the target and swapped in only when complete, so an interrupted
or failed demo never leaves a half-written one; a rerun replaces the previous demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr

from sfsync import __version__
from sfsync.config import AuthMode, SalesforceSettings, Settings, load_settings
from sfsync.errors import ErrorContext, UsageError
from sfsync.services.connect import save_fake_org
from sfsync.services.demo_data import PlantedConflict, create_portal, seed_org
from sfsync.services.paths import shipped_mappings_dir
from sfsync.sync._report import RunReport

__all__ = ["DEMO_MARKER", "DemoResult", "run_demo"]

DEMO_MARKER = ".sfsync-demo.json"
METADATA_DIR = "salesforce"  # the SFDX project export-metadata writes; the local org is built from it
DEMO_FORMAT = 1
SEED = 7

DEMO_TOML = """\
# sfsync demo: every command runs offline against a local Salesforce org (FakeSalesforce)
# persisted in org.json. Try:  sfsync --config {config} status
[salesforce]
fake_org = "org.json"

[portal]
url = "sqlite:///portal.db"

[state]
url = "sqlite:///state.db"

[mappings]
paths = ["mappings"]

[crypto]
keyring = "keys/keyring.json"
master_key_file = "keys/master.key"

[conflicts]
rules = "mappings/conflict_rules.yaml"
named_accounts = "named_accounts.csv"

[desk]
users = "desk/users.json"
audit_log = "desk/audit.jsonl"

# The SLA clock of each partner region (Account.Partner_Region__c); other regions use [desk]'s (UTC, Mon-Fri).
[desk.calendars.EMEA]
timezone = "Europe/Berlin"
holidays = ["2026-12-25", "2026-12-26", "2027-01-01"]

[desk.calendars.APAC]
timezone = "Asia/Tokyo"
holidays = ["2027-01-01", "2027-01-02", "2027-01-03"]
"""

NAMED_ACCOUNTS_CSV = """\
name,domain,duns,account_id,country
Globex Corporation,globex-direct.example,,,US
Initrode Global,initrode.example,,,US
"""


@dataclass
class DemoResult:
    """What the demo did, for the printed report and for tests."""

    directory: Path
    replaced_previous: bool = False
    notes: list[str] = field(default_factory=list)
    mappings: int = 0
    mapping_problems: int = 0
    registrations: int = 0
    first_sync: RunReport | None = None
    second_sync: RunReport | None = None
    idle_sync: RunReport | None = None
    decisions: int = 0
    partner_edits: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    planted: list[PlantedConflict] = field(default_factory=list)
    verify: dict[str, Any] = field(default_factory=dict)
    verify_clean: bool = False
    rep_view: list[tuple[str, str, str]] = field(default_factory=list)
    rep_record: str = ""
    policy_counts: dict[str, int] = field(default_factory=dict)
    singled_out: int | None = None
    customer_accounts: int = 0
    shredded_partner: str = ""
    shredded_values: int = 0
    intact_values: int = 0
    other_problems: int = 0
    total_api_calls: int = 0
    seconds: float = 0.0


def _describe_stale(target: Path) -> str | None:
    """Why an earlier demo in ``target`` cannot be reused as it is, or None when it is current."""
    marker = load_marker(target)
    if marker is None:
        return f"the earlier demo in {target} has an unreadable {DEMO_MARKER}"
    version = marker.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        return f"the earlier demo in {target} has a demo format sfsync does not know ({version!r})"
    if version < DEMO_FORMAT:
        return (
            f"the earlier demo in {target} was made by an older sfsync "
            f"({marker.get('sfsync', 'unknown version')}, demo format {version}; this one writes {DEMO_FORMAT})"
        )
    if version > DEMO_FORMAT:
        return (
            f"the earlier demo in {target} was made by a newer sfsync "
            f"({marker.get('sfsync', 'unknown version')}, demo format {version})"
        )
    org = target / "org.json"
    try:
        json.loads(org.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return f"the earlier demo in {target} has a missing or corrupt org.json (an interrupted older run?)"
    return None


def _looks_like_unmarked_demo(target: Path) -> bool:
    """A demo from before the marker existed: its sfsync.toml starts with the demo header."""
    try:
        with (target / "sfsync.toml").open(encoding="utf-8") as handle:
            return handle.readline().startswith("# sfsync demo")
    except (OSError, UnicodeDecodeError):
        return False


# What a demo directory holds; anything else there was added by hand and goes with the old demo.
_DEMO_FILES = frozenset(
    {DEMO_MARKER, ".gitignore", "sfsync.toml", "portal.db", "state.db", "org.json", "keys", "mappings", METADATA_DIR}
    | {"named_accounts.csv", "desk", "org.json.lock"}  # the lock every command takes on the local org file
)


def _foreign_files(target: Path) -> list[str]:
    try:
        extra = sorted(
            p.name
            for p in target.iterdir()
            if p.name not in _DEMO_FILES and not p.name.startswith(("portal.db-", "state.db-"))
        )
    except OSError:
        return []
    if not extra:
        return []
    shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
    return [f"files added by hand to the earlier demo were replaced with it: {shown}"]


def _check_target(target: Path) -> tuple[bool, list[str]]:
    """(an earlier demo is there to replace, notes for the user); refuse to touch anything else."""
    if not target.exists() and not target.is_symlink():
        return False, []
    if not target.is_dir():
        raise UsageError(
            f"{target} exists and is not a directory; it is left untouched. Choose another with --dir",
            ErrorContext(file=str(target)),
        )
    if (target / DEMO_MARKER).exists():
        stale = _describe_stale(target)
        return True, ([f"{stale}: rebuilding it from scratch"] if stale else []) + _foreign_files(target)
    try:
        empty = not any(target.iterdir())
    except OSError as exc:
        raise UsageError(f"cannot read {target}: {exc.strerror}", ErrorContext(file=str(target))) from None
    if empty:
        return False, []
    if _looks_like_unmarked_demo(target):
        notes = [f"{target} holds a demo from an older sfsync (no {DEMO_MARKER}): rebuilding it from scratch"]
        return True, notes + _foreign_files(target)
    raise UsageError(
        f"{target} is not empty and was not made by `sfsync demo`; it is left untouched. "
        "Choose another directory with --dir",
        ErrorContext(file=str(target)),
    )


def _not_writable(directory: Path, reason: str) -> UsageError:
    return UsageError(
        f"cannot write in {directory}: {reason}. The demo needs a writable directory; choose one with --dir "
        "(for example --dir /tmp/sfsync-demo). Nothing was written",
        ErrorContext(file=str(directory)),
    )


def _prepare_parent(parent: Path) -> Path | None:
    """Make sure ``parent`` exists and is writable; returns the top directory created (to remove on failure)."""
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise _not_writable(existing, "it is not a directory")
    # os.access is only a first, friendly check (root passes it everywhere); the real OSError is handled too.
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _not_writable(existing, "permission denied or read-only file system")
    if existing == parent:
        return None
    created = parent
    while created.parent != existing:
        created = created.parent
    try:
        parent.mkdir(parents=True)
    except OSError as exc:
        _remove_tree(created)
        raise _not_writable(existing, exc.strerror or str(exc)) from None
    return created


def _remove_tree(path: Path) -> None:
    """Best-effort removal that also gets through directories a user made read-only (chmod -w)."""

    root = os.path.abspath(path)

    def retry_writable(function: Any, name: str, _info: Any) -> None:
        # Only ever loosen modes inside the tree being removed, never on its parent (say /tmp).
        inside = os.path.abspath(name)
        if inside == root or not inside.startswith(root + os.sep):
            return
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(inside), 0o700)
            if os.path.isdir(inside) and not os.path.islink(inside):
                os.chmod(inside, 0o700)
            function(name)

    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=retry_writable)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_leftovers(parent: Path, name: str) -> list[str]:
    """Remove build/backup directories a killed earlier demo (kill -9, power loss) left beside the target."""
    notes = []
    for pattern in (f".{name}.building-*", f".{name}.old-*"):
        for leftover in parent.glob(pattern):
            suffix = leftover.name.rsplit("-", 1)[-1]
            if suffix.isdigit() and int(suffix) != os.getpid() and _pid_alive(int(suffix)):
                continue  # another demo is building right now; not ours to remove
            _remove_tree(leftover)
            notes.append(f"removed {leftover}, left behind by an interrupted earlier demo")
    return notes


def run_demo(target: Path, *, today: datetime | None = None, progress: Any = None) -> DemoResult:
    """Build the demo beside ``target``, run it, and swap it in only when complete."""
    started = time.monotonic()
    absolute = Path(os.path.abspath(target))
    if not absolute.name:
        raise UsageError(f"{target} cannot hold the demo; choose a directory with --dir")
    replacing, notes = _check_target(target)
    parent = absolute.parent
    created_parent = _prepare_parent(parent)
    building = parent / f".{absolute.name}.building-{os.getpid()}"
    try:
        notes += _remove_leftovers(parent, absolute.name)
        try:
            building.mkdir()
        except OSError as exc:
            raise _not_writable(parent, exc.strerror or str(exc)) from None
        try:
            result = _build_and_run(building, target, today or datetime.now(UTC), progress)
            _swap_in(building, absolute)
        except OSError as exc:
            # A read-only or full file system found half-way (os.access cannot tell for root).
            raise _not_writable(parent, exc.strerror or str(exc)) from None
    except BaseException:
        _remove_tree(building)
        if created_parent is not None:
            _remove_tree(created_parent)
        raise
    result.replaced_previous = replacing
    result.notes = notes
    result.directory = target
    result.seconds = round(time.monotonic() - started, 2)
    return result


def _swap_in(building: Path, target: Path) -> None:
    """Replace ``target`` by ``building``; if the second rename fails the earlier demo is put back."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    moved = False
    if target.exists() or target.is_symlink():
        os.replace(target, old)
        moved = True
    try:
        os.replace(building, target)
    except BaseException:
        if moved:
            os.replace(old, target)
        raise
    if moved:
        if old.is_symlink():
            old.unlink()
        else:
            _remove_tree(old)


def _step(progress: Any, text: str) -> None:
    if progress is not None:
        progress(text)


def _build_and_run(root: Path, target: Path, now: datetime, progress: Any) -> DemoResult:
    from sfsync.crypto import LocalKeyringProvider
    from sfsync.mapping import load_mappings, validate_offline, validate_online
    from sfsync.testing import FakeSalesforce, export_org_metadata

    result = DemoResult(directory=target)
    shutil.copytree(shipped_mappings_dir(), root / "mappings", ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))
    config = root / "sfsync.toml"
    config.write_text(DEMO_TOML.format(config=target / "sfsync.toml"), encoding="utf-8")
    (root / "named_accounts.csv").write_text(NAMED_ACCOUNTS_CSV, encoding="utf-8")
    keys = root / "keys"
    keys.mkdir(mode=0o700)
    master = keys / "master.key"
    descriptor = os.open(master, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    (root / ".gitignore").write_text("keys/\n*.db\norg.json\norg.json.lock\ndesk/\n", encoding="utf-8")

    settings = load_settings(config, environ={})
    _step(progress, "creating the partner portal (SQLite) with sample registrations")
    registered = create_portal(settings.portal.url, root / "mappings" / "portal_schema.sql", seed=SEED, now=now)
    result.registrations = len(registered)
    if settings.crypto.master_key is None:  # pragma: no cover - the file was just written
        raise UsageError("the demo master key could not be read back")
    provider = LocalKeyringProvider(settings.crypto.keyring, settings.crypto.master_key)
    keyring = provider.create()

    _step(progress, "exporting the Salesforce metadata and deploying it to a local org")
    # Law 9: the local org holds exactly what `sfsync mappings export-metadata` writes (and an
    # admin deploys), on top of the standard objects; org.json remembers the folder.
    export_org_metadata(root / METADATA_DIR, [root / "mappings"], root / "mappings" / "conflict_rules.yaml")
    fake = FakeSalesforce.from_metadata(root / METADATA_DIR)
    result.planted = seed_org(fake, registered, seed=SEED, today=now.date())
    with fake:
        from sfsync.salesforce import SalesforceGateway
        from sfsync.services.job import SyncJob

        gateway = SalesforceGateway.connect(
            SalesforceSettings(
                auth=AuthMode.TOKEN,
                instance_url=fake.instance_url,
                access_token=SecretStr(fake.access_token),
            )
        )
        mappings = load_mappings(settings.mappings.paths)
        result.mappings = len(mappings)
        _step(progress, "validating mappings offline and against the org")
        offline = validate_offline(mappings)
        online = validate_online(mappings, gateway.describe)
        result.mapping_problems = len(offline.errors) + len(online.errors)
        result.policy_counts = _approve_policy(settings, keyring, mappings)

        with SyncJob(settings, salesforce=gateway, mappings=mappings) as job:
            _step(progress, "first full sync: portal -> Salesforce")
            result.first_sync = job.run()
            _step(progress, "channel team decides in Salesforce; partners edit in the portal")
            result.decisions = _channel_team_decides(fake, now.date(), result.planted)
            result.partner_edits = _partners_edit(settings, now)
            _step(progress, "incremental sync, both directions")
            result.second_sync = job.run()
            result.idle_sync = job.run()

        _step(progress, "scanning for channel conflicts")
        result.conflicts = _scan_conflicts(settings, gateway, mappings, fake)
        _step(progress, "verifying the encryption in Salesforce")
        result.verify, result.verify_clean = _verify(settings, gateway, mappings)
        result.rep_record, result.rep_view = _rep_view(fake, settings)
        _step(progress, "measuring what the clear fields give away; crypto-shredding one partner")
        from sfsync.services.crypto_policy import reidentification_from_org

        risk = reidentification_from_org(gateway, mappings)
        result.singled_out, result.customer_accounts = risk.singled_out, risk.accounts
        _shred_one_partner(settings, provider, gateway, mappings, result)
        result.total_api_calls = gateway.api_calls
    save_fake_org(fake, root / "org.json")
    (root / DEMO_MARKER).write_text(
        json.dumps({"format": DEMO_FORMAT, "sfsync": __version__, "created": now.isoformat()}), encoding="utf-8"
    )
    return result


def _channel_team_decides(fake: Any, today: date, planted: list[PlantedConflict]) -> int:
    """What channel managers do in Salesforce between two syncs: approve, reject, review."""
    decided = 0
    planted_numbers = {p.registration_number for p in planted}
    for record in sorted(fake.records("Deal_Registration__c"), key=lambda r: str(r["Registration_Number__c"])):
        number = str(record["Registration_Number__c"])
        index = int(number.split("-")[1])
        if number in planted_numbers or index % 3 == 0:
            fields: dict[str, Any] = {
                "Status__c": "Approved",
                "Decision_Reason__c": "Meets program rules; partner engaged early.",
                "Decided_At__c": datetime.now(UTC).isoformat(),
                "Protection_Start__c": today.isoformat(),
                "Protection_End__c": (today + timedelta(days=90)).isoformat(),
            }
        elif index % 7 == 0:
            fields = {
                "Status__c": "Rejected",
                "Decision_Reason__c": "Below the minimum deal size for its product line.",
                "Decided_At__c": datetime.now(UTC).isoformat(),
            }
        elif index % 5 == 0:
            fields = {"Status__c": "Under Review"}
        else:
            continue
        fake.update("Deal_Registration__c", record["Id"], fields)
        decided += 1
    for record in fake.records("Account_Registration__c"):
        if int(str(record["Registration_Number__c"]).split("-")[1]) % 2 == 0:
            fake.update(
                "Account_Registration__c",
                record["Id"],
                {
                    "Status__c": "Approved",
                    "Decided_At__c": datetime.now(UTC).isoformat(),
                    "Protection_Start__c": today.isoformat(),
                    "Protection_End__c": (today + timedelta(days=365)).isoformat(),
                },
            )
            decided += 1
    return decided


def _partners_edit(settings: Settings, now: datetime) -> int:
    """Partners raise five deal amounts and withdraw one registration in the portal."""
    engine = sa.create_engine(settings.portal.url)
    stamp = (now + timedelta(minutes=1)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    with engine.begin() as connection:
        table = sa.Table("deal_registrations", sa.MetaData(), autoload_with=connection)
        for number in ("DR-000010", "DR-000020", "DR-000030", "DR-000040", "DR-000050"):
            connection.execute(
                table.update()
                .where(table.c.registration_number == number)
                .values(amount=table.c.amount + 25000, updated_at=stamp)
            )
        connection.execute(
            table.update()
            .where(table.c.registration_number == "DR-000060")
            .values(withdrawn_at=stamp, updated_at=stamp)
        )
    engine.dispose()
    return 6


def _scan_conflicts(settings: Settings, gateway: Any, mappings: Any, fake: Any) -> list[dict[str, Any]]:
    from sfsync.services.conflict_scan import scan_conflicts
    from sfsync.sync._state import StateStore

    store = StateStore(settings.state.url)
    try:
        report = scan_conflicts(settings, gateway, mappings=mappings, state=store, full=True)
    finally:
        store.close()
    names = {r["Id"]: r["Name"] for r in fake.records("Opportunity")}
    rows = []
    for conflict in report.conflicts:
        row = conflict.model_dump(mode="json")
        row["opportunity_name"] = names.get(conflict.opportunity_id or "", conflict.registration_number or "")
        rows.append(row)
    return rows


def _verify(settings: Settings, gateway: Any, mappings: Any) -> tuple[dict[str, Any], bool]:
    from sfsync.crypto import load_keyring, verify_values
    from sfsync.services.crypto_org import stored_values_from_salesforce

    keyring = load_keyring(settings)
    report = verify_values(stored_values_from_salesforce(gateway, mappings), keyring, decrypt_check=True)
    return report.to_dict(), report.clean


def _approve_policy(settings: Settings, keyring: Any, mappings: Any) -> dict[str, int]:
    """The demo's key holder records the keyring generation and approves the shipped field policy."""
    from sfsync.mapping._policy import field_policy, seal_policy
    from sfsync.sync._protect import FIELD_POLICY_PIN, record_keyring_generation
    from sfsync.sync._state import StateStore

    policy = field_policy(mappings)
    with StateStore(settings.state.url) as store:
        record_keyring_generation(keyring, store)
        store.set_pin(FIELD_POLICY_PIN, seal_policy(keyring, policy, approved_by="demo"))
    return policy.counts()


def _shred_one_partner(settings: Settings, provider: Any, gateway: Any, mappings: Any, result: DemoResult) -> None:
    """Destroy the keys of the partner with the fewest values, then show exactly its values are gone."""
    from sfsync.crypto import verify_values
    from sfsync.services.crypto_org import key_usage, stored_values_from_salesforce
    from sfsync.sync._protect import check_keyring_generation, record_keyring_generation
    from sfsync.sync._state import StateStore

    with provider.locked(), StateStore(settings.state.url) as store:
        keyring = provider.load()
        check_keyring_generation(keyring, store)
        usage = key_usage(gateway, mappings)
        owners = {k.key_id: k.partner for k in keyring.keys if k.partner}
        per_partner: dict[str, int] = {}
        for key_id, count in usage.items():
            if key_id in owners:
                per_partner[str(owners[key_id])] = per_partner.get(str(owners[key_id]), 0) + count
        if not per_partner:
            return
        partner = min(sorted(per_partner), key=lambda p: per_partner[p])
        keyring.destroy_partner(partner)
        provider.save(keyring)
        record_keyring_generation(keyring, store)
    report = verify_values(stored_values_from_salesforce(gateway, mappings), keyring, decrypt_check=True)
    data = report.to_dict()
    fields = data.get("fields", [])
    result.shredded_partner = partner
    result.shredded_values = sum(int(f.get("destroyed_key", 0)) for f in fields)
    result.intact_values = sum(int(f.get("valid", 0)) for f in fields)
    result.other_problems = sum(
        int(f.get(k, 0)) for f in fields for k in ("not_a_token", "malformed", "unknown_key", "auth_failures")
    )


def _rep_view(fake: Any, settings: Settings) -> tuple[str, list[tuple[str, str, str]]]:
    """One approved registration as a direct rep sees it in Salesforce, beside the portal row."""
    # The first approved registration with every confidential field filled in.
    record = next(
        r
        for r in sorted(fake.records("Deal_Registration__c"), key=lambda r: str(r["Registration_Number__c"]))
        if r.get("Status__c") == "Approved" and r.get("End_Customer_DUNS__c") and r.get("Competitive_Notes__c")
    )
    number = str(record["Registration_Number__c"])
    engine = sa.create_engine(settings.portal.url)
    with engine.connect() as connection:
        row = (
            connection.execute(
                sa.text("SELECT * FROM deal_registrations WHERE registration_number = :n"), {"n": number}
            )
            .mappings()
            .one()
        )
    engine.dispose()
    pairs = (
        ("End_Customer_Name__c", "end_customer_name"),
        ("End_Customer_Domain__c", "end_customer_domain"),
        ("End_Customer_DUNS__c", "end_customer_duns"),
        ("Customer_Contact_Email__c", "customer_contact_email"),
        ("Competitive_Notes__c", "competitive_notes"),
        ("Amount__c", "amount"),
        ("Amount_Band__c", "amount"),
        ("End_Customer_Region__c", "end_customer_country"),
        ("Status__c", "status"),
        ("Protection_End__c", "protection_end"),
    )
    view = [(sf, _short(record.get(sf)), _short(row.get(column))) for sf, column in pairs]
    return number, view


def _short(value: Any, width: int = 46) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def load_marker(target: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((target / DEMO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
