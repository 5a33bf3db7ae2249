"""Real processes for tests: Celery workers, beat, the bot, the Telegram stand-in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ALL_QUEUES = "default,gamification,telegram,broadcast,scheduled"


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout}s")
        time.sleep(interval)


class Process:
    """A child process with its output in a log file, stoppable and killable."""

    def __init__(self, name: str, argv: list[str], log_dir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.argv = name, argv
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log()[-3000:]}")
            return text in self.log()

        wait_until(seen, timeout, message=f"{self.name} printing {text!r}")

    def signal_group(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (main process and pool children)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)


def celery_worker(log_dir: Path, name: str = "worker", queues: str = ALL_QUEUES,
                  concurrency: int = 2, env: dict[str, str] | None = None) -> Process:
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "-Q", queues,
            "-c", str(concurrency), "-n", f"{name}-{os.getpid()}@%h", "-l", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return Process(name, argv, log_dir, env)


def start_worker(log_dir: Path, **kwargs: Any) -> Process:
    worker = celery_worker(log_dir, **kwargs).start()
    worker.wait_for_log("ready.", timeout=60)
    return worker


def celery_beat(log_dir: Path, env: dict[str, str] | None = None) -> Process:
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "-l", "INFO",
            "-s", str(log_dir / "celerybeat-schedule")]
    return Process("beat", argv, log_dir, env)
