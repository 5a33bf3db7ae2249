"""The bench's own stack in a temporary folder: Redis, MongoDB-protocol server, SQLite, stand-in.

Environment variables are set here, before any project module reads its settings (as
tests/conftest.py does); `close()` stops every process the bench started, in reverse order.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import Proc


class BenchStack:
    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.base = Path(tempfile.mkdtemp(prefix="yabot-bench-"))
        self.servers: list[Any] = []
        self.procs: list[Proc] = []
        self.redis: Any = None
        self.mongo: Any = None
        self.standin: Proc | None = None
        self.standin_url = ""

    def start(self) -> BenchStack:
        from dev.stack import MongoServer, RedisServer, free_port

        self.redis = RedisServer(self.base / "redis")
        self.servers.append(self.redis)
        self.redis.start()
        self.mongo = MongoServer(self.base / "mongo")
        self.servers.append(self.mongo)
        self.mongo.start(timeout=60)
        port = free_port()
        self.standin_url = f"http://127.0.0.1:{port}"
        os.environ.update({
            "REDIS_URL": self.redis.url,
            "MONGODB_URI": self.mongo.url,
            "DATABASE_URL": f"sqlite:///{self.base}/yabot.db",
            "TELEGRAM_API_URL": self.standin_url,
            "STANDIN_URL": self.standin_url,
            "STANDIN_PORT": str(port),
            "OUTBOX_RELAY_INTERVAL": "5",
            "ADMIN_IDS": "",
            "LOG_LEVEL": "INFO",
        })
        for name in ("TELEGRAM_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET",
                     "ADMIN_CHAT_ID"):
            os.environ.pop(name, None)
        from core.settings import reset_settings
        from models.migrate import upgrade

        reset_settings()
        upgrade()
        self.standin = self.add(Proc("standin", [
            sys.executable, "-m", "dev.standin", "--port", str(port), "--no-limits",
            "--log-level", "WARNING"], self.base))
        self.standin.wait_for_log("standin listening", timeout=30)
        return self

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc.start()

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        for proc in reversed(self.procs):
            try:
                proc.stop(timeout=10)
            except Exception:  # noqa: BLE001 - keep stopping the others
                proc.kill()
        self.procs.clear()
        for server in reversed(self.servers):
            try:
                server.stop(timeout=10)
            except Exception:  # noqa: BLE001
                try:
                    server.kill()
                except Exception:  # noqa: BLE001
                    pass
        self.servers.clear()
        try:
            from models.db import reset_engines
            from models.mongo import reset_client

            reset_engines()
            reset_client()
        except Exception:  # noqa: BLE001
            pass
        if self.keep:
            print(f"logs and data kept in {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)


def set_env(env: dict[str, str]) -> dict[str, str | None]:
    """Set `env` in this process and reload the settings; returns what to `restore_env`."""
    from core.settings import reset_settings

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    reset_settings()
    return saved


def restore_env(saved: dict[str, str | None]) -> None:
    """Undo `set_env`."""
    from core.settings import reset_settings

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()
