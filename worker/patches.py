"""Work-arounds for upstream bugs, each with the failure it prevents and how to drop it.

kombu Redis channel used after its connection was closed (celery 5.7.0 / kombu 5.7.0)
    When the worker loses Redis, the consumer collects the broken connection, which detaches
    the transport (`transport.client = None`), and reconnects with a new one. The old
    channel is still used afterwards: closed a second time (it tries to restore its
    unacknowledged messages) and asked to ack the messages of tasks that were running
    during the outage. Each of those builds a Redis client from `transport.client.hostname`
    and fails with AttributeError, which celery does not expect from a broker operation:
    "Unrecoverable error", and the worker stops consuming for good. Seen whenever Redis
    goes away while a task is running (tests/faults/test_outages.py::
    test_redis_restarted_while_a_task_is_in_flight).
    The patch makes such a channel fail the way a broker operation on a lost connection is
    expected to fail, with redis' ConnectionError, which kombu and celery already handle
    (the close is skipped, the ack is logged as failed). The messages stay in Redis's
    `unacked` hash and come back after `broker_visibility_timeout`, like any other lost
    ack; our tasks are idempotent. Drop it when that test passes without it.
"""

from __future__ import annotations

from typing import Any

import redis
from kombu.transport import redis as kombu_redis

_connparams = kombu_redis.Channel._connparams


def _connparams_of_open_connection(self: Any, asynchronous: bool = False) -> dict[str, Any]:
    if self.connection is None or self.connection.client is None:
        raise redis.exceptions.ConnectionError(
            "this broker channel's connection was closed (the worker reconnected since)")
    return _connparams(self, asynchronous=asynchronous)  # type: ignore[no-any-return]


def apply() -> None:
    """Install the work-arounds (idempotent)."""
    kombu_redis.Channel._connparams = _connparams_of_open_connection  # type: ignore[method-assign]
