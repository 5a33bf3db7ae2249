"""The project's Celery app plus the bench's no-op tasks, for `celery -A bench.celery_app`.

The project's `worker/` is left untouched: this module imports its app (same broker,
serializer, queues, routes and reliability settings) and registers `bench.noop` on it.
`bench.*` tasks are routed to the `default` queue by `worker/queues.py`.
"""

from __future__ import annotations

import os

from worker.app import app

if "bench.noop" not in app.conf.include:
    app.conf.include = [*app.conf.include, "bench.noop"]

import bench.noop  # noqa: E402,F401  (registers bench.noop.step / bench.noop.done)

__all__ = ["app"]

if os.environ.get("BENCH_STATS_DIR"):  # set by the bench for the gift workflow phase
    from bench import instrument

    instrument.install()
