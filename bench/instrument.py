"""Worker-side measurements, only when the bench asks (`BENCH_STATS_DIR` is set).

Loaded by `bench.celery_app`, so nothing in `worker/` changes. In every pool process it
times, per task name: the wait for SQLite's writer lock (the `BEGIN IMMEDIATE` that
`models.db` issues for each unit of work), the other SQL statements, and every MongoDB
command (as pymongo measures it). Each process writes its totals to
`$BENCH_STATS_DIR/worker-<pid>.json` when it exits; `load()` adds them up.
"""

from __future__ import annotations

import atexit
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ENV = "BENCH_STATS_DIR"

_current = {"task": "-"}
_stats: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
_runs: dict[str, int] = defaultdict(int)
_written = {"done": False}


def _record(kind: str, seconds: float) -> None:
    _stats[_current["task"]][kind].append(seconds)


def _dump() -> None:
    directory = os.environ.get(ENV)
    if not directory or _written["done"] or not _runs:
        return
    _written["done"] = True
    out: dict[str, Any] = {}
    for task, kinds in _stats.items():
        out[task] = {"runs": _runs.get(task, 0),
                     **{kind: {"n": len(v), "total": sum(v), "max": max(v, default=0.0),
                               "p99": sorted(v)[int(0.99 * (len(v) - 1))] if v else 0.0}
                        for kind, v in kinds.items()}}
    path = Path(directory) / f"worker-{os.getpid()}.json"
    path.write_text(json.dumps(out))


def install() -> None:
    import pymongo.monitoring
    from celery import signals
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        t0 = conn.info.pop("bench_t0", None)
        if t0 is not None:
            kind = "sql_begin" if statement.startswith("BEGIN") else "sql_stmt"
            _record(kind, time.perf_counter() - t0)

    class _Mongo(pymongo.monitoring.CommandListener):
        def started(self, event: Any) -> None:
            pass

        def succeeded(self, event: Any) -> None:
            _record("mongo", event.duration_micros / 1e6)

        def failed(self, event: Any) -> None:
            _record("mongo", event.duration_micros / 1e6)

    pymongo.monitoring.register(_Mongo())

    @signals.task_prerun.connect(weak=False)
    def _enter(task: Any = None, **_: Any) -> None:
        _current["task"] = getattr(task, "name", "-")
        _runs[_current["task"]] += 1

    @signals.task_postrun.connect(weak=False)
    def _leave(**_: Any) -> None:
        _current["task"] = "-"

    @signals.worker_process_shutdown.connect(weak=False)
    def _shutdown(**_: Any) -> None:
        _dump()

    atexit.register(_dump)


def load(directory: Path) -> dict[str, dict[str, Any]]:
    """Totals over every pool process: task → {"runs", kind → {"n", "total", "max", "p99"}}."""
    merged: dict[str, dict[str, Any]] = {}
    for path in Path(directory).glob("worker-*.json"):
        for task, data in json.loads(path.read_text()).items():
            into = merged.setdefault(task, {"runs": 0})
            into["runs"] += data.pop("runs", 0)
            for kind, s in data.items():
                cur = into.setdefault(kind, {"n": 0, "total": 0.0, "max": 0.0, "p99": 0.0})
                cur["n"] += s["n"]
                cur["total"] += s["total"]
                cur["max"] = max(cur["max"], s["max"])
                cur["p99"] = max(cur["p99"], s["p99"])  # the worse process's p99
    return merged


def format_stats(merged: dict[str, dict[str, Any]], per_workflow: dict[str, int]) -> list[str]:
    lines = [f"    {'task (in the worker, under load)':30} {'runs':>7} "
             f"{'lock wait ms/run':>16} {'p99':>6} {'max':>6} {'SQL stmts ms/run':>16} "
             f"{'Mongo ms/run':>12} {'ms/cmd':>6}"]
    totals = defaultdict(float)
    for task in sorted(merged):
        data = merged[task]
        runs = max(data.get("runs", 0), 1)
        begin = data.get("sql_begin", {"n": 0, "total": 0.0, "max": 0.0, "p99": 0.0})
        stmt = data.get("sql_stmt", {"n": 0, "total": 0.0})
        mongo = data.get("mongo", {"n": 0, "total": 0.0})
        lines.append(f"    {task:30} {data.get('runs', 0):>7,} "
                     f"{1000 * begin['total'] / runs:>16.2f} {1000 * begin['p99']:>6.0f} "
                     f"{1000 * begin['max']:>6.0f} {1000 * stmt['total'] / runs:>16.2f} "
                     f"{1000 * mongo['total'] / runs:>12.2f} "
                     f"{1000 * mongo['total'] / max(mongo['n'], 1):>6.2f}")
        if task in per_workflow:
            k = per_workflow[task]
            totals["lock"] += k * 1000 * begin["total"] / runs
            totals["sql"] += k * 1000 * stmt["total"] / runs
            totals["mongo"] += k * 1000 * mongo["total"] / runs
    lines.append(f"    per complete workflow: waiting for the SQLite writer lock "
                 f"{totals['lock']:.1f} ms, other SQL statements {totals['sql']:.1f} ms, "
                 f"MongoDB {totals['mongo']:.1f} ms")
    return lines
