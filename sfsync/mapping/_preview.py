"""``sfsync mappings preview``: what a record becomes, in both directions, with no plaintext shown."""

from __future__ import annotations

import json
from collections.abc import Mapping as AbcMapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sfsync.errors import ErrorContext, UsageError
from sfsync.mapping._model import ObjectMapping
from sfsync.mapping._problems import RecordMappingError

__all__ = ["json_default", "mask", "preview", "read_portal_row"]


def mask(value: Any) -> str | None:
    """How an encrypted value is shown: its size only."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return f"<encrypted: {len(text.encode('utf-8'))} bytes>"


def json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def preview(
    mapping: ObjectMapping,
    record: AbcMapping[str, Any],
    *,
    is_create: bool = True,
    salesforce_record: AbcMapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The outbound payload (encrypted fields masked), its problems, and the reverse direction.

    ``record`` is a portal row, or a Salesforce record for a read-only mapping.
    ``salesforce_record`` (optional) shows what a pull would write back.
    """
    result: dict[str, Any] = {"mapping": mapping.name, "object": mapping.salesforce.object}
    encrypted = {fm.field: fm for fm in mapping.encrypted_fields()}
    encrypted_columns = {c for fm in encrypted.values() for c in fm.columns}
    if mapping.is_read_only or mapping.direction == "pull":
        sf_record = salesforce_record if salesforce_record is not None else record
        result["salesforce_to_portal"] = _pull(mapping, sf_record)
        return result
    outbound = mapping.to_salesforce(record, is_create=is_create)
    payload: dict[str, Any] = {}
    for name, value in outbound.payload.items():
        payload[name] = mask(value) if name in encrypted else value
    for fm in encrypted.values():
        if fm.blind_index is not None and outbound.payload.get(fm.field) is not None:
            payload[fm.blind_index.field] = f"<blind index: {fm.blind_index.normalizer}>"
        if fm.band is not None and fm.field in outbound.payload:
            # The band is public by design: show what Salesforce users will read.
            try:
                payload[fm.band.field] = fm.band.band_of(outbound.payload.get(fm.field))
            except ValueError:
                payload[fm.band.field] = f"<does not fit its band ({fm.band.kind})>"
    result["external_id"] = outbound.external_id
    result["operation"] = "create" if is_create else "update"
    result["payload"] = payload
    result["problems"] = [p.to_dict() for p in outbound.errors]
    read_back = mapping.to_portal(outbound.payload, include_portal_owned=True) if outbound.ok else {}
    owned_columns = {c for fm in mapping.portal_owned() for c in fm.columns}
    result["read_back"] = {
        column: (mask(value) if column in encrypted_columns else value)
        for column, value in read_back.items()
        if column in owned_columns
    }
    result["write_back"] = {fm.soql_path(): ", ".join(fm.columns) for fm in mapping.salesforce_owned() if fm.columns}
    if salesforce_record is not None:
        result["salesforce_to_portal"] = _pull(mapping, salesforce_record)
    return result


def _pull(mapping: ObjectMapping, sf_record: AbcMapping[str, Any]) -> dict[str, Any]:
    try:
        return {"values": mapping.to_portal(sf_record), "problems": []}
    except RecordMappingError as exc:
        return {"values": {}, "problems": [p.to_dict() for p in exc.problems]}


def read_portal_row(url: str, mapping: ObjectMapping, key: str) -> dict[str, Any]:
    """One row of the mapping's table by primary key, with SQLAlchemy Core."""
    import sqlalchemy as sa

    source = mapping.portal
    parsed = sa.engine.make_url(url)
    database = parsed.database or ""
    # SQLite would silently create an empty database file: say what is wrong instead.
    if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") and not Path(database).exists():
        raise UsageError(
            f"the portal database {database} does not exist (check [portal] url)", ErrorContext(mapping=mapping.name)
        )
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            try:
                table = sa.Table(source.table, sa.MetaData(), autoload_with=connection)
            except sa.exc.NoSuchTableError:
                raise UsageError(
                    f"the portal database has no table {source.table}",
                    ErrorContext(mapping=mapping.name, file=mapping.file),
                ) from None
            column = table.c[source.primary_key]
            value: Any = key
            try:
                if column.type.python_type is int:
                    value = int(key)
            except (NotImplementedError, ValueError):
                pass
            row = connection.execute(sa.select(table).where(column == value)).mappings().first()
    except sa.exc.SQLAlchemyError as exc:
        raise UsageError(
            f"cannot read the portal database: {type(exc).__name__}", ErrorContext(mapping=mapping.name)
        ) from None
    finally:
        engine.dispose()
    if row is None:
        raise UsageError(
            f"no row with {source.primary_key} = {key!r} in {source.table}", ErrorContext(mapping=mapping.name)
        )
    return dict(row)


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=json_default, ensure_ascii=False)
