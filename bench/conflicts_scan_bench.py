"""The conflict scan end to end at the issue's size (prints; never fails).

    .venv/bin/python bench/conflicts_scan_bench.py [--registrations 2600 --opportunities 3000]

A SQLite portal with ``--registrations`` approved deal registrations and a FakeSalesforce org
(built from the shipped schemas) with ``--opportunities`` direct-rep Opportunities on their own
Accounts, both drawn from the hard corpus (bench/conflict_corpus.py). Times one full
``scan_conflicts`` (portal read, Opportunity query, partner-of-record query, named accounts,
match, reconcile, conflict upserts, flags), then a rerun (idempotent: nothing to write), and the
``sfsync conflicts scan --help`` start-up in a fresh process. Then what a user runs: ``sfsync
conflicts scan --full`` as a fresh process in a working directory whose org is the same org saved as a
local file (``[salesforce] fake_org``, a keyring from ``sfsync crypto keygen``), first scan and rerun,
wall and CPU (user+sys) of the whole command: start-up, imports, reads, match, writes. The local org
file is loaded and saved back by the command (a real org has no such step, but network round trips
instead: about 2 + n/2000 queries and n/200 upsert calls).
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "tests" / "conflicts"))

import sqlalchemy as sa  # noqa: E402
from conflict_corpus import generate  # noqa: E402
from org_world import Clock, create_portal, seed_org, write_rules  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from sfsync.config import AuthMode, SalesforceSettings, Settings  # noqa: E402
from sfsync.conflicts import normalize_country  # noqa: E402
from sfsync.mapping import load_mappings  # noqa: E402
from sfsync.salesforce import SalesforceGateway  # noqa: E402
from sfsync.services.conflict_scan import scan_conflicts  # noqa: E402
from sfsync.services.connect import save_fake_org  # noqa: E402
from sfsync.testing import FakeSalesforce  # noqa: E402

# Today: the CLI runs at the real clock, so the protection windows must hold today.
NOW = datetime.now(UTC).replace(microsecond=0)
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
[conflicts]
rules = "rules.yaml"
named_accounts = "named.csv"
"""


