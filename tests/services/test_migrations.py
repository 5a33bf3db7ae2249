"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.settings import get_settings
from models.db import get_engine
from models.tables import Base


def test_migrated_database_matches_the_models() -> None:
    # conftest migrated the test database with `models.migrate.upgrade` at session start
    with get_engine(get_settings().database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
