"""(7) Cold start of each Procfile process: spawn → ready, 3 times each.

Each process runs with its command line from the Procfile (`${VAR:-default}` expanded, the
programs from this virtualenv; free ports; the worker gets a node name to ping; beat a
fresh schedule file so every start is cold), against the bench's Redis, MongoDB, SQLite and
stand-in. Ready is the signal each process gives:
- standin: its control API answers (`GET /_standin/stats`);
- worker: it answers a Celery `ping` addressed to it;
- beat: its first heartbeat (the `outbox-relay` run it schedules writes
  `yabot:heartbeat:beat`, which `/health` reads; a bench worker runs the task) — this
  includes the wait for the first run (`OUTBOX_RELAY_INTERVAL`); the time to its
  `beat: Starting` line is shown too;
- api: `GET /health` answers (any status);
- flower: its HTTP port answers;
- bot: it called `deleteWebhook` at the stand-in (polling's start, right before its first
  `getUpdates`).
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.procs import Proc, celery_worker

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("standin", "worker", "beat", "api", "flower", "bot")
TARGET_S = 10.0
TIMEOUT_S = 60.0
MODULES = {"standin": "dev.standin.server", "worker": "worker.app", "beat": "worker.app",
           "api": "api.app", "flower": "flower.command", "bot": "bot.app"}
_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


@dataclass
class ColdResult:
    runs: dict[str, list[float | None]] = field(default_factory=dict)  # None: never ready
    extra: dict[str, list[float]] = field(default_factory=dict)  # beat: 'beat: Starting'
    failures: dict[str, str] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def summary(self, name: str) -> tuple[float, float, int]:
        """(max, median, not ready) over the runs of `name`."""
        times = [t for t in self.runs.get(name, []) if t is not None]
        failed = sum(1 for t in self.runs.get(name, []) if t is None)
        if not times:
            return float("nan"), float("nan"), failed
        return max(times), statistics.median(times), failed


def procfile() -> dict[str, str]:
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            out[name.strip()] = command.strip()
    return out


def expand(command: str, env: dict[str, str]) -> list[str]:
    def value(match: re.Match[str]) -> str:
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        current = env.get(name, "")
        if current:
            return current
        if op == "?":
            raise ValueError(f"{name} must be set: {default}")
        return default if op == "-" else ""

    argv = shlex.split(_VAR.sub(value, command))
    bindir = Path(sys.executable).parent
    if argv[0] == "python":
        argv[0] = sys.executable
    elif (bindir / argv[0]).exists():
        argv[0] = str(bindir / argv[0])
    return argv


def _free_port() -> int:
    from dev.stack import free_port

    return free_port()


def _http_answers(url: str, auth: tuple[str, str] | None = None) -> Callable[[], bool]:
    def check() -> bool:
        try:
            httpx.get(url, timeout=5, auth=auth)
            return True
        except httpx.TransportError:
            return False
    return check


def _worker_answers(node: str) -> Callable[[], bool]:
    from worker.app import app

    def check() -> bool:
        return bool(app.control.ping(destination=[node], timeout=0.25, limit=1))
    return check


def _beat_heartbeat(after: float) -> Callable[[], bool]:
    import redis

    from core.settings import get_settings
    from tasks.events import BEAT_HEARTBEAT_KEY

    client = redis.Redis.from_url(get_settings().redis_url.get_secret_value())

    def check() -> bool:
        value = client.get(BEAT_HEARTBEAT_KEY)
        return value is not None and float(value) > after
    return check


def _bot_called(standin: Any, mark: int) -> Callable[[], bool]:
    def check() -> bool:
        return bool(standin.sent(method="deleteWebhook", since=mark))
    return check


def start_once(stack: Any, name: str, command: str, n: int, standin: Any
               ) -> tuple[float | None, float | None, str]:
    """Spawn `name` once; (seconds to ready or None, seconds to a secondary sign, log)."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    secondary: Callable[[Proc], bool] | None = None
    if name == "standin":
        env["STANDIN_PORT"] = str(_free_port())
        ready = _http_answers(f"http://127.0.0.1:{env['STANDIN_PORT']}/_standin/stats")
    elif name == "api":
        env["API_PORT"] = str(_free_port())
        ready = _http_answers(f"http://127.0.0.1:{env['API_PORT']}/health")
    elif name == "flower":
        env.update(FLOWER_PORT=str(_free_port()), FLOWER_USER="bench",
                   FLOWER_PASSWORD="bench-cold-start")
        ready = _http_answers(f"http://127.0.0.1:{env['FLOWER_PORT']}/",
                              ("bench", "bench-cold-start"))
    argv = expand(command, env)
    if name == "worker":
        node = f"coldstart-{os.getpid()}-{n}@{socket.gethostname()}"
        argv += ["-n", node]
        ready = _worker_answers(node)
    elif name == "beat":
        schedule = str(stack.base / f"coldstart-beat-{n}")
        argv = [schedule if a == "celerybeat-schedule" else a for a in argv]
        spawn_at = time.time()
        ready = _beat_heartbeat(spawn_at)

        def secondary(proc: Proc) -> bool:
            return "beat: Starting" in proc.log()
    elif name == "bot":
        ready = _bot_called(standin, standin.mark())
    proc = Proc(f"cold-{name}-{n}", argv, stack.base, env)
    spawned = time.time()
    stack.add(proc)
    took: float | None = None
    second: float | None = None
    try:
        deadline = spawned + TIMEOUT_S
        while time.time() < deadline:
            if proc.process is not None and proc.process.poll() is not None:
                break
            if secondary is not None and second is None and secondary(proc):
                second = time.time() - spawned
            if ready():
                took = time.time() - spawned
                break
            time.sleep(0.05)
    finally:
        stack.stop(proc)
    return took, second, proc.log()


