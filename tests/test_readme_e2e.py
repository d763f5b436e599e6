"""The README's commands, verbatim, in a fresh copy of the repository with a fresh virtual environment.

What runs, and why:

* **install** (`python3 -m venv .venv && .venv/bin/pip install -e '.[test]'`) and the **main job**
  (`.venv/bin/sfsync demo`) run exactly as the README prints them, in a temporary copy of the
  repository's files (tracked plus new, not ignored: what a fresh clone of the working tree holds).
  Their output is checked against what the README promises.
* The inline follow-up the README suggests (`.venv/bin/sfsync --config sfsync-demo/sfsync.toml status`)
  runs verbatim too.
* The **test** command (`.venv/bin/pytest`) would run this very file again inside the copy, and the
  whole suite a second time. It runs verbatim with `--collect-only` appended (proving the fresh
  environment has pytest, its plugins and every import the suite needs), and once more on one small
  test module to prove tests pass there. The full suite itself is what CI runs with this same command
  (`.ci/run`). An environment variable makes this file skip itself if it is ever collected inside
  the copy, so it can never recurse.
* A **non-editable** `pip install` of the copy into a second fresh environment then runs
  `sfsync demo` and `sfsync init` far from the source tree: the shipped mappings must be inside
  the installed package.

Takes about 40-50 s (two `pip install`s from the local package cache, run side by side).
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

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NESTED = "SFSYNC_README_E2E_NESTED"
INSTALL_TIMEOUT = 900

pytestmark = pytest.mark.skipif(
    os.environ.get(NESTED) == "1", reason="already inside the README end-to-end test (no recursion)"
)


@dataclass(frozen=True)
class Commands:
    install: str
    tests: str
    main_job: str
    inline: list[str]


def readme_commands() -> Commands:
    text = README.read_text(encoding="utf-8")
    blocks = [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]
    assert blocks, "README has no ```sh blocks"
    install = [b for b in blocks if "pip install" in b]
    tests = [b for b in blocks if re.search(r"\bpytest\b", b)]
    main_job = [b for b in blocks if "sfsync demo" in b]
    assert len(install) == len(tests) == len(main_job) == 1, blocks
    assert len(blocks) == 3, f"a README command this test does not run: {blocks}"
    assert blocks.index(install[0]) == 0, "the install command must come first in the README"
    # Inline commands on the demo directory, e.g. `.venv/bin/sfsync --config sfsync-demo/sfsync.toml status`.
    inline = sorted(set(re.findall(r"`(\.venv/bin/sfsync --config sfsync-demo/[^`]*)`", text)))
    return Commands(install[0], tests[0], main_job[0], inline)


def clean_environment() -> dict[str, str]:
    """The environment of a new shell: no outer virtual environment, no sfsync settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFSYNC_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))}
    outer_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != outer_bin)
    env[NESTED] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.setdefault("COLUMNS", "100")
    return env


def repository_files() -> list[str]:
    """The repository's files as a fresh clone of this working tree would hold them."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and os.path.lexists(REPO / name)]


def copy_repository(destination: Path) -> Path:
    for name in repository_files():
        source, target = REPO / name, destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), target)
        else:
            shutil.copy2(source, target)
    return destination


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
    install: subprocess.CompletedProcess[str]
    demo: subprocess.CompletedProcess[str]
    wheel_root: Path
    wheel_venv: Path
    wheel_install: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checkout]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of the repository")
    commands = readme_commands()
    root = copy_repository(tmp_path_factory.mktemp("readme") / "sfsync")
    wheel_root = copy_repository(tmp_path_factory.mktemp("wheel") / "sfsync")
    wheel_venv = wheel_root.parent / "venv"
    # The non-editable install runs beside the README's install to halve the wall time.
    wheel = subprocess.Popen(
        f"python3 -m venv {wheel_venv} && {wheel_venv}/bin/pip install {wheel_root}",
        shell=True,
        cwd=wheel_root.parent,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        install = sh(commands.install, root, timeout=INSTALL_TIMEOUT)
        demo = sh(commands.main_job, root) if install.returncode == 0 else install
        wheel_out, _ = wheel.communicate(timeout=INSTALL_TIMEOUT)
    finally:
        if wheel.poll() is None:
            wheel.kill()
            wheel.wait()
    wheel_install = subprocess.CompletedProcess(wheel.args, wheel.returncode, wheel_out, "")
    yield Checkout(root, install, demo, wheel_root, wheel_venv, wheel_install)


def test_readme_lists_install_tests_and_main_job() -> None:
    commands = readme_commands()
    assert commands.install == "python3 -m venv .venv && .venv/bin/pip install -e '.[test]'"
    assert commands.main_job == ".venv/bin/sfsync demo"
    assert commands.tests == ".venv/bin/pytest"
    assert commands.inline, "the README suggests a command on the demo directory"


def test_install_command(checkout: Checkout) -> None:
    assert checkout.install.returncode == 0, checkout.install.stdout[-3000:] + checkout.install.stderr[-3000:]
    assert "Successfully installed" in checkout.install.stdout
    assert (checkout.root / ".venv" / "bin" / "sfsync").is_file()


def test_main_job_command(checkout: Checkout) -> None:
    demo = checkout.demo
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
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


def test_rerunning_the_main_job_replaces_the_demo(checkout: Checkout) -> None:
    assert checkout.demo.returncode == 0
    again = sh(readme_commands().main_job, checkout.root)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "The earlier demo in sfsync-demo was replaced" in flat(again.stdout)


def test_test_command_collects_the_suite_in_the_fresh_environment(checkout: Checkout) -> None:
    assert checkout.install.returncode == 0
    collected = sh(f"{readme_commands().tests} --collect-only -q -p no:cacheprovider", checkout.root)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]
    count = re.search(r"(\d+) tests? collected", collected.stdout)
    assert count is not None and int(count.group(1)) > 100, collected.stdout[-1000:]
    assert "error" not in collected.stdout.lower().split("collected")[-1]
    # This file is collected there but skips itself (NESTED is set), so the suite can never recurse.
    passed = sh(f"{readme_commands().tests} -q -p no:cacheprovider tests/test_init.py", checkout.root)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-3000:]
    assert re.search(r"\d+ passed", passed.stdout)


def test_non_editable_install_ships_the_mappings(checkout: Checkout, tmp_path: Path) -> None:
    install = checkout.wheel_install
    assert install.returncode == 0, install.stdout[-3000:]
    site = checkout.wheel_venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    shipped = site / "sfsync" / "_data" / "mappings"
    assert (shipped / "portal_schema.sql").is_file() and not shipped.is_symlink()
    assert sorted(p.name for p in shipped.iterdir()) == sorted(p.name for p in (REPO / "mappings").iterdir())
    # Far from any source tree: only the installed package can provide the mappings.
    shutil.rmtree(checkout.wheel_root)
    sfsync = checkout.wheel_venv / "bin" / "sfsync"
    demo = sh(f"{sfsync} demo", tmp_path)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Channel conflicts found" in flat(demo.stdout)
    init = sh(f"{sfsync} init ops && {sfsync} --config ops/sfsync.toml mappings validate", tmp_path)
    assert init.returncode == 0, init.stdout[-2000:] + init.stderr[-2000:]
    assert "valid" in init.stdout
