"""`GET /health` against the real app served by uvicorn (as the Procfile runs it) and the
real services: Redis, the MongoDB-protocol server, SQL, a Celery worker."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import delete

from api import VERSION
from api.health import overall
from dev.stack import free_port
from models.db import unit_of_work
from models.tables import Command, DeadLetter, OutboxEvent
from tasks.events import BEAT_HEARTBEAT_KEY, relay
from tests.support import Process, wait_until
from worker.queues import Queue

ALL_CHECKS = {"sql", "redis", "mongodb", "workers", "beat", "queues", "outbox",
              "pending_commands", "dead_letters"}


def serve(log_dir: Path, name: str, env: dict[str, str] | None = None) -> tuple[Process, str]:
    port = free_port()
    process = Process(name, [sys.executable, "-m", "uvicorn", "api.app:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                      log_dir, env).start()
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        if process.process is not None and process.process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{process.log()[-3000:]}")
        try:
            return httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(answering, timeout=30, interval=0.1, message=f"{name} answering")
    return process, url


@pytest.fixture(scope="module")
def api_url(log_dir: Path) -> Iterator[str]:
    process, url = serve(log_dir, "api")
    yield url
    process.stop()


def get_health(api_url: str) -> tuple[httpx.Response, dict[str, Any], float]:
    started = time.monotonic()
    response = httpx.get(f"{api_url}/health", timeout=10)
    return response, response.json(), time.monotonic() - started


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2)
    yield client
    client.close()


def test_docs_and_openapi(api_url: str) -> None:
    spec = httpx.get(f"{api_url}/openapi.json").json()
    assert spec["info"]["title"] == "YABOT API"
    assert spec["info"]["version"] == VERSION == "0.1.0"
    assert "/health" in spec["paths"]
    docs = httpx.get(f"{api_url}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_importing_the_app_connects_to_nothing(tmp_path: Path) -> None:
    closed = free_port()
    never = tmp_path / "never.db"
    env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
           "MONGODB_URI": f"mongodb://127.0.0.1:{closed}/?directConnection=true",
           "DATABASE_URL": f"sqlite:///{never}"}
    import subprocess

    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", "import api.app; print(api.app.app.title)"],
                          cwd=Path(__file__).resolve().parents[2], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "YABOT API"
    assert not never.exists()  # no SQL connection was opened
    assert time.monotonic() - started < 20


def test_overall_status_rules() -> None:
    def checks(**statuses: str) -> dict[str, dict[str, Any]]:
        result: dict[str, dict[str, Any]] = {name: {"status": "ok"} for name in ALL_CHECKS}
        for name, status in statuses.items():
            result[name] = {"status": status}
        result["outbox"].update(oldest_age_s=1.0)
        result["dead_letters"].update(count=0)
        return result

    assert overall(checks()) == ("healthy", [])
    assert overall(checks(mongodb="down"))[0] == "degraded"
    assert overall(checks(workers="down"))[0] == "degraded"
    assert overall(checks(beat="stale"))[0] == "degraded"
    lagging = checks(outbox="warn")
    lagging["outbox"]["oldest_age_s"] = 75.0
    assert overall(lagging) == ("degraded", ["outbox lag 75.0 s"])
    dead = checks(dead_letters="warn")
    dead["dead_letters"]["count"] = 2
    assert overall(dead) == ("degraded", ["2 dead letter(s)"])
    assert overall(checks(sql="down"))[0] == "failed"
    assert overall(checks(redis="down", mongodb="down"))[0] == "failed"


def test_health_with_a_worker_and_a_fresh_heartbeat(api_url: str, worker: Process,
                                                    redis_db: redis.Redis) -> None:
    before = time.time()
    relay.delay()  # the worker runs the relay, which writes beat's heartbeat
    wait_until(lambda: float(redis_db.get(BEAT_HEARTBEAT_KEY) or 0) >= before, timeout=15,
               message="relay heartbeat")

    response, body, elapsed = get_health(api_url)
    assert response.status_code == 200, body
    assert response.headers["cache-control"] == "no-store"
    assert set(body["checks"]) == ALL_CHECKS
    checks = body["checks"]
    for name in ("sql", "redis", "mongodb", "workers", "beat", "queues", "pending_commands"):
        assert checks[name]["status"] == "ok", (name, checks[name])
    for name, check in checks.items():
        assert isinstance(check["latency_ms"], float | int), name
    assert checks["workers"]["count"] >= 1
    assert any(name.startswith(f"worker-{os.getpid()}@") for name in checks["workers"]["names"])
    assert checks["beat"]["age_s"] < checks["beat"]["max_age_s"] == 3 * 1.0 + 10
    assert set(checks["queues"]["depths"]) == {queue.value for queue in Queue}
    assert all(isinstance(depth, int) and depth >= 0
               for depth in checks["queues"]["depths"].values())
    assert checks["queues"]["total"] == sum(checks["queues"]["depths"].values())
    assert checks["sql"]["backend"] in ("sqlite", "postgresql")
    # healthy unless earlier tests left dead letters or a lagging outbox behind
    assert body["status"] == ("healthy" if not body["reasons"] else "degraded")
    assert body["version"] == "0.1.0"
    assert elapsed < 3.5
    for secret_ish in ("redis://", "mongodb://", "sqlite:", "postgresql", "@127.0.0.1"):
        assert secret_ish not in response.text.replace('"postgresql"', "")


def test_queue_depths_count_kombu_lists_with_priorities(monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages published by kombu itself, with priorities, into a Redis database no worker
    consumes (db 1 of the test Redis), counted by the real check."""
    import kombu

    from api import health

    url = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/1"
    spare = redis.Redis.from_url(url, socket_timeout=2)
    spare.flushdb()  # db 1 of the test-only Redis: nothing else uses it
    monkeypatch.setattr(health, "_redis", spare)
    queue_name = Queue.BROADCAST.value
    exchange = kombu.Exchange(queue_name, "direct")
    queue = kombu.Queue(queue_name, exchange, routing_key=queue_name)
    try:
        with kombu.Connection(url) as conn:
            channel = conn.default_channel
            assert health.queue_keys(queue_name) == list(dict.fromkeys(
                channel._q_for_pri(queue_name, step) for step in channel.priority_steps))
            producer = conn.Producer()
            for priority in (0, 0, 5, 9):
                producer.publish({"n": priority}, exchange=exchange, routing_key=queue_name,
                                 declare=[queue], priority=priority)
        result = health.check_queues()
        assert result["depths"][queue_name] == 4
        assert result["total"] == 4
        assert set(result["depths"]) == {q.value for q in Queue}
        assert len(spare.keys(f"{queue_name}*")) == 3  # three lists: plain, 3 and 9
    finally:
        spare.flushdb()
        spare.close()


