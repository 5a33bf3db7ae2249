"""No-op tasks for the raw Celery throughput benchmark: `step → step → done`.

`done` records completion in Redis with one round trip: a counter and the time of the
latest completion (the bench reads both to compute chains/s).
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import signals

from worker.app import app

DONE_KEY = "bench:noop:done"
LAST_KEY = "bench:noop:last"

_redis: redis.Redis | None = None


def _client() -> redis.Redis:
    global _redis
    if _redis is None:
        _redis = redis.Redis.from_url(app.conf.broker_url, socket_timeout=5)
    return _redis


@signals.worker_process_init.connect
def _fresh_client(**_: Any) -> None:
    global _redis
    _redis = None


@app.task(name="bench.noop.step")
def step(i: int) -> None:
    """Do nothing."""
    return None


@app.task(name="bench.noop.done")
def done(i: int) -> None:
    """Count one completed chain and stamp the time (one round trip)."""
    pipe = _client().pipeline(transaction=False)
    pipe.incr(DONE_KEY)
    pipe.set(LAST_KEY, repr(time.time()))
    pipe.execute()
