"""The field policy (law 10): how each partner-submitted field reaches Salesforce, and who may weaken it.

Every portal-owned field of every mapping has a class: ``encrypt`` (ciphertext only),
``blind_index`` (ciphertext plus a keyed index that has a named reader), ``band`` (ciphertext
plus a coarse public value such as an amount range) or ``clear`` (with the written reason a
reviewer accepted). :func:`field_policy` builds the table; :func:`weakenings` compares it with
the pinned (approved) one, so a field can only become less protected through
``sfsync crypto policy approve``; :func:`seal_policy` / :func:`open_policy` authenticate the
pinned document with a key derived from the keyring, so whoever can edit the state store but
holds no key cannot approve anything. :func:`reidentification` measures what the clear and
banded fields give away together: how many registrations they single out among the org's
Accounts.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any

from sfsync.crypto import Keyring
from sfsync.errors import ErrorContext, KeyringError
from sfsync.mapping._model import PROTECTION_RANK, FieldMapping, MappingSet, ObjectMapping

__all__ = [
    "POLICY_KEY_PURPOSE",
    "FieldPolicy",
    "PinnedPolicy",
    "PolicyEntry",
    "ReidentificationReport",
    "field_policy",
    "open_policy",
    "reidentification",
    "seal_policy",
    "weakenings",
]

POLICY_FORMAT = "sfsync-field-policy"
POLICY_VERSION = 1
POLICY_KEY_PURPOSE = "field-policy"


@dataclass(frozen=True)
class PolicyEntry:
    """One partner-submitted field and how it is protected."""

    mapping: str
    sobject: str
    field: str
    columns: tuple[str, ...]
    protection: str
    per_partner_key: bool = False
    band_field: str | None = None
    band: str | None = None
    index_field: str | None = None
    index_bits: int | None = None
    reader: str | None = None
    reason: str | None = None
    account_field: str | None = None
    enabled: bool = True

    @property
    def key(self) -> str:
        return f"{self.sobject}.{self.field}"

    def pinned(self) -> dict[str, Any]:
        """What the approval covers: everything that decides what a reader of Salesforce sees."""
        return {
            "sobject": self.sobject,
            "field": self.field,
            "protection": self.protection,
            "per_partner_key": self.per_partner_key,
            "band_field": self.band_field,
            "band": self.band,
            "index_field": self.index_field,
            "index_bits": self.index_bits,
            # Which portal columns feed a published value: pointing a clear field at another
            # column would publish that column without changing any class.
            "columns": list(self.columns),
        }


def _entry(m: ObjectMapping, fm: FieldMapping) -> PolicyEntry:
    spec = fm.encrypt_spec
    bidx = fm.blind_index
    bits: int | None = None
    if bidx is not None:
        try:
            bits = bidx.planned_bits()
        except ValueError:
            bits = None
    return PolicyEntry(
        mapping=m.name,
        sobject=m.salesforce.object,
        field=fm.field,
        columns=fm.columns,
        protection=fm.protection or "unclassified",
        per_partner_key=bool(spec is not None and spec.per_partner_key),
        band_field=fm.band.field if fm.band is not None else None,
        band=fm.band.describe() if fm.band is not None else None,
        index_field=bidx.field if bidx is not None else None,
        index_bits=bits,
        reader=bidx.reader if bidx is not None else None,
        reason=fm.clear if fm.clear is not None else ("a constant of the mapping" if not fm.columns else None),
        account_field=fm.account_field,
        enabled=m.enabled,
    )


@dataclass
class FieldPolicy:
    entries: list[PolicyEntry] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """The canonical, sorted document that is pinned (one entry per Salesforce field, the weakest)."""
        weakest: dict[str, PolicyEntry] = {}
        for entry in self.entries:
            current = weakest.get(entry.key)
            if current is None or _rank(entry) < _rank(current):
                weakest[entry.key] = entry
        return {
            "format": POLICY_FORMAT,
            "version": POLICY_VERSION,
            "fields": [weakest[k].pinned() for k in sorted(weakest)],
        }

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for entry in self.entries:
            result[entry.protection] = result.get(entry.protection, 0) + 1
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "fields": [
                {
                    "mapping": e.mapping,
                    "enabled": e.enabled,
                    "sobject": e.sobject,
                    "field": e.field,
                    "portal_columns": list(e.columns),
                    "class": e.protection,
                    "per_partner_key": e.per_partner_key,
                    "band_field": e.band_field,
                    "band": e.band,
                    "index_field": e.index_field,
                    "index_bits": e.index_bits,
                    "index_reader": e.reader,
                    "reason": e.reason,
                    "account_field": e.account_field,
                }
                for e in self.entries
            ],
            "counts": self.counts(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        lines = [
            "# Field policy",
            "",
            "Every partner-submitted field, how it reaches Salesforce, and why. `encrypt`: ciphertext only; "
            "`band`: ciphertext plus the coarse public value shown; `blind_index`: ciphertext plus a keyed index "
            "its reader looks up; `clear`: readable by every Salesforce user, for the reason given.",
            "",
        ]
        for mapping in dict.fromkeys(e.mapping for e in self.entries):
            rows = [e for e in self.entries if e.mapping == mapping]
            state = "" if rows[0].enabled else " (disabled)"
            lines += [
                f"## {mapping} → {rows[0].sobject}{state}",
                "",
                "| field | portal column | class | per-partner key | public value | reason |",
                "|---|---|---|---|---|---|",
            ]
            for e in rows:
                public = ""
                if e.band_field:
                    public = f"{e.band_field}: {e.band}"
                elif e.index_field:
                    public = f"{e.index_field}: {e.index_bits}-bit index read by {e.reader}"
                elif e.protection == "clear":
                    public = "the value itself"
                lines.append(
                    f"| {e.field} | {', '.join(e.columns) or '(constant)'} | {e.protection} | "
                    f"{'yes' if e.per_partner_key else 'no'} | {_cell(public)} | {_cell(e.reason or '')} |"
                )
            lines.append("")
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts().items()))
        lines.append(f"Totals: {counts}.")
        return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return re.sub(r"\s+", " ", text).replace("|", "\\|").strip()


def _rank(entry: PolicyEntry | dict[str, Any]) -> int:
    protection = entry.protection if isinstance(entry, PolicyEntry) else str(entry.get("protection"))
    return PROTECTION_RANK.get(protection, -1)


def field_policy(mappings: MappingSet) -> FieldPolicy:
    """The policy of every pushing mapping, enabled or not (enabling one later needs no new review)."""
    entries = [
        _entry(m, fm) for m in mappings.all() if not m.is_read_only and m.direction != "pull" for fm in m.portal_owned()
    ]
    return FieldPolicy(entries)


def weakenings(pinned: AbcMapping[str, Any], current: FieldPolicy, *, enabled_only: bool = True) -> list[str]:
    """Why ``current`` sends something less protected than ``pinned`` allows (empty: nothing).

    A field is weaker when its class ranks lower, when it moves between classes of one rank
    (a band instead of an index), when it loses its per-partner key, or when its public value
    changes (other band edges, other index bits or field). A field the pinned policy does not
    know may only be ``encrypt``. Fields of disabled mappings are not sent, so they are skipped
    unless ``enabled_only`` is False.
    """
    approved = {f"{f['sobject']}.{f['field']}": f for f in pinned.get("fields", []) if isinstance(f, dict)}
    problems: list[str] = []
    for entry in current.entries:
        if enabled_only and not entry.enabled:
            continue
        where = f"{entry.mapping}: {entry.key}"
        before = approved.get(entry.key)
        now = entry.pinned()
        if before is None:
            if entry.protection != "encrypt":
                problems.append(
                    f"{where} is new and would be sent as {entry.protection}; the approved policy does not list it"
                )
            continue
        if _rank(entry) < _rank(before):
            problems.append(f"{where} would be sent as {entry.protection}, approved as {before.get('protection')}")
            continue
        if _rank(entry) == _rank(before) and entry.protection != before.get("protection"):
            problems.append(f"{where} would be sent as {entry.protection}, approved as {before.get('protection')}")
            continue
        if (
            entry.protection in ("clear", "band")
            and "columns" in before
            and list(before.get("columns") or []) != list(entry.columns)
        ):
            problems.append(
                f"{where} would publish portal column(s) {', '.join(entry.columns) or '(none)'}, approved for "
                f"{', '.join(before.get('columns') or []) or '(none)'}"
            )
        if before.get("per_partner_key") and not entry.per_partner_key:
            problems.append(f"{where} would be encrypted under the shared key, approved with per-partner keys")
        if entry.protection == before.get("protection") and entry.protection in ("band", "blind_index"):
            keys = ("band_field", "band") if entry.protection == "band" else ("index_field", "index_bits")
            if any(now[k] != before.get(k) for k in keys):
                problems.append(
                    f"{where} would publish another {entry.protection} value than approved "
                    f"({'; '.join(f'{k}: {before.get(k)} -> {now[k]}' for k in keys)})"
                )
    return problems


# ---------------------------------------------------------------------------------------- pinning


@dataclass(frozen=True)
class PinnedPolicy:
    """The approved policy document, when and by whom it was approved, and its MAC."""

    document: dict[str, Any]
    approved_at: datetime
    approved_by: str
    keyring_generation: int
    mac: str

    def protected_fields(self) -> dict[str, set[str]]:
        """Salesforce fields by object whose stored values must be ciphertext under this policy."""
        result: dict[str, set[str]] = {}
        for entry in self.document.get("fields", []):
            if entry.get("protection") in ("encrypt", "band", "blind_index"):
                result.setdefault(str(entry["sobject"]), set()).add(str(entry["field"]))
        return result


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _mac(keyring: Keyring, body: dict[str, Any]) -> str:
    return hmac.new(keyring.derive_key(POLICY_KEY_PURPOSE), _canonical(body), sha256).hexdigest()


def seal_policy(keyring: Keyring, policy: FieldPolicy, *, approved_by: str, now: datetime | None = None) -> str:
    """The stored form of an approval: JSON whose MAC only a key holder can compute."""
    body = {
        "document": policy.document(),
        "approved_at": (now or datetime.now(UTC)).isoformat(),
        "approved_by": approved_by,
        "keyring_generation": keyring.generation,
    }
    return json.dumps({**body, "mac": _mac(keyring, body)}, sort_keys=True)


def open_policy(keyring: Keyring, stored: str) -> PinnedPolicy:
    """The pinned policy, after checking its MAC (KeyringError when it was edited or is unreadable)."""
    where = ErrorContext(extra={"pin": "field_policy"})
    try:
        data = json.loads(stored)
        body = {k: data[k] for k in ("document", "approved_at", "approved_by", "keyring_generation")}
        mac = str(data["mac"])
    except (ValueError, KeyError, TypeError):
        raise KeyringError(
            "the pinned field policy is unreadable; a key holder must run `sfsync crypto policy approve`", where
        ) from None
    if not hmac.compare_digest(mac, _mac(keyring, body)):
        raise KeyringError(
            "the pinned field policy does not authenticate under this keyring (edited, or pinned "
            "with another keyring); a key holder must review it and run `sfsync crypto policy "
            "approve`",
            where,
        )
    document = body["document"]
    if not isinstance(document, dict) or document.get("format") != POLICY_FORMAT:
        raise KeyringError("the pinned field policy has an unknown format", where)
    return PinnedPolicy(
        document=document,
        approved_at=datetime.fromisoformat(str(body["approved_at"])),
        approved_by=str(body["approved_by"]),
        keyring_generation=int(body["keyring_generation"]),
        mac=mac,
    )


# ------------------------------------------------------------------------------ re-identification


@dataclass
class ReidentificationReport:
    """How many registrations the published (clear and banded) fields single out among the Accounts."""

    accounts: int = 0
    per_mapping: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def singled_out(self) -> int:
        return sum(int(v["singled_out"]) for v in self.per_mapping.values())

    def to_dict(self) -> dict[str, Any]:
        return {"accounts": self.accounts, "singled_out": self.singled_out, "mappings": self.per_mapping}


def _comparable(value: Any) -> str:
    text = str(value).strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = re.sub(r"^www\.", "", text).rstrip("/")
    return text


def reidentification(
    mappings: MappingSet,
    records: AbcMapping[str, Sequence[AbcMapping[str, Any]]],
    accounts: Iterable[AbcMapping[str, Any]],
) -> ReidentificationReport:
    """Count the registrations whose published fields leave exactly one candidate Account.

    ``records`` holds what a reader of Salesforce sees of each registration object (by object
    name); ``accounts`` the org's customer Accounts. For each registration, the candidates
    start as every Account; each published field with an ``account_field`` narrows them the
    way an attacker looks for positive matches: a ``clear`` value must equal the Account's, a
    ``band`` must equal the band of the Account's value, and an Account without that value
    drops out. Encrypted and indexed values cannot be compared without a key and narrow
    nothing. Partner Accounts (``Partner_Number__c`` set) are not candidates: the reader knows
    they are not customers.
    """
    customers = [a for a in accounts if not a.get("Partner_Number__c")]
    report = ReidentificationReport(accounts=len(customers))
    for m in mappings:
        if m.is_read_only or m.direction == "pull":
            continue
        linked = [fm for fm in m.portal_owned() if fm.account_field and fm.protection in ("clear", "band")]
        rows = records.get(m.salesforce.object, [])
        sizes: list[int] = []
        for record in rows:
            candidates = customers
            for fm in linked:
                account_field = fm.account_field or ""
                if fm.protection == "clear":
                    published = record.get(fm.field)
                    if published in (None, ""):
                        continue
                    wanted = _comparable(published)
                    candidates = [
                        a
                        for a in candidates
                        if a.get(account_field) not in (None, "") and _comparable(a[account_field]) == wanted
                    ]
                elif fm.band is not None:
                    band = fm.band
                    published = record.get(band.field)
                    if published in (None, ""):
                        continue
                    candidates = [a for a in candidates if _band_or_none(band, a.get(account_field)) == published]
            sizes.append(len(candidates))
        sizes.sort()
        report.per_mapping[m.name] = {
            "registrations": len(rows),
            "singled_out": sum(1 for s in sizes if s == 1),
            "smallest_candidate_set": sizes[0] if sizes else None,
            "median_candidate_set": sizes[len(sizes) // 2] if sizes else None,
            "compared_fields": [f"{fm.field} ({fm.protection}) ~ Account.{fm.account_field}" for fm in linked],
        }
    return report


def _band_or_none(band: Any, value: Any) -> str | None:
    try:
        result = band.band_of(value)
    except ValueError:
        return None
    return result if isinstance(result, str) else None
