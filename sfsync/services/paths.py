"""Where the files sfsync ships beside the package live (mappings, portal DDL, rules).

The repository's ``mappings/`` is the one source. ``sfsync/_data/mappings`` is a symlink to it, so
an editable install reads the checkout's files, and a built wheel (``pip install .``) carries a
real copy inside the package (``[tool.setuptools.package-data]`` includes ``_data/**/*``).
"""

from __future__ import annotations

from pathlib import Path

from sfsync.errors import ConfigError, ErrorContext

__all__ = ["shipped_mappings_dir"]

_PACKAGE = Path(__file__).resolve().parent.parent
_MARKER_FILE = "portal_schema.sql"


def shipped_mappings_dir() -> Path:
    """The shipped ``mappings/`` directory: inside the installed package, or a source checkout's."""
    candidates = (_PACKAGE / "_data" / "mappings", _PACKAGE.parent / "mappings")
    for candidate in candidates:
        if (candidate / _MARKER_FILE).is_file():
            return candidate
    raise ConfigError(
        f"sfsync's shipped mapping files are missing (looked in {candidates[0]}); the installation is "
        "incomplete: reinstall sfsync (pip install --force-reinstall sfsync, or pip install -e . in a checkout)",
        ErrorContext(file=str(candidates[0])),
    )
