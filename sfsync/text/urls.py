"""Database URLs made safe to print."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

__all__ = ["redact_database_url"]


def redact_database_url(url: str) -> str:
    """``url`` with its password masked; an unparsable URL is never echoed (it may hold a password)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return "<unparseable database URL>"
