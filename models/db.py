"""SQL engine and units of work. SQLite (WAL, busy timeout) by default, PostgreSQL by URL.

Engines are per process and per URL; `reset_engines()` drops them after a fork
(`worker_process_init`) so no connection is shared between processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from core.settings import get_settings

_engines: dict[str, Engine] = {}
_sessions: dict[str, sessionmaker[Session]] = {}


def _sqlite_pragmas(busy_timeout_ms: int):  # type: ignore[no-untyped-def]
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy (not pysqlite) issue BEGIN so transactions behave as on PostgreSQL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return on_connect


def _begin(conn) -> None:  # type: ignore[no-untyped-def]
    # A writer takes the lock at BEGIN, so two writers queue on busy_timeout instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    # Read-only sessions (read_session) begin a plain deferred transaction.
    read_only = conn.get_execution_options().get("read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    settings = get_settings()
    url = url or settings.database_url
    engine = _engines.get(url)
    if engine is None:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, echo=settings.sql_echo, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_busy_timeout_ms))
            event.listen(engine, "begin", _begin)
        else:
            engine = create_engine(
                url, echo=settings.sql_echo, pool_pre_ping=True, pool_size=5, max_overflow=5
            )
        _engines[url] = engine
    return engine


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    url = url or get_settings().database_url
    factory = _sessions.get(url)
    if factory is None:
        factory = sessionmaker(get_engine(url), expire_on_commit=False)
        _sessions[url] = factory
    return factory


@contextmanager
def unit_of_work(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with session_factory(url)() as session, session.begin():
        yield session


@contextmanager
def read_session(url: str | None = None) -> Iterator[Session]:
    """A session for reads only (no lock taken on SQLite)."""
    with session_factory(url)() as session:
        session.connection(execution_options={"read_only": True})
        yield session


def reset_engines() -> None:
    """Dispose every engine (after fork, or when tests switch databases)."""
    for engine in _engines.values():
        engine.dispose(close=False)
    _engines.clear()
    _sessions.clear()
