"""Rules of engagement: a validated YAML file (see ``mappings/conflict_rules.yaml`` for the documented one)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sfsync.text.domain import SharedHost, SharedHosts, TenantRule

from ..errors import ConfigError, ErrorContext
from ._defaults import DEFAULT_MODEL
from ._models import ConflictKind, Opportunity, Severity
from ._normalize import normalize_product_lines, registrable_domain
from ._weights import MatchModel

__all__ = [
    "CountryGuard",
    "DirectOwnerRule",
    "MatchingRules",
    "Rules",
    "SharedHostRule",
    "load_rules",
    "parse_rules",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldCriterion(_Strict):
    name: str = Field(min_length=1)
    values: list[str] = Field(min_length=1)


class DirectOwnerRule(_Strict):
    """An Opportunity is direct-rep owned when ANY criterion holds (case-insensitive)."""

    roles: list[str] = Field(default_factory=list)
    profiles: list[str] = Field(default_factory=list)
    field: FieldCriterion | None = None

    @model_validator(mode="after")
    def _some(self) -> DirectOwnerRule:
        if not self.roles and not self.profiles and self.field is None:
            raise ValueError("give at least one of roles, profiles or field")
        return self

    def matches(self, opp: Opportunity) -> bool:
        roles = {r.casefold() for r in self.roles}
        profiles = {p.casefold() for p in self.profiles}
        if opp.owner_role and opp.owner_role.casefold() in roles:
            return True
        if opp.owner_profile and opp.owner_profile.casefold() in profiles:
            return True
        if self.field is not None:
            value = opp.field_value(self.field.name)
            if value is not None and value.casefold() in {v.casefold() for v in self.field.values}:
                return True
        return False


class StageRule(_Strict):
    """Stages in scope: ``include`` (empty = every stage) minus ``exclude``."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=lambda: ["Closed Won", "Closed Lost"])

    def in_scope(self, stage: str | None) -> bool:
        folded = (stage or "").casefold()
        if folded in {s.casefold() for s in self.exclude}:
            return False
        return not self.include or folded in {s.casefold() for s in self.include}


class Money(_Strict):
    amount: Decimal = Field(ge=0)
    currency: str = Field(default="USD", min_length=3, max_length=3)


class CountryGuard(StrEnum):
    """Name-only matches across different known countries never count. When a country is missing:
    ``allow`` lets the name match stand (evidence says so), ``block`` drops it."""

    ALLOW = "allow"
    BLOCK = "block"


class SharedHostRule(_Strict):
    """A host many unrelated companies live on (see ``matching.shared_hosts`` in the rules file)."""

    category: str = Field(min_length=1)  # "site builder", "shop platform", "social network", "free mail"
    tenant: TenantRule = TenantRule.SUBDOMAIN
    path_prefixes: list[str] = Field(default_factory=list)


