"""Where the time goes when a target is missed.

- `task_times(log)`: per-task runtimes from a worker log (Celery's "succeeded in Xs").
- `diagnose_gift(users)`: this process runs whole daily-gift workflows with no worker: the
  real task bodies (`task.run`), each task the workflow publishes run next, as a worker
  would. Wrapped calls attribute every task's wall time to SQL transactions, SQL reads,
  MongoDB, broker publishing, other Redis (the limiter), HTTP to the Bot API, or the
  task's own Python, and count SQL statements, MongoDB commands and Redis commands.
- `cprofile_gift(users)`: the same sequence under cProfile; the top functions by own time.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_SUCCEEDED = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([0-9.e-]+)s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass
class TaskStats:
    name: str
    runtimes: list[float]

    @property
    def count(self) -> int:
        return len(self.runtimes)

    @property
    def mean_ms(self) -> float:
        return 1000 * statistics.fmean(self.runtimes) if self.runtimes else 0.0

    def p(self, q: float) -> float:
        return 1000 * percentile(self.runtimes, q)

    @property
    def total_s(self) -> float:
        return sum(self.runtimes)


def task_times(log: str) -> dict[str, TaskStats]:
    found: dict[str, list[float]] = defaultdict(list)
    for name, seconds in _SUCCEEDED.findall(log):
        found[name].append(float(seconds))
    return {name: TaskStats(name, values) for name, values in sorted(found.items())}


def format_task_times(stats: dict[str, TaskStats],
                      per_workflow: dict[str, int] | None = None) -> list[str]:
    """Per-task runtimes; with `per_workflow` (task → runs per workflow) also the pool
    milliseconds each task costs one workflow (mean × runs)."""
    lines = [f"    {'task':28} {'count':>7} {'mean ms':>8} {'p50':>7} {'p99':>7} {'total s':>8}"
             + ("  pool ms/workflow" if per_workflow else "")]
    for s in stats.values():
        line = (f"    {s.name:28} {s.count:>7,} {s.mean_ms:>8.2f} {s.p(50):>7.2f} "
                f"{s.p(99):>7.2f} {s.total_s:>8.1f}")
        if per_workflow and s.name in per_workflow:
            line += f"  {s.mean_ms * per_workflow[s.name]:>10.2f} (x{per_workflow[s.name]})"
        lines.append(line)
    return lines


# ------------------------------------------------------------------ instrumented run
CATEGORIES = ("SQL tx", "SQL read", "Mongo", "publish", "Redis", "HTTP")


class Attribution:
    """Exclusive wall time per (task, category), plus per-task wall, CPU and round trips.

    Categories are measured by wrapping, in this process only, the calls every task makes:
    `models.db.unit_of_work` (SQL tx: the whole transaction, including the ORM and service
    code inside it), `models.db.read_session` (SQL read), pymongo `Collection` methods
    (Mongo), kombu `Producer.publish` (publish), redis-py `execute_command` outside a
    publish (Redis, e.g. the limiter), httpx `Client.send` (HTTP to the Bot API).
    Whatever is left of a task's wall time is its own Python ("other").
    """

    def __init__(self) -> None:
        self.task = "-"
        self.stack: list[list[Any]] = []
        self.excl: dict[tuple[str, str], float] = defaultdict(float)
        self.wall: dict[str, list[float]] = defaultdict(list)
        self.cpu: dict[str, float] = defaultdict(float)
        self.trips: dict[tuple[str, str], int] = defaultdict(int)
        # SQL transactions by the function that opened them: (task, caller) -> [seconds, n]
        self.sql_callers: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0])
        self.captured: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.capture = False
        self.installed = False

    # -- timing frames
    def enter(self, category: str) -> None:
        self.stack.append([category, time.perf_counter(), 0.0])

    def leave(self) -> None:
        category, start, child = self.stack.pop()
        elapsed = time.perf_counter() - start
        self.excl[(self.task, category)] += elapsed - child
        if self.stack:
            self.stack[-1][2] += elapsed

    def wrap(self, category: str, fn: Any, outer_only: bool = False) -> Any:
        attribution = self

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if outer_only and attribution.stack:
                return fn(*args, **kwargs)
            attribution.enter(category)
            try:
                return fn(*args, **kwargs)
            finally:
                attribution.leave()

        wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
        return wrapper

    def wrap_cm(self, category: str, factory: Any) -> Any:
        import sys

        attribution = self

        @contextmanager
        def timed(caller: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
            t0 = time.perf_counter()
            attribution.enter(category)
            try:
                with factory(*args, **kwargs) as value:
                    yield value
            finally:
                attribution.leave()
                entry = attribution.sql_callers[(attribution.task, f"{category} in {caller}")]
                entry[0] += time.perf_counter() - t0
                entry[1] += 1

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            frame = sys._getframe(1)
            caller = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}"
            return timed(caller, *args, **kwargs)

        wrapper.__wrapped__ = factory  # type: ignore[attr-defined]
        return wrapper

    def count(self, kind: str) -> None:
        self.trips[(self.task, kind)] += 1

    # -- installation (this process only)
    def install(self) -> None:
        if self.installed:
            return
        import sys

        import httpx
        import kombu
        import pymongo.collection
        import pymongo.monitoring
        import redis.client
        import redis.connection
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        import models.db
        from models import mongo
        from worker.app import app

        app.loader.import_default_modules()  # every task module, as a worker imports them
        attribution = self
        originals = {"unit_of_work": models.db.unit_of_work,
                     "read_session": models.db.read_session}
        wrapped = {"unit_of_work": self.wrap_cm("SQL tx", originals["unit_of_work"]),
                   "read_session": self.wrap_cm("SQL read", originals["read_session"])}
        for name, module in list(sys.modules.items()):
            if module is None or name.split(".")[0] not in ("tasks", "services", "models"):
                continue
            for attr, original in originals.items():
                if getattr(module, attr, None) is original:
                    setattr(module, attr, wrapped[attr])
        for method in ("find_one", "update_one", "update_many", "insert_one", "insert_many",
                       "bulk_write", "find_one_and_update", "delete_one", "delete_many",
                       "count_documents", "replace_one"):
            original = getattr(pymongo.collection.Collection, method, None)
            if original is not None:
                setattr(pymongo.collection.Collection, method, self.wrap("Mongo", original))

        publish = kombu.Producer.publish

        def capturing_publish(producer: Any, body: Any, *args: Any, **kwargs: Any) -> Any:
            headers = kwargs.get("headers") or {}
            if attribution.capture and headers.get("task") and isinstance(body, (list, tuple)):
                attribution.captured.append((headers["task"], tuple(body[0]), dict(body[1])))
            return publish(producer, body, *args, **kwargs)

        kombu.Producer.publish = self.wrap("publish", capturing_publish)
        redis.client.Redis.execute_command = self.wrap(
            "Redis", redis.client.Redis.execute_command, outer_only=True)
        httpx.Client.send = self.wrap("HTTP", httpx.Client.send)

        @event.listens_for(Engine, "before_cursor_execute")
        def _sql(*_: Any, **__: Any) -> None:
            attribution.count("SQL")

        class _Mongo(pymongo.monitoring.CommandListener):
            def started(self, event: Any) -> None:
                attribution.count("Mongo")

            def succeeded(self, event: Any) -> None:
                pass

            def failed(self, event: Any) -> None:
                pass

        pymongo.monitoring.register(_Mongo())
        mongo.reset_client()  # listeners apply to clients created after registration
        send_packed = redis.connection.AbstractConnection.send_packed_command

        def counting_send(conn: Any, command: Any, check_health: bool = True) -> Any:
            attribution.count("Redis")
            return send_packed(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counting_send
        self.installed = True

    def run_task(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        from worker.app import app

        task = app.tasks[name]
        self.task = name
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            task.run(*args, **kwargs)
        finally:
            self.wall[name].append(time.perf_counter() - t0)
            self.cpu[name] += time.process_time() - cpu0
            self.task = "-"


ATTRIBUTION = Attribution()


def _one_workflow(att: Attribution, user_id: int, key: str) -> int:
    """Run a daily-gift workflow in this process, dispatching what it publishes as the
    worker would (every published task runs next, in order). Returns the tasks run."""
    from tasks import workflows

    signature = workflows.daily_gift(user_id, key)
    pending = [(signature["task"], tuple(signature["args"]), dict(signature["kwargs"]))]
    ran = 0
    att.capture = True
    try:
        while pending:
            name, args, kwargs = pending.pop(0)
            att.captured = []
            att.run_task(name, args, kwargs)
            ran += 1
            pending.extend(att.captured)
    finally:
        att.capture = False
    return ran


def diagnose_gift(user_ids: list[int], tag: str = "diag", budget_s: float = 12.0,
                  ) -> tuple[Attribution, int, float]:
    """Warm up on 5 members, then run one workflow per remaining member, attributed
    (stops after `budget_s` seconds, with at least 20 workflows)."""
    ATTRIBUTION.install()
    for uid in user_ids[:5]:
        _one_workflow(ATTRIBUTION, uid, f"{tag}:warm:{uid}")
    att = ATTRIBUTION
    att.excl.clear(), att.wall.clear(), att.cpu.clear(), att.trips.clear()
    att.sql_callers.clear()
    t0 = time.perf_counter()
    n = 0
    for uid in user_ids[5:]:
        _one_workflow(att, uid, f"{tag}:{uid}")
        n += 1
        if n >= 20 and time.perf_counter() - t0 > budget_s:
            break
    return att, n, time.perf_counter() - t0


def diagnosis_rows(att: Attribution, n: int) -> list[dict[str, Any]]:
    rows = []
    for name, walls in att.wall.items():
        row: dict[str, Any] = {"task": name, "runs": len(walls) / n,
                               "wall": 1000 * sum(walls) / n, "cpu": 1000 * att.cpu[name] / n}
        known = 0.0
        for category in CATEGORIES:
            value = 1000 * att.excl.get((name, category), 0.0) / n
            row[category] = value
            known += value
        row["other"] = row["wall"] - known
        for kind in ("SQL", "Mongo", "Redis"):
            row["#" + kind] = att.trips.get((name, kind), 0) / n
        rows.append(row)
    return rows


def format_sql_callers(att: Attribution, n: int) -> list[str]:
    lines = [f"    {'SQL transaction (task: opened in)':78} {'per wf':>6} {'ms/wf':>6} "
             f"{'ms each':>7}"]
    for (task, where), (seconds, count) in sorted(att.sql_callers.items(),
                                                  key=lambda kv: -kv[1][0]):
        lines.append(f"    {task.removeprefix('tasks.') + ': ' + where:78} {count / n:>6.1f} "
                     f"{1000 * seconds / n:>6.2f} {1000 * seconds / max(count, 1):>7.2f}")
    return lines


def mongo_ping_ms(samples: int = 200) -> float:
    """Median round trip of a `ping` to the MongoDB-protocol server, now."""
    from models import mongo

    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        mongo.client().admin.command("ping")
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def mongo_costs(user_ids: list[int]) -> list[str]:
    """Round trip of each kind of command the project sends, on the members collection as
    it is now (by `_id`; the probe touches only a `bench_probe` field)."""
    import pymongo

    from models import mongo

    members = mongo.members()
    count = members.estimated_document_count()
    probes = [
        ("find_one({_id})", lambda uid: members.find_one({"_id": uid})),
        ("update_one({_id, applied: {$ne}}, upsert)", lambda uid: members.update_one(
            {"_id": uid, "applied": {"$ne": "bench-probe"}}, {"$inc": {"bench_probe": 1}},
            upsert=True)),
        ("find_one_and_update({_id}, upsert, AFTER)", lambda uid: members.find_one_and_update(
            {"_id": uid}, {"$inc": {"bench_probe": 1}}, upsert=True,
            return_document=pymongo.ReturnDocument.AFTER)),
    ]
    lines = [f"  MongoDB command round trips now ({count:,} member documents, "
             f"{len(user_ids)} samples each):"]
    medians = {}
    for name, probe in probes:
        times = []
        for uid in user_ids:
            t0 = time.perf_counter()
            probe(uid)
            times.append(time.perf_counter() - t0)
        medians[name] = 1000 * statistics.median(times)
        lines.append(f"    {name:44} median {medians[name]:7.2f} ms")
    MONGO_COSTS.clear()
    MONGO_COSTS.update(medians, documents=count)
    return lines


MONGO_COSTS: dict[str, float] = {}


def format_diagnosis(rows: list[dict[str, Any]]) -> list[str]:
    cols = [*CATEGORIES, "other"]
    head = (f"    {'task (ms per workflow)':26} {'runs':>4} {'wall':>6} {'CPU':>6} "
            + " ".join(f"{c:>8}" for c in cols) + "   SQL stmts / Mongo cmds / Redis cmds")
    lines = [head]
    total: dict[str, float] = defaultdict(float)
    for row in rows:
        for key in ("wall", "cpu", *cols, "#SQL", "#Mongo", "#Redis"):
            total[key] += row[key]
        lines.append(f"    {row['task']:26} {row['runs']:>4.1f} {row['wall']:>6.2f} "
                     f"{row['cpu']:>6.2f} " + " ".join(f"{row[c]:>8.2f}" for c in cols)
                     + f"   {row['#SQL']:>4.1f} / {row['#Mongo']:>4.1f} / {row['#Redis']:>4.1f}")
    lines.append(f"    {'workflow total':26} {'':>4} {total['wall']:>6.2f} {total['cpu']:>6.2f} "
                 + " ".join(f"{total[c]:>8.2f}" for c in cols)
                 + f"   {total['#SQL']:>4.1f} / {total['#Mongo']:>4.1f} / "
                 f"{total['#Redis']:>4.1f}")
    return lines


def cprofile_gift(user_ids: list[int], top: int = 10, out_path: Any = None,
                  budget_s: float = 8.0) -> list[str]:
    """cProfile over whole workflows (at least 10, then until `budget_s`): the top
    functions by own time, and the project's own functions by cumulative time."""
    from pathlib import Path

    ATTRIBUTION.install()
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    runs = 0
    profiler.enable()
    for uid in user_ids:
        _one_workflow(ATTRIBUTION, uid, f"prof:{uid}")
        runs += 1
        if runs >= 10 and time.perf_counter() - t0 > budget_s:
            break
    profiler.disable()
    if out_path is not None:
        profiler.dump_stats(str(out_path))
    root = str(Path(__file__).resolve().parent.parent)
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]

    def label(func: tuple[str, int, str]) -> str:
        filename, line, name = func
        if "site-packages/" in filename:
            filename = filename.split("site-packages/", 1)[1]
        elif filename.startswith(root):
            filename = filename[len(root) + 1:]
        return f"{filename}:{line}({name})" if line else name

    lines = [f"  cProfile of {runs} workflows; own time (tottime), ms per workflow:"]
    by_own = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    lines += [f"    {1000 * v[2] / runs:8.2f}  {v[1] / runs:7.1f} calls  {label(k)}"
              for k, v in by_own]
    lines.append("  the project's functions by cumulative time, ms per workflow:")
    own = [(k, v) for k, v in entries.items() if k[0].startswith(root)
           and "/.venv/" not in k[0] and "/bench/" not in k[0]]
    lines += [f"    {1000 * v[3] / runs:8.2f}  {label(k)}"
              for k, v in sorted(own, key=lambda kv: -kv[1][3])[:top]]
    return lines
