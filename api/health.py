"""`GET /health`: every dependency checked at once, answered within a fixed time budget.

Each check is a small blocking function run in a thread of this module's own pool (so a
hung dependency never takes threads from the rest of the app), all of them concurrently,
with one overall budget (`BUDGET_S`). A check that raises or does not finish in time
reports `down` with the error's class name only: no messages, URLs or credentials leave
the process (the full error goes to the log).

Overall status:
- `failed` (HTTP 503): SQL or Redis is down: nothing can be accepted or queued.
- `degraded` (HTTP 200): MongoDB down, no worker answering, beat's heartbeat stale or
  missing, the outbox lagging more than `OUTBOX_LAG_LIMIT_S`, dead letters waiting, or a
  backlog check that could not run.
- `healthy` (HTTP 200): everything ok.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pymongo
import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from kombu.transport.redis import PRIORITY_STEPS
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select, text

from api import VERSION
from core.settings import get_settings
from models import mongo
from models.db import get_engine, read_session
from models.tables import Command, DeadLetter, OutboxEvent
from tasks.events import BEAT_HEARTBEAT_KEY
from worker.app import app as celery_app
from worker.queues import Queue

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

BUDGET_S = 3.0  # the whole /health answer, whatever hangs
WORKER_PING_TIMEOUT_S = 1.0
MONGO_TIMEOUT_S = 1.5
REDIS_TIMEOUT_S = 1.0
OUTBOX_LAG_LIMIT_S = 60.0

OK, DOWN, STALE, WARN = "ok", "down", "stale", "warn"
HEALTHY, DEGRADED, FAILED = "healthy", "degraded", "failed"
CRITICAL = ("sql", "redis")  # down → failed

Result = dict[str, Any]

_pool: ThreadPoolExecutor | None = None
_redis: redis.Redis | None = None
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="health")
        return _pool


def _redis_client() -> redis.Redis:
    """A Redis client of our own: short timeouts and no retries, so a down Redis is quick."""
    global _redis
    with _lock:
        if _redis is None:
            _redis = redis.Redis.from_url(
                get_settings().redis_url.get_secret_value(),
                socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0), health_check_interval=0,
            )
        return _redis


def reset() -> None:
    """Forget the cached clients (tests that change settings, or after a fork)."""
    global _redis
    with _lock:
        if _redis is not None:
            _redis.close()
        _redis = None


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- the checks: plain blocking functions returning the details of a passing check ------

def check_sql() -> Result:
    engine = get_engine()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()
    return {"backend": engine.dialect.name}


def check_mongodb() -> Result:
    with pymongo.timeout(MONGO_TIMEOUT_S):  # bounds server selection and the command
        mongo.client().admin.command("ping")
    return {}


def check_redis() -> Result:
    _redis_client().ping()
    return {}


def check_workers() -> Result:
    options = dict(celery_app.conf.broker_transport_options or {})
    # Our own connection, failing fast, instead of the pool's (which retries for long).
    options.update(max_retries=0, socket_timeout=WORKER_PING_TIMEOUT_S + 1,
                   socket_connect_timeout=WORKER_PING_TIMEOUT_S)
    with celery_app.connection_for_write(transport_options=options) as conn:
        replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_S, connection=conn) or []
    names = sorted(name for reply in replies for name in reply)
    return {"status": OK if names else DOWN, "count": len(names), "names": names}


def beat_max_age() -> float:
    return 3 * get_settings().outbox_relay_interval + 10


def check_beat() -> Result:
    raw = _redis_client().get(BEAT_HEARTBEAT_KEY)
    max_age = beat_max_age()
    if raw is None:
        return {"status": STALE, "age_s": None, "max_age_s": max_age}
    age = max(0.0, time.time() - float(raw))
    return {"status": OK if age <= max_age else STALE, "age_s": round(age, 1),
            "max_age_s": max_age}


def queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps for one queue: the queue itself and its priority lists."""
    options = celery_app.conf.broker_transport_options or {}
    sep = options.get("sep", "\x06\x16")
    steps = options.get("priority_steps", PRIORITY_STEPS)
    return [queue] + [f"{queue}{sep}{step}" for step in steps if step]


def check_queues() -> Result:
    names = [queue.value for queue in Queue]
    keyed = [(name, key) for name in names for key in queue_keys(name)]
    with _redis_client().pipeline(transaction=False) as pipe:
        for _name, key in keyed:
            pipe.llen(key)
        lengths = pipe.execute()
    depths = dict.fromkeys(names, 0)
    for (name, _key), length in zip(keyed, lengths, strict=True):
        depths[name] += int(length or 0)
    return {"depths": depths, "total": sum(depths.values())}


