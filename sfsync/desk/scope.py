"""What one desk user may see: a set of partner regions and/or partners (``[desk.scopes."<user>"]``)."""

from __future__ import annotations

from dataclasses import dataclass

from sfsync.config import DeskSettings

__all__ = ["Scope", "scope_for"]


@dataclass(frozen=True)
class Scope:
    """Empty sets mean "any". A registration is in scope when its partner passes both sets."""

    regions: frozenset[str] = frozenset()
    partners: frozenset[str] = frozenset()

    @property
    def limited(self) -> bool:
        return bool(self.regions or self.partners)

    def allows(self, partner_number: str | None, partner_region: str | None) -> bool:
        if self.regions and (partner_region or "") not in self.regions:
            return False
        return not self.partners or (partner_number or "") in self.partners

    def describe(self) -> str:
        parts = []
        if self.regions:
            parts.append("regions " + ",".join(sorted(self.regions)))
        if self.partners:
            parts.append("partners " + ",".join(sorted(self.partners)))
        return "; ".join(parts) or "everything"


def scope_for(settings: DeskSettings, user_name: str) -> Scope:
    """The configured scope of ``user_name`` (a local name or a Salesforce username); unlimited when none."""
    entry = settings.scopes.get(user_name)
    if entry is None:  # Salesforce usernames are case-insensitive
        folded = user_name.casefold()
        entry = next((scope for name, scope in settings.scopes.items() if name.casefold() == folded), None)
    if entry is None:
        return Scope()
    return Scope(frozenset(entry.regions), frozenset(entry.partners))
