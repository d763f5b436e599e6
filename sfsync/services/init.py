"""``sfsync init``: a working directory that ``sfsync mappings validate`` accepts as it is."""

from __future__ import annotations

import shutil
from pathlib import Path

from sfsync.errors import ErrorContext, UsageError
from sfsync.services.paths import shipped_mappings_dir

__all__ = ["GITIGNORE", "SFSYNC_TOML_TEMPLATE", "init_directory"]

SFSYNC_TOML_TEMPLATE = """\
# sfsync configuration. Every setting is listed, with its default (or an example where it has none);
# uncomment a line to change it.
# Any setting can be overridden by the environment as SFSYNC_<SECTION>__<KEY>.
# Secrets never go in this file: set them in the environment or point to a file (*_file).
# Relative paths are relative to this file.

[salesforce]
# auth = "token"              # token | jwt | password | client_credentials | refresh_token | sf-cli
# instance_url = "https://acme.my.salesforce.com"
# domain = "login"            # login (production), test (sandbox) or a My Domain such as "acme.my"
# api_version = "61.0"
# username = "integration@acme.example"
# consumer_key = "3MVG9..."   # connected app, for jwt, client_credentials and refresh_token
# access_token_file = "/run/secrets/sf-access-token"     # or SFSYNC_SALESFORCE__ACCESS_TOKEN
# password_file = "/run/secrets/sf-password"             # or SFSYNC_SALESFORCE__PASSWORD
# security_token_file = "/run/secrets/sf-security-token" # or SFSYNC_SALESFORCE__SECURITY_TOKEN
# consumer_secret_file = "/run/secrets/sf-consumer-secret"  # or SFSYNC_SALESFORCE__CONSUMER_SECRET
# private_key_file = "/run/secrets/sf-jwt.key"           # or SFSYNC_SALESFORCE__PRIVATE_KEY
# refresh_token_file = "/run/secrets/sf-refresh-token"   # or SFSYNC_SALESFORCE__REFRESH_TOKEN
# target_org = "acme-prod"    # sf-cli: an alias the Salesforce CLI has authorised (`sf org login web`)
# sf_executable = "sf"        # sf-cli: the Salesforce CLI command
# connect_timeout = 10.0      # seconds
# read_timeout = 120.0        # seconds
# api_usage_ceiling = 0.9     # stop (exit 3) before the org's daily API usage passes this fraction
# max_attempts = 6            # per call, for retriable failures
# max_retry_seconds = 300.0   # the most one call may take, attempts in flight and backoff included
# bulk_threshold = 2000       # upserts above this many records use Bulk API 2.0
# bulk_poll_seconds = 1.0     # a Bulk job's second poll while the org's speed is unknown; later ones learned
# bulk_timeout_seconds = 1800.0
# ca_bundle = "/etc/ssl/certs/corp-ca.pem"   # REQUESTS_CA_BUNDLE is honoured too
# fake_org = "org.json"       # run offline against a local FakeSalesforce org (demo/testing)

[portal]
url = "sqlite:///portal.db"   # SQLAlchemy URL, e.g. "postgresql+psycopg2://sfsync@db/portal"

[state]
url = "sqlite:///sfsync-state.db"
# lock_timeout_seconds = 0.0  # wait this long for another run's lock, then exit 3
# lock_lease_seconds = 900.0

[mappings]
paths = ["mappings"]

[crypto]
keyring = "keys/keyring.json"   # data keys, wrapped (mode 0600 enforced)
# provider = "local"            # local (the master key) | aws-kms | vault-transit
# The master key unwraps the keyring: keep it OUTSIDE this directory (another volume, a secret
# store mount), never beside the keyring, so one copied folder or backup never holds both.
# master_key_file = "/run/secrets/sfsync-master.key"   # mode 0600 enforced; or SFSYNC_CRYPTO__MASTER_KEY
#                                # make one: sfsync crypto keygen --new-master-key > FILE; chmod 600 FILE
# kms_key_id = "alias/sfsync"   # provider aws-kms: key id, ARN or alias
# vault_url = "https://vault.example:8200"   # provider vault-transit
# vault_key = "sfsync"          # transit key name
# vault_mount = "transit"
# vault_namespace = "partners"
# vault_token_file = "/run/secrets/vault-token"   # or SFSYNC_CRYPTO__VAULT_TOKEN (VAULT_TOKEN works too)

[sync]
# overlap_seconds = 300.0
# batch_size = 10000         # portal rows per batch; more changed rows than bulk_threshold use Bulk API 2.0
# parallel_jobs = 4          # push jobs in flight while the next is read and encrypted
# pull_margin_seconds = 0.0  # the next pull starts this long before the org's clock at the last pull query
# dead_letter_max_attempts = 5
# dead_letter_backoff_seconds = 300.0
# salesforce_delete_policy = "clear_link"   # clear_link | mark_deleted | delete
# portal_delete_policy = "withdraw"         # withdraw | delete

[conflicts]
rules = "mappings/conflict_rules.yaml"
# named_accounts = "named_accounts.csv"

[desk]
# The channel desk (sfsync desk): its files, SLA calendar and program rules.
users = "desk/users.json"      # local users, argon2id hashes (sfsync desk user add NAME --role manager)
audit_log = "desk/audit.jsonl"      # hash-chained, keyed audit trail (sfsync audit verify)
# timezone = "UTC"                  # IANA zone the SLA calendar's days are cut in
# working_days = ["mon", "tue", "wed", "thu", "fri"]
# holidays = []                     # e.g. [2026-12-25, 2027-01-01]: the SLA clock stops
# due_hours = 24.0                  # business hours until an answer is due
# breach_hours = 48.0               # business hours until the SLA is breached
# day_start = "00:00"               # business hours of a working day (default: the whole day)
# day_end = "24:00"
# calendars = {}                    # per partner region, a table [desk.calendars.EMEA] with timezone, working_days,
#                                   # holidays, day_start, day_end, due_hours, breach_hours (unset: as above)
# scopes = {}                       # per user, a table [desk.scopes."alice"] with the regions and/or partners shown
# login = {mode = "local"}          # or a table [desk.login]: mode "salesforce", login_url, consumer_key, callback_url;
#                                   # its secret from SFSYNC_DESK__LOGIN__CONSUMER_SECRET or consumer_secret_file;
#                                   # org_id = "00D..." refuses users of any other org
# page_size = 50
# session_minutes = 30.0            # idle minutes before a session expires
# login_attempts = 5                # failed logins per user name and per address in the window
# login_window_seconds = 300.0
# cookie_secure = true              # unset: Secure unless the desk listens on a loopback address
# protection_days = 90              # window an approval grants
# max_protection_days = 180         # longest window, extensions included
# minimum_deal_size = {"*" = {USD = 50000.0, EUR = 46000.0, GBP = 40000.0}}   # product line -> currency -> minimum
# always_registered = ["Storage"]   # product lines registered whatever the deal size
# tier_limits = {Registered = 10, Certified = 25, Gold = 50, Platinum = 100, Titanium = 200}
# reject_reasons = ["Below minimum deal size", "Direct opportunity already open", "Registered first by another partner", "Named account (direct-led)", "Tier registration limit reached", "Incomplete or unverifiable information", "Other"]
"""  # noqa: E501 (one setting a line, so the reject-reason list is one long line)

