"""Process and message hooks: fresh clients after fork, correlation ids across tasks."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from core import context
from core.settings import get_settings


@signals.worker_process_init.connect
def _fresh_clients(**_: Any) -> None:
    """Pool children must not share sockets with the parent (pymongo is not fork-safe)."""
    from models import db, mongo
    from tasks import telegram

    db.reset_engines()
    mongo.reset_client()
    telegram.reset_clients()


@signals.before_task_publish.connect
def _stamp_correlation_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and not headers.get(context.HEADER):
        headers[context.HEADER] = context.current()


@signals.task_prerun.connect
def _enter_correlation(task: Any = None, **_: Any) -> None:
    context.correlation_id.set(getattr(task.request, context.HEADER, None))


@signals.task_postrun.connect
def _leave_correlation(**_: Any) -> None:
    context.correlation_id.set(None)


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _correlation_in_logs(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is None:
        return
    for handler in logger.handlers:
        handler.addFilter(context.CorrelationFilter())
        handler.setFormatter(logging.Formatter(context.LOG_FORMAT))
    for noisy in ("httpx", "httpcore", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logger.setLevel(get_settings().log_level)
