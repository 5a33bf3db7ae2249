"""The one path for outbound Telegram messages: limited, deduplicated, retried correctly.

Every Bot API call that sends something goes through `deliver()`, on the `telegram` queue:
- a limiter shared by all worker processes (Redis, GCRA) keeps us under Telegram's limits:
  `TELEGRAM_GLOBAL_RATE` messages/s overall, `TELEGRAM_CHAT_RATE`/s per private chat (with
  a burst of `TELEGRAM_CHAT_BURST`), `TELEGRAM_GROUP_PER_MINUTE` per group or channel;
- each message has a key; a key already delivered is not sent again (redelivery-safe);
- 429 is retried after Telegram's `retry_after`; 403 (blocked) marks the member
  unreachable and is not retried; other 4xx are permanent (dead letter); 5xx and network
  errors are retried with backoff.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import redis
from celery import Task

from core import metrics
from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import Delivery
from services import users
from tasks.base import TelegramUnavailable, YabotTask
from worker.app import app

logger = logging.getLogger(__name__)

SEND_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendPoll", "sendDocument", "sendVideo", "sendAnimation",
    "sendAudio", "sendMediaGroup", "copyMessage", "forwardMessage", "sendSticker",
})
# Wait in-process up to this long (the global pace: 33 ms at 30/s); a longer wait (a busy
# chat: 1/s) becomes a countdown, so one chat's backlog never holds the pool processes
# (bench part 6: 80 notices to one admin starved the posts dispatcher at 1.0 s).
SLEEP_AT_MOST = 0.2
RATE_LIMIT_RETRIES = 1000  # a countdown per wait: a backlog of N messages to one chat needs ~N

_http: httpx.Client | None = None
_redis: redis.Redis | None = None

# GCRA over two keys: the bot-wide bucket and the chat's bucket. Either both are taken, or
# neither is and the script returns how many milliseconds to wait.
_LIMIT_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
local tats = {}
for i = 1, 2 do
  local interval = tonumber(ARGV[i * 2 - 1])
  local burst = tonumber(ARGV[i * 2])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if allow_at > now and allow_at - now > wait then wait = allow_at - now end
  tats[i] = new_tat
end
-- A Lua number becomes an integer reply: round a sub-millisecond wait up, never to 0
-- (0 means "slot taken" and nothing was stored).
if wait > 0 then return math.ceil(wait) end
for i = 1, 2 do
  redis.call('SET', KEYS[i], tats[i], 'PX', math.ceil(tats[i] - now) + 1000)
end
return 0
"""


