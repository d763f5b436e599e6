"""Where the files sfsync ships beside the package live (mappings, portal DDL, rules)."""

from __future__ import annotations

from pathlib import Path

from sfsync.errors import ConfigError

__all__ = ["shipped_mappings_dir"]

_PACKAGE = Path(__file__).resolve().parent


def shipped_mappings_dir() -> Path:
    """The shipped ``mappings/`` directory (a checkout's, or a copy installed with the package)."""
    for candidate in (_PACKAGE / "_data" / "mappings", _PACKAGE.parent / "mappings"):
        if (candidate / "portal_schema.sql").is_file():
            return candidate
    raise ConfigError(
        "the shipped mappings/ directory was not found beside the sfsync package; install sfsync from its "
        "source checkout (pip install -e .) so `sfsync demo` and `sfsync init` can copy it"
    )