def check_outbox() -> Result:
    """Events not yet published, and events whose subscribers have not all finished."""
    with read_session() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at))
            .where(OutboxEvent.published_at.is_(None))
        ).one()
        unhandled, oldest_unhandled = session.execute(
            select(func.count(), func.min(OutboxEvent.created_at))
            .where(OutboxEvent.handled_at.is_(None))
        ).one()
    age = _age(oldest)
    lagging = age is not None and age > OUTBOX_LAG_LIMIT_S
    return {"status": WARN if lagging else OK, "unpublished": int(count),
            "oldest_age_s": age, "max_lag_s": OUTBOX_LAG_LIMIT_S,
            "unhandled": int(unhandled), "oldest_unhandled_age_s": _age(oldest_unhandled)}


def _age(oldest: datetime | None) -> float | None:
    if oldest is None:
        return None
    return round(max(0.0, (datetime.now(UTC) - _as_utc(oldest)).total_seconds()), 1)


def check_pending_commands() -> Result:
    """Accepted commands not finished yet (the reconciler re-drives the old ones)."""
    with read_session() as session:
        count, oldest = session.execute(
            select(func.count(), func.min(Command.created_at))
            .where(Command.state == "accepted")).one()
    return {"count": int(count or 0), "oldest_age_s": _age(oldest)}


def check_dead_letters() -> Result:
    with read_session() as session:
        count = int(session.scalar(select(func.count()).select_from(DeadLetter)
                                   .where(DeadLetter.status == "dead")) or 0)
    return {"status": WARN if count else OK, "count": count}


CHECKS: dict[str, Callable[[], Result]] = {
    "sql": check_sql,
    "redis": check_redis,
    "mongodb": check_mongodb,
    "workers": check_workers,
    "beat": check_beat,
    "queues": check_queues,
    "outbox": check_outbox,
    "pending_commands": check_pending_commands,
    "dead_letters": check_dead_letters,
}


def _timed(name: str, check: Callable[[], Result]) -> Result:
    started = time.perf_counter()
    try:
        result = {"status": OK, **check()}
    except Exception as exc:  # a health check reports, it never raises
        logger.warning("health check %s failed: %s: %.200s", name, type(exc).__name__, exc)
        result = {"status": DOWN, "error": type(exc).__name__}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def run_checks(budget: float = BUDGET_S) -> dict[str, Result]:
    """Every check at once in threads; what has not finished within `budget` is down."""
    loop = asyncio.get_running_loop()
    pool = _executor()
    futures = {name: asyncio.ensure_future(loop.run_in_executor(pool, _timed, name, check))
               for name, check in CHECKS.items()}
    await asyncio.wait(futures.values(), timeout=budget)
    results: dict[str, Result] = {}
    for name, future in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            results[name] = future.result()
        else:
            future.cancel()  # stops it if still queued; a running thread ends on its timeout
            logger.warning("health check %s did not answer within %.1f s", name, budget)
            results[name] = {"status": DOWN, "error": "timeout",
                             "latency_ms": round(budget * 1000, 1)}
    return results


def overall(checks: dict[str, Result]) -> tuple[str, list[str]]:
    """The overall status and the reasons for it (empty when healthy)."""
    reasons = []
    for name, result in checks.items():
        status = result.get("status", DOWN)
        if status == OK:
            continue
        if name == "outbox" and status == WARN:
            reasons.append(f"outbox lag {result['oldest_age_s']} s")
        elif name == "dead_letters" and status == WARN:
            reasons.append(f"{result['count']} dead letter(s)")
        elif name == "workers" and status == DOWN and "error" not in result:
            reasons.append("no worker answering")
        else:
            reasons.append(f"{name} {status}")
    if any(checks.get(name, {}).get("status") != OK for name in CRITICAL):
        return FAILED, reasons
    return (DEGRADED if reasons else HEALTHY), reasons


@router.get("/health", summary="Dependencies, workers, beat, queues and backlogs")
async def health() -> JSONResponse:

    started = time.perf_counter()
    checks = await run_checks()
    status, reasons = overall(checks)
    body = {
        "status": status,
        "reasons": reasons,
        "version": VERSION,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "checks": checks,
    }
    return JSONResponse(body, status_code=503 if status == FAILED else 200,
                        headers={"Cache-Control": "no-store"})
