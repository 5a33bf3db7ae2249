"""The test stack: real Redis, real MongoDB-protocol server, real SQL, real stand-in.

Started once per session on free ports before any project module reads its settings.
YABOT_TEST_DB=postgresql runs the suite on PostgreSQL (a fresh database on
YABOT_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the default
is SQLite.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dev.stack import MongoServer, RedisServer, free_port
from tests.support import ROOT, Process, start_worker, wait_until

STATE: dict[str, object] = {}


def _postgres_database() -> str:
    import sqlalchemy

    admin_url = os.environ.get("YABOT_TEST_PG",
                               "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    name = f"yabot_test_{uuid.uuid4().hex[:10]}"
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except sqlalchemy.exc.OperationalError as exc:
        pytest.exit(f"YABOT_TEST_DB=postgresql but no PostgreSQL is reachable at "
                    f"{admin_url}: {exc.__class__.__name__}; skipping the PostgreSQL run",
                    returncode=0)
    finally:
        engine.dispose()
    STATE["pg_admin"], STATE["pg_db"] = admin_url, name
    return admin_url.rsplit("/", 1)[0] + "/" + name


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    base = Path(tempfile.mkdtemp(prefix="yabot-test-"))
    STATE["base"] = base
    redis_server = RedisServer(base / "redis").start()
    mongo_server = MongoServer(base / "mongo").start(timeout=60)
    STATE["redis"], STATE["mongo"] = redis_server, mongo_server
    backend = os.environ.get("YABOT_TEST_DB", "sqlite")
    db_url = _postgres_database() if backend == "postgresql" else f"sqlite:///{base}/yabot.db"
    standin_port = free_port()
    os.environ.update({
        "REDIS_URL": redis_server.url,
        "MONGODB_URI": mongo_server.url,
        "DATABASE_URL": db_url,
        "TELEGRAM_API_URL": f"http://127.0.0.1:{standin_port}",
        "STANDIN_URL": f"http://127.0.0.1:{standin_port}",
        "BROKER_VISIBILITY_TIMEOUT": "8",
        "BROKER_RESTORE_INTERVAL": "1",
        "OUTBOX_RELAY_INTERVAL": "1",
        "OUTBOX_RELAY_MIN_AGE": "1",
        "COMMAND_REDRIVE_AFTER": "4",
        "COMMAND_REDRIVE_MAX": "20",
        "OUTBOX_REDRIVE_AFTER": "6",
        "TASK_RETRY_BACKOFF_MAX": "3",
        "TASK_MAX_RETRIES": "6",
        "TELEGRAM_SEND_LEASE": "4",
        "MONGODB_TIMEOUT_MS": "1000",
        "ADMIN_IDS": "",
        "LOG_LEVEL": "INFO",
    })
    os.environ.pop("TELEGRAM_TOKEN", None)
    os.environ.pop("TELEGRAM_WEBHOOK_URL", None)
    from core.settings import reset_settings
    from models.migrate import upgrade

    reset_settings()
    upgrade()
    standin = Process("standin", [sys.executable, "-m", "dev.standin", "--port",
                                  str(standin_port), "--log-level", "WARNING"], base).start()
    standin.wait_for_log("standin listening", timeout=30)
    STATE["standin"] = standin
    print(f"\ntest stack: {backend} {db_url.split('@')[-1]}, redis {redis_server.url}, "
          f"mongo {mongo_server.url}, logs in {base}")


def pytest_unconfigure(config: pytest.Config) -> None:
    for key in ("standin",):
        process = STATE.get(key)
        if process is not None:
            process.stop()  # type: ignore[attr-defined]
    for key in ("redis", "mongo"):
        server = STATE.get(key)
        if server is not None:
            server.stop()  # type: ignore[attr-defined]
    if "pg_db" in STATE:
        import sqlalchemy

        engine = sqlalchemy.create_engine(str(STATE["pg_admin"]), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {STATE['pg_db']} WITH (FORCE)")
        engine.dispose()
    base = STATE.get("base")
    if base is not None and os.environ.get("YABOT_KEEP_TEST_LOGS") != "1":
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def log_dir() -> Path:
    return STATE["base"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    return STATE["redis"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def mongo_server() -> MongoServer:
    return STATE["mongo"]  # type: ignore[return-value]


_ids = itertools.count(int(time.time() * 1000) % 10_000_000 * 100 + 1)


@pytest.fixture
def user_id() -> int:
    """A Telegram user id no other test uses."""
    return next(_ids)


@pytest.fixture
def new_user_id() -> object:
    return lambda: next(_ids)


@pytest.fixture(scope="session")
def standin():  # type: ignore[no-untyped-def]
    from dev.standin.client import StandinClient

    client = StandinClient(os.environ["STANDIN_URL"])
    yield client
    # Every Bot API call the project made in this session matched the official spec.
    stats = client.stats()
    client.close()
    assert stats["spec_rejected"] == 0, (
        f"{stats['spec_rejected']} Bot API call(s) refused by the spec: "
        f"{stats['spec_rejections']}")


@pytest.fixture(scope="module")
def worker(log_dir: Path) -> Iterator[Process]:
    """A Celery worker (2 processes, every queue) shared by the tests of one module.

    Module-scoped so that fault tests, which run their own workers, have the queues alone.
    """
    process = start_worker(log_dir)
    yield process
    process.stop()


@pytest.fixture
def registered(user_id: int) -> int:
    """A member registered directly through the service (no worker needed)."""
    from models.db import unit_of_work
    from services import users

    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=user_id, first_name="Test",
                                              language_code="es"))
    return user_id


__all__ = ["ROOT", "wait_until"]


@pytest.fixture(scope="module")
def bot(log_dir: Path, worker: Process) -> Iterator[Process]:
    """The real python-telegram-bot Application, polling the stand-in."""
    process = Process("bot", [sys.executable, "-m", "bot"], log_dir).start()
    process.wait_for_log("bot ready", timeout=30)
    yield process
    process.stop()
