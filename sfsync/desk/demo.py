"""Desk logins for a demo directory: one user per role, sharing one random password printed by ``sfsync demo``."""

from __future__ import annotations

import secrets

from sfsync.config import Settings
from sfsync.desk.users import Role, UserStore

__all__ = ["DEMO_USERS", "add_demo_users"]

DEMO_USERS = (("manager", Role.MANAGER), ("auditor", Role.AUDITOR), ("rep", Role.REP))


def add_demo_users(settings: Settings) -> str:
    """Create (or reset) the demo's desk users; returns their password (random per demo, never stored plain)."""
    password = secrets.token_urlsafe(12)
    store = UserStore(settings.desk.users)
    for name, role in DEMO_USERS:
        store.set_user(name, role, password)
    return password