class TelegramError(Exception):
    def __init__(self, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.retry_after = retry_after


def reset_clients() -> None:
    global _http, _redis
    if _http is not None:
        _http.close()
    _http, _redis = None, None


def http() -> httpx.Client:
    global _http
    if _http is None:
        # A call must end before its lease does, or a retry could send a second copy.
        read = min(15.0, get_settings().telegram_send_lease * 0.8)
        _http = httpx.Client(timeout=httpx.Timeout(read, connect=min(5.0, read)))
    return _http


def redis_client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(get_settings().redis_url.get_secret_value(),
                                      socket_timeout=5, socket_connect_timeout=5)
    return _redis


def limiter_wait(chat_id: int | str) -> float:
    """Take a slot for one message to `chat_id`, or say how many seconds to wait."""
    settings = get_settings()
    if isinstance(chat_id, int) and chat_id > 0:
        chat_interval = 1000.0 / settings.telegram_chat_rate
        chat_burst = settings.telegram_chat_burst
    else:  # groups and channels
        chat_interval, chat_burst = 60000.0 / settings.telegram_group_per_minute, 1
    script = redis_client().register_script(_LIMIT_SCRIPT)
    wait_ms = script(keys=["tg:limit:global", f"tg:limit:chat:{chat_id}"],
                     args=[1000.0 / settings.telegram_global_rate, settings.telegram_global_burst,
                           chat_interval, chat_burst])
    return float(wait_ms) / 1000.0


def call(method: str, params: dict[str, Any]) -> Any:
    """One Bot API call (JSON); raises TelegramError or TelegramUnavailable."""
    settings = get_settings()
    url = f"{settings.telegram_api_url}/bot{settings.bot_token}/{method}"
    response = http().post(url, json=params)
    if response.status_code >= 500:
        raise TelegramUnavailable(f"{method}: HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError as exc:
        raise TelegramUnavailable(f"{method}: not JSON (HTTP {response.status_code})") from exc
    if body.get("ok"):
        return body.get("result")
    retry_after = (body.get("parameters") or {}).get("retry_after")
    raise TelegramError(int(body.get("error_code", response.status_code)),
                        str(body.get("description", "")), retry_after)


DONE = ("sent", "blocked", "rejected")
SENT = b"sent"
SENT_MEMORY_MS = 7 * 24 * 3600 * 1000  # how long Redis remembers a send SQL may not know


class Busy(Exception):
    """Another attempt holds this delivery's lease (it is sending right now)."""


def _claim(key: str, chat_id: int) -> bool:
    """Take the delivery's lease. False when it is done already; Busy while another holds it.

    Done-ness is the `deliveries` row (SQL, read without a write lock); the lease is a Redis
    key that lives TELEGRAM_SEND_LEASE seconds, so two copies of one task never both send,
    and an attempt that died frees its lease by expiry.
    """
    with read_session() as session:
        row = session.get(Delivery, key)
        if row is not None and row.status in DONE:
            return False
    lease_ms = int(get_settings().telegram_send_lease * 1000)
    if redis_client().set(_lease(key), "sending", nx=True, px=lease_ms):
        return True
    if redis_client().get(_lease(key)) == SENT:  # sent, but the SQL record did not land
        _record(key, chat_id, "sent")
        return False
    raise Busy(key)


def _lease(key: str) -> str:
    return f"tg:lease:{key}"


def _release(key: str) -> None:
    redis_client().delete(_lease(key))


def _record(key: str, chat_id: int, status: str, message_id: int | None = None,
            error: str | None = None) -> None:
    """The final outcome of a delivery: sent, blocked or rejected (one write)."""
    with unit_of_work() as session:
        row = session.get(Delivery, key)
        if row is None:
            row = Delivery(key=key, chat_id=chat_id, status=status, attempts=0)
            session.add(row)
        row.status, row.message_id, row.error = status, message_id, error
        row.attempts = (row.attempts or 0) + 1
        row.sent_at = datetime.now(UTC) if status == "sent" else None
        if status == "blocked" and chat_id > 0:
            users.mark_unreachable(session, chat_id)


def deliver(task: Task, key: str, chat_id: int, method: str, params: dict[str, Any]) -> Any:
    """Send once per key, within Telegram's limits. Call only from a task (it may retry)."""
    if method in SEND_METHODS:
        while (wait := limiter_wait(chat_id)) > 0:
            if wait > SLEEP_AT_MOST:
                raise task.retry(countdown=wait, max_retries=RATE_LIMIT_RETRIES)
            time.sleep(wait)
    try:
        if not _claim(key, chat_id):
            logger.info("delivery %s already done; skipped", key)
            return None
    except Busy as exc:
        raise task.retry(countdown=2, max_retries=RATE_LIMIT_RETRIES) from exc
    try:
        result = call(method, params)
    except TelegramError as exc:
        if exc.code == 429:
            logger.warning("telegram 429 on %s; retry after %ss", method, exc.retry_after)
            metrics.record_telegram(method, "429")
            _release(key)
            raise task.retry(countdown=float(exc.retry_after or 1),
                             max_retries=RATE_LIMIT_RETRIES) from exc
        if exc.code == 403:
            logger.info("chat blocked the bot; delivery %s dropped", key)
            _record(key, chat_id, "blocked", error=exc.description[:300])
            metrics.record_telegram(method, "blocked")
            return None
        if exc.code == 400 and "not modified" in exc.description:
            _record(key, chat_id, "sent")
            return None
        _record(key, chat_id, "rejected", error=exc.description[:300])
        metrics.record_telegram(method, "rejected")
        raise
    except Exception:
        _release(key)  # the retry may send
        raise
    # Remember the send in Redis and in SQL: either one is enough for a retry (or the
    # redelivered message) to know it must not send a second copy. Redis first (cheap); if it
    # is down right now the SQL record still lands (the soak run sent one message twice when
    # a Redis restart made this SET fail and the task ran again).
    try:
        redis_client().set(_lease(key), SENT, px=SENT_MEMORY_MS)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        logger.warning("delivery %s sent; Redis did not take the note (%s), SQL will",
                       key, type(exc).__name__)
    metrics.record_telegram(method, "sent")
    message_id = result.get("message_id") if isinstance(result, dict) else None
    _record(key, chat_id, "sent", message_id=message_id)
    return result


@app.task(base=YabotTask, name="tasks.telegram.send", bind=True)
def send(self: Task, key: str, chat_id: int, method: str, params: dict[str, Any]) -> None:
    """Send one Bot API call through the limited, deduplicated path."""
    deliver(self, key, chat_id, method, params)
