"""Settings: ``sfsync.toml`` overridden by ``SFSYNC_<SECTION>__<KEY>`` environment variables.

The file is found via ``--config``, then ``SFSYNC_CONFIG``, then ``./sfsync.toml``. Secrets
(access token, password, security token, consumer secret, private key, master key) never come
from the file: only from the environment or from a ``*_file`` path the file names.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import typing
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sfsync.errors import ConfigError, ErrorContext

__all__ = [
    "AccessScope",
    "AuthMode",
    "ConflictSettings",
    "CryptoSettings",
    "DeskLoginSettings",
    "DeskSettings",
    "LoginMode",
    "MappingSettings",
    "PortalSettings",
    "RegionCalendar",
    "SalesforceSettings",
    "Settings",
    "StateSettings",
    "SyncSettings",
    "find_config_file",
    "load_settings",
    "read_private_secret",
]

ENV_PREFIX = "SFSYNC_"
CONFIG_ENV = "SFSYNC_CONFIG"
DEFAULT_CONFIG_NAME = "sfsync.toml"


class AuthMode(StrEnum):
    TOKEN = "token"  # noqa: S105 (an auth mode name)
    JWT = "jwt"
    PASSWORD = "password"  # noqa: S105 (an auth mode name)
    CLIENT_CREDENTIALS = "client_credentials"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 (an auth mode name)
    SF_CLI = "sf-cli"


_REQUIRED_CREDENTIALS: dict[AuthMode, tuple[str, ...]] = {
    AuthMode.TOKEN: ("instance_url", "access_token"),
    AuthMode.JWT: ("username", "consumer_key", "private_key"),
    AuthMode.PASSWORD: ("username", "password", "security_token"),
    AuthMode.CLIENT_CREDENTIALS: ("consumer_key", "consumer_secret"),
    AuthMode.REFRESH_TOKEN: ("consumer_key", "refresh_token"),
    AuthMode.SF_CLI: ("target_org",),
}


def _annotated_with(annotation: Any, kind: type) -> bool:
    return annotation is kind or kind in typing.get_args(annotation)


class _Section(BaseModel):
    """A ``[section]`` of sfsync.toml. Its ``SecretStr`` fields are its secrets; each may instead be read from the
    file its ``<name>_file`` field names. Both facts come from the field types, so they are declared once."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Secrets whose file must be readable by its owner only (mode 0600), like the keyring.
    owner_only_files: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def secret_fields(cls) -> tuple[str, ...]:
        return tuple(name for name, info in cls.model_fields.items() if _annotated_with(info.annotation, SecretStr))

    @classmethod
    def path_fields(cls) -> tuple[str, ...]:
        return tuple(name for name, info in cls.model_fields.items() if _annotated_with(info.annotation, Path))

    @model_validator(mode="after")
    def _secrets_from_files(self) -> Self:
        for name in self.secret_fields():
            path = getattr(self, f"{name}_file", None)
            if getattr(self, name) is None and path is not None:
                if name in self.owner_only_files:
                    _check_private_file(path, f"{name.replace('_', ' ')} file")
                object.__setattr__(self, name, _read_secret_file(path))
        return self


def _check_private_file(path: Path, what: str) -> None:
    """Refuse a secret file other users can read, as the keyring file is refused (mode 0600)."""
    if os.name != "posix":
        return
    try:
        mode = path.expanduser().stat().st_mode
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        raise ValueError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); run `chmod 600` on it"
        )


def read_private_secret(path: Path, what: str) -> SecretStr:
    """A secret from a file only its owner may read (ValueError naming the file otherwise)."""
    _check_private_file(path, what)
    secret = _read_secret_file(path)
    return secret if secret is not None else SecretStr("")


