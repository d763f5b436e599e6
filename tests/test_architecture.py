"""The layout's promises (docs/design.md): arrows point down, only the CLI speaks to the terminal."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sfsync"
TERMINAL_LIBRARIES = {"typer", "click", "rich"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    result = subprocess.run([str(linter)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_only_the_cli_imports_terminal_libraries() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & TERMINAL_LIBRARIES)
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts[:1]
    }
    assert {name: libs for name, libs in offenders.items() if libs} == {}


def test_the_detector_sees_an_offender(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("import rich.console\nfrom typer import Typer\n", encoding="utf-8")
    assert _imported_roots(module) & TERMINAL_LIBRARIES == {"rich", "typer"}


def test_importing_sfsync_is_cheap() -> None:
    code = (
        "import sys, sfsync; heavy = [m for m in ('sqlalchemy', 'simple_salesforce', 'cryptography', 'sfsync.sync', "
        "'pydantic_settings') if m in sys.modules]; print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == ""