def _cli_scan(root: Path, label: str) -> None:
    """``sfsync conflicts scan --full`` in a fresh process: wall and CPU of the whole command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "sfsync"), "--config", str(root / "sfsync.toml"), "conflicts", "scan", "--full"],
        check=False,
        capture_output=True,
        text=True,
        cwd=root,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()[-300:]
    print(f"  CLI {label}: {wall:.2f} s wall, {cpu:.2f} s CPU (exit {done.returncode}): {summary[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--registrations", type=int, default=2600)
    parser.add_argument("--opportunities", type=int, default=3000)
    args = parser.parse_args()
    corpus = generate(args.registrations, args.opportunities, 21)
    protected = corpus.protected[: args.registrations]
    print(
        f"conflict scan bench: {len(protected):,} registrations x {len(corpus.opportunities):,} opportunities; "
        f"cpus={os.cpu_count()}, load average={os.getloadavg()[0]:.2f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'portal.db'}"
        create_portal(url, NOW)
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            deals = sa.Table("deal_registrations", sa.MetaData(), autoload_with=connection)
            stamp = (NOW - timedelta(days=20)).replace(tzinfo=None)
            connection.execute(
                deals.insert(),
                [
                    {
                        "registration_number": f"DRB-{i:06d}",
                        "partner_number": "P-00" + str(1 + i % 3),
                        "end_customer_name": c.name,
                        "end_customer_website": c.website,
                        "end_customer_domain": None,
                        "end_customer_country": normalize_country(c.country),
                        "end_customer_postal_code": c.postal_code,
                        "end_customer_duns": c.duns,
                        "product_lines": "servers,storage",
                        "amount": Decimal("150000"),
                        "currency": "USD",
                        "expected_close_date": NOW.date() + timedelta(days=60),
                        "submitted_at": stamp,
                        "updated_at": stamp,
                        "status": "approved",
                        "protection_start": NOW.date() - timedelta(days=10),
                        "protection_end": NOW.date() + timedelta(days=80),
                        "decided_at": stamp,
                    }
                    for i, c in enumerate(protected)
                ],
            )
        engine.dispose()
        (root / "named.csv").write_text("name,domain,duns,account_id,country\n", encoding="utf-8")
        write_rules(root / "rules.yaml")
        settings = Settings.model_validate(
            {
                "portal": {"url": url},
                "state": {"url": f"sqlite:///{root / 'state.db'}"},
                "conflicts": {"rules": str(root / "rules.yaml"), "named_accounts": str(root / "named.csv")},
            }
        )
        clock = Clock(NOW - timedelta(days=2))
        with FakeSalesforce(clock=clock) as fake:
            world = seed_org(fake, NOW.date())
            for opp in corpus.opportunities:
                account = fake.insert(
                    "Account",
                    {
                        "Name": (opp.account_name or "-")[:255],
                        "Website": (opp.account_website or "")[:255] or None,
                        "BillingCountry": opp.account_country,
                        "BillingPostalCode": opp.account_postal_code,
                        "DunsNumber": (opp.account_duns or "").replace("-", "") or None,
                        "Type": "Prospect",
                    },
                )
                fake.insert(
                    "Opportunity",
                    {
                        "Name": opp.name,
                        "StageName": "Qualification",
                        "AccountId": account,
                        "CloseDate": (NOW.date() + timedelta(days=45)).isoformat(),
                        "Amount": 240000,
                        "Product_Lines__c": "Servers",
                        "OwnerId": world.users["direct"],
                    },
                )
            clock.now = NOW
            # The same org as a local file, before any scan wrote to it: what the CLI runs below read.
            save_fake_org(fake, root / "org.json")
            gateway = SalesforceGateway.connect(
                SalesforceSettings(
                    auth=AuthMode.TOKEN, instance_url=fake.instance_url, access_token=SecretStr(fake.access_token)
                ),
                sleep=lambda _s: None,
            )
            mappings = load_mappings([REPO / "mappings"])
            if os.environ.get("SCAN_PROFILE"):
                import cProfile
                import pstats

                scan_conflicts(settings, gateway, mappings=mappings, full=True, now=NOW)
                prof = cProfile.Profile()
                prof.enable()
                scan_conflicts(settings, gateway, mappings=mappings, full=True, now=NOW)
                prof.disable()
                pstats.Stats(prof).sort_stats("cumulative").print_stats(30)
                return
            for label in ("first scan", "rerun"):
                started = time.perf_counter()
                report = scan_conflicts(settings, gateway, mappings=mappings, full=True, now=NOW)
                wall = time.perf_counter() - started
                print(
                    f"  {label}: {wall:.2f} s wall; {report.opportunities:,} opportunities, "
                    f"{report.registrations:,} registrations, {len(report.conflicts):,} conflicts "
                    f"({report.created} created, {report.unchanged} unchanged), {report.api_calls} API calls"
                )
        (root / "keys").mkdir()
        master = root / "keys" / "master.key"
        master.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        os.chmod(master, 0o600)
        (root / "sfsync.toml").write_text(CONFIG.format(mappings=REPO / "mappings"), encoding="utf-8")
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "sfsync"), "--config", str(root / "sfsync.toml"), "crypto", "keygen"],
            check=True,
            capture_output=True,
            cwd=root,
        )
        if os.environ.get("SCAN_KEEP"):
            import shutil

            shutil.copytree(root, os.environ["SCAN_KEEP"], dirs_exist_ok=True)
        if not (REPO / "sfsync" / "__pycache__").is_dir():
            print(
                "  note: no bytecode cache beside the sources (PYTHONDONTWRITEBYTECODE or a --no-compile "
                "install): every CLI run below compiles sfsync first (~0.5-1 s), which an installed package does not"
            )
        _cli_scan(root, "first scan (sfsync conflicts scan --full)")
        _cli_scan(root, "rerun")
    started = time.perf_counter()
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "sfsync"), "conflicts", "scan", "--help"], check=True, capture_output=True
    )
    print(f"  CLI start-up (sfsync conflicts scan --help, fresh process): {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