def _read_secret_file(path: Path | None) -> SecretStr | None:
    if path is None:
        return None
    try:
        return SecretStr(path.expanduser().read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None


class SalesforceSettings(_Section):
    auth: AuthMode = AuthMode.TOKEN
    instance_url: str | None = None
    domain: str = Field(
        default="login",
        description="'login' (production), 'test' (sandbox) or a My Domain such as 'acme.my'",
    )
    api_version: str = "61.0"
    username: str | None = None
    consumer_key: str | None = None
    access_token: SecretStr | None = None
    access_token_file: Path | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    security_token: SecretStr | None = None
    security_token_file: Path | None = None
    consumer_secret: SecretStr | None = None
    consumer_secret_file: Path | None = None
    private_key: SecretStr | None = None
    private_key_file: Path | None = None
    refresh_token: SecretStr | None = Field(
        default=None, description="OAuth refresh token (auth refresh_token); consumer_secret only if the app needs it"
    )
    refresh_token_file: Path | None = None
    target_org: str | None = Field(
        default=None, description="Salesforce CLI alias or username (auth sf-cli): `sf org display --target-org`"
    )
    sf_executable: str = Field(default="sf", description="the Salesforce CLI command (auth sf-cli)")
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0)
    api_usage_ceiling: float = Field(
        default=0.9, gt=0, le=1, description="stop before daily API usage passes this fraction"
    )
    max_attempts: int = Field(default=6, ge=1, le=20)
    max_retry_seconds: float = Field(default=300.0, gt=0)
    bulk_threshold: int = Field(default=2000, ge=1, description="upserts above this many records use Bulk 2.0")
    bulk_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="the wait before a Bulk job's second status request while the org's speed is unknown",
    )
    bulk_timeout_seconds: float = Field(default=1800.0, gt=0)
    ca_bundle: Path | None = None
    fake_org: Path | None = Field(
        default=None,
        description="run against a local FakeSalesforce org persisted in this JSON file (demo and tests; no login)",
    )

    @field_validator("api_version")
    @classmethod
    def _api_version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{2,3}\.0", value):
            raise ValueError("must look like '61.0'")
        return value

    @field_validator("domain")
    @classmethod
    def _domain_shape(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*", value) or ".salesforce.com" in value:
            raise ValueError("must be 'login', 'test' or a My Domain prefix such as 'acme.my'")
        return value

    def missing_credentials(self) -> list[str]:
        """Names of settings the chosen auth mode needs but that are not set.

        Checked when a command needs Salesforce, not at load time, so offline commands
        (mappings validate, demo, crypto keygen) work without credentials.
        """
        required = _REQUIRED_CREDENTIALS
        if self.auth is AuthMode.CLIENT_CREDENTIALS and self.instance_url is None and self.domain == "login":
            # client credentials flow needs a My Domain or an instance URL
            return [*[n for n in required[self.auth] if getattr(self, n) is None], "instance_url or domain"]
        return [name for name in required[self.auth] if getattr(self, name) is None]


class PortalSettings(_Section):
    url: str = "sqlite:///portal.db"


class StateSettings(_Section):
    url: str = "sqlite:///sfsync-state.db"
    lock_timeout_seconds: float = Field(default=0.0, ge=0, description="how long a run waits for the lock")
    lock_lease_seconds: float = Field(default=900.0, gt=0, description="a lock not renewed for this long is stale")


class MappingSettings(_Section):
    paths: list[Path] = Field(default_factory=lambda: [Path("mappings")])


class CryptoSettings(_Section):
    owner_only_files: ClassVar[tuple[str, ...]] = ("master_key",)
    keyring: Path = Path("keys/keyring.json")
    provider: Literal["local", "aws-kms", "vault-transit"] = Field(
        default="local", description="who wraps the data keys: the master key, AWS KMS or Vault transit"
    )
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    kms_key_id: str | None = Field(default=None, description="AWS KMS key id, ARN or alias (provider aws-kms)")
    vault_url: str | None = Field(default=None, description="Vault address (provider vault-transit)")
    vault_key: str | None = Field(default=None, description="transit key name (provider vault-transit)")
    vault_mount: str = "transit"
    vault_namespace: str | None = None
    vault_token: SecretStr | None = None
    vault_token_file: Path | None = None


class SyncSettings(_Section):
    overlap_seconds: float = Field(default=300.0, ge=0, description="re-read window behind each watermark")
    batch_size: int = Field(
        default=10000,
        ge=1,
        description="portal rows read per batch; a batch with more changed rows than "
        "[salesforce] bulk_threshold goes through Bulk API 2.0",
    )
    pull_margin_seconds: float = Field(
        default=0.0,
        ge=0,
        description="the next pull starts this long before the org's clock at the previous pull query "
        "(0: at it; raise it if org-side transactions can commit seconds after they stamp a record)",
    )
    parallel_jobs: int = Field(
        default=4,
        ge=1,
        le=10,
        description="push batches in flight at once (Bulk jobs uploading or running) while the next "
        "batch is read and encrypted; memory holds at most 2 x parallel_jobs + 1 jobs",
    )
    dead_letter_max_attempts: int = Field(default=5, ge=1)
    dead_letter_backoff_seconds: float = Field(default=300.0, ge=0)
    salesforce_delete_policy: Literal["clear_link", "mark_deleted", "delete"] = "clear_link"
    portal_delete_policy: Literal["withdraw", "delete"] = "withdraw"


class ConflictSettings(_Section):
    rules: Path = Path("mappings/conflict_rules.yaml")
    named_accounts: Path | None = None


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKING_WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


_HOUR_MINUTE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class RegionCalendar(_Section):
    """``[desk.calendars.<REGION>]``: the SLA clock of partners in one region (Account.Partner_Region__c).

    Every key left out inherits ``[desk]``'s value. ``day_start``/``day_end`` bound the business hours of a
    working day ("09:00"-"17:00"); the default counts the whole day, so 24 business hours is one business day.
    """

    timezone: str | None = Field(default=None, description="IANA zone the region's days are counted in")
    working_days: list[Weekday] | None = None
    holidays: list[date] | None = None
    day_start: str | None = Field(default=None, description="start of business hours, HH:MM (default 00:00)")
    day_end: str | None = Field(default=None, description="end of business hours, HH:MM (default 24:00)")
    due_hours: float | None = Field(default=None, gt=0)
    breach_hours: float | None = Field(default=None, gt=0)

    @field_validator("day_start", "day_end")
    @classmethod
    def _clock_time(cls, value: str | None) -> str | None:
        if value is not None and not _HOUR_MINUTE.fullmatch(value):
            raise ValueError("must be a time of day HH:MM (00:00 to 24:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _known_zone(value)

    @field_validator("working_days")
    @classmethod
    def _some_days(cls, value: list[Weekday] | None) -> list[Weekday] | None:
        if value is not None and not value:
            raise ValueError("working_days must name at least one day")
        return value


class AccessScope(_Section):
    """``[desk.scopes."<user>"]``: what one desk user (a local name or a Salesforce username) may see.

    Both lists empty: every registration. Otherwise a registration is in scope when its partner's region is
    one of ``regions`` (if any are given) and its partner number is one of ``partners`` (if any are given).
    Out-of-scope registrations are absent from the queue, the reports and the audit trail the user reads,
    and open as "not found".
    """

    regions: list[str] = Field(default_factory=list, description="partner regions (Account.Partner_Region__c)")
    partners: list[str] = Field(default_factory=list, description="partner numbers (Account.Partner_Number__c)")


class LoginMode(StrEnum):
    LOCAL = "local"
    SALESFORCE = "salesforce"


class DeskLoginSettings(_Section):
    """``[desk.login]``: who vouches for desk users.

    ``local``: the argon2 user store (``[desk] users``). ``salesforce``: Salesforce is the identity provider
    (OAuth 2.0 web-server flow with PKCE, OpenID Connect); the user's permission sets decide the role.
    """

    mode: LoginMode = LoginMode.LOCAL
    login_url: str = Field(
        default="https://login.salesforce.com",
        description="where users log in: https://login.salesforce.com, https://test.salesforce.com or a My Domain",
    )
    consumer_key: str | None = Field(default=None, description="the connected app's consumer key (client_id)")
    consumer_secret: SecretStr | None = None
    consumer_secret_file: Path | None = None
    callback_url: str | None = Field(
        default=None, description="the connected app's callback URL: https://<desk host>/oauth/callback"
    )
    manager_permission_set: str = Field(default="sfsync_Channel_Manager")
    auditor_permission_set: str = Field(default="sfsync_Channel_Auditor")
    org_id: str | None = Field(
        default=None,
        description="the desk's Salesforce org (00D..., 15 or 18 characters): a login by a user of any other org is "
        "refused before its permission sets are looked up",
    )
    login_minutes: float = Field(default=10.0, gt=0, description="how long a started login may take to come back")
    clock_skew_seconds: float = Field(default=120.0, ge=0, description="leeway on the ID token's iat/exp")

    @field_validator("login_url")
    @classmethod
    def _https_origin(cls, value: str) -> str:
        value = value.rstrip("/")
        loopback = re.fullmatch(r"http://(127\.0\.0\.1|localhost)(:\d+)?", value)  # a local identity provider
        if not loopback and not re.fullmatch(r"https://[A-Za-z0-9.-]+(:\d+)?", value):
            raise ValueError("must be an https origin such as https://login.salesforce.com")
        return value

    @field_validator("org_id")
    @classmethod
    def _org_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?", value):
            raise ValueError("must be a Salesforce organization Id: 00D followed by 12 (or 15) letters and digits")
        return value

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s?#]+/oauth/callback", value):
            raise ValueError("must be the desk's address followed by /oauth/callback")
        return value

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.mode is LoginMode.SALESFORCE:
            missing = [n for n in ("consumer_key", "consumer_secret", "callback_url") if getattr(self, n) is None]
            if missing:
                raise ValueError(
                    "login mode 'salesforce' needs " + ", ".join(missing) + " (the secret from "
                    "SFSYNC_DESK__LOGIN__CONSUMER_SECRET or consumer_secret_file)"
                )
        return self


class DeskSettings(_Section):
    """``[desk]``: the channel desk web app (``sfsync desk``): its files, SLA calendar and program rules."""

    users: Path = Field(default=Path("desk/users.json"), description="local user store (argon2 hashes)")
    audit_log: Path = Field(default=Path("desk/audit.jsonl"), description="hash-chained, keyed audit log")
    timezone: str = Field(default="UTC", description="IANA zone the SLA calendar's days are counted in")
    working_days: list[Weekday] = Field(default_factory=lambda: list(_WORKING_WEEK))
    holidays: list[date] = Field(default_factory=list, description="days the SLA clock stops (YYYY-MM-DD)")
    due_hours: float = Field(default=24.0, gt=0, description="business hours until an answer is due")
    breach_hours: float = Field(default=48.0, gt=0, description="business hours until the SLA is breached")
    page_size: int = Field(default=50, ge=1, le=500)
    session_minutes: float = Field(default=30.0, gt=0, description="idle minutes before a session expires")
    login_attempts: int = Field(default=5, ge=1, description="failed logins allowed per user and address a window")
    login_window_seconds: float = Field(default=300.0, gt=0)
    cookie_secure: bool | None = Field(
        default=None, description="Secure cookie flag; unset: on unless the desk listens on a loopback address"
    )
    protection_days: int = Field(default=90, ge=1, description="protection window an approval grants")
    max_protection_days: int = Field(default=180, ge=1, description="longest window a manager may grant")
    minimum_deal_size: dict[str, dict[str, float]] = Field(
        default_factory=lambda: {
            "*": {"USD": 50000.0, "EUR": 46000.0, "GBP": 40000.0},
        },
        description="product line ('*' for any) -> currency -> smallest amount that qualifies",
    )
    always_registered: list[str] = Field(
        default_factory=lambda: ["Storage"], description="product lines registered whatever the deal size"
    )
    tier_limits: dict[str, int] = Field(
        default_factory=lambda: {"Registered": 10, "Certified": 25, "Gold": 50, "Platinum": 100, "Titanium": 200},
        description="open (approved or pending) registrations a partner of each tier may hold",
    )
    day_start: str = Field(default="00:00", description="start of business hours, HH:MM")
    day_end: str = Field(default="24:00", description="end of business hours, HH:MM")
    calendars: dict[str, RegionCalendar] = Field(
        default_factory=dict, description="per partner region: its own SLA calendar (the partner's region decides)"
    )
    scopes: dict[str, AccessScope] = Field(
        default_factory=dict, description="per user: the regions and/or partners that user may see"
    )
    login: DeskLoginSettings = Field(default_factory=DeskLoginSettings)
    reject_reasons: list[str] = Field(
        default_factory=lambda: [
            "Below minimum deal size",
            "Direct opportunity already open",
            "Registered first by another partner",
            "Named account (direct-led)",
            "Tier registration limit reached",
            "Incomplete or unverifiable information",
            "Other",
        ]
    )

    @model_validator(mode="after")
    def _clock_order(self) -> Self:
        if self.breach_hours < self.due_hours:
            raise ValueError("breach_hours must not be less than due_hours")
        if not self.working_days:
            raise ValueError("working_days must name at least one day")
        if self.max_protection_days < self.protection_days:
            raise ValueError("max_protection_days must not be less than protection_days")
        if self.day_start >= self.day_end:
            raise ValueError("day_start must be before day_end")
        for name, region in self.calendars.items():
            start = region.day_start if region.day_start is not None else self.day_start
            end = region.day_end if region.day_end is not None else self.day_end
            if start >= end:
                raise ValueError(f"calendar {name}: day_start must be before day_end")
            due = region.due_hours if region.due_hours is not None else self.due_hours
            breach = region.breach_hours if region.breach_hours is not None else self.breach_hours
            if breach < due:
                raise ValueError(f"calendar {name}: breach_hours must not be less than due_hours")
        return self

    @field_validator("day_start", "day_end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _HOUR_MINUTE.fullmatch(value):
            raise ValueError("must be a time of day HH:MM (00:00 to 24:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_zone(value)


def _known_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)") from None
    return value


class Settings(BaseSettings):
    """Everything sfsync reads from sfsync.toml and SFSYNC_* variables."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
        frozen=True,
    )

    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    portal: PortalSettings = Field(default_factory=PortalSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    mappings: MappingSettings = Field(default_factory=MappingSettings)
    crypto: CryptoSettings = Field(default_factory=CryptoSettings)
    sync: SyncSettings = Field(default_factory=SyncSettings)
    conflicts: ConflictSettings = Field(default_factory=ConflictSettings)
    desk: DeskSettings = Field(default_factory=DeskSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment first: it overrides the file, which arrives as init keyword arguments.
        return (env_settings, init_settings)


def find_config_file(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """``--config``, then ``SFSYNC_CONFIG``, then ``./sfsync.toml``; None when none exists."""
    env = os.environ if environ is None else environ
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"configuration file not found: {explicit}", ErrorContext(file=str(explicit)))
        return explicit
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV} names a file that does not exist: {path}", ErrorContext(file=str(path)))
        return path
    local = Path.cwd() / DEFAULT_CONFIG_NAME
    return local if local.is_file() else None


def _line_of_key(text: str, section: str | None, key: str | None) -> int | None:
    """Best-effort line number of ``key`` inside ``[section]`` (tomllib keeps no positions)."""
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]", line)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
            continue
        if key is not None and current == section and re.match(rf"{re.escape(key)}\s*=", line):
            return number
    return None


_SECTIONS: dict[str, type[_Section]] = {
    name: info.annotation
    for name, info in Settings.model_fields.items()
    if isinstance(info.annotation, type) and issubclass(info.annotation, _Section)
}

# (section, key) pairs that may only come from the environment or a *_file path.
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    (section, key) for section, model in _SECTIONS.items() for key in model.secret_fields()
)


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> None:
    """Paths in the file are relative to the file, not to the working directory."""

    def anchored(value: object) -> object:
        if isinstance(value, str) and not Path(value).expanduser().is_absolute():
            return str(base / value)
        return value

    for section, model in _SECTIONS.items():
        values = data.get(section)
        if not isinstance(values, dict):
            continue
        for key in model.path_fields():
            if key not in values:
                continue  # unset: the default applies (setting None here would refuse a partial section)
            value = values.get(key)
            values[key] = [anchored(item) for item in value] if isinstance(value, list) else anchored(value)
    for section in ("portal", "state"):
        values = data.get(section)
        if isinstance(values, dict) and isinstance(values.get("url"), str):
            url = values["url"]
            if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
                values["url"] = "sqlite:///" + str(base / url.removeprefix("sqlite:///"))


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Load and validate settings; every problem becomes one :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    config_file = find_config_file(path, env)
    data: dict[str, Any] = {}
    text = ""
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"malformed TOML: {exc}", ErrorContext(file=str(config_file))) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read configuration: {exc}", ErrorContext(file=str(config_file))) from None
        for section, key in sorted(SECRET_KEYS):
            if isinstance(data.get(section), dict) and key in data[section]:
                raise ConfigError(
                    f"[{section}] {key} is a secret and may not be written in the file; set "
                    f'{ENV_PREFIX}{section.upper()}__{key.upper()} or {key}_file = "path" instead',
                    ErrorContext(file=str(config_file), line=_line_of_key(text, section, key)),
                )
        login = data.get("desk", {}).get("login") if isinstance(data.get("desk"), dict) else None
        if isinstance(login, dict):
            for key in DeskLoginSettings.secret_fields():
                if key in login:
                    raise ConfigError(
                        f"[desk.login] {key} is a secret and may not be written in the file; set "
                        f'{ENV_PREFIX}DESK__LOGIN__{key.upper()} or {key}_file = "path" instead',
                        ErrorContext(file=str(config_file), line=_line_of_key(text, "desk.login", key)),
                    )
            for key in DeskLoginSettings.path_fields():
                value = login.get(key)
                if isinstance(value, str) and not Path(value).expanduser().is_absolute():
                    login[key] = str(config_file.resolve().parent / value)
        _resolve_relative_paths(data, config_file.resolve().parent)
    try:
        if environ is None:
            return Settings(**data)
        saved = {k: v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        try:
            for k in saved:
                del os.environ[k]
            os.environ.update({k: v for k, v in env.items() if k.upper().startswith(ENV_PREFIX)})
            return Settings(**data)
        finally:
            for k in [k for k in os.environ if k.upper().startswith(ENV_PREFIX)]:
                del os.environ[k]
            os.environ.update(saved)
    except ValidationError as exc:
        raise _config_error(exc, config_file, text, env) from None


def _config_error(exc: ValidationError, config_file: Path | None, text: str, env: Mapping[str, str]) -> ConfigError:
    problems: list[str] = []
    first_context = ErrorContext(file=str(config_file) if config_file else None)
    for index, error in enumerate(exc.errors(include_url=False, include_input=False)):
        loc = [str(part) for part in error["loc"]]
        section = loc[0] if loc else None
        key = loc[1] if len(loc) > 1 else None
        dotted = ".".join(loc) if loc else "(root)"
        env_name = ENV_PREFIX + "__".join(part.upper() for part in loc)
        env_keys = {k.upper() for k in env}
        if env_name in env_keys:
            origin = f"environment variable {env_name}"
            line = None
        elif config_file is not None:
            line = _line_of_key(text, section, key)
            origin = f"{config_file}:{line}" if line else str(config_file)
        else:
            origin, line = "defaults", None
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; README lists every setting)"
        problems.append(f"{origin}: {dotted}: {message}")
        if index == 0 and line is not None:
            first_context = ErrorContext(file=str(config_file), line=line)
    return ConfigError("invalid configuration:\n  " + "\n  ".join(problems), first_context)
