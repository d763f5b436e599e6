"""``sfsync init``: a working directory that ``sfsync mappings validate`` accepts as it is."""

from __future__ import annotations

import shutil
from pathlib import Path

from sfsync._paths import shipped_mappings_dir
from sfsync.errors import ErrorContext, UsageError

__all__ = ["SFSYNC_TOML_TEMPLATE", "init_directory"]

SFSYNC_TOML_TEMPLATE = """\
# sfsync configuration. Every setting is listed with its default; uncomment to change.
# Any setting can be overridden by the environment as SFSYNC_<SECTION>__<KEY>.
# Secrets never go in this file: set them in the environment or point to a file (*_file).
# Relative paths are relative to this file.

[salesforce]
# auth = "token"              # token | jwt | password | client_credentials
# instance_url = "https://acme.my.salesforce.com"
# domain = "login"            # login (production), test (sandbox) or a My Domain such as "acme.my"
# api_version = "61.0"
# username = "integration@acme.example"
# consumer_key = "3MVG9..."   # connected app, for jwt and client_credentials
# access_token_file = "/run/secrets/sf-access-token"     # or SFSYNC_SALESFORCE__ACCESS_TOKEN
# password_file = "/run/secrets/sf-password"             # or SFSYNC_SALESFORCE__PASSWORD
# security_token_file = "/run/secrets/sf-security-token" # or SFSYNC_SALESFORCE__SECURITY_TOKEN
# consumer_secret_file = "/run/secrets/sf-consumer-secret"  # or SFSYNC_SALESFORCE__CONSUMER_SECRET
# private_key_file = "/run/secrets/sf-jwt.key"           # or SFSYNC_SALESFORCE__PRIVATE_KEY
# connect_timeout = 10.0      # seconds
# read_timeout = 120.0        # seconds
# api_usage_ceiling = 0.9     # stop (exit 3) before the org's daily API usage passes this fraction
# max_attempts = 6            # per call, for retriable failures
# max_retry_seconds = 300.0
# bulk_threshold = 2000       # upserts above this many records use Bulk API 2.0
# bulk_poll_seconds = 2.0
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
keyring = "keys/keyring.json"
# master_key_file = "keys/master.key"   # or SFSYNC_CRYPTO__MASTER_KEY

[sync]
# overlap_seconds = 300.0
# batch_size = 2000
# dead_letter_max_attempts = 5
# dead_letter_backoff_seconds = 300.0
# salesforce_delete_policy = "clear_link"   # clear_link | mark_deleted | delete
# portal_delete_policy = "withdraw"         # withdraw | delete

[conflicts]
rules = "mappings/conflict_rules.yaml"
# named_accounts = "named_accounts.csv"
"""

GITIGNORE = """\
# sfsync: never commit keys, local state or local org data
keys/
*.key
*.db
org.json
.sfsync-demo.json
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
                f"{', '.join(str(p) for p in existing)} already exist(s); nothing was changed. "
                "Use --force to overwrite",
                ErrorContext(file=str(existing[0])),
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(SFSYNC_TOML_TEMPLATE, encoding="utf-8")
        if mappings.exists():
            shutil.rmtree(mappings)
        shutil.copytree(shipped_mappings_dir(), mappings, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if gitignore.exists() and "sfsync" in gitignore.read_text(encoding="utf-8"):
            pass
        else:
            with gitignore.open("a", encoding="utf-8") as handle:
                handle.write(GITIGNORE)
    except OSError as exc:
        raise UsageError(f"cannot write in {directory}: {exc.strerror}", ErrorContext(file=str(directory))) from None
    return [config, mappings, gitignore]
