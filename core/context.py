"""The correlation id of the request being served, carried through logs and tasks."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# The message header that carries it from task to task (Celery's own `correlation_id`
# property is the task id, so ours has a name of its own).
HEADER = "yabot_cid"


def new_correlation_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


def current() -> str | None:
    return correlation_id.get()


class CorrelationFilter(logging.Filter):
    """Adds `%(cid)s` to every record (a dash when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.cid = correlation_id.get() or "-"
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(cid)s] %(processName)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO") -> None:
    """Root logging with the correlation id on every line; chatty libraries quieted."""
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
