"""The base of every YABOT task: retry transient errors with backoff, dead-letter the rest.

Transient errors (a database, MongoDB, Redis or Telegram briefly unreachable, a unique-key
race) are retried with exponential backoff and jitter up to `TASK_MAX_RETRIES`. A task that
fails for good (a permanent error, or the last retry) is stored in `dead_letters` with its
name and arguments, so an admin can list and replay it.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import kombu.exceptions
import pymongo.errors
import redis.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import Reject

from core import context
from core.settings import get_settings
from services.users import NotRegistered

logger = logging.getLogger(__name__)


class TelegramUnavailable(Exception):
    """Telegram answered 5xx, or the connection failed: try again later."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.IntegrityError,  # a unique-key race: the retry sees the winner's row
    pymongo.errors.ConnectionFailure,
    pymongo.errors.ServerSelectionTimeoutError,
    pymongo.errors.NetworkTimeout,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    httpx.TransportError,
    TelegramUnavailable,
)


# The broker could not be reached (publishing a task or a retry).
BROKER_DOWN: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError, redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError, OSError)


# For tasks acting for a member whose registration may still be in flight.
RETRY_UNTIL_REGISTERED: tuple[type[BaseException], ...] = (*TRANSIENT_ERRORS, NotRegistered)


class YabotTask(Task):  # type: ignore[misc]
    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_jitter = True
    acks_late = True
    reject_on_worker_lost = True

    def __init__(self) -> None:
        settings = get_settings()
        self.max_retries = settings.task_max_retries
        self.retry_backoff_max = settings.task_retry_backoff_max
        super().__init__()

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        """Celery's retry, except when the retry cannot be published (the broker is down).

        Celery then rejects the message *without* requeueing it, and with `acks_late` that
        acknowledges it: the work was lost for good (found by the soak run: messages a
        Redis restart caught mid-retry never ran again). Here the message is rejected *with*
        requeue instead: back on the queue when the broker answers again, and when it does
        not even answer the reject, the message stays unacknowledged in the broker and comes
        back after the visibility timeout. Tasks are idempotent, so running again is safe.
        """
        try:
            return super().retry(*args, **kwargs)
        except Reject as rejected:
            if rejected.requeue or not isinstance(rejected.reason, BROKER_DOWN):
                raise
            logger.warning("task %s: its retry could not be published (%s); the message "
                           "goes back to the queue", self.name, type(rejected.reason).__name__)
            raise Reject(rejected.reason, requeue=True) from rejected

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        from tasks import deadletters

        logger.error("task %s failed for good: %s", self.name, type(exc).__name__)
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            deadletters.store(task_id=task_id, task_name=self.name, args=list(args or []),
                              kwargs=dict(kwargs or {}), error=error[:4000],
                              correlation_id=context.current())
        except Exception:
            logger.exception("could not store the dead letter of task %s", task_id)
