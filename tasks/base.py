"""The base of every YABOT task: retry transient errors with backoff, dead-letter the rest.

Transient errors (a database, MongoDB, Redis or Telegram unreachable, a unique-key race)
are retried with exponential backoff and jitter up to `TASK_MAX_RETRIES`. They never
become dead letters, however long the outage: after the last retry, work that SQL knows
about (a command's step, an event's subscriber) is handed back to the reconciler, which
starts it again from SQL; any other task keeps retrying every `TASK_RETRY_BACKOFF_MAX`
seconds. Dead letters are for what a retry cannot fix (a bug, invalid data, a 4xx from
Telegram): stored in `dead_letters` with the task's name and arguments, in the transaction
that also settles its command or event, so an admin can list and replay it. When SQL cannot
take the dead letter, the task is retried later instead of acknowledged.

A task that finishes notes it (in bulk, `tasks.events.marks`): the command whose last step
it was is done (or refused), the event it subscribed to is handled by it.
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
from celery.exceptions import Ignore, Reject, Retry

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

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except (Retry, Ignore, Reject):
            raise
        except Exception as exc:
            if self.request.called_directly:
                raise
            if isinstance(exc, TRANSIENT_ERRORS) or isinstance(exc, self.autoretry_for):
                self._after_last_retry(exc)  # raises
            self._dead_letter(exc)
            raise

    def _after_last_retry(self, exc: BaseException) -> None:
        """A transient error outlived the retries: no dead letter, ever (an outage of any
        length only delays work)."""
        command_id = _command_of(self.request)
        event_id = _event_of(self.name, self.request.args)
        if command_id is not None or event_id is not None:
            logger.warning("task %s: still %s after %d retries; handed back to the "
                           "reconciler (%s)", self.name, type(exc).__name__,
                           self.request.retries, "command" if command_id else "event")
            raise Ignore() from exc
        backoff = get_settings().task_retry_backoff_max
        logger.warning("task %s: still %s after %d retries; retrying every %ss",
                       self.name, type(exc).__name__, self.request.retries, backoff)
        raise self.retry(exc=exc, countdown=backoff, max_retries=self.request.retries + 1)

    def _dead_letter(self, exc: BaseException) -> None:
        """Store the dead letter, settling its command or event in the same transaction;
        when SQL cannot take it, retry the task later (the message is not lost)."""
        from tasks import deadletters

        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        event_id = _event_of(self.name, self.request.args)
        try:
            deadletters.store(task_id=self.request.id, task_name=self.name,
                              args=list(self.request.args or []),
                              kwargs=dict(self.request.kwargs or {}), error=error[:4000],
                              correlation_id=context.current(),
                              command_id=_command_of(self.request),
                              handled=(event_id, self.name) if event_id else None)
            self.request.dead_lettered = True
        except Exception as store_exc:  # noqa: BLE001 - SQL is down: keep the work instead
            backoff = get_settings().task_retry_backoff_max
            logger.warning("task %s failed (%s) and its dead letter could not be stored "
                           "(%s); retried in %ss", self.name, type(exc).__name__,
                           type(store_exc).__name__, backoff)
            raise self.retry(exc=exc, countdown=backoff,
                             max_retries=self.request.retries + 1) from store_exc

    def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
        from services import commands
        from tasks import events

        if task_id and task_id.startswith(events.COMMAND_TASK_PREFIX):
            command_id = task_id[len(events.COMMAND_TASK_PREFIX):]
            events.marks.finished(commands.outcome_of(command_id, retval))
        event_id = _event_of(self.name, args)
        if event_id is not None:
            events.marks.handled(event_id, self.name)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        from tasks import deadletters

        logger.error("task %s failed for good: %s", self.name, type(exc).__name__)
        if getattr(self.request, "dead_lettered", False):
            return
        # A failure that did not pass through __call__ (a worker lost, a time limit).
        error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        event_id = _event_of(self.name, args)
        try:
            deadletters.store(task_id=task_id, task_name=self.name, args=list(args or []),
                              kwargs=dict(kwargs or {}), error=error[:4000],
                              correlation_id=context.current(),
                              command_id=_command_of(self.request),
                              handled=(event_id, self.name) if event_id else None)
        except Exception:
            # Its command or event is not settled: the reconciler starts it again.
            logger.exception("could not store the dead letter of task %s", task_id)


def _command_of(request: Any) -> str | None:
    """The command whose workflow this task is a step of (its last step has the command's
    task id; earlier steps carry the rest of the chain)."""
    from tasks.events import COMMAND_TASK_PREFIX

    ids = [getattr(request, "id", None)]
    ids += [(step.get("options") or {}).get("task_id") for step in
            (getattr(request, "chain", None) or []) if isinstance(step, dict)]
    for task_id in ids:
        if isinstance(task_id, str) and task_id.startswith(COMMAND_TASK_PREFIX):
            return task_id[len(COMMAND_TASK_PREFIX):]
    return None


def _event_of(task_name: str, args: Any) -> str | None:
    """The id of the event this task handles as one of its subscribers, if it does."""
    from tasks.events import subscribers

    if not args or not isinstance(args[0], dict):
        return None
    event = args[0]
    event_id, event_type = event.get("id"), event.get("type")
    if isinstance(event_id, str) and isinstance(event_type, str) \
            and task_name in subscribers(event_type):
        return event_id
    return None
