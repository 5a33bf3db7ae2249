"""`GET /metrics`: Prometheus text format, read from shared state at scrape time.

Nothing is counted in this process: a custom collector reads, on each scrape, the counters
every worker, bot and API process keeps in Redis (`core/metrics.py`) and computes the
gauges from SQL and Redis with the same functions `/health` uses. A source that cannot be
read is left out of the answer and reported as `yabot_metrics_source_up{source} 0`, so a
scrape never fails because one dependency is down.

Unauthenticated, for operators: do not expose it publicly (serve it on an internal
network, or block `/metrics` at the reverse proxy).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from api import health
from core import metrics as m

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

_WORKFLOW_STATES = {"started": "started", "succeeded": "finished", "failed": "failed"}


def _float_text(bound: float) -> str:
    return repr(float(bound))


def task_metrics(tasks: dict[str, dict[str, int]]) -> list[Metric]:
    total = CounterMetricFamily(m.TASKS_TOTAL, "Task attempts by task name and outcome "
                                "(started = attempts that ran; a retried attempt counts "
                                "once as retried).", labels=["task", "state"])
    workflows = CounterMetricFamily(m.WORKFLOWS_TOTAL, "Workflows by name (their entry-point "
                                    "task): started, finished, failed.",
                                    labels=["workflow", "state"])
    duration = HistogramMetricFamily(m.TASK_DURATION, "Task attempt latency (prerun to "
                                     "postrun in the worker).", labels=["task"])
    for name, fields in sorted(tasks.items()):
        for state in m.TASK_STATES:
            total.add_metric([name, state], fields.get(state, 0))
        if name in m.WORKFLOW_TASKS:
            for state, label in _WORKFLOW_STATES.items():
                workflows.add_metric([name, label], fields.get(state, 0))
        cumulative, buckets = 0, []
        for index, bound in enumerate(m.DURATION_BUCKETS_S):
            cumulative += fields.get(f"b:{index}", 0)
            buckets.append((_float_text(bound), cumulative))
        buckets.append(("+Inf", cumulative + fields.get(m.INF_FIELD, 0)))
        duration.add_metric([name], buckets, fields.get(m.SUM_FIELD, 0) / 1_000_000)
    return [total, workflows, duration]


def telegram_metrics(fields: dict[str, int]) -> list[Metric]:
    sends = CounterMetricFamily(m.TELEGRAM_SENDS_TOTAL, "Bot API calls through the send "
                                "path by method and outcome (sent, blocked, rejected).",
                                labels=["method", "outcome"])
    limited = CounterMetricFamily(m.TELEGRAM_429_TOTAL, "Bot API calls answered 429 (Too "
                                  "Many Requests) by method; each is retried after "
                                  "retry_after.", labels=["method"])
    for field, value in sorted(fields.items()):
        parts = field.split("|")
        if parts[0] == "send" and len(parts) == 3:
            sends.add_metric(parts[1:], value)
        elif parts[0] == "429" and len(parts) == 2:
            limited.add_metric(parts[1:], value)
    return [sends, limited]


def queue_metrics() -> list[Metric]:
    depths = health.check_queues()["depths"]
    gauge = GaugeMetricFamily(m.QUEUE_DEPTH, "Messages waiting in each broker queue.",
                              labels=["queue"])
    for queue, depth in sorted(depths.items()):
        gauge.add_metric([queue], depth)
    return [gauge]


def outbox_metrics() -> list[Metric]:
    outbox = health.check_outbox()
    age = outbox["oldest_age_s"]
    return [
        GaugeMetricFamily(m.OUTBOX_UNPUBLISHED, "Outbox events not yet published.",
                          value=outbox["unpublished"]),
        GaugeMetricFamily(m.OUTBOX_OLDEST_AGE, "Age of the oldest unpublished outbox event "
                          "(0 when none).", value=age or 0.0),
    ]


def pending_metrics() -> list[Metric]:
    return [GaugeMetricFamily(m.PENDING_COMMANDS, "Workflow starts kept in SQL while the "
                              "broker was down, not yet sent by the relay.",
                              value=health.check_pending_commands()["count"])]


def dead_letter_metrics() -> list[Metric]:
    return [GaugeMetricFamily(m.DEAD_LETTERS, "Tasks that failed for good, waiting for an "
                              "admin (replay or discard).",
                              value=health.check_dead_letters()["count"])]


def _counters() -> list[Metric]:
    conn = health._redis_client()  # short timeouts, no retries
    return [*task_metrics(m.read_tasks(conn)), *telegram_metrics(m.read_telegram(conn))]


SOURCES: dict[str, Callable[[], list[Metric]]] = {
    "counters": _counters,
    "queues": queue_metrics,
    "outbox": outbox_metrics,
    "pending_commands": pending_metrics,
    "dead_letters": dead_letter_metrics,
}


class YabotCollector(Collector):
    """Reads every source at scrape time; a failing source is reported, not raised."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(m.SOURCE_UP, "1 when the source of these metrics could be "
                               "read in this scrape, 0 when it failed.", labels=["source"])
        for source, read in SOURCES.items():
            try:
                families = read()
            except Exception as exc:  # a scrape reports what it can
                logger.warning("metrics source %s failed: %s: %.200s", source,
                               type(exc).__name__, exc)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def describe(self) -> Iterator[Metric]:
        return iter(())  # unchecked collector: the families depend on what was recorded


def make_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(YabotCollector())
    return registry


_registry = make_registry()


@router.get(
    "/metrics", summary="Prometheus metrics (operators only; do not expose publicly)",
    response_class=Response,
    responses={200: {"description": "Prometheus text exposition format 0.0.4.",
                     "content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    """Task counts and latency per task, workflows, Telegram sends and 429s, queue depths,
    outbox lag, pending commands and dead letters, read from Redis and SQL on each scrape.
    Unauthenticated: serve it on an internal network only."""
    body: Any = await asyncio.to_thread(generate_latest, _registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4,
                    headers={"Cache-Control": "no-store"})
