"""The README's two commands, verbatim, in a fresh copy of the repository.

What runs, and why:

* **`make demo`** runs exactly as the README prints it, in a temporary copy of the repository's files
  (tracked plus new, not ignored: what a fresh clone of the working tree holds): it creates `.venv`,
  installs sfsync into it and runs the demo. Its output is checked against what the README promises.
  The inline follow-up the README suggests (`.venv/bin/sfsync --config sfsync-demo/sfsync.toml status`)
  runs verbatim too.
* **`make test`** would run this very file again inside the copy, and the whole suite a second time.
  It runs verbatim with `PYTEST_ARGS` set to collect only (proving the fresh environment has pytest,
  its plugins and every import the suite needs), and once more on one small test module to prove tests
  pass there. The full suite itself is what CI runs with this same command (`.ci/run`). An environment
  variable makes this file skip itself if it is ever collected inside the copy, so it can never recurse.
* The **wheel** the session built once (``sfsync_distributions``, shared with tests/test_packaging.py)
  is then installed into that same environment without dependencies — a second full install would
  double the time — and runs `sfsync demo` and `sfsync init` with the source tree moved away: the
  shipped mappings must be inside the installed package.

One full install (from the local package cache) and one wheel build: about a minute on 2 cores.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging_helpers import NESTED, REPO, Distributions, clean_environment, copy_repository

README = REPO / "README.md"
INSTALL_TIMEOUT = 900

pytestmark = pytest.mark.skipif(
    os.environ.get(NESTED) == "1", reason="already inside the README end-to-end test (no recursion)"
)


@dataclass(frozen=True)
class Commands:
    main_job: str
    tests: str
    inline: list[str]


def readme_commands() -> Commands:
    text = README.read_text(encoding="utf-8")
    blocks = [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]
    assert len(blocks) == 2, f"the README must give exactly two commands, found {blocks}"
    main_job = [b for b in blocks if "demo" in b]
    tests = [b for b in blocks if re.search(r"\btest\b", b)]
    assert len(main_job) == len(tests) == 1, blocks
    # Inline commands on the demo directory, e.g. `.venv/bin/sfsync --config sfsync-demo/sfsync.toml status`.
    inline = sorted(set(re.findall(r"`(\.venv/bin/sfsync --config sfsync-demo/[^`]*)`", text)))
    return Commands(main_job[0], tests[0], inline)


def sh(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        shell=True,
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@dataclass
class Checkout:
    root: Path
    demo: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of the repository")
    if shutil.which("make") is None:
        pytest.skip("needs make (the README's commands are make targets)")
    root = copy_repository(tmp_path_factory.mktemp("readme") / "sfsync")
    assert not (root / ".venv").exists()
    demo = sh(readme_commands().main_job, root, timeout=INSTALL_TIMEOUT)
    yield Checkout(root, demo)


def test_readme_gives_exactly_the_two_commands() -> None:
    commands = readme_commands()
    assert commands.main_job == "make demo"
    assert commands.tests == "make test"
    assert commands.inline, "the README suggests a command on the demo directory"


def test_make_demo_creates_the_environment_and_runs_the_demo(checkout: Checkout) -> None:
    demo = checkout.demo
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert (checkout.root / ".venv" / "bin" / "sfsync").is_file()
    out = flat(demo.stdout)
    assert "Traceback" not in demo.stderr
    # What the README promises: validated mappings, a full and an incremental sync, conflicts,
    # encryption verified, the direct rep's view beside the portal's.
    assert re.search(r"Mappings: \d+ files validated .*: 0 problems", out), out
    assert re.search(r"First sync: [1-9]\d\d registrations pushed to Salesforce in \d+ API calls", out), out
    assert "Incremental sync:" in out
    assert re.search(r"What a direct rep sees in Salesforce for DR-\d+, beside the portal", out), out
    assert "sfe1." in demo.stdout  # ciphertext in the Salesforce column
    found = re.search(r"Channel conflicts found: (\d+) \((\d+) of the (\d+) planted collisions", out)
    assert found is not None, out
    assert found.group(1) == found.group(2) == found.group(3) != "0"
    assert re.search(r"crypto verify: [1-9]\d* stored values checked, clean", out), out
    assert re.search(r"\d+ Salesforce API calls in all", out), out
    demo_dir = checkout.root / "sfsync-demo"
    assert (demo_dir / ".sfsync-demo.json").is_file() and (demo_dir / "sfsync.toml").is_file()


def test_readme_inline_commands_on_the_demo(checkout: Checkout) -> None:
    assert checkout.demo.returncode == 0
    for command in readme_commands().inline:
        result = sh(command, checkout.root)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        assert result.stdout.strip(), command


def test_rerunning_make_demo_replaces_the_demo_without_reinstalling(checkout: Checkout) -> None:
    assert checkout.demo.returncode == 0
    again = sh(readme_commands().main_job, checkout.root)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "pip install" not in again.stdout  # the environment is up to date
    assert "The earlier demo in sfsync-demo was replaced" in flat(again.stdout)


def test_make_test_collects_the_suite_in_the_fresh_environment(checkout: Checkout) -> None:
    assert checkout.demo.returncode == 0
    tests = readme_commands().tests
    # PYTEST_WORKERS=0: collected in this process, so pytest prints the count (no xdist workers to ask)
    collected = sh(f"{tests} PYTEST_WORKERS=0 PYTEST_ARGS='--collect-only -q -p no:cacheprovider'", checkout.root)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    count = re.search(r"(\d+) tests? collected", collected.stdout)
    assert count is not None and int(count.group(1)) > 100, collected.stdout[-1000:]
    assert "error" not in collected.stdout.lower().split("collected")[-1]
    # This file is collected there but skips itself (NESTED is set), so the suite can never recurse.
    passed = sh(f"{tests} PYTEST_ARGS='-q -p no:cacheprovider tests/test_init.py'", checkout.root)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert re.search(r"\d+ passed", passed.stdout)


def test_the_installed_wheel_ships_the_mappings_and_no_pytest_plugin(
    checkout: Checkout, sfsync_distributions: Distributions, tmp_path: Path
) -> None:
    assert checkout.demo.returncode == 0
    python = checkout.root / ".venv" / "bin" / "python"
    install = sh(f"{python} -m pip install --quiet --no-deps --force-reinstall {sfsync_distributions.wheel}", tmp_path)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    # Far from any source tree: only the installed package can provide the mappings.
    shutil.move(checkout.root / "sfsync", tmp_path / "moved-source")
    shutil.move(checkout.root / "mappings", tmp_path / "moved-mappings")
    probe = sh(
        f'{python} -c "import importlib.metadata as m, sfsync; print(sfsync.__file__); '
        "print([e.value for e in m.entry_points(group='pytest11')])\"",
        tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    location, plugins = probe.stdout.strip().splitlines()
    assert "site-packages" in location
    assert "sfsync" not in plugins  # opt-in: nothing loads into other projects' pytest sessions
    site = Path(location).parent
    shipped = site / "_data" / "mappings"
    assert (shipped / "portal_schema.sql").is_file() and not shipped.is_symlink()
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in (REPO / "mappings").iterdir())
    sfsync = checkout.root / ".venv" / "bin" / "sfsync"
    demo = sh(f"{sfsync} demo", tmp_path)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Channel conflicts found" in flat(demo.stdout)
    init = sh(f"{sfsync} init --dir ops && {sfsync} --config ops/sfsync.toml mappings validate", tmp_path)
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    assert "valid" in init.stdout
    assert sys.version_info >= (3, 11)
