"""FakeSalesforce: a stateful Salesforce org at the HTTP level, served through ``responses``.

It answers the REST API (sObjects, sObject Collections, query/queryAll with pagination, describe,
limits; ``If-Unmodified-Since`` on a row update, 412 when the record changed since), Bulk API 2.0 ingest
and query jobs, the login endpoints of every auth mode, and Salesforce as an identity provider (OAuth 2.0
web-server flow with PKCE, OpenID Connect: authorize, token, userinfo, ``/id/keys``, ID tokens signed RS256
with a key generated per fake), with the status codes and JSON error bodies Salesforce documents.
State lives in memory and can be saved to / loaded from JSON. Faults are injected deterministically
from a :class:`FaultPlan`.
"""

from __future__ import annotations

import base64
import copy
import email.utils
import functools
import hashlib
import hmac
import html
import json
import os
import re
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import requests
import responses

from sfsync.testing._bulk import BulkEngine
from sfsync.testing._faults import FaultInjector, FaultPlan
from sfsync.testing._schema import SYSTEM_FIELDS, FieldSchema, ObjectSchema, OrgSchema, default_org_schema
from sfsync.testing._soql import Query, SoqlError, matches, parse_soql, project, sort_records
from sfsync.testing._values import (
    RecordError,
    TypeMismatch,
    coerce_value,
    format_datetime,
    is_id_shaped,
    make_id,
    normalize_id,
    parse_datetime,
)

__all__ = ["FakeSalesforce", "MissingTimeoutError", "RecordedCall"]

MAX_URI_BYTES = 16_384
COLLECTION_LIMIT = 200
MAX_OPEN_CURSORS = 10
_JSON = "application/json;charset=UTF-8"
_AUDIT_SEEDABLE = frozenset(
    {"CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById", "IsDeleted"}
)
_LOGIN_HOSTS = re.compile(r"https://(login|test)\.salesforce\.com/?|https://[\w.-]+\.my\.salesforce\.com/?")


class MissingTimeoutError(AssertionError):
    """A request chosen to be slow carried no timeout: against a real org the client would hang."""


@dataclass(frozen=True)
class RecordedCall:
    """One API call the fake served. ``records``: rows written by the call or returned by it."""

    method: str
    path: str
    status: int
    records: int


@dataclass
class _Reply:
    status: int
    body: Any = None  # JSON-able, or str/bytes sent as-is
    headers: dict[str, str] | None = None
    records: int = 0


