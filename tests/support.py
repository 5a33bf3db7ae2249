"""Real processes for tests: Celery workers and beat (see dev/processes.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dev.processes import ALL_QUEUES, ROOT, Process, celery_worker_argv, wait_until

__all__ = ["ALL_QUEUES", "ROOT", "Process", "celery_beat", "celery_worker", "start_worker",
           "wait_until"]


def celery_worker(log_dir: Path, name: str = "worker", queues: str = ALL_QUEUES,
                  concurrency: int = 2, env: dict[str, str] | None = None) -> Process:
    return Process(name, celery_worker_argv("worker.app", name, queues, concurrency),
                   log_dir, env)


def start_worker(log_dir: Path, **kwargs: Any) -> Process:
    worker = celery_worker(log_dir, **kwargs).start()
    worker.wait_for_log("ready.", timeout=60)
    return worker


def celery_beat(log_dir: Path, env: dict[str, str] | None = None) -> Process:
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "-l", "INFO",
            "-s", str(log_dir / "celerybeat-schedule")]
    return Process("beat", argv, log_dir, env)
