"""Catalogs reloaded on demand, and every process following along.

`tasks.content.reload(actor_id, request_key)` is an admin's `/recargar`: services/catalogs.py
checks the admin, loads every catalog fresh and, only if all are valid, stores and uses
them; then the content generation in Redis (`GENERATION_KEY`) moves on, and the admin is
told the result through the Telegram path (refusals and broken files too; every attempt
is audited).

Every other process (worker pool children, the bot) calls `follow_generation()` before a
task or an update: at most once per CONTENT_CHECK_INTERVAL seconds it reads the generation
and, when it changed, loads the catalogs fresh and swaps them in. Redis unreachable, or a
file broken since the reload: it logs and keeps the catalogs in use.

The operator's way (no admin check; prints the counts or the problem, exit status 0 or 1):

    python -m tasks.content reload
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import uuid
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.settings import get_settings
from models.db import unit_of_work
from services import achievements, catalogs, content, missions
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from tasks.telegram import redis_client
from worker.app import app

logger = logging.getLogger(__name__)

GENERATION_KEY = "yabot:content:generation"
CHECK_TIMEOUT_S = 0.5  # the check runs in the bot's event loop: an outage must cost little

# The new generation is the caller's clock in milliseconds, or one more than the current
# one when that is not higher: always a value no process has seen, even after Redis lost
# the key (a plain INCR would then start again at 1, which a process may have seen).
_BUMP_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new <= current then new = current + 1 end
redis.call('SET', KEYS[1], new)
return new
"""

_seen: int | None = None  # the generation this process's catalogs are from
_next_check = 0.0  # time.monotonic() of the next allowed check
_failing = False  # the last check could not read Redis (logged once per outage)
_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid: int | None = None


def _check_client() -> redis.Redis:
    """A client that fails fast (short timeouts, no retries), again after a fork."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(get_settings().redis_url.get_secret_value(),
                                       socket_timeout=CHECK_TIMEOUT_S,
                                       socket_connect_timeout=CHECK_TIMEOUT_S,
                                       retry=Retry(NoBackoff(), 0), health_check_interval=0)
        _client_pid = os.getpid()
    return _client


def reset_follow() -> None:
    """Forget what this process has seen and its client (tests; settings changed)."""
    global _seen, _next_check, _failing, _client, _client_pid
    with _lock:
        _seen, _next_check, _failing, _client, _client_pid = None, 0.0, False, None, None


def _resubscribe() -> None:
    """The missions and achievements tasks subscribe to the event types the catalogs count
    (tasks/events.py): a reloaded catalog may count one none counted before. Subscriptions
    only grow; a task handed an event it no longer counts does nothing."""
    from tasks import achievements as achievement_tasks
    from tasks import missions as mission_tasks

    subscribe(*missions.counted_events())(mission_tasks.progress)
    subscribe(*achievements.counted_events())(achievement_tasks.check)


def bump_generation() -> int:
    """Announce new catalogs to every process; returns the new generation."""
    script = redis_client().register_script(_BUMP_SCRIPT)
    return int(script(keys=[GENERATION_KEY], args=[time.time_ns() // 1_000_000]))


def follow_generation(now: float | None = None) -> bool:
    """Swap in fresh catalogs when the generation moved since this process last looked.

    Cheap enough for the start of every handler and task: a clock comparison, and at most
    one Redis read per CONTENT_CHECK_INTERVAL seconds. Never raises: with Redis unreachable
    or a catalog file broken since the reload, the catalogs in use stay in use. Returns
    True when it swapped them."""
    global _seen, _next_check, _failing
    now = time.monotonic() if now is None else now
    if now < _next_check or not _lock.acquire(blocking=False):
        return False
    try:
        _next_check = now + get_settings().content_check_interval
        try:
            raw = _check_client().get(GENERATION_KEY)
        except redis.RedisError as exc:
            if not _failing:
                logger.warning("content check: Redis unreachable (%s); keeping the catalogs "
                               "in use", type(exc).__name__)
            _failing = True
            return False
        _failing = False
        if raw is None:  # never announced (or Redis lost it): the files are what we read
            return False
        generation = int(raw)
        if generation == _seen:
            return False
        try:
            fresh = content.load_all()
        except content.CatalogError as exc:
            logger.error("content generation %s not followed, keeping the catalogs in use: "
                         "%s", generation, exc)
            _seen = generation  # not again every interval; the next reload says more
            return False
        content.install(fresh)
        _resubscribe()
        _seen = generation
        logger.info("content generation %s: catalogs reloaded", generation)
        return True
    except Exception:  # a check must never break a handler or a task
        logger.exception("content check failed; keeping the catalogs in use")
        return False
    finally:
        _lock.release()


def run_reload(actor_id: int | None, request_key: str, *, console: bool = False,
               publish: bool = True) -> dict[str, Any]:
    """Reload (or refuse, or report the broken file), then announce and tell; the task and
    the console share it. A redelivered request announces again (harmless) and tells once.
    `publish=False` leaves the outcome's event to the outbox relay."""
    global _seen
    with unit_of_work() as session:
        outcome = catalogs.reload(session, actor_id, request_key, console=console)
    if outcome.result == "ok":
        generation = bump_generation()
        if not outcome.replayed:  # this process installed them: no need to follow itself
            _resubscribe()
            with _lock:
                _seen = generation
    if publish:
        publish_after_commit(outcome.events)
    return outcome.as_dict()


@app.task(base=YabotTask, name="tasks.content.reload")
def reload(actor_id: int | None, request_key: str) -> dict[str, Any]:
    """An admin's `/recargar`: reload every catalog, or refuse politely (audited)."""
    return run_reload(actor_id, request_key)


# --- the console -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.content",
                                     description="YABOT catalogs (operator's tool)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("reload", help="load content/ fresh; if valid, store it and tell "
                                       "every running process")
    return parser


def main(argv: list[str] | None = None) -> int:
    _parser().parse_args(argv)
    try:  # the relay publishes the event: importing the subscribers here would read the
        # catalogs (tasks.missions subscribes to what they count), broken ones too
        result = run_reload(None, f"cli:{uuid.uuid4().hex}", console=True, publish=False)
    except redis.RedisError as exc:
        sys.stderr.write(f"catalogs stored, but Redis is unreachable ({type(exc).__name__}): "
                         "running processes keep their catalogs; run it again\n")
        return 1
    if result["status"] != "ok":
        sys.stderr.write(f"not reloaded, the catalogs in use stay: {result['error']}\n")
        return 1
    counts = ", ".join(f"{name} {count}" for name, count in result["counts"].items())
    sys.stdout.write(f"reloaded: {counts}; new stock rows: {result['stock_added']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
