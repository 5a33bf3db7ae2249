"""Process and message hooks: fresh clients after fork, correlation ids across tasks,
task metrics (counts and latency per task name, in Redis: `core/metrics.py`), catalogs
reloaded elsewhere (`tasks/content.py`)."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import signals

from core import context, metrics
from core.settings import get_settings

logger = logging.getLogger(__name__)


@signals.worker_process_init.connect
def _fresh_clients(**_: Any) -> None:
    """Pool children must not share sockets with the parent (pymongo is not fork-safe)."""
    from models import db, mongo
    from tasks import telegram

    db.reset_engines()
    mongo.reset_client()
    telegram.reset_clients()


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _flush_outbox_marks(**_: Any) -> None:
    """Write the events published but not yet marked, so the relay need not resend them."""
    from tasks.events import marks

    try:
        marks.flush()
    except Exception as exc:  # shutting down: the relay resends what is left
        logger.debug("outbox marks not flushed at shutdown: %s", exc)


@signals.beat_init.connect
def _dispatch_due_posts_now(**_: Any) -> None:
    """A (re)started beat claims the posts that fell due while it was down at once, not one
    dispatch interval later (issue 7: post lateness with beat restarted)."""
    from worker.app import app
    from worker.queues import Queue

    interval = get_settings().posts_dispatch_interval
    try:
        app.send_task("tasks.posts.dispatch", queue=Queue.SCHEDULED.value,
                      expires=interval * 2)
    except Exception as exc:  # the regular schedule follows within one interval
        logger.warning("posts dispatch at beat start not sent: %s", type(exc).__name__)


@signals.before_task_publish.connect
def _stamp_correlation_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and not headers.get(context.HEADER):
        headers[context.HEADER] = context.current()


# Tasks whose arguments carry personal data or message text (a rendered page can name
# members: the leaderboard). Flower and the worker's logs show `argsrepr`/`kwargsrepr`:
# every dict argument is shown as `<params>`, whichever caller published the task.
REDACTED_TASKS = frozenset({"tasks.telegram.send", "tasks.users.register"})


def _redacted(value: Any) -> Any:
    return "<params>" if isinstance(value, dict) else value


@signals.before_task_publish.connect
def _hide_personal_arguments(sender: str | None = None, body: Any = None,
                             headers: dict[str, Any] | None = None, **_: Any) -> None:
    if sender not in REDACTED_TASKS or headers is None or not isinstance(body, tuple | list):
        return
    args = body[0] if body and isinstance(body[0], tuple | list) else ()
    kwargs = body[1] if len(body) > 1 and isinstance(body[1], dict) else {}
    headers["argsrepr"] = repr(tuple(_redacted(arg) for arg in args))
    headers["kwargsrepr"] = repr({name: _redacted(arg) for name, arg in kwargs.items()})


@signals.task_prerun.connect
def _enter_correlation(task: Any = None, **_: Any) -> None:
    context.correlation_id.set(getattr(task.request, context.HEADER, None))


@signals.worker_process_init.connect
@signals.task_prerun.connect
def _follow_content(**_: Any) -> None:
    """Catalogs an admin reloaded elsewhere are picked up when a pool process starts and
    before each task (one Redis read per CONTENT_CHECK_INTERVAL at most; never fails a
    task: tasks/content.py)."""
    try:
        from tasks import content as content_tasks

        content_tasks.follow_generation()
    except Exception as exc:
        logger.warning("content check skipped: %s", exc)


@signals.task_postrun.connect
def _leave_correlation(**_: Any) -> None:
    context.correlation_id.set(None)


# --- task metrics: noted in-process during the attempt, written once when it ends -------

# task id → (start time, outcome). A pool child runs one task at a time, a thread or
# gevent pool several: keyed by id, so concurrent attempts do not mix.
_attempts: dict[str, list[Any]] = {}
_POSTRUN_STATES = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}


def _note(task_id: str | None, outcome: str) -> None:
    attempt = _attempts.get(task_id or "")
    if attempt is not None:
        attempt[1] = outcome


@signals.task_prerun.connect
def _metrics_start(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _attempts[task_id] = [time.perf_counter(), None]


@signals.task_success.connect
def _metrics_success(sender: Any = None, **_: Any) -> None:
    try:
        _note(sender.request.id, "succeeded")
    except Exception as exc:  # metrics never break a task
        logger.debug("metrics: success not noted: %s", exc)


@signals.task_failure.connect
def _metrics_failure(task_id: str | None = None, **_: Any) -> None:
    _note(task_id, "failed")


@signals.task_retry.connect
def _metrics_retry(request: Any = None, **_: Any) -> None:
    _note(getattr(request, "id", None), "retried")


@signals.task_postrun.connect
def _metrics_end(task_id: str | None = None, task: Any = None, state: str | None = None,
                 **_: Any) -> None:
    try:
        started, outcome = _attempts.pop(task_id or "", (None, None))
        seconds = None if started is None else time.perf_counter() - started
        outcome = outcome or _POSTRUN_STATES.get(state or "")
        metrics.record_task(getattr(task, "name", None) or "unknown", outcome, seconds)
    except Exception as exc:  # metrics never break a task
        logger.debug("metrics: task end not recorded: %s", exc)


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _correlation_in_logs(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is None:
        return
    for handler in logger.handlers:
        handler.addFilter(context.CorrelationFilter())
        handler.setFormatter(context.RedactingFormatter(context.LOG_FORMAT))
    for noisy in ("httpx", "httpcore", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logger.setLevel(get_settings().log_level)
