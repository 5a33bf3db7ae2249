"""`GET /metrics` on the real app (uvicorn), counting what real workers did: a gift workflow,
Telegram sends, a forced 429 and a blocked member; the gauges /health computes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api import health
from core import metrics
from dev.stack import free_port
from tasks import events, telegram, workflows
from tests.faults.helpers import register_directly
from tests.support import wait_until
from worker.queues import Queue

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def api_url(log_dir: Path) -> Iterator[str]:
    from tests.api.test_health import serve

    process, url = serve(log_dir, "api-metrics")
    yield url
    process.stop()


def scrape(api_url: str) -> Samples:
    response = httpx.get(f"{api_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(api_url: str, before: Samples, name: str, at_least: float = 1,
          **labels: str) -> Samples:
    """Scrape until the sample grew by `at_least` since `before`; return the last scrape."""
    last: dict[str, Samples] = {}

    def grown() -> bool:
        last["s"] = scrape(api_url)
        return value(last["s"], name, **labels) - value(before, name, **labels) >= at_least

    wait_until(grown, timeout=20, interval=0.2, message=f"{name}{labels} +{at_least}")
    return last["s"]


def start_member(user_id: int, standin: Any) -> None:
    events.start(workflows.start_member(user_id, {"first_name": "Ana", "language_code": "es"},
                                        "es", f"start:{user_id}"), command_id=f"start:{user_id}")
    standin.wait_for_message(user_id, "mayordomo", timeout=15)


def test_a_gift_workflow_moves_the_task_workflow_and_telegram_counters(
        api_url: str, worker: Any, standin: Any, user_id: int) -> None:
    before = scrape(api_url)
    start_member(user_id, standin)
    events.start(workflows.daily_gift(user_id, f"m:{user_id}"), command_id=f"m:{user_id}")
    standin.wait_for_message(user_id, "+10 besitos", timeout=15)
    standin.wait_for_message(user_id, "Primera misión", timeout=15)

    claim = {"task": "tasks.gifts.claim"}
    moved(api_url, before, "yabot_tasks_total", state="succeeded", **claim)
    # welcome menu, gift message, mission and achievement messages (and the level-up)
    after = moved(api_url, before, "yabot_telegram_sends_total", 3, method="sendMessage",
                  outcome="sent")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("yabot_tasks_total", state="started", **claim) >= 1
    assert delta("yabot_tasks_total", state="failed", **claim) == 0
    assert delta("yabot_workflows_total", workflow="tasks.gifts.claim", state="finished") >= 1
    assert delta("yabot_workflows_total", workflow="tasks.users.register",
                 state="started") >= 1
    assert delta("yabot_tasks_total", task="tasks.notify.member", state="succeeded") >= 2
    # the latency histogram: one observation per attempt, cumulative buckets, a sum
    count = value(after, "yabot_task_duration_seconds_count", **claim)
    assert count - value(before, "yabot_task_duration_seconds_count", **claim) >= 1
    assert value(after, "yabot_task_duration_seconds_bucket", le="+Inf", **claim) == count
    assert value(after, "yabot_task_duration_seconds_bucket", le="5.0", **claim) <= count
    assert value(after, "yabot_task_duration_seconds_sum", **claim) > 0
    attempts = sum(value(after, "yabot_tasks_total", state=s, **claim)
                   for s in ("succeeded", "failed", "retried"))
    assert attempts == value(after, "yabot_tasks_total", state="started", **claim) == count


def test_a_429_is_counted_and_the_message_still_arrives(api_url: str, worker: Any,
                                                        standin: Any, user_id: int) -> None:
    register_directly([user_id])
    before = scrape(api_url)
    standin.fail_next(1, "429", retry_after=1, chat_id=user_id)
    telegram.send.delay(f"m429:{user_id}", user_id, "sendMessage",
                        {"chat_id": user_id, "text": "after a 429"})
    standin.wait_for_message(user_id, "after a 429", timeout=20)
    after = moved(api_url, before, "yabot_telegram_429_total", method="sendMessage")
    after = moved(api_url, before, "yabot_tasks_total", task="tasks.telegram.send",
                  state="retried")
    assert value(after, "yabot_tasks_total", task="tasks.telegram.send", state="succeeded") \
        > value(before, "yabot_tasks_total", task="tasks.telegram.send", state="succeeded")


def test_a_blocked_member_is_counted(api_url: str, worker: Any, standin: Any,
                                     user_id: int) -> None:
    register_directly([user_id])
    before = scrape(api_url)
    standin.block(user_id)
    try:
        telegram.send.delay(f"mblk:{user_id}", user_id, "sendMessage",
                            {"chat_id": user_id, "text": "hola"})
        moved(api_url, before, "yabot_telegram_sends_total", method="sendMessage",
              outcome="blocked")
    finally:
        standin.unblock(user_id)


def test_the_gauges_are_present_and_agree_with_health(api_url: str) -> None:
    samples = scrape(api_url)
    for queue in Queue:
        assert ("yabot_queue_depth", frozenset({("queue", queue.value)})) in samples
    for name in ("yabot_outbox_unpublished", "yabot_outbox_oldest_age_seconds",
                 "yabot_pending_commands", "yabot_dead_letters"):
        assert (name, frozenset()) in samples, name
    for source in ("counters", "queues", "outbox", "pending_commands", "dead_letters"):
        assert value(samples, "yabot_metrics_source_up", source=source) == 1, source
    assert value(samples, "yabot_dead_letters") == health.check_dead_letters()["count"]
    assert value(samples, "yabot_pending_commands") == \
        health.check_pending_commands()["count"]


def test_metrics_is_in_the_openapi_document(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json").json()
    operation = spec["paths"]["/metrics"]["get"]
    assert "text/plain" in operation["responses"]["200"]["content"]
    assert "security" not in operation  # unauthenticated: operators' network only


def test_recording_never_raises_and_backs_off_when_redis_is_down() -> None:
    import redis

    closed = free_port()
    metrics.reset()
    metrics._client = redis.Redis(host="127.0.0.1", port=closed, socket_timeout=0.5,
                                  socket_connect_timeout=0.5)
    metrics._client_pid = __import__("os").getpid()
    try:
        metrics.record_task("tasks.test.down", "succeeded", 0.01)  # fails, logs at debug
        started = time.perf_counter()
        for _ in range(100):  # backing off: no connection attempts
            metrics.record_task("tasks.test.down", "succeeded", 0.01)
            metrics.record_telegram("sendMessage", "sent")
        assert time.perf_counter() - started < 0.05
    finally:
        metrics.reset()


def test_histogram_buckets() -> None:
    assert metrics.bucket_field(0.004) == "b:0"
    assert metrics.bucket_field(0.005) == "b:0"
    assert metrics.bucket_field(0.0051) == "b:1"
    assert metrics.bucket_field(5.0) == f"b:{len(metrics.DURATION_BUCKETS_S) - 1}"
    assert metrics.bucket_field(7.0) == metrics.INF_FIELD
