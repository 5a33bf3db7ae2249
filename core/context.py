"""The correlation id of the request being served, carried through logs and tasks."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar
from typing import Any

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

REDACTED = "***"
_secrets_cache: list[Any] = []


def _secrets() -> list[str]:
    """The values no log line may show: the bot token, the webhook secret, the passwords in
    the SQL, Redis and MongoDB URLs, Flower's password (libraries log some of them at
    DEBUG: python-telegram-bot logs the Bot API URL, which holds the token)."""
    import os
    from urllib.parse import urlsplit

    from core.settings import get_settings

    settings = get_settings()
    flower = os.environ.get("FLOWER_PASSWORD", "")
    if _secrets_cache and _secrets_cache[0] == (id(settings), flower):
        return _secrets_cache[1]
    found = [settings.telegram_token, settings.telegram_webhook_secret]
    values = [secret.get_secret_value() for secret in found if secret is not None]
    for url in (settings.database_url, settings.redis_url.get_secret_value(),
                settings.mongodb_uri.get_secret_value()):
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        values.append(password or "")
    values.append(flower)
    secrets = sorted({value for value in values if len(value) >= 4}, key=len, reverse=True)
    _secrets_cache[:] = [(id(settings), flower), secrets]  # once per settings, not per line
    return secrets


class RedactingFormatter(logging.Formatter):
    """The project's log format, with every secret value replaced by `***` (the message,
    its arguments and any traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        try:
            secrets = _secrets()
        except Exception:  # settings that cannot load must not stop logging
            return text
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def setup_logging(level: str = "INFO") -> None:
    """Root logging with the correlation id on every line; chatty libraries quieted."""
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler", "pymongo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
