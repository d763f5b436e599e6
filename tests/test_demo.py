"""``sfsync demo``: the report, the commands that work on its directory afterwards, and bad input.

The demo takes about 1-2 s, so it runs once per module (``demo``) and the bad-input tests start
from a copy of that directory instead of building a fresh one each time.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import sfsync.cli.demo as demo_cli
import sfsync.services.demo as demo_module
from sfsync.cli import main
from sfsync.errors import EXIT_OK, EXIT_REJECTED, EXIT_USAGE
from sfsync.services.demo import DEMO_FORMAT, DEMO_MARKER, DemoResult


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout with rich's line wrapping undone, for phrase assertions."""
        return " ".join(self.out.split())

    @property
    def error(self) -> str:
        return " ".join(self.err.split())


def invoke(*argv: str) -> Run:
    out, err = io.StringIO(), io.StringIO()
    # rich's consoles resolve sys.stdout/sys.stderr when they print, so redirecting captures them.
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


@dataclass
class Demo:
    run: Run
    result: DemoResult
    directory: Path


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo") / "sfsync-demo"
    captured: list[DemoResult] = []
    original = demo_cli.print_demo

    def keep(result: DemoResult) -> None:
        captured.append(result)
        original(result)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo_cli, "print_demo", keep)
        run = invoke("demo", "--dir", str(directory))
    assert run.code == EXIT_OK, run.out + run.err
    assert len(captured) == 1
    yield Demo(run, captured[0], directory)


@pytest.fixture
def earlier_demo(demo: Demo, tmp_path: Path) -> Path:
    """A private copy of a complete demo directory, to rerun or damage."""
    copy = tmp_path / "sfsync-demo"
    shutil.copytree(demo.directory, copy, symlinks=True)
    return copy


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".building-" in p.name or ".old-" in p.name)


# --- the report -------------------------------------------------------------------------------------


def test_demo_builds_a_complete_directory(demo: Demo) -> None:
    names = {p.name for p in demo.directory.iterdir()}
    assert {"sfsync.toml", "portal.db", "state.db", "org.json", "keys", "mappings", DEMO_MARKER} <= names
    marker = json.loads((demo.directory / DEMO_MARKER).read_text())
    assert marker["format"] == DEMO_FORMAT
    assert (demo.directory / "keys" / "master.key").stat().st_mode & 0o077 == 0
    assert leftovers(demo.directory.parent) == []
    assert demo.result.registrations >= 200
    assert demo.result.mapping_problems == 0


def test_report_shows_ciphertext_beside_plaintext(demo: Demo) -> None:
    encrypted = [row for row in demo.result.rep_view if row[1].startswith("sfe1.")]
    assert len(encrypted) >= 4, demo.result.rep_view
    for field, in_salesforce, in_portal in encrypted:
        assert in_portal, field
        assert in_portal.rstrip("…") not in in_salesforce
    # The amount is ciphertext; only its coarse band is public.
    amount = next(row for row in demo.result.rep_view if row[0] == "Amount__c")
    assert amount[1].startswith("sfe1.") and amount[2] not in amount[1]
    band = next(row for row in demo.result.rep_view if row[0] == "Amount_Band__c")
    assert band[1] and band[1][0] in "<>0123456789"
    out = demo.run.out
    assert "What a direct rep sees in Salesforce" in demo.run.text
    assert "sfe1." in out
    name_in_portal = next(row[2] for row in demo.result.rep_view if row[0] == "End_Customer_Name__c")
    assert name_in_portal.split()[0] in out


def test_demo_shows_the_policy_and_a_shredded_partner(demo: Demo) -> None:
    result = demo.result
    assert result.policy_counts["encrypt"] > 0 and result.policy_counts["band"] > 0
    assert "unclassified" not in result.policy_counts
    # Finding 2 on the demo: the published fields single out no registration among the Accounts.
    assert result.singled_out == 0 and result.customer_accounts > 100
    # Finding 3 on the demo: exactly the shredded partner's values are gone.
    assert result.shredded_partner and result.shredded_values > 0
    assert result.intact_values > result.shredded_values and result.other_problems == 0
    assert f"Crypto-shredded partner {result.shredded_partner}" in demo.run.text
    assert "Field policy" in demo.run.text


def test_old_clear_country_and_postal_code_single_out_demo_customers(demo: Demo) -> None:
    """The review's measurement, re-run on the demo: what the pre-issue-12 mapping published."""
    import sqlalchemy as sa

    from sfsync.mapping import load_mappings
    from sfsync.mapping._policy import reidentification
    from sfsync.testing import FakeSalesforce

    text = (demo.directory / "mappings" / "deal_registration.yaml").read_text()
    text = text.replace(
        "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
        "    clear: published in clear before issue 12\n",
    )
    old = demo.directory.parent / "old_deal_registration.yaml"
    old.write_text(text)
    engine = sa.create_engine(f"sqlite:///{demo.directory / 'portal.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT end_customer_country, end_customer_postal_code FROM deal_registrations")
        ).all()
    engine.dispose()
    published = [{"End_Customer_Region__c": None, "End_Customer_Postal_Code__c": postal} for _, postal in rows]
    accounts = FakeSalesforce.load(demo.directory / "org.json").records("Account")
    attacked = reidentification(load_mappings([old]), {"Deal_Registration__c": published}, accounts)
    # The review counted 8 of 8 conflicted registrations; the postal code alone finds as many.
    assert attacked.singled_out >= 8
    print(f"pre-issue-12 policy: {attacked.singled_out} of {len(rows)} deal registrations singled out")