class _HttpError(Exception):
    def __init__(self, status: int, errors: list[dict[str, Any]] | Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = errors


def _error(status: int, code: str, message: str, fields: Sequence[str] | None = None) -> _HttpError:
    item: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        item["fields"] = list(fields)
    return _HttpError(status, [item])


def _not_found() -> _HttpError:
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


class _Cursor:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows


class FakeSalesforce:
    """A Salesforce org double. See the module docstring and ``sfsync.testing`` for usage."""

    def __init__(
        self,
        schema: OrgSchema | None = None,
        *,
        instance_url: str = "https://fake-org.my.salesforce.com",
        api_version: str = "60.0",
        page_size: int = 2000,
        daily_api_limit: int = 1_000_000,
        faults: FaultPlan | None = None,
        clock: Callable[[], datetime] | None = None,
        bulk_polls_until_complete: int = 1,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        if bulk_polls_until_complete < 1:
            raise ValueError("bulk_polls_until_complete must be at least 1")
        self.schema = schema if schema is not None else default_org_schema()
        # True when the schema is the shipped default: saved with a digest of the package that built it.
        self._schema_is_default = schema is None
        # The exported metadata folder the schema was built from (see from_metadata): saved with
        # the records so a reloaded org has exactly the same objects and fields.
        self.metadata_dir: Path | None = None
        self.instance_url = instance_url.rstrip("/")
        self.api_version = api_version
        self.page_size = page_size
        self.daily_api_limit = daily_api_limit
        self.faults = faults or FaultPlan()
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.bulk_polls_until_complete = bulk_polls_until_complete
        self.org_id = "00D5g0000000FAKEA2"  # 15 characters + the case checksum
        self.username = "integration@fake-org.example.com"
        # Credentials are generated per instance: nothing secret-looking is committed to fixtures.
        self.password = secrets.token_urlsafe(12)
        self.security_token = secrets.token_urlsafe(18)
        self.consumer_key = "3MVG9fake" + secrets.token_urlsafe(24)
        self.consumer_secret = secrets.token_hex(32)
        # what an OAuth web/device flow would have handed the user ("5Aep861" is Salesforce's prefix)
        self.refresh_token = "5Aep861" + secrets.token_urlsafe(40)
        self.jwt_public_key: str | None = None
        self._jwt_private_key: str | None = None
        self._signing_key = secrets.token_bytes(32)
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema.objects}
        self._index: dict[tuple[str, str], dict[str, set[str]]] = {}
        self._indexed: dict[str, tuple[str, ...]] = {}
        self._id_counter = 0
        self._api_calls = 0
        self._log: list[RecordedCall] = []
        self._tokens: set[str] = set()
        self._current_token: str | None = None
        self._cursors: dict[str, _Cursor] = {}
        self._injector = FaultInjector(self.faults)
        self._mock: responses.RequestsMock | None = None
        self._owns_mock = False
        self.bulk = BulkEngine(self)
        # One request at a time, as the org's own transactions serialize: sfsync's push pipeline
        # calls from several threads, and the in-memory store and its indexes are not thread-safe.
        self._serving = threading.RLock()
        # OAuth 2.0 web-server flow / OpenID Connect (the channel desk's login): the user the authorize
        # endpoint logs in (what typing a password on Salesforce's login page would do), the connected
        # app's registered callback URLs (None: any), codes issued, and which user each token is for.
        self.signed_in_user: str | None = None
        self.oauth_callback_urls: set[str] | None = None
        self._auth_codes: dict[str, dict[str, Any]] = {}
        self._token_users: dict[str, str] = {}
        self._oidc_key: Any = None
        self.oidc_key_id = "fake-" + secrets.token_hex(4)
        self.user_id = self._seed_org()

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start a private ``responses`` mock and register the fake's endpoints in it."""
        if self._mock is not None:
            raise RuntimeError("FakeSalesforce is already started")
        mock = responses.RequestsMock(assert_all_requests_are_fired=False)
        mock.start()
        self._owns_mock = True
        self.install(mock)

    def stop(self) -> None:
        if self._mock is not None and self._owns_mock:
            self._mock.stop()
            self._mock.reset()
        self._mock = None
        self._owns_mock = False

    def install(self, mock: responses.RequestsMock) -> None:
        """Register the endpoints into a caller-owned mock (other URLs stay the caller's business)."""
        self._mock = mock
        login = re.compile(r"https?://[^/]+/services/(oauth2/token|Soap/u/[\d.]+)(/[^?]*)?(\?.*)?$")
        mock.add_callback(responses.POST, login, callback=self._login_callback)
        identity = re.compile(r"https?://[^/]+/(services/oauth2/authorize|services/oauth2/userinfo|id/keys)(\?.*)?$")
        mock.add_callback(responses.GET, identity, callback=self._identity_callback)
        api = re.compile(re.escape(self.instance_url) + r"/services/data/.*")
        for method in (responses.GET, responses.POST, responses.PATCH, responses.PUT, responses.DELETE):
            mock.add_callback(method, api, callback=self._api_callback)

    # ------------------------------------------------------------------ public state API
    @property
    def access_token(self) -> str:
        """A currently valid token for token auth (a new one once the current was invalidated)."""
        if self._current_token is None or self._current_token not in self._tokens:
            self._current_token = self._issue_token()
        return self._current_token

    @property
    def api_calls(self) -> int:
        return self._api_calls

    @property
    def request_log(self) -> list[RecordedCall]:
        return list(self._log)

    @property
    def jwt_private_key_pem(self) -> str:
        """An RSA private key (PEM) whose signatures the JWT login verifies; generated on first use."""
        if self._jwt_private_key is None:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import rsa

            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self._jwt_private_key = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode()
            self.jwt_public_key = (
                key.public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            )
        return self._jwt_private_key

    def set_faults(self, faults: FaultPlan) -> None:
        """Switch to another fault plan (e.g. the allowance is back the next day); decisions restart from its seed."""
        self.faults = faults
        self._injector = FaultInjector(faults)

    def reset_api_usage(self) -> None:
        """A new day: the daily API usage counter starts again at zero (the request log is kept)."""
        self._api_calls = 0

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Seed a record (no API call counted). Audit fields (CreatedDate, ...) may be given."""
        obj = self._object_or_raise(sobject)
        seeded = {k: v for k, v in fields.items() if k in _AUDIT_SEEDABLE}
        rest = {k: v for k, v in fields.items() if k not in _AUDIT_SEEDABLE}
        record = self._create(obj, rest)
        self._apply_seeded_audit(obj, record, seeded)
        return str(record["Id"])

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Edit a record as a Salesforce user would: stamps LastModifiedDate and SystemModstamp."""
        obj = self._object_or_raise(sobject)
        record = self._live_record_or_raise(obj, record_id)
        seeded = {k: v for k, v in fields.items() if k in _AUDIT_SEEDABLE}
        rest = {k: v for k, v in fields.items() if k not in _AUDIT_SEEDABLE}
        self._update(obj, record, rest)
        self._apply_seeded_audit(obj, record, seeded)

    def delete(self, sobject: str, record_id: str) -> None:
        """Soft delete: the record keeps existing with IsDeleted = true (visible to queryAll)."""
        obj = self._object_or_raise(sobject)
        record = self._live_record_or_raise(obj, record_id)
        self._soft_delete(record)

    def records(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        obj = self._object_or_raise(sobject)
        return [
            copy.deepcopy(rec) for rec in self._records[obj.name].values() if include_deleted or not rec["IsDeleted"]
        ]

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        obj = self._object_or_raise(sobject)
        record = self._find(obj, record_id)
        if record is None:
            raise KeyError(f"{obj.name} {record_id} does not exist")
        return copy.deepcopy(record)

    @classmethod
    def from_metadata(cls, metadata_dir: Path, **kwargs: Any) -> FakeSalesforce:
        """An org built only from exported SFDX metadata plus the standard objects (law 9)."""
        from sfsync.testing._metadata_org import org_schema_from_metadata

        fake = cls(org_schema_from_metadata(metadata_dir), **kwargs)
        fake.metadata_dir = Path(metadata_dir)
        return fake

    def save(self, path: Path) -> None:
        """Write records, Id counter and API usage as JSON; the schema is saved as the path of
        the metadata folder it was built from (relative to ``path`` when inside its folder)."""
        metadata: str | None = None
        if self.metadata_dir is not None:
            absolute = self.metadata_dir.resolve()
            try:
                metadata = absolute.relative_to(path.resolve().parent).as_posix()
            except ValueError:
                metadata = str(absolute)
        data: dict[str, Any] = {
            "format": "sfsync-fake-salesforce/1",
            "metadata": metadata,
            "id_counter": self._id_counter,
            "api_calls": self._api_calls,
            "user_id": self.user_id,
            "records": {name: list(rows.values()) for name, rows in self._records.items() if rows},
        }
        if metadata is None and self._schema_is_default:
            # Rebuilding the default schema (export the shipped mappings' metadata, parse it back) is
            # most of a small command's start-up: keep it, valid while the package is unchanged.
            data["default_schema"] = {"package": _package_digest(), "schema": self.schema.model_dump(mode="json")}
        path.write_text(_org_json(data), encoding="utf-8")

    @classmethod
    def load(cls, path: Path, **kwargs: Any) -> FakeSalesforce:
        """A fake restored from :meth:`save`'s JSON; ``kwargs`` are the constructor's."""
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != "sfsync-fake-salesforce/1":
            raise ValueError(f"{path}: not a FakeSalesforce save file")
        metadata = data.get("metadata")
        cached = data.get("default_schema")
        if metadata and "schema" not in kwargs:
            fake = cls.from_metadata(path.parent / str(metadata), **kwargs)
        elif (
            "schema" not in kwargs
            and isinstance(cached, dict)
            and cached.get("package") == _package_digest()
            and isinstance(cached.get("schema"), dict)
        ):
            fake = cls(OrgSchema.model_validate(cached["schema"]), **kwargs)
            fake._schema_is_default = True
        else:
            fake = cls(**kwargs)
        fake._records = {name: {} for name in fake.schema.objects}
        for name, rows in data["records"].items():
            obj = fake.schema.get(name)
            if obj is None:
                raise ValueError(f"{path}: object {name} is not in the schema")
            for row in rows:
                full: dict[str, Any] = dict.fromkeys(obj.fields)
                full.update(row)
                fake._records[obj.name][str(full["Id"])] = full
        fake._rebuild_indexes()
        fake._id_counter = int(data["id_counter"])
        fake._api_calls = int(data["api_calls"])
        fake.user_id = str(data["user_id"])
        return fake

    # ------------------------------------------------------------------ org seeding
    def _seed_org(self) -> str:
        profile = (
            self._create(self.schema.objects["Profile"], {"Name": "System Administrator"})
            if "Profile" in self.schema.objects
            else None
        )
        role = (
            self._create(self.schema.objects["UserRole"], {"Name": "Integration"})
            if "UserRole" in self.schema.objects
            else None
        )
        user_id = ""
        user_obj = self.schema.get("User")
        if user_obj is not None:
            values: dict[str, Any] = {
                "Username": self.username,
                "LastName": "Integration",
                "FirstName": "Sfsync",
                "Email": "integration@fake-org.example.com",
            }
            if profile is not None and user_obj.field("ProfileId"):
                values["ProfileId"] = profile["Id"]
            if role is not None and user_obj.field("UserRoleId"):
                values["UserRoleId"] = role["Id"]
            values = {k: v for k, v in values.items() if user_obj.field(k) is not None}
            user_id = str(self._create(user_obj, values)["Id"])
        rt_obj = self.schema.get("RecordType")
        if rt_obj is not None:
            for obj in self.schema.objects.values():
                for rt_name in obj.record_types:
                    self._create(
                        rt_obj,
                        {"Name": rt_name, "DeveloperName": re.sub(r"\W+", "_", rt_name), "SobjectType": obj.name},
                    )
        return user_id

    def record_type_id(self, sobject: str, name: str) -> str:
        """The Id of the record type ``name`` (Name or DeveloperName) of ``sobject``."""
        for rec in self._records.get("RecordType", {}).values():
            if rec["SobjectType"] == sobject and name in (rec["Name"], rec["DeveloperName"]):
                return str(rec["Id"])
        raise KeyError(f"no record type {name!r} on {sobject}")

    # ------------------------------------------------------------------ record core
    def _object_or_raise(self, sobject: str) -> ObjectSchema:
        obj = self.schema.get(sobject)
        if obj is None:
            raise KeyError(f"unknown sObject {sobject!r}")
        return obj

    def _live_record_or_raise(self, obj: ObjectSchema, record_id: str) -> dict[str, Any]:
        record = self._find(obj, record_id)
        if record is None or record["IsDeleted"]:
            raise KeyError(f"{obj.name} {record_id} does not exist or is deleted")
        return record

    def _find(self, obj: ObjectSchema, record_id: Any) -> dict[str, Any] | None:
        if not is_id_shaped(record_id):
            return None
        return self._records[obj.name].get(normalize_id(str(record_id)))

    def lookup(self, sobject: str, record_id: Any) -> dict[str, Any] | None:
        """A parent record for relationship traversal (deleted parents read as null)."""
        rows = self._records.get(sobject)
        if rows is None or not is_id_shaped(record_id):
            return None
        rec = rows.get(normalize_id(str(record_id)))
        return None if rec is None or rec["IsDeleted"] else rec

    def _new_id(self, obj: ObjectSchema) -> str:
        self._id_counter += 1
        return make_id(obj.prefix, self._id_counter)

    def _now(self) -> str:
        return format_datetime(self.clock())

    def _apply_seeded_audit(self, obj: ObjectSchema, record: dict[str, Any], seeded: Mapping[str, Any]) -> None:
        self._index_remove(obj.name, record)
        self._apply_audit_values(obj, record, seeded)
        self._index_add(obj.name, record)

    def _apply_audit_values(self, obj: ObjectSchema, record: dict[str, Any], seeded: Mapping[str, Any]) -> None:
        for name, value in seeded.items():
            spec = obj.fields[name]
            if name == "IsDeleted":
                record[name] = bool(value)
            elif spec.type == "datetime" and isinstance(value, datetime):
                record[name] = format_datetime(value)
            else:
                record[name] = coerce_value(spec, value)

    def _resolve_payload(
        self, obj: ObjectSchema, fields: Mapping[str, Any], *, creating: bool, allow_id: bool = False
    ) -> dict[str, Any]:
        """Field names -> canonical, values coerced, relationship-by-external-id resolved.

        Raises RecordError (per-record problems) or TypeMismatch (JSON type problems).
        """
        out: dict[str, Any] = {}
        bad_access: list[str] = []
        for key, value in fields.items():
            if key == "attributes":
                continue
            spec = obj.field(key)
            if spec is None:
                rel = obj.relationship(key)
                if rel is not None and isinstance(value, Mapping):
                    out[rel.name] = self._resolve_foreign_key(obj, rel, value)
                    continue
                raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [])
            if spec.name == "Id":
                if allow_id:
                    continue
                raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"])
            if (creating and not spec.createable) or (not creating and not spec.updateable):
                bad_access.append(spec.name)
                continue
            coerced = coerce_value(spec, value)
            if spec.type == "reference" and coerced is not None:
                coerced = self._check_reference(obj, spec, coerced)
            out[spec.name] = coerced
        if bad_access:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(bad_access)}. Please check the security settings "
                "of this field and verify that it is read/write for your profile or permission set.",
                bad_access,
            )
        return out

    def _check_reference(self, obj: ObjectSchema, spec: FieldSchema, value: str) -> str:
        if not is_id_shaped(value):
            raise RecordError("MALFORMED_ID", f"{spec.display_label}: id value of incorrect type: {value}", [spec.name])
        value = normalize_id(value)
        prefix_obj = self.schema.by_prefix(value[:3])
        if prefix_obj is None or prefix_obj.name not in spec.reference_to:
            raise RecordError(
                "FIELD_INTEGRITY_EXCEPTION", f"{spec.display_label}: id value of incorrect type: {value}", [spec.name]
            )
        if self.lookup(prefix_obj.name, value) is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return value

    def _resolve_foreign_key(self, obj: ObjectSchema, rel: FieldSchema, value: Mapping[str, Any]) -> str:
        target = self.schema.objects[rel.reference_to[0]]
        keys = [k for k in value if k != "attributes"]
        if len(keys) != 1:
            raise RecordError(
                "INVALID_FIELD",
                f"Relationship {rel.effective_relationship_name} needs exactly one external id field",
                [rel.name],
            )
        ext = target.field(keys[0])
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise RecordError(
                "INVALID_FIELD",
                f"Field name provided, {keys[0]} is not an External ID or indexed field for {target.name}",
                [],
            )
        ext_value = value[keys[0]]
        found = self._find_by_external(target, ext, ext_value)
        if not found:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {ext_value} not found for field {ext.name} in entity {target.name}",
                [],
            )
        if len(found) > 1:
            raise RecordError(
                "INVALID_FIELD",
                f"Foreign key external ID: {ext_value} matches more than one record for field {ext.name} in "
                f"entity {target.name}",
                [],
            )
        return str(found[0]["Id"])

    def _find_by_external(self, obj: ObjectSchema, ext: FieldSchema, value: Any) -> list[dict[str, Any]]:
        if value is None or value == "":
            return []
        if ext.name == "Id":
            rec = self.lookup(obj.name, value)
            return [rec] if rec else []
        wanted = str(value).lower()
        index = self._index.get((obj.name, ext.name))
        if index is not None:
            rows = self._records[obj.name]
            return [rows[rid] for rid in sorted(index.get(wanted, ()))]
        return [
            rec
            for rec in self._records[obj.name].values()
            if not rec["IsDeleted"] and rec.get(ext.name) is not None and str(rec[ext.name]).lower() == wanted
        ]

    # Indexes of unique and external id fields (live records only): upserts and duplicate checks
    # stay O(1) per record, so 100k-record benchmarks run against the fake in seconds.
    def _index_fields(self, obj_name: str) -> tuple[str, ...]:
        cached = self._indexed.get(obj_name)
        if cached is None:
            obj = self.schema.objects[obj_name]
            cached = tuple(f.name for f in obj.fields.values() if (f.unique or f.external_id) and f.name != "Id")
            self._indexed[obj_name] = cached
            for name in cached:
                self._index.setdefault((obj_name, name), {})
        return cached

    def _index_add(self, obj_name: str, record: Mapping[str, Any]) -> None:
        if record.get("IsDeleted"):
            return
        for name in self._index_fields(obj_name):
            value = record.get(name)
            if value is not None:
                self._index[(obj_name, name)].setdefault(str(value).lower(), set()).add(str(record["Id"]))

    def _index_remove(self, obj_name: str, record: Mapping[str, Any]) -> None:
        for name in self._index_fields(obj_name):
            value = record.get(name)
            if value is not None:
                bucket = self._index[(obj_name, name)].get(str(value).lower())
                if bucket is not None:
                    bucket.discard(str(record["Id"]))
                    if not bucket:
                        del self._index[(obj_name, name)][str(value).lower()]

    def _rebuild_indexes(self) -> None:
        self._index = {}
        self._indexed = {}
        for obj_name, rows in self._records.items():
            self._index_fields(obj_name)
            for record in rows.values():
                self._index_add(obj_name, record)

    def _object_name_of(self, record: Mapping[str, Any]) -> str:
        obj = self.schema.by_prefix(str(record["Id"])[:3])
        if obj is None:
            raise KeyError(f"no object for Id {record['Id']}")
        return obj.name

    def _finish(self, obj: ObjectSchema, record: dict[str, Any], changed: Sequence[str], *, creating: bool) -> None:
        """Checks on the whole record after the change: required, unique; derived fields."""
        for spec in obj.fields.values():
            if (
                spec.required
                and spec.createable
                and record.get(spec.name) in (None, "")
                and (creating or spec.name in changed)
            ):
                raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{spec.name}]", [spec.name])
        for name in changed:
            spec = obj.fields[name]
            value = record.get(name)
            if value is None or not (spec.unique or (spec.external_id and spec.unique)):
                continue
            for other in self._find_by_external(obj, spec, value):
                if other["Id"] != record.get("Id"):
                    raise RecordError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {name} duplicates value on record with id: {other['Id']}",
                        [],
                    )
        name_spec = obj.fields.get("Name")
        if name_spec is not None and name_spec.compound:
            record["Name"] = " ".join(str(record[p]) for p in name_spec.compound if record.get(p)) or None
        if obj.name == "Opportunity" and "StageName" in record:
            stage = record.get("StageName") or ""
            if "IsClosed" in obj.fields:
                record["IsClosed"] = stage.startswith("Closed")
            if "IsWon" in obj.fields:
                record["IsWon"] = stage == "Closed Won"

    def _create(self, obj: ObjectSchema, fields: Mapping[str, Any]) -> dict[str, Any]:
        values = self._resolve_payload(obj, fields, creating=True)
        record: dict[str, Any] = {name: None for name in obj.fields}
        for spec in obj.fields.values():
            if spec.default is not None:
                record[spec.name] = spec.default
            elif spec.type == "boolean":
                record[spec.name] = False
        record.update(values)
        for spec in obj.fields.values():
            if spec.auto_number and record.get(spec.name) is None:
                record[spec.name] = _auto_number(spec.auto_number, len(self._records[obj.name]) + 1)
        if "OwnerId" in obj.fields and record.get("OwnerId") is None and self._user_id_or_empty():
            record["OwnerId"] = self.user_id
        self._finish(obj, record, list(values), creating=True)
        now = self._now()
        record["Id"] = self._new_id(obj)
        record["IsDeleted"] = False
        record["CreatedDate"] = record["LastModifiedDate"] = record["SystemModstamp"] = now
        user = self._user_id_or_empty() or (record["Id"] if obj.name == "User" else "")
        record["CreatedById"] = record["LastModifiedById"] = user or None
        self._records[obj.name][record["Id"]] = record
        self._index_add(obj.name, record)
        return record

    def _user_id_or_empty(self) -> str:
        # user_id does not exist yet while the org is being seeded.
        return str(getattr(self, "user_id", ""))

    def _update(self, obj: ObjectSchema, record: dict[str, Any], fields: Mapping[str, Any]) -> None:
        values = self._resolve_payload(obj, fields, creating=False, allow_id=True)
        candidate = dict(record)
        candidate.update(values)
        self._finish(obj, candidate, list(values), creating=False)
        now = self._now()
        candidate["LastModifiedDate"] = candidate["SystemModstamp"] = now
        candidate["LastModifiedById"] = self.user_id or None
        self._index_remove(obj.name, record)
        record.clear()
        record.update(candidate)
        self._index_add(obj.name, record)

    def _soft_delete(self, record: dict[str, Any]) -> None:
        self._index_remove(self._object_name_of(record), record)
        record["IsDeleted"] = True
        record["SystemModstamp"] = self._now()

    # ------------------------------------------------------------------ auth
    def _issue_token(self) -> str:
        token = f"{self.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self._tokens.add(token)
        self._current_token = token
        return token

    def _token_response(self) -> dict[str, Any]:
        token = self._issue_token()
        issued = str(int(self.clock().timestamp() * 1000))
        ident = f"https://login.salesforce.com/id/{self.org_id}/{self.user_id}"
        signature = base64.b64encode(
            hmac.new(self._signing_key, (ident + issued).encode(), hashlib.sha256).digest()
        ).decode()
        return {
            "access_token": token,
            "instance_url": self.instance_url,
            "id": ident,
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
            "scope": "api",
        }

    def _login_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        path = urlsplit(str(request.url)).path
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        if "/Soap/u/" in path:
            return self._soap_login(body)
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        ok = False
        error, description = "invalid_grant", "authentication failure"
        if grant == "password":
            ok = (
                form.get("client_id") == self.consumer_key
                and form.get("client_secret") == self.consumer_secret
                and form.get("username") == self.username
                and form.get("password") in (self.password, self.password + self.security_token)
            )
            if form.get("client_id") != self.consumer_key or form.get("client_secret") != self.consumer_secret:
                error, description = "invalid_client_id", "client identifier invalid"
        elif grant == "client_credentials":
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                try:
                    client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
                except ValueError:
                    client_id = client_secret = None
            ok = client_id == self.consumer_key and client_secret == self.consumer_secret
            if not ok:
                error, description = "invalid_client", "invalid client credentials"
        elif grant == "refresh_token":
            # Salesforce's refresh-token flow: client_id and refresh_token, client_secret when the connected app
            # requires it (checked when sent); the answer carries no new refresh token.
            secret = form.get("client_secret")
            if form.get("client_id") != self.consumer_key:
                error, description = "invalid_client_id", "client identifier invalid"
            elif secret is not None and secret != self.consumer_secret:
                error, description = "invalid_client", "invalid client credentials"
            elif form.get("refresh_token") != self.refresh_token:
                error, description = "invalid_grant", "expired access/refresh token"
            else:
                ok = True
        elif grant == "authorization_code":
            return self._code_grant(request, form)
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._check_jwt(form.get("assertion", ""))
            ok = problem is None
            description = problem or description
        else:
            error, description = "unsupported_grant_type", "grant type not supported"
        if not ok:
            return 400, {"Content-Type": _JSON}, json.dumps({"error": error, "error_description": description})
        return 200, {"Content-Type": _JSON}, json.dumps(self._token_response())

    # ------------------------------------------------------------------ OAuth web-server flow / OpenID Connect
    def add_user(self, username: str, *, permission_sets: Sequence[str] = (), last_name: str = "User") -> str:
        """A user of the org holding ``permission_sets`` (created when the org lacks them, as a deployment
        of ``sfsync mappings export-metadata`` creates them); returns the User Id."""
        user_id = self.insert("User", {"Username": username, "LastName": last_name, "Email": username})
        for name in permission_sets:
            self.assign_permission_set(user_id, name)
        return user_id

    def assign_permission_set(self, user_id: str, name: str) -> str:
        found = [r for r in self._records["PermissionSet"].values() if r["Name"] == name and not r["IsDeleted"]]
        set_id = str(found[0]["Id"]) if found else self.insert("PermissionSet", {"Name": name, "Label": name})
        return self.insert("PermissionSetAssignment", {"AssigneeId": user_id, "PermissionSetId": set_id})

    def identity_url(self, user_id: str, host: str = "https://login.salesforce.com") -> str:
        return f"{host}/id/{self.org_id}/{user_id}"

    @property
    def oidc_private_key(self) -> Any:
        """The RSA key ID tokens are signed with (its public half is served at ``/id/keys``)."""
        if self._oidc_key is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self._oidc_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self._oidc_key

    def _identity_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        with self._serving:
            parts = urlsplit(str(request.url))
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path.endswith("/authorize"):
                return self._authorize(f"{parts.scheme}://{parts.netloc}", query)
            if parts.path.endswith("/userinfo"):
                return self._userinfo(request)
            return 200, {"Content-Type": _JSON}, json.dumps({"keys": [self._public_jwk()]})

    def _public_jwk(self) -> dict[str, Any]:
        numbers = self.oidc_private_key.public_key().public_numbers()

        def b64(value: int) -> str:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return {
            "kty": "RSA",
            "n": b64(numbers.n),
            "e": b64(numbers.e),
            "alg": "RS256",
            "use": "sig",
            "kid": self.oidc_key_id,
        }

    def _authorize(self, host: str, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """``GET /services/oauth2/authorize``: Salesforce's own error page for a bad client or callback,
        otherwise a redirect to the callback with ``code`` (or ``error``) and the caller's ``state``."""
        html_page = {"Content-Type": "text/html;charset=UTF-8"}
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.consumer_key:
            return 400, html_page, "<html><body>error=invalid_client_id&amp;error_description=client identifier invalid"
        if not redirect or (self.oauth_callback_urls is not None and redirect not in self.oauth_callback_urls):
            return (
                400,
                html_page,
                "<html><body>error=redirect_uri_mismatch&amp;error_description=redirect_uri must match configuration",
            )
        state = {"state": query["state"]} if "state" in query else {}

        def back(params: dict[str, str]) -> tuple[int, dict[str, str], str]:
            separator = "&" if "?" in redirect else "?"
            return 302, {"Location": redirect + separator + urlencode({**params, **state})}, ""

        if query.get("response_type") != "code":
            return back({"error": "unsupported_response_type", "error_description": "response type not supported"})
        method = query.get("code_challenge_method", "S256" if "code_challenge" in query else "")
        if "code_challenge" in query and method != "S256":
            return back({"error": "invalid_request", "error_description": "invalid code_challenge_method"})
        if self.signed_in_user is None:
            return 200, html_page, "<html><body><form>Username <input name=username> Password</form></body></html>"
        code = "aPrx" + secrets.token_urlsafe(48)
        self._auth_codes[code] = {
            "user_id": self.signed_in_user,
            "client_id": query["client_id"],
            "redirect_uri": redirect,
            "challenge": query.get("code_challenge"),
            "nonce": query.get("nonce"),
            "scope": query.get("scope", ""),
            "issued": self.clock().timestamp(),
            "host": host,
        }
        return back({"code": code})

    def _code_grant(self, request: requests.PreparedRequest, form: dict[str, str]) -> tuple[int, dict[str, str], str]:
        def refuse(error: str, description: str) -> tuple[int, dict[str, str], str]:
            return 400, {"Content-Type": _JSON}, json.dumps({"error": error, "error_description": description})

        if form.get("client_id") != self.consumer_key:
            return refuse("invalid_client_id", "client identifier invalid")
        if form.get("client_secret") != self.consumer_secret:
            return refuse("invalid_client", "invalid client credentials")
        grant = self._auth_codes.pop(form.get("code", ""), None)  # single use
        if grant is None or self.clock().timestamp() - grant["issued"] > 15 * 60:
            return refuse("invalid_grant", "expired authorization code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return refuse("redirect_uri_mismatch", "redirect_uri must match configuration")
        if grant["challenge"] is not None:
            # Salesforce: a challenge without a verifier fails with invalid_grant; a verifier that does not
            # match the challenge fails with invalid_request.
            verifier = form.get("code_verifier")
            if not verifier:
                return refuse("invalid_grant", "code_verifier is missing")
            expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            if not hmac.compare_digest(expected, grant["challenge"]):
                return refuse("invalid_request", "invalid code verifier")
        user_id = grant["user_id"]
        token = self._issue_token()
        self._token_users[token] = user_id
        issued = self.clock().timestamp()
        ident = self.identity_url(user_id)
        body: dict[str, Any] = {
            "access_token": token,
            "signature": base64.b64encode(
                hmac.new(self._signing_key, (ident + str(int(issued * 1000))).encode(), hashlib.sha256).digest()
            ).decode(),
            "scope": grant["scope"],
            "instance_url": self.instance_url,
            "id": ident,
            "token_type": "Bearer",
            "issued_at": str(int(issued * 1000)),
        }
        if "openid" in grant["scope"].split():
            import jwt

            digest = hashlib.sha256(token.encode()).digest()
            claims: dict[str, Any] = {
                "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
                "sub": ident,
                "aud": grant["client_id"],
                "iss": grant["host"],
                "exp": int(issued) + 300,
                "iat": int(issued),
            }
            if grant["nonce"] is not None:
                claims["nonce"] = grant["nonce"]
            body["id_token"] = jwt.encode(
                claims, self.oidc_private_key, algorithm="RS256", headers={"kid": self.oidc_key_id}
            )
        return 200, {"Content-Type": _JSON}, json.dumps(body)

    def _userinfo(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        user_id = self._token_users.get(token) if token in self._tokens else None
        user = self._records["User"].get(user_id or "")
        if user is None:
            return 403, {"Content-Type": "text/plain"}, "Bad_OAuth_Token"
        info = {
            "sub": self.identity_url(str(user["Id"])),
            "user_id": user["Id"],
            "organization_id": self.org_id,
            "preferred_username": user["Username"],
            "nickname": str(user["Username"]).split("@")[0],
            "name": user.get("Name") or user["LastName"],
            "email": user["Email"],
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user["LastName"],
            "user_type": "STANDARD",
            "active": bool(user.get("IsActive", True)),
        }
        return 200, {"Content-Type": _JSON}, json.dumps(info)

    def _check_jwt(self, assertion: str) -> str | None:
        import jwt

        try:
            if self.jwt_public_key is not None:
                claims = jwt.decode(
                    assertion,
                    self.jwt_public_key,
                    algorithms=["RS256"],
                    options={"verify_aud": False, "verify_exp": False},
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidSignatureError:
            return "invalid assertion"
        except jwt.PyJWTError:
            return "invalid assertion"
        if claims.get("iss") != self.consumer_key:
            return "invalid client credentials"
        if claims.get("sub") != self.username:
            return "user hasn't approved this consumer"
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if not any(isinstance(a, str) and _LOGIN_HOSTS.fullmatch(a) for a in audiences):
            return "audience is invalid"
        try:
            expires = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            return "invalid assertion"
        if expires <= self.clock().timestamp():
            return "expired authorization code"
        return None

    def _soap_login(self, body: str) -> tuple[int, dict[str, str], str]:
        def element(name: str) -> str | None:
            match = re.search(rf"<(?:\w+:)?{name}>(.*?)</(?:\w+:)?{name}>", body, re.DOTALL)
            return html.unescape(match.group(1)) if match else None

        username, password = element("username"), element("password")
        headers = {"Content-Type": "text/xml;charset=UTF-8"}
        if username != self.username or password != self.password + self.security_token:
            message = "Invalid username, password, security token; or user locked out."
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
                f"<faultcode>sf:INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: {message}</faultstring>"
                '<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>INVALID_LOGIN'
                f"</sf:exceptionCode><sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault>"
                "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
            return 500, headers, fault
        token = html.escape(self._issue_token())
        version = self.api_version
        ok = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{self.instance_url}/services/Soap/m/{version}/{self.org_id}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{self.instance_url}/services/Soap/u/{version}/{self.org_id}</serverUrl>"
            f"<sessionId>{token}</sessionId><userId>{self.user_id}</userId>"
            f"<userInfo><organizationId>{self.org_id}</organizationId><userName>{self.username}</userName>"
            "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return 200, headers, ok

    # ------------------------------------------------------------------ API dispatch
    def _limit_headers(self) -> dict[str, str]:
        # Every Salesforce answer carries the org's clock in ``Date`` (HTTP-date, whole seconds).
        now = self.clock().astimezone(UTC)
        return {
            "Sforce-Limit-Info": f"api-usage={self._api_calls}/{self.daily_api_limit}",
            "Date": email.utils.format_datetime(now, usegmt=True),
        }

    def _api_callback(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str | bytes]:
        with self._serving:
            return self._serve_api(request)

    def _serve_api(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str | bytes]:
        url = str(request.url)
        parts = urlsplit(url)
        method = str(request.method).upper()
        if len(url.encode()) > MAX_URI_BYTES:
            self._api_calls += 1
            self._log.append(RecordedCall(method, parts.path, 414, 0))
            headers = {"Content-Type": "text/html", **self._limit_headers()}
            return 414, headers, "<html><body>414 Request-URI Too Large</body></html>"
        self._api_calls += 1
        call_index = self._api_calls
        decision = self._injector.for_call()
        reply: _Reply
        try:
            self._gate(request, call_index, decision.concurrent_limit, decision.http_503)
            if decision.slow and not self.faults.slow_response_processed:
                self._slow(request)
            reply = self._route(method, parts.path, parse_qs(parts.query, keep_blank_values=True), request)
        except _HttpError as exc:
            reply = _Reply(exc.status, exc.body)
        self._log.append(RecordedCall(method, parts.path, reply.status, reply.records))
        if decision.slow:
            self._slow(request)
        headers = {**self._limit_headers(), **(reply.headers or {})}
        body = reply.body
        if body is None:
            return reply.status, headers, ""
        if isinstance(body, str | bytes):
            headers.setdefault("Content-Type", "text/csv")
            return reply.status, headers, body
        headers.setdefault("Content-Type", _JSON)
        return reply.status, headers, json.dumps(body)

    def _slow(self, request: requests.PreparedRequest) -> None:
        timeout = getattr(request, "req_kwargs", {}).get("timeout")
        if timeout is None:
            raise MissingTimeoutError(
                f"client sent a request without a timeout ({request.method} {urlsplit(str(request.url)).path}); "
                f"a slow Salesforce ({self.faults.slow_seconds:g}s) would hang it"
            )
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        if read is not None and self.faults.slow_seconds > float(read):
            raise requests.exceptions.ReadTimeout(
                f"FakeSalesforce: no response within the read timeout of {read}s "
                f"(slow response: {self.faults.slow_seconds:g}s)",
                request=request,
            )

    def _gate(self, request: requests.PreparedRequest, call_index: int, concurrent: bool, http_503: bool) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else auth[6:] if auth.startswith("OAuth ") else ""
        if not token:
            # Bulk 1.0-style X-SFDC-Session headers are accepted too.
            token = request.headers.get("X-SFDC-Session", "")
        plan = self.faults
        if (
            plan.invalid_session_after is not None
            and not self._injector.session_invalidated
            and call_index > plan.invalid_session_after
        ):
            self._injector.session_invalidated = True
            self._tokens.clear()
        if token not in self._tokens:
            raise _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        over_total = plan.total_requests_after is not None and call_index > plan.total_requests_after
        if over_total or call_index > self.daily_api_limit:
            raise _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if concurrent:
            raise _error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentRequests (Concurrent API Requests) Limit exceeded.")
        if http_503:
            raise _HttpError(
                503, [{"message": "Server temporarily unavailable, please retry", "errorCode": "SERVER_UNAVAILABLE"}]
            )

    def _route(self, method: str, path: str, query: dict[str, list[str]], request: requests.PreparedRequest) -> _Reply:
        match = re.fullmatch(r"/services/data/v(\d+\.\d+)(/.*)?", path)
        if match is None:
            raise _not_found()
        version = match.group(1)
        segs = [unquote(s) for s in (match.group(2) or "").strip("/").split("/") if s != ""]
        if not segs:
            raise _not_found()
        head = segs[0]
        if head == "sobjects":
            return self._sobjects(method, segs[1:], query, request, version)
        if head in ("query", "queryAll") and method == "GET":
            return self._query(head, segs[1:], query, request, version)
        if head == "composite" and len(segs) >= 2 and segs[1] == "sobjects":
            return self._collections(method, segs[2:], query, request, version)
        if head == "limits" and method == "GET" and len(segs) == 1:
            used = self._api_calls
            return _Reply(
                200,
                {
                    "DailyApiRequests": {"Max": self.daily_api_limit, "Remaining": max(self.daily_api_limit - used, 0)},
                    "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
                    "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
                },
            )
        if head == "jobs" and len(segs) >= 2 and segs[1] in ("ingest", "query"):
            reply: _Reply = self.bulk.route(
                method, segs[1], segs[2:], query=query, body=_body_bytes(request), version=version
            )
            return reply
        raise _not_found()

    # ------------------------------------------------------------------ sObject resources
    def url_for(self, version: str) -> Callable[[str, str], str]:
        return lambda obj, rid: f"/services/data/v{version}/sobjects/{obj}/{rid}"

    def _sobjects(
        self, method: str, segs: list[str], query: dict[str, list[str]], request: requests.PreparedRequest, version: str
    ) -> _Reply:
        if not segs:
            if method != "GET":
                raise _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET")
            return _Reply(200, self._describe_global(version))
        obj = self.schema.get(segs[0])
        if obj is None:
            raise _not_found()
        if len(segs) == 1:
            if method == "POST":
                payload = _json_body(request)
                if not isinstance(payload, dict):
                    raise _error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY")
                try:
                    record = self._create(obj, payload)
                except RecordError as exc:
                    raise _HttpError(400, [exc.as_rest_error()]) from None
                return _Reply(201, {"id": record["Id"], "success": True, "errors": []}, records=1)
            if method == "GET":
                return _Reply(200, {"objectDescribe": self._describe_global_entry(obj, version), "recentItems": []})
            raise _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,POST")
        if len(segs) == 2 and segs[1] == "describe" and method == "GET":
            return _Reply(200, self._describe(obj, version))
        if len(segs) == 2 and segs[1] in ("deleted", "updated") and method == "GET":
            return self._changed(obj, segs[1], query)
        if len(segs) == 2:
            return self._record_by_id(method, obj, segs[1], query=query, request=request, version=version)
        if len(segs) == 3:
            return self._record_by_external(
                method, obj, segs[1], segs[2], query=query, request=request, version=version
            )
        raise _not_found()

    def _changed(self, obj: ObjectSchema, which: str, query: dict[str, list[str]]) -> _Reply:
        """getDeleted / getUpdated: Ids changed between ``start`` and ``end`` (whole minutes, UTC)."""
        start = parse_datetime(query.get("start", [""])[-1])
        end = parse_datetime(query.get("end", [""])[-1])
        if start is None or end is None or start > end:
            raise _error(400, "INVALID_REPLICATION_DATE", "start date must chronologically precede end date")
        start, end = start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)
        hits: list[dict[str, Any]] = []
        for record in self._records[obj.name].values():
            stamp = parse_datetime(str(record["SystemModstamp"]))
            if stamp is None or not (start <= stamp < end) or record["IsDeleted"] != (which == "deleted"):
                continue
            hits.append(record)
        covered = format_datetime(end)
        if which == "deleted":
            return _Reply(
                200,
                {
                    "deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in hits],
                    "earliestDateAvailable": format_datetime(start),
                    "latestDateCovered": covered,
                },
                records=len(hits),
            )
        return _Reply(200, {"ids": [r["Id"] for r in hits], "latestDateCovered": covered}, records=len(hits))

    def _record_json(
        self, obj: ObjectSchema, record: Mapping[str, Any], version: str, fields: Sequence[str] | None = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": {"type": obj.name, "url": self.url_for(version)(obj.name, record["Id"])}}
        names = [obj.fields[f].name for f in fields] if fields else list(obj.fields)
        for name in names:
            out[name] = record.get(name)
        return out

    def _fields_param(self, obj: ObjectSchema, query: dict[str, list[str]]) -> list[str] | None:
        if "fields" not in query:
            return None
        names: list[str] = []
        for raw in query["fields"][-1].split(","):
            spec = obj.field(raw.strip())
            if spec is None:
                raise _error(400, "INVALID_FIELD", f"No such column '{raw.strip()}' on sobject of type {obj.name}")
            names.append(spec.name)
        return names

    def _record_by_id(
        self,
        method: str,
        obj: ObjectSchema,
        rid: str,
        *,
        query: dict[str, list[str]],
        request: requests.PreparedRequest,
        version: str,
    ) -> _Reply:
        if not is_id_shaped(rid):
            raise _error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {rid}")
        record = self._records[obj.name].get(normalize_id(rid))
        if record is None:
            raise _not_found()
        if record["IsDeleted"]:
            raise _error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        if method == "GET":
            return _Reply(200, self._record_json(obj, record, version, self._fields_param(obj, query)), records=1)
        if method == "PATCH":
            payload = _json_body(request)
            if not isinstance(payload, dict):
                raise _error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY")
            self._precondition_check(record, request.headers.get("If-Unmodified-Since"))
            self._lock_check(record["Id"])
            try:
                self._update(obj, record, payload)
            except RecordError as exc:
                raise _HttpError(400, [exc.as_rest_error()]) from None
            return _Reply(204, None, records=1)
        if method == "DELETE":
            self._lock_check(record["Id"])
            self._soft_delete(record)
            return _Reply(204, None, records=1)
        raise _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE")

    @staticmethod
    def _precondition_check(record: Mapping[str, Any], header: str | None) -> None:
        """``If-Unmodified-Since`` on a PATCH of a row (weak validation, whole seconds): Salesforce compares
        it with the record's LastModifiedDate and answers 412 Precondition Failed, writing nothing, when
        the record was modified after it; an unreadable header value is a 400."""
        if header is None:
            return
        try:
            since = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            since = None
        if since is None or since.tzinfo is None:
            raise _error(400, "INVALID_HEADER_VALUE", f"If-Unmodified-Since: invalid date {header!r}")
        modified = parse_datetime(str(record.get("LastModifiedDate") or ""))
        if modified is not None and modified.replace(microsecond=0) > since.astimezone(UTC):
            raise _error(
                412,
                "ENTITY_FAILED_IFLASTMODIFIED_ON_UPDATE_CHECK",
                "The requested entity has been modified since the time specified by the If-Unmodified-Since header",
            )

    def _lock_check(self, rid: str) -> None:
        if self._injector.lock_row():
            raise _HttpError(400, [self._lock_error(rid).as_rest_error()])

    @staticmethod
    def _lock_error(rid: str | None) -> RecordError:
        return RecordError(
            "UNABLE_TO_LOCK_ROW",
            f"unable to obtain exclusive access to this record or 1 records: {rid or ''}".rstrip(),
            [],
        )

    def _external_field(self, obj: ObjectSchema, name: str) -> FieldSchema:
        spec = obj.field(name)
        if spec is None or not spec.external_id:
            raise _error(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {name}")
        return spec

    def _record_by_external(
        self,
        method: str,
        obj: ObjectSchema,
        field_name: str,
        value: str,
        *,
        query: dict[str, list[str]],
        request: requests.PreparedRequest,
        version: str,
    ) -> _Reply:
        if field_name == "Id":
            return self._record_by_id(method, obj, value, query=query, request=request, version=version)
        ext = self._external_field(obj, field_name)
        found = self._find_by_external(obj, ext, value)
        url = self.url_for(version)
        if len(found) > 1:
            return _Reply(300, [url(obj.name, r["Id"]) for r in found])
        if method == "GET":
            if not found:
                raise _not_found()
            return _Reply(200, self._record_json(obj, found[0], version, self._fields_param(obj, query)), records=1)
        if method == "DELETE":
            if not found:
                raise _not_found()
            self._soft_delete(found[0])
            return _Reply(204, None, records=1)
        if method not in ("PATCH", "POST"):
            raise _error(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,DELETE")
        payload = _json_body(request)
        if not isinstance(payload, dict):
            raise _error(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from START_ARRAY")
        body = {k: v for k, v in payload.items() if k.lower() != ext.name.lower()}
        try:
            if found:
                self._lock_check(found[0]["Id"])
                self._update(obj, found[0], body)
                return _Reply(200, {"id": found[0]["Id"], "success": True, "errors": [], "created": False}, records=1)
            self._lock_check("")
            record = self._create(obj, {**body, ext.name: value})
        except RecordError as exc:
            raise _HttpError(400, [exc.as_rest_error()]) from None
        return _Reply(201, {"id": record["Id"], "success": True, "errors": [], "created": True}, records=1)

    # ------------------------------------------------------------------ sObject Collections
    def _collections(
        self, method: str, segs: list[str], query: dict[str, list[str]], request: requests.PreparedRequest, version: str
    ) -> _Reply:
        if method == "DELETE" and not segs:
            ids = [i for i in query.get("ids", [""])[-1].split(",") if i]
            all_or_none = query.get("allOrNone", ["false"])[-1].lower() == "true"
            if len(ids) > COLLECTION_LIMIT:
                raise self._too_many()
            return self._run_batch(ids, all_or_none, self._delete_one, with_created=False)
        if method == "GET" and len(segs) == 1:
            obj = self.schema.get(segs[0])
            if obj is None:
                raise _not_found()
            ids = [i for i in query.get("ids", [""])[-1].split(",") if i]
            names = self._fields_param(obj, query)
            rows: list[Any] = []
            for rid in ids:
                rec = self.lookup(obj.name, rid)
                rows.append(self._record_json(obj, rec, version, names) if rec else None)
            return _Reply(200, rows, records=len(ids))
        payload = _json_body(request)
        if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
            raise _error(400, "JSON_PARSER_ERROR", 'Cannot deserialize the request: expected {"records": [...]}')
        records: list[Any] = payload["records"]
        all_or_none = bool(payload.get("allOrNone", False))
        if len(records) > COLLECTION_LIMIT:
            raise self._too_many()
        for rec in records:
            if (
                not isinstance(rec, dict)
                or not isinstance(rec.get("attributes"), dict)
                or not rec["attributes"].get("type")
            ):
                raise _error(400, "INVALID_TYPE", "Must specify a type in the attributes map")
        if method == "POST" and not segs:
            return self._run_batch(records, all_or_none, self._create_one, with_created=False)
        if method == "PATCH" and not segs:
            return self._run_batch(records, all_or_none, self._update_one, with_created=False)
        if method == "PATCH" and len(segs) == 2:
            obj = self.schema.get(segs[0])
            if obj is None:
                raise _not_found()
            ext = obj.field(segs[1])
            if ext is None or not ext.external_id:
                raise _error(
                    400,
                    "INVALID_FIELD",
                    f"Field name provided, {segs[1]} is not an External ID or indexed field for {obj.name}",
                )
            for rec in records:
                rtype = self.schema.get(str(rec["attributes"]["type"]))
                if rtype is None or rtype.name != obj.name:
                    raise _error(
                        400,
                        "INVALID_TYPE",
                        f"The sObject type {rec['attributes']['type']} does not match "
                        f"the type {obj.name} in the request URI",
                    )
            values = [str(r.get(ext.name, "")).lower() for r in records]
            counts: dict[str, int] = {}
            for v in values:
                counts[v] = counts.get(v, 0) + 1
            dupes = {v for v, n in counts.items() if n > 1 and v}

            def upsert_one(rec: Any) -> tuple[str, bool]:
                return self._upsert_one(obj, ext, rec, dupes)

            return self._run_batch(records, all_or_none, upsert_one, with_created=True)
        raise _not_found()

    @staticmethod
    def _too_many() -> _HttpError:
        return _error(
            400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records into this call"
        )

    def _run_batch(
        self, items: list[Any], all_or_none: bool, action: Callable[[Any], tuple[str, bool]], *, with_created: bool
    ) -> _Reply:
        """Apply ``action`` to each item in order; per-item results; allOrNone rolls everything back."""
        undo: dict[tuple[str, str], dict[str, Any] | None] = {}
        results: list[dict[str, Any]] = []
        failed = False
        self._undo = undo
        try:
            for item in items:
                try:
                    if self._injector.lock_row():
                        rid = item if isinstance(item, str) else item.get("Id") if isinstance(item, dict) else None
                        raise self._lock_error(rid)
                    rid, created = action(item)
                    result: dict[str, Any] = {"id": rid, "success": True, "errors": []}
                    if with_created:
                        result["created"] = created
                except TypeMismatch as exc:
                    self._rollback(undo)
                    raise _HttpError(400, [{"message": exc.message, "errorCode": exc.status_code}]) from None
                except RecordError as exc:
                    failed = True
                    result = {"success": False, "errors": [exc.as_result_error()]}
                    if isinstance(item, str):
                        result["id"] = item
                results.append(result)
        finally:
            self._undo = None
        if all_or_none and failed:
            self._rollback(undo)
            rolled = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
            for result in results:
                if result["success"]:
                    result.clear()
                    result.update({"id": None, "success": False, "errors": [rolled]})
                else:
                    result.setdefault("id", None)
        return _Reply(200, results, records=len(items))

    _undo: dict[tuple[str, str], dict[str, Any] | None] | None = None

    def _remember(self, obj: ObjectSchema, rid: str) -> None:
        if self._undo is not None and (obj.name, rid) not in self._undo:
            current = self._records[obj.name].get(rid)
            self._undo[(obj.name, rid)] = copy.deepcopy(current) if current is not None else None

    def _rollback(self, undo: Mapping[tuple[str, str], dict[str, Any] | None]) -> None:
        for (name, rid), previous in undo.items():
            current = self._records[name].get(rid)
            if current is not None:
                self._index_remove(name, current)
            if previous is None:
                self._records[name].pop(rid, None)
            elif current is not None:
                current.clear()
                current.update(previous)
                self._index_add(name, current)

    def _create_one(self, rec: dict[str, Any]) -> tuple[str, bool]:
        obj = self.schema.get(str(rec["attributes"]["type"]))
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{rec['attributes']['type']}' is not supported.", [])
        if "Id" in rec:
            raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
        record = self._create(obj, rec)
        self._remember(obj, record["Id"])
        self._undo_mark_new(obj, record["Id"])
        return str(record["Id"]), True

    def _undo_mark_new(self, obj: ObjectSchema, rid: str) -> None:
        if self._undo is not None:
            self._undo[(obj.name, rid)] = None

    def _update_one(self, rec: dict[str, Any]) -> tuple[str, bool]:
        obj = self.schema.get(str(rec["attributes"]["type"]))
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{rec['attributes']['type']}' is not supported.", [])
        rid = rec.get("Id") or rec.get("id")
        if not rid:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        if not is_id_shaped(rid):
            raise RecordError("MALFORMED_ID", f"{obj.display_label} ID: id value of incorrect type: {rid}", ["Id"])
        record = self._find(obj, rid)
        if record is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if record["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        self._remember(obj, record["Id"])
        self._update(obj, record, {k: v for k, v in rec.items() if k not in ("Id", "id")})
        return str(record["Id"]), False

    def _delete_one(self, rid: str) -> tuple[str, bool]:
        if not is_id_shaped(rid):
            raise RecordError("MALFORMED_ID", f"malformed id {rid}", [])
        obj = self.schema.by_prefix(rid[:3])
        record = self._find(obj, rid) if obj is not None else None
        if obj is None or record is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if record["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        self._remember(obj, record["Id"])
        self._soft_delete(record)
        return str(record["Id"]), False

    def _upsert_one(
        self, obj: ObjectSchema, ext: FieldSchema, rec: dict[str, Any], dupes: set[str]
    ) -> tuple[str, bool]:
        value = rec.get(ext.name)
        if value is None:
            for key, candidate in rec.items():
                if key.lower() == ext.name.lower():
                    value = candidate
        if value is None or value == "":
            raise RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
        if str(value).lower() in dupes:
            raise RecordError("DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {value}", [ext.name])
        found = self._find_by_external(obj, ext, value)
        if len(found) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID", f"The external ID provided matches more than one record: {value}", [ext.name]
            )
        body = {k: v for k, v in rec.items() if k.lower() != ext.name.lower()}
        if found:
            self._remember(obj, found[0]["Id"])
            self._update(obj, found[0], body)
            return str(found[0]["Id"]), False
        record = self._create(obj, {**body, ext.name: value})
        self._undo_mark_new(obj, record["Id"])
        return str(record["Id"]), True

    # ------------------------------------------------------------------ query
    def run_query(self, soql: str, *, include_deleted: bool) -> tuple[Query, list[dict[str, Any]]]:
        """Parse and evaluate ``soql``; returns the query and the matching stored records in order."""
        query = parse_soql(soql, self.schema)
        rows = [
            rec
            for rec in self._records[query.sobject.name].values()
            if (include_deleted or not rec["IsDeleted"]) and matches(query.where, rec, self.lookup)
        ]
        rows = [dict(r) for r in sort_records(query, rows, self.lookup)]
        if query.offset:
            rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]
        return query, rows

    def _query(
        self, head: str, segs: list[str], query: dict[str, list[str]], request: requests.PreparedRequest, version: str
    ) -> _Reply:
        page = self.page_size
        options = request.headers.get("Sforce-Query-Options", "")
        batch = re.search(r"batchSize\s*=\s*(\d+)", options)
        if batch:
            page = min(page, max(int(batch.group(1)), 200))
        if segs:
            locator, _, start = segs[0].rpartition("-")
            cursor = self._cursors.get(locator)
            if cursor is None or not start.isdigit():
                raise _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._page(head, locator, cursor, start=int(start), page=page, version=version)
        soql = query.get("q", [""])[-1]
        try:
            parsed, rows = self.run_query(soql, include_deleted=head == "queryAll")
        except SoqlError as exc:
            raise _error(400, exc.error_code, exc.message) from None
        if parsed.count is not None:
            if parsed.count_only:
                return _Reply(200, {"totalSize": len(rows), "done": True, "records": []})
            alias = parsed.count.alias or "expr0"
            target = parsed.count.path
            assert target is not None
            from sfsync.testing._soql import resolve_value

            counted = sum(1 for r in rows if resolve_value(r, target, self.lookup) is not None)
            return _Reply(
                200,
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [{"attributes": {"type": "AggregateResult"}, alias: counted}],
                },
                records=1,
            )
        url = self.url_for(version)
        projected = [project(parsed, r, self.lookup, url) for r in rows]
        locator = "01g5g" + secrets.token_hex(7).upper()
        cursor = _Cursor(projected)
        if len(projected) > page:
            self._cursors[locator] = cursor
            # Salesforce keeps at most 10 open cursors per user and releases the oldest.
            while len(self._cursors) > MAX_OPEN_CURSORS:
                self._cursors.pop(next(iter(self._cursors)))
        return self._page(head, locator, cursor, start=0, page=page, version=version)

    def _page(self, head: str, locator: str, cursor: _Cursor, *, start: int, page: int, version: str) -> _Reply:
        chunk = cursor.rows[start : start + page]
        end = start + len(chunk)
        body: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows), "records": chunk}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{head}/{locator}-{end}"
        else:
            self._cursors.pop(locator, None)
        return _Reply(200, body, records=len(chunk))

    # ------------------------------------------------------------------ describe
    def _describe_global_entry(self, obj: ObjectSchema, version: str) -> dict[str, Any]:
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        return {
            "name": obj.name,
            "label": obj.display_label,
            "labelPlural": obj.display_label + "s",
            "keyPrefix": obj.prefix,
            "custom": obj.is_custom,
            "createable": True,
            "updateable": True,
            "deletable": True,
            "queryable": True,
            "searchable": True,
            "retrieveable": True,
            "layoutable": True,
            "urls": {"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
        }

    def _describe_global(self, version: str) -> dict[str, Any]:
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [self._describe_global_entry(o, version) for o in self.schema.objects.values()],
        }

    def _describe(self, obj: ObjectSchema, version: str) -> dict[str, Any]:
        fields = [self._describe_field(obj, f) for f in obj.fields.values()]
        rts = [r for r in self._records.get("RecordType", {}).values() if r["SobjectType"] == obj.name]
        record_types = [
            {
                "name": r["Name"],
                "developerName": r["DeveloperName"],
                "recordTypeId": r["Id"],
                "available": True,
                "active": True,
                "defaultRecordTypeMapping": i == 0,
                "master": False,
            }
            for i, r in enumerate(rts)
        ]
        record_types.append(
            {
                "name": "Master",
                "developerName": "Master",
                "recordTypeId": "012000000000000AAA",
                "available": True,
                "active": True,
                "defaultRecordTypeMapping": not rts,
                "master": True,
            }
        )
        entry = self._describe_global_entry(obj, version)
        entry.update(
            {
                "fields": fields,
                "recordTypeInfos": record_types,
                "childRelationships": [],
                "nameFields": ["Name"] if "Name" in obj.fields else [],
            }
        )
        return entry

    @staticmethod
    def _describe_field(obj: ObjectSchema, spec: FieldSchema) -> dict[str, Any]:
        kind = spec.type
        sf_type = {"int": "int"}.get(kind, kind)
        soap = {
            "id": "tns:ID",
            "reference": "tns:ID",
            "boolean": "xsd:boolean",
            "int": "xsd:int",
            "double": "xsd:double",
            "currency": "xsd:double",
            "percent": "xsd:double",
            "date": "xsd:date",
            "datetime": "xsd:dateTime",
        }.get(kind, "xsd:string")
        text = kind in ("id", "string", "textarea", "email", "url", "phone", "picklist", "multipicklist", "reference")
        numeric = kind in ("double", "currency", "percent")
        return {
            "name": spec.name,
            "label": spec.display_label,
            "type": sf_type,
            "soapType": soap,
            "length": spec.effective_length if text else 0,
            "byteLength": spec.effective_length * 3 if text else 0,
            "precision": spec.effective_precision if numeric else 0,
            "scale": spec.effective_scale if numeric else 0,
            "digits": 9 if kind == "int" else 0,
            "nillable": spec.nillable,
            "createable": spec.createable,
            "updateable": spec.updateable,
            "externalId": spec.external_id,
            "unique": spec.unique,
            "idLookup": spec.external_id or spec.name == "Id" or spec.unique,
            "caseSensitive": False,
            "custom": spec.is_custom,
            "calculated": spec.calculated,
            "autoNumber": False,
            "nameField": spec.name == "Name",
            "defaultedOnCreate": spec.default is not None
            or kind == "boolean"
            or spec.name in SYSTEM_FIELDS
            or spec.name == "OwnerId",
            "defaultValue": spec.default,
            "filterable": kind != "textarea",
            "sortable": kind not in ("textarea", "multipicklist"),
            "groupable": kind not in ("textarea", "multipicklist", "double", "currency", "percent", "datetime"),
            "htmlFormatted": False,
            "encrypted": False,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": v == spec.default, "validFor": None}
                for v in spec.values
            ],
            "restrictedPicklist": spec.restricted,
            "referenceTo": list(spec.reference_to),
            "relationshipName": spec.effective_relationship_name,
            "polymorphicForeignKey": len(spec.reference_to) > 1,
            "cascadeDelete": False,
        }

    # ------------------------------------------------------------------ helpers for the bulk engine
    def now_text(self) -> str:
        return self._now()

    def create_record(self, obj: ObjectSchema, fields: Mapping[str, Any]) -> dict[str, Any]:
        return self._create(obj, fields)

    def update_record(self, obj: ObjectSchema, record: dict[str, Any], fields: Mapping[str, Any]) -> None:
        self._update(obj, record, fields)

    def delete_record(self, record: dict[str, Any]) -> None:
        self._soft_delete(record)

    def find_record(self, obj: ObjectSchema, rid: Any) -> dict[str, Any] | None:
        return self._find(obj, rid)

    def find_by_external(self, obj: ObjectSchema, ext: FieldSchema, value: Any) -> list[dict[str, Any]]:
        return self._find_by_external(obj, ext, value)

    def lock_fault(self) -> bool:
        return self._injector.lock_row()

    def lock_error(self, rid: str | None) -> RecordError:
        return self._lock_error(rid)

    def resolve_foreign_key(self, obj: ObjectSchema, rel: FieldSchema, value: Mapping[str, Any]) -> str:
        return self._resolve_foreign_key(obj, rel, value)

    def http_error(self, status: int, code: str, message: str) -> Exception:
        return _error(status, code, message)

    def reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None, records: int = 0) -> Any:
        return _Reply(status, body, headers, records)


def _body_bytes(request: requests.PreparedRequest) -> bytes:
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    return b"".join(body)


def _json_body(request: requests.PreparedRequest) -> Any:
    raw = _body_bytes(request)
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise _error(400, "JSON_PARSER_ERROR", f"Unexpected character in the request body: {exc}") from None


def _auto_number(display_format: str, number: int) -> str:
    """An Auto Number value: ``CC-{0000000}`` and 42 -> ``CC-0000042``."""
    return re.sub(r"\{(0+)\}", lambda match: str(number).zfill(len(match.group(1))), display_format)


@functools.cache  # the package a process runs does not change under it; a desk saves once per decision
def _package_digest() -> str:
    """Every file of the installed sfsync package by path, size and modification time (what
    Python's bytecode cache trusts): the shipped mappings, rules, standard objects and the code that
    turns them into the default schema all live there, so a cached default schema is used only while
    none of them changed."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(folder, name)
            st = os.stat(full)
            digest.update(f"{os.path.relpath(full, root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _org_json(data: dict[str, Any]) -> str:
    """The save file: JSON with one record a line (readable, diffable). Each record goes through the
    C encoder: ``json.dumps(..., indent=...)`` runs the pure-Python one, which cost a command that
    saves a few thousand records more than its own work."""
    lines = ["{"]
    keys = sorted(data)
    for n, key in enumerate(keys):
        comma = "," if n < len(keys) - 1 else ""
        if key != "records":
            lines.append(f" {json.dumps(key)}: {json.dumps(data[key], sort_keys=True)}{comma}")
            continue
        objects = sorted(data[key].items())
        lines.append(f" {json.dumps(key)}: {{")
        for m, (name, rows) in enumerate(objects):
            lines.append(f"  {json.dumps(name)}: [")
            lines.append(",\n".join("   " + json.dumps(row, sort_keys=True) for row in rows))
            lines.append("  ]" + ("," if m < len(objects) - 1 else ""))
        lines.append(" }" + comma)
    lines.append("}")
    return "\n".join(lines) + "\n"