def test_beat_is_stale_when_the_heartbeat_is_old_or_missing(api_url: str,
                                                           redis_db: redis.Redis) -> None:
    saved = redis_db.get(BEAT_HEARTBEAT_KEY)
    try:
        redis_db.set(BEAT_HEARTBEAT_KEY, time.time() - 1000)
        response, body, _ = get_health(api_url)
        assert response.status_code == 200
        assert body["checks"]["beat"]["status"] == "stale"
        assert body["checks"]["beat"]["age_s"] >= 999
        assert body["status"] == "degraded"
        assert "beat stale" in body["reasons"]

        redis_db.delete(BEAT_HEARTBEAT_KEY)
        _, body, _ = get_health(api_url)
        assert body["checks"]["beat"] == {**body["checks"]["beat"], "status": "stale",
                                          "age_s": None}
        assert body["status"] == "degraded"
    finally:
        if saved is not None:
            redis_db.set(BEAT_HEARTBEAT_KEY, saved)


def test_backlogs_outbox_lag_pending_commands_and_dead_letters(api_url: str) -> None:
    _, before, _ = get_health(api_url)
    counts = (before["checks"]["outbox"]["unpublished"],
              before["checks"]["pending_commands"]["count"],
              before["checks"]["dead_letters"]["count"])
    key = f"health-test-{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    with unit_of_work() as session:
        session.add(OutboxEvent(id=key, type="test.health_lag", payload={},
                                created_at=now - timedelta(seconds=120)))
        # were a relay to run meanwhile, it would start this harmless signature
        session.add(Command(id=key, task_name=relay.name, signature=dict(relay.si()),
                            state="accepted", attempts=0, created_at=now,
                            redrive_at=now + timedelta(hours=1)))
        session.add(DeadLetter(task_id=key, task_name="tests.health.never", args={},
                               error="test", status="dead"))
    try:
        response, body, _ = get_health(api_url)
        checks = body["checks"]
        assert response.status_code == 200
        assert checks["outbox"]["unpublished"] == counts[0] + 1
        assert checks["outbox"]["oldest_age_s"] >= 119
        assert checks["outbox"]["status"] == "warn"
        assert checks["pending_commands"]["count"] == counts[1] + 1
        assert checks["dead_letters"]["count"] == counts[2] + 1
        assert checks["dead_letters"]["status"] == "warn"
        assert body["status"] == "degraded"
        assert any(reason.startswith("outbox lag") for reason in body["reasons"])
        assert any(reason.endswith("dead letter(s)") for reason in body["reasons"])
    finally:
        with unit_of_work() as session:
            session.execute(delete(OutboxEvent).where(OutboxEvent.id == key))
            session.execute(delete(Command).where(Command.id == key))
            session.execute(delete(DeadLetter).where(DeadLetter.task_id == key))
    _, after, _ = get_health(api_url)
    assert after["checks"]["outbox"]["unpublished"] == counts[0]
    assert after["checks"]["dead_letters"]["count"] == counts[2]


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung dependency)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def test_health_answers_within_budget_when_dependencies_hang(log_dir: Path) -> None:
    with blackhole() as port:
        env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0",
               "MONGODB_URI": f"mongodb://127.0.0.1:{port}/?directConnection=true"}
        process, url = serve(log_dir, "api-hung", env)
        try:
            response, body, elapsed = get_health(url)
        finally:
            process.stop()
    assert response.status_code == 503
    assert body["status"] == "failed"
    assert elapsed < 4.0
    checks = body["checks"]
    assert checks["sql"]["status"] == "ok"
    for name in ("redis", "mongodb", "workers", "beat", "queues"):
        assert checks[name]["status"] == "down", (name, checks[name])
        assert "error" in checks[name]


