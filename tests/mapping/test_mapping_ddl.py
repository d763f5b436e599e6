"""The reference portal DDL runs on SQLite and PostgreSQL and carries every column the mappings use."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from _mapping_helpers import SHIPPED

from sfsync.mapping import MappingSet

DDL = SHIPPED / "portal_schema.sql"
SAMPLE = SHIPPED / "sample_partners.sql"


def statements(path: Path) -> list[str]:
    """Split on the documented separator: ';' at the end of a line; comment lines dropped."""
    text = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("--"))
    return [part.strip() for part in text.split(";\n") if part.strip()]


def create(engine: sa.Engine, *, sample: bool = True) -> None:
    with engine.begin() as connection:
        for statement in statements(DDL) + (statements(SAMPLE) if sample else []):
            connection.exec_driver_sql(statement)


def check_schema(engine: sa.Engine, shipped: MappingSet) -> None:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    assert {"partners", "deal_registrations", "account_registrations"} <= set(metadata.tables)
    for mapping in [*shipped.sync_mappings(), shipped.get("deal_registration_lead")]:
        table = metadata.tables[mapping.portal.table]
        needed = {c for fm in mapping.fields for c in fm.columns}
        needed |= {mapping.portal.primary_key, mapping.portal.updated_at, mapping.portal.external_id_column}
        needed |= {mapping.portal.deleted_at} if mapping.portal.deleted_at else set()
        assert needed <= set(table.c.keys()), needed - set(table.c.keys())

    with engine.connect() as connection:
        deals = metadata.tables["deal_registrations"]
        rows = [dict(r) for r in connection.execute(sa.select(deals)).mappings()]
        accounts = metadata.tables["account_registrations"]
        account_rows = [dict(r) for r in connection.execute(sa.select(accounts)).mappings()]
    assert len(rows) == 3 and len(account_rows) == 1
    first = next(r for r in rows if r["registration_number"] == "DR-000001")
    assert isinstance(first["amount"], Decimal) and isinstance(first["expected_close_date"], date)
    assert isinstance(first["submitted_at"], datetime) and first["extension_requested"] is False
    for mapping_name, sample_rows in (
        ("deal_registration", rows),
        ("deal_registration_lead", rows),
        ("account_registration", account_rows),
    ):
        for row in sample_rows:
            outbound = shipped.get(mapping_name).to_salesforce(row, is_create=True)
            assert outbound.ok, (mapping_name, [str(p) for p in outbound.errors])


def test_ddl_runs_on_sqlite(tmp_path: Path, shipped: MappingSet) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    create(engine)
    create(engine, sample=False)  # IF NOT EXISTS: rerunning the DDL is harmless
    check_schema(engine, shipped)
    engine.dispose()


def test_status_and_tier_are_constrained(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'portal.db'}")
    create(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql("UPDATE deal_registrations SET status = 'approvd'")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql("UPDATE partners SET tier = 'diamond'")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE deal_registrations SET protection_start = '2027-01-02', protection_end = '2027-01-01'"
        )
    engine.dispose()


@pytest.mark.postgres
def test_ddl_runs_on_postgresql(postgres_url: str, shipped: MappingSet) -> None:
    engine = sa.create_engine(postgres_url)
    create(engine)
    create(engine, sample=False)
    check_schema(engine, shipped)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.exec_driver_sql("UPDATE deal_registrations SET status = 'approvd'")
    engine.dispose()
