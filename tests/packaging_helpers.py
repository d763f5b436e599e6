"""A fresh copy of the repository and its wheel and sdist, built once per test session and shared."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NESTED = "SFSYNC_README_E2E_NESTED"


@dataclass(frozen=True)
class Distributions:
    wheel: Path
    sdist: Path


def clean_environment() -> dict[str, str]:
    """The environment of a new shell: no outer virtual environment, no sfsync settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SFSYNC_", "PYTEST_", "VIRTUAL_ENV", "PYTHON"))}
    outer_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != outer_bin)
    env[NESTED] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.setdefault("COLUMNS", "100")
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
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


def build_distributions(workspace: Path) -> Distributions:
    """``python -m build`` on a fresh copy: one wheel and one sdist for every install test of the session."""
    source = copy_repository(workspace / "source")
    out = workspace / "dist"
    built = subprocess.run(
        # --no-isolation: the test environment has the build backend (setuptools>=77, in the test extra);
        # two isolated build environments would cost two more virtualenvs and setuptools installs
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building the distributions failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise RuntimeError(f"expected one wheel and one sdist, got {[p.name for p in out.iterdir()]}")
    return Distributions(wheel=wheels[0], sdist=sdists[0])