@pytest.mark.slow
def test_mongodb_down_is_degraded_then_recovers(api_url: str, mongo_server: Any) -> None:
    mongo_server.stop()
    try:
        response, body, elapsed = get_health(api_url)
        assert response.status_code == 200
        assert body["status"] == "degraded"
        assert body["checks"]["mongodb"]["status"] == "down"
        assert "error" in body["checks"]["mongodb"]
        assert "mongodb down" in body["reasons"]
        assert body["checks"]["sql"]["status"] == body["checks"]["redis"]["status"] == "ok"
        assert elapsed < 3.5
    finally:
        mongo_server.start(timeout=60)
    wait_until(lambda: get_health(api_url)[1]["checks"]["mongodb"]["status"] == "ok",
               timeout=20, interval=0.2, message="mongodb ok again")


@pytest.mark.slow
def test_redis_down_fails_with_503_then_recovers(api_url: str, worker: Process,
                                                 redis_server: Any) -> None:
    redis_server.stop()
    try:
        response, body, elapsed = get_health(api_url)
        assert response.status_code == 503
        assert body["status"] == "failed"
        checks = body["checks"]
        assert checks["redis"]["status"] == "down"
        assert checks["workers"]["status"] == "down"
        assert checks["sql"]["status"] == "ok"
        assert "redis down" in body["reasons"]
        assert elapsed < 3.5
    finally:
        redis_server.start()
        wait_until(redis_server.ready, timeout=20, message="redis answering PING")

    def recovered() -> bool:
        response, body, _ = get_health(api_url)
        return response.status_code == 200 and body["checks"]["workers"]["status"] == "ok"

    # the API's clients and the worker both reconnect on their own
    wait_until(recovered, timeout=30, interval=0.5, message="redis and worker back")