class MatchingRules(_Strict):
    """How sure the scanner must be, and what websites mean.

    A candidate pair's match probability comes from the Fellegi–Sunter model (``model``; the
    fitted defaults when absent): ``block_probability`` and above files the conflict with the
    kind's severity, ``review_probability`` up to it files it as ``review``, below it nothing.
    """

    block_probability: float = Field(default=0.995, gt=0, lt=1)
    review_probability: float = Field(default=0.9, gt=0, lt=1)
    unknown_country: CountryGuard = CountryGuard.ALLOW
    # Hosts that identify nobody (free mail and the like), on top of shared_hosts with tenant: none.
    ignore_domains: list[str] = Field(default_factory=list)
    shared_hosts: dict[str, SharedHostRule] = Field(default_factory=dict)
    model: MatchModel | None = None

    @model_validator(mode="after")
    def _thresholds(self) -> MatchingRules:
        if self.review_probability > self.block_probability:
            raise ValueError("review_probability must not exceed block_probability")
        return self

    @field_validator("ignore_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for item in value:
            dom = registrable_domain(item)
            if dom is None:
                raise ValueError(f"{item!r} is not a domain")
            out.append(dom)
        return out

    @field_validator("shared_hosts")
    @classmethod
    def _hosts(cls, value: dict[str, SharedHostRule]) -> dict[str, SharedHostRule]:
        out: dict[str, SharedHostRule] = {}
        for host, rule in value.items():
            name = host.strip().casefold().strip(".")
            if "." not in name or " " in name or "/" in name:
                raise ValueError(f"{host!r} is not a host name")
            out[name] = rule
        return out

    def hosts(self) -> SharedHosts:
        """Shared hosts, the ignored domains among them (tenant: none)."""
        entries = [
            SharedHost(host, r.category, r.tenant, tuple(p.strip("/").casefold() for p in r.path_prefixes))
            for host, r in self.shared_hosts.items()
        ]
        entries += [
            SharedHost(d, "ignored domain", TenantRule.NONE) for d in self.ignore_domains if d not in self.shared_hosts
        ]
        return SharedHosts(entries)

    def match_model(self) -> MatchModel:
        return self.model if self.model is not None else DEFAULT_MODEL


class AsOfRules(_Strict):
    """Protection end dates are inclusive through the end of that day in ``timezone``."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone)).date()


class RegistrationStatuses(_Strict):
    approved: list[str] = Field(default_factory=lambda: ["approved"])
    pending: list[str] = Field(default_factory=lambda: ["submitted", "pending"])


def _default_severity() -> dict[ConflictKind, Severity]:
    return {
        ConflictKind.DEAL_REGISTRATION: Severity.BLOCK,
        ConflictKind.ACCOUNT_REGISTRATION: Severity.BLOCK,
        ConflictKind.PARTNER_OF_RECORD: Severity.WARN,
        ConflictKind.SECOND_PARTNER: Severity.WARN,
        ConflictKind.NAMED_ACCOUNT: Severity.WARN,
    }


class Rules(_Strict):
    version: int = 1
    direct_owner: DirectOwnerRule
    stages: StageRule = Field(default_factory=StageRule)
    require_product_line_overlap: bool = True
    minimum_deal_size: Money | None = None
    exchange_rates: dict[str, Decimal] = Field(default_factory=dict)
    always_protected_product_lines: frozenset[str] = frozenset()
    severity: dict[ConflictKind, Severity] = Field(default_factory=_default_severity)
    matching: MatchingRules = Field(default_factory=MatchingRules)
    as_of: AsOfRules = Field(default_factory=AsOfRules)
    registration_statuses: RegistrationStatuses = Field(default_factory=RegistrationStatuses)
    # A channel sale (won Opportunity with a partner) makes that partner the partner of record for
    # the customer and each of its product lines for this many days after the close date.
    partner_of_record_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError("only version 1 is supported")
        return value

    @field_validator("always_protected_product_lines", mode="before")
    @classmethod
    def _lines(cls, value: object) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of product line names")
        return normalize_product_lines(value)

    @field_validator("exchange_rates")
    @classmethod
    def _rates(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for code, rate in value.items():
            if len(code) != 3 or rate <= 0:
                raise ValueError(f"exchange rate {code}: need a 3-letter currency and a positive rate")
            out[code.upper()] = rate
        return out

    @field_validator("severity")
    @classmethod
    def _severity(cls, value: dict[ConflictKind, Severity]) -> dict[ConflictKind, Severity]:
        # Kinds not named keep their default severity.
        return {**_default_severity(), **value}

    @model_validator(mode="after")
    def _complete(self) -> Rules:
        if self.minimum_deal_size is not None:
            cur = self.minimum_deal_size.currency.upper()
            if cur != "USD" and cur not in self.exchange_rates:
                raise ValueError(f"minimum_deal_size currency {cur} has no exchange rate")
        return self

    def to_usd(self, amount: Decimal, currency: str | None) -> Decimal | None:
        """Convert with ``exchange_rates`` (units of USD per unit); None when the currency is unknown."""
        cur = (currency or "USD").upper()
        if cur == "USD":
            return amount
        rate = self.exchange_rates.get(cur)
        return None if rate is None else amount * rate

    def minimum_usd(self) -> Decimal | None:
        if self.minimum_deal_size is None:
            return None
        return self.to_usd(self.minimum_deal_size.amount, self.minimum_deal_size.currency)


def _node_line(
    root: yaml.Node | None, loc: tuple[int | str, ...], *, want_key: bool = False
) -> tuple[int | None, int | None]:
    """Line/column (1-based) of the deepest YAML node on a pydantic error path (the key itself
    for a forbidden extra key)."""
    node = root
    best: yaml.Node | None = root
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for key_node, value_node in node.value:
                if str(key_node.value) == str(part):
                    nxt = key_node if (last and want_key) else value_node
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        best = node
    if best is None:
        return None, None
    return best.start_mark.line + 1, best.start_mark.column + 1


_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_rules(text: str, source: str = "<rules>") -> Rules:
    """Parse and validate rules YAML; errors name the file, line and column."""
    # A scan starts with this file: libyaml (when present) parses it ~20 times faster than the
    # pure-Python parser. Only when something is wrong is it parsed again by the pure-Python
    # parser, for its node tree: the error then names the line and column exactly as before.
    try:
        data: Any = yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506 -- a safe loader
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict):
        try:
            return Rules.model_validate(data)
        except ValidationError:
            pass
    return _parse_reporting(text, source)


def _parse_reporting(text: str, source: str) -> Rules:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise ConfigError(
            f"rules file is not valid YAML: {exc.problem}",
            ErrorContext(file=source, line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None),
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("rules file must be a YAML mapping", ErrorContext(file=source, line=1))
    try:
        return Rules.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        line, column = _node_line(root, loc, want_key=first["type"] == "extra_forbidden")
        where = ".".join(str(p) for p in loc) or "(top level)"
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"invalid rules: {problems}",
            ErrorContext(file=source, line=line, column=column, field_name=where),
        ) from None


def load_rules(path: str | Path) -> Rules:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read rules file: {exc.strerror}", ErrorContext(file=str(path))) from None
    return parse_rules(text, str(path))
