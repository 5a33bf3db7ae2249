"""Operational counters shared by every process, kept in Redis (read by `GET /metrics`).

Celery pool children, several workers, the bot and the API are separate processes, so an
in-process counter would show one process's share only. Every process adds to a few Redis
hashes instead, and the API's Prometheus collector (`api/metrics.py`) reads them at scrape
time:

- `yabot:metrics:task:<task name>`: one hash per task name, fields
  `started`, `succeeded`, `failed`, `retried` (attempts and their outcome),
  `b:<i>` (latency observations in bucket `i` of `DURATION_BUCKETS_S`, not cumulative;
  `b:inf` above the last bound) and `sum_us` (total latency, microseconds).
- `yabot:metrics:tasks`: the set of task names that have a hash.
- `yabot:metrics:telegram`: fields `send|<method>|<outcome>` and `429|<method>`.

A task attempt costs one pipeline (one round trip): it is written when the attempt ends
(`task_postrun`), with the outcome the success/failure/retry signals noted and the
latency measured from `task_prerun`. Recording never breaks the caller: errors are logged
at debug, and after one the process stops trying for `BACKOFF_S` seconds so a Redis
outage does not add a connect timeout to every task.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.settings import get_settings

logger = logging.getLogger(__name__)

PREFIX = "yabot:metrics:"
TASKS_KEY = PREFIX + "tasks"
TASK_KEY = PREFIX + "task:"
TELEGRAM_KEY = PREFIX + "telegram"

# Prometheus metric names (api/metrics.py exposes them).
TASKS_TOTAL = "yabot_tasks_total"
TASK_DURATION = "yabot_task_duration_seconds"
WORKFLOWS_TOTAL = "yabot_workflows_total"
TELEGRAM_SENDS_TOTAL = "yabot_telegram_sends_total"
TELEGRAM_429_TOTAL = "yabot_telegram_429_total"
QUEUE_DEPTH = "yabot_queue_depth"
OUTBOX_UNPUBLISHED = "yabot_outbox_unpublished"
OUTBOX_OLDEST_AGE = "yabot_outbox_oldest_age_seconds"
PENDING_COMMANDS = "yabot_pending_commands"
DEAD_LETTERS = "yabot_dead_letters"
SOURCE_UP = "yabot_metrics_source_up"

TASK_STATES = ("started", "succeeded", "failed", "retried")
# Entry points of the members' workflows: their task counters are the workflow counters.
WORKFLOW_TASKS = ("tasks.users.register", "tasks.gifts.claim")
TELEGRAM_OUTCOMES = ("sent", "blocked", "rejected")

DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
INF_FIELD = "b:inf"
SUM_FIELD = "sum_us"

TIMEOUT_S = 1.0
BACKOFF_S = 5.0

_client: redis.Redis | None = None
_client_pid: int | None = None
_failed_at = 0.0
_lock = threading.Lock()


def client() -> redis.Redis:
    """This process's Redis client for metrics: created lazily, again after a fork."""
    global _client, _client_pid
    pid = os.getpid()
    with _lock:
        if _client is None or _client_pid != pid:
            _client = redis.Redis.from_url(
                get_settings().redis_url.get_secret_value(),
                socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                retry=Retry(NoBackoff(), 0), health_check_interval=0,
            )
            _client_pid = pid
        return _client


def reset() -> None:
    """Forget the client and the backoff (tests that change settings)."""
    global _client, _client_pid, _failed_at
    with _lock:
        _client, _client_pid, _failed_at = None, None, 0.0


def bucket_field(seconds: float) -> str:
    for index, bound in enumerate(DURATION_BUCKETS_S):
        if seconds <= bound:
            return f"b:{index}"
    return INF_FIELD


def _backing_off() -> bool:
    return _failed_at > 0 and time.monotonic() - _failed_at < BACKOFF_S


def _failed(what: str, exc: Exception) -> None:
    global _failed_at
    _failed_at = time.monotonic()
    logger.debug("metrics: %s not recorded: %s: %.200s", what, type(exc).__name__, exc)


def record_task(name: str, outcome: str | None, seconds: float | None) -> None:
    """One task attempt ended: count it started, its outcome, and its latency (1 round trip).
    Never raises."""
    if _backing_off():
        return
    try:
        key = TASK_KEY + name
        pipe = client().pipeline(transaction=False)
        pipe.sadd(TASKS_KEY, name)
        pipe.hincrby(key, "started", 1)
        if outcome in TASK_STATES:
            pipe.hincrby(key, outcome, 1)
        if seconds is not None:
            pipe.hincrby(key, bucket_field(seconds), 1)
            pipe.hincrby(key, SUM_FIELD, int(seconds * 1_000_000))
        pipe.execute()
    except Exception as exc:  # recording must never break a task
        _failed(f"task {name}", exc)


def record_telegram(method: str, outcome: str) -> None:
    """Count one Bot API call's outcome: sent, blocked, rejected, or 429. Never raises."""
    if _backing_off():
        return
    try:
        field = f"429|{method}" if outcome == "429" else f"send|{method}|{outcome}"
        client().hincrby(TELEGRAM_KEY, field, 1)
    except Exception as exc:
        _failed(f"telegram {method} {outcome}", exc)


# --- reading (the /metrics collector) -----------------------------------------------------

def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def read_tasks(conn: redis.Redis | None = None) -> dict[str, dict[str, int]]:
    """{task name: {field: value}} for every task that has recorded something."""
    conn = conn or client()
    names = sorted(_text(name) for name in conn.smembers(TASKS_KEY))
    if not names:
        return {}
    with conn.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.hgetall(TASK_KEY + name)
        hashes = pipe.execute()
    return {name: {_text(k): int(v) for k, v in fields.items()}
            for name, fields in zip(names, hashes, strict=True)}


def read_telegram(conn: redis.Redis | None = None) -> dict[str, int]:
    conn = conn or client()
    return {_text(k): int(v) for k, v in conn.hgetall(TELEGRAM_KEY).items()}