def test_conflicts_found_are_the_planted_ones(demo: Demo) -> None:
    planted = {p.registration_number for p in demo.result.planted}
    found = [str(c["registration_number"]) for c in demo.result.conflicts]
    assert planted
    assert sorted(found) == sorted(planted)
    assert all(c.get("reason") for c in demo.result.conflicts)
    n = len(planted)
    assert f"Channel conflicts found: {n} ({n} of the {n} planted collisions" in demo.run.text


def test_report_counts_api_calls(demo: Demo) -> None:
    result = demo.result
    assert result.first_sync is not None and result.second_sync is not None and result.idle_sync is not None
    pushed = sum(s.created + s.updated for s in result.first_sync.summaries if s.direction == "push")
    assert pushed == result.registrations
    # sObject Collections: 200 records a call, plus the reads of each mapping and direction.
    assert 0 < result.first_sync.api_calls < pushed / 50
    assert sum(s.written for s in result.idle_sync.summaries) == 0
    assert result.total_api_calls >= result.first_sync.api_calls + result.second_sync.api_calls
    assert f"{result.total_api_calls} Salesforce API calls in all" in demo.run.text
    assert f"in {result.first_sync.api_calls} API calls" in demo.run.text
    assert result.verify_clean
    assert "crypto verify:" in demo.run.text and "clean" in demo.run.text


@pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["run", "--dry-run"],
        ["crypto", "policy", "--markdown", "--reidentification"],
        ["mappings", "validate"],
        ["mappings", "validate", "--online"],
        ["conflicts", "list"],
        ["salesforce", "check"],
        ["salesforce", "describe", "Deal_Registration__c"],
    ],
    ids=" ".join,
)
def test_commands_work_on_the_demo_directory(demo: Demo, command: list[str]) -> None:
    org = demo.directory / "org.json"
    before = json.loads(org.read_text())["records"] if command[0] == "run" else None
    run = invoke("--config", str(demo.directory / "sfsync.toml"), *command)
    assert run.code == EXIT_OK, run.out + run.err
    assert run.out.strip()
    if before is not None:  # a dry run spends read calls but leaves the org's records as they were
        assert json.loads(org.read_text())["records"] == before


def test_crypto_verify_on_the_demo_reports_only_the_shredded_partner(demo: Demo) -> None:
    run = invoke("--config", str(demo.directory / "sfsync.toml"), "crypto", "verify", "--decrypt-check", "--json")
    assert run.code == EXIT_REJECTED  # the demo shredded one partner on purpose
    report = json.loads(run.out)
    kinds = {f["kind"] for field in report["fields"] for f in field["findings"]}
    assert kinds == {"destroyed_key"}
    assert sum(f["destroyed_key"] for f in report["fields"]) == demo.result.shredded_values


def test_library_api_runs_on_the_demo_directory(demo: Demo, tmp_path: Path) -> None:
    from sfsync import RunReport, SyncJob

    copy = tmp_path / "demo"
    shutil.copytree(demo.directory, copy)
    with SyncJob.from_config(copy / "sfsync.toml") as job:
        report = job.run(dry_run=True)
    assert isinstance(report, RunReport)
    assert report.exit_code == EXIT_OK


# --- bad input: rerun, stale directories, leftovers ---------------------------------------------------


