"""Failpoints: named lines where a fault test can have the process SIGKILLed.

`YABOT_FAILPOINTS=command-recorded` (a comma-separated list) makes the process kill itself,
with SIGKILL, the first time it reaches that line: a crash exactly there, which no signal
sent from outside can aim at. Unset (always, outside fault tests) a failpoint costs one
set lookup. Names in use:
- `command-recorded` (tasks/events.py): an accepted command was committed, its workflow not
  yet sent;
- `webhook-received` (bot/webhook.py): an update arrived over the webhook, not yet handled.
"""

from __future__ import annotations

import logging
import os
import signal

logger = logging.getLogger(__name__)


def _armed() -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get("YABOT_FAILPOINTS", "").split(",")
                     if n.strip())


ARMED = _armed()


def reached(name: str) -> None:
    """SIGKILL this process if the failpoint `name` is armed."""
    if name in ARMED:
        logger.warning("failpoint %s reached: killing process %d", name, os.getpid())
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
