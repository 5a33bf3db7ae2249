"""Alembic environment: the URL comes from settings (DATABASE_URL), never from alembic.ini."""

from alembic import context

from core.settings import get_settings
from models.db import get_engine
from models.tables import Base, UTCDateTime

config = context.config
url = config.attributes.get("url") or get_settings().database_url


def render_item(kind: str, obj: object, autogen_context: object) -> str | bool:
    """Autogenerate writes UTCDateTime as the plain timezone-aware DateTime it stores."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


OPTIONS = {"target_metadata": Base.metadata, "render_as_batch": True,
           "render_item": render_item}


def run_migrations_offline() -> None:
    context.configure(url=url, literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with get_engine(url).connect() as connection:
        context.configure(connection=connection, **OPTIONS)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