GITIGNORE_HEADER = "# sfsync: never commit keys, local state or local org data"
GITIGNORE = f"""\
{GITIGNORE_HEADER}
keys/
*.key
*.db
*.db-journal
*.db-wal
*.db-shm
org.json
org.json.lock
/sfsync-demo/
"""


def init_directory(directory: Path, *, force: bool = False) -> list[Path]:
    """Write sfsync.toml, mappings/ and .gitignore into ``directory``; returns what was written."""
    config = directory / "sfsync.toml"
    mappings = directory / "mappings"
    gitignore = directory / ".gitignore"
    if not force:
        existing = [p for p in (config, mappings) if p.exists()]
        if existing:
            raise UsageError(
                f"{' and '.join(str(p) for p in existing)} already {'exists' if len(existing) == 1 else 'exist'}; "
                "nothing was changed. Use --force to overwrite sfsync.toml and the shipped mapping files",
                ErrorContext(file=str(existing[0])),
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(SFSYNC_TOML_TEMPLATE, encoding="utf-8")
        # --force refreshes the shipped files; mapping files the user added beside them are kept.
        shutil.copytree(
            shipped_mappings_dir(),
            mappings,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            dirs_exist_ok=True,
        )
        existing_ignore = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
        if GITIGNORE_HEADER not in existing_ignore:
            # Append to the user's own .gitignore rather than replace it.
            separator = "\n" if existing_ignore and not existing_ignore.endswith("\n") else ""
            with gitignore.open("a", encoding="utf-8") as handle:
                handle.write(separator + GITIGNORE)
    except OSError as exc:
        raise UsageError(f"cannot write in {directory}: {exc.strerror}", ErrorContext(file=str(directory))) from None
    return [config, mappings, gitignore]