def test_rerun_in_the_default_directory_replaces_the_earlier_demo(
    earlier_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_created = json.loads((earlier_demo / DEMO_MARKER).read_text())["created"]
    (earlier_demo / "user-scribble.txt").write_text("left from the earlier demo")
    # A build directory that a killed demo (kill -9) left behind: its process is gone.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale_build = earlier_demo.parent / f".sfsync-demo.building-{dead.pid}"
    (stale_build / "keys").mkdir(parents=True)
    monkeypatch.chdir(earlier_demo.parent)

    run = invoke("demo")  # --dir defaults to ./sfsync-demo

    assert run.code == EXIT_OK, run.out + run.err
    assert "The earlier demo in sfsync-demo was replaced" in run.text
    assert "interrupted earlier demo" in run.text
    assert "files added by hand to the earlier demo were replaced with it: user-scribble.txt" in run.text
    assert json.loads((earlier_demo / DEMO_MARKER).read_text())["created"] != old_created
    assert not (earlier_demo / "user-scribble.txt").exists()
    assert leftovers(earlier_demo.parent) == []
    assert sorted(p.name for p in earlier_demo.parent.iterdir()) == ["sfsync-demo"]


@pytest.mark.parametrize(
    ("damage", "explained"),
    [
        ("older-format", "made by an older sfsync"),
        ("unknown-format", "demo format sfsync does not know"),
        ("corrupt-marker", "unreadable .sfsync-demo.json"),
        ("corrupt-org", "missing or corrupt org.json"),
        ("no-marker", "demo from an older sfsync"),
    ],
)
def test_stale_demo_is_explained_and_rebuilt(earlier_demo: Path, damage: str, explained: str) -> None:
    marker = earlier_demo / DEMO_MARKER
    if damage == "older-format":
        marker.write_text(json.dumps({"format": DEMO_FORMAT - 1, "sfsync": "0.0.1"}))
    elif damage == "unknown-format":
        marker.write_text(json.dumps({"format": "v-next"}))
    elif damage == "corrupt-marker":
        marker.write_text("{not json")
    elif damage == "corrupt-org":
        (earlier_demo / "org.json").write_text('{"records": [')
    else:
        marker.unlink()

    run = invoke("demo", "--dir", str(earlier_demo))

    assert run.code == EXIT_OK, run.out + run.err
    assert explained in run.text
    assert "rebuilding it from scratch" in run.text
    assert json.loads(marker.read_text())["format"] == DEMO_FORMAT
    json.loads((earlier_demo / "org.json").read_text())
    assert invoke("--config", str(earlier_demo / "sfsync.toml"), "status").code == EXIT_OK


def test_foreign_directory_is_refused_untouched(tmp_path: Path) -> None:
    target = tmp_path / "work"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    run = invoke("demo", "--dir", str(target))
    assert run.code == EXIT_USAGE
    assert "not made by `sfsync demo`" in run.error and "left untouched" in run.error
    assert snapshot(target) == {"notes.txt": b"mine"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]


def test_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "sfsync-demo"
    target.write_text("a file")
    run = invoke("demo", "--dir", str(target))
    assert run.code == EXIT_USAGE
    assert "is not a directory" in run.error
    assert target.read_text() == "a file"
    assert "Traceback" not in run.err


# --- bad input: read-only places ---------------------------------------------------------------------


def test_read_only_parent_is_refused_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    if os.geteuid() == 0:
        # root passes permission checks, so make os.access answer as it would for anyone else.
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == parent else real_access(path, mode))
    try:
        run = invoke("demo", "--dir", str(parent / "sfsync-demo"))
        assert run.code == EXIT_USAGE
        assert f"cannot write in {parent}" in run.error
        assert "--dir" in run.error and "Nothing was written" in run.error
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_file_system_fails_cleanly() -> None:
    """/proc refuses mkdir even for root, although os.access says it is writable: the real OSError path."""
    run = invoke("demo", "--dir", "/proc/sfsync-demo-test")
    assert run.code == EXIT_USAGE
    assert "cannot write in /proc" in run.error
    assert "Traceback" not in run.err and "internal error" not in run.err


def test_missing_parents_are_created_and_removed_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(demo_module, "save_fake_org", broken)
    run = invoke("demo", "--dir", str(tmp_path / "a" / "b" / "sfsync-demo"))
    assert run.code == EXIT_USAGE
    assert "No space left on device" in run.error
    assert list(tmp_path.iterdir()) == []


# --- bad input: interrupted mid-build ----------------------------------------------------------------


@pytest.mark.parametrize("failure", [RuntimeError("boom"), KeyboardInterrupt(), OSError(errno.EROFS, "Read-only")])
def test_interrupted_build_leaves_the_earlier_demo_intact(
    earlier_demo: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    before = snapshot(earlier_demo)
    reached: list[bool] = []

    def interrupted(*args: object, **kwargs: object) -> int:
        reached.append(True)  # after the portal, the keyring and a first full sync were written
        raise failure

    monkeypatch.setattr(demo_module, "_partners_edit", interrupted)
    run = invoke("demo", "--dir", str(earlier_demo))

    assert reached
    assert run.code != EXIT_OK
    assert "Traceback" not in run.err
    assert snapshot(earlier_demo) == before
    assert leftovers(earlier_demo.parent) == []
    assert sorted(p.name for p in earlier_demo.parent.iterdir()) == ["sfsync-demo"]


def test_failed_swap_puts_the_earlier_demo_back(earlier_demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot(earlier_demo)
    real_replace = os.replace

    def replace(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> None:
        if ".building-" in str(source):
            raise OSError(errno.EIO, "Input/output error")
        real_replace(source, destination)

    monkeypatch.setattr(os, "replace", replace)
    run = invoke("demo", "--dir", str(earlier_demo))
    assert run.code == EXIT_USAGE
    assert "Input/output error" in run.error
    assert snapshot(earlier_demo) == before
    assert leftovers(earlier_demo.parent) == []