def import_profile(module: str, top: int = 5) -> list[str]:
    """The slowest top-level imports of `module` (python -X importtime), cumulative."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    rows = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, int(parts[1]) / 1e6, name.strip()))
    total = max((s for d, s, n in rows if n == module), default=0.0)
    # what the module pulls in directly (depth 1 under it), the slowest first
    direct = sorted(((s, n) for d, s, n in rows if d == 1 and n != module), reverse=True)
    return [f"import {module}: {total:.2f}s; slowest direct imports: "
            + ", ".join(f"{n} {s:.2f}s" for s, n in direct[:top])]


def run(stack: Any, runs: int) -> ColdResult:
    from dev.standin.client import StandinClient

    res = ColdResult()
    commands = procfile()
    standin = StandinClient(stack.standin_url)
    helper = None
    try:
        for name in ORDER:
            if name not in commands:
                res.failures[name] = "not in the Procfile"
                continue
            if name == "beat" and helper is None:  # the relay task that writes the heartbeat
                helper = stack.add(celery_worker(stack.base, "worker-coldstart"))
                helper.wait_for_log("ready.", timeout=60)
            for n in range(runs):
                try:
                    took, second, log = start_once(stack, name, commands[name], n, standin)
                except ValueError as exc:
                    res.failures[name] = str(exc)
                    break
                res.runs.setdefault(name, []).append(took)
                if second is not None:
                    res.extra.setdefault(name, []).append(second)
                if took is None:
                    res.failures[name] = log[-400:].replace("\n", " | ")
                shown = f"{took:.2f}s" if took is not None else "not ready"
                print(f"  {name:8} run {n + 1}: {shown}", flush=True)
    finally:
        standin.close()
        if helper is not None:
            stack.stop(helper)
    res.load = os.getloadavg()
    return res


def part(args: Any, stack: Any, report: Any, pids: dict[str, int | None], cores: int) -> None:
    """Run (7), print its numbers, add its rows and its section to `report`."""
    print(f"\n== (7) cold start of each Procfile process, {args.coldstart_runs} times each ==",
          flush=True)
    res = run(stack, args.coldstart_runs)
    lines = [f"  spawn → ready, {args.coldstart_runs} runs each, one process at a time (load "
             f"average after: {res.load[0]:.1f} on {cores} cores)"]
    missed = []
    for name in ORDER:
        runs = res.runs.get(name, [])
        high, mid, failed = res.summary(name)
        ok = bool(runs) and not failed and high <= TARGET_S
        if not ok:
            missed.append(name)
        if not runs:
            result = f"not run: {res.failures.get(name, '?')}"
        else:
            result = f"max {high:.1f} s / median {mid:.1f} s" + \
                (f", {failed} of {len(runs)} never ready" if failed else "")
        report.add("7", f"cold start: {name}", result, f"≤ {TARGET_S:.0f} s",
                   "PASS" if ok else "MISS")
        shown = " ".join(f"{t:.2f}" if t is not None else "—" for t in runs)
        lines.append(f"  {name:8} runs (s): {shown}")
        if name in res.extra:
            lines.append(f"  {'':8} 'beat: Starting' logged after (s): "
                         + " ".join(f"{t:.2f}" for t in res.extra[name])
                         + " — the rest is the wait for the first outbox-relay run "
                         "(OUTBOX_RELAY_INTERVAL) and the worker running it")
        if name in res.failures:
            lines.append(f"  {'':8} {res.failures[name][:300]}")
    for name in missed if args.profile != "always" else ORDER:
        if name in MODULES:
            try:
                res.imports[name] = import_profile(MODULES[name])
            except (subprocess.SubprocessError, OSError) as exc:
                res.imports[name] = [f"import profile failed: {exc}"]
            lines += [f"  {name:8} {line}" for line in res.imports[name]]
    report.section("(7) cold start: where the time went", lines)
    if missed:
        report.note(f"(7) cold start over {TARGET_S:.0f} s: {', '.join(missed)} (see the "
                    "section for the runs and the slowest imports).")
