"""Start-up with dependencies down: the bot, a worker and the API start anyway (degraded),
answer what they can, and recover by themselves when Redis and MongoDB come back. (How fast
each process starts is a benchmark, not a test: issue 7.)"""

from __future__ import annotations

import sys
import time

import httpx
import pytest

from models import mongo
from tests.api.test_health import serve
from tests.support import Process, celery_worker, start_in_bot, wait_until

pytestmark = pytest.mark.slow


def _alive(process: Process) -> bool:
    return process.process is not None and process.process.poll() is None


def test_processes_started_while_redis_and_mongodb_are_down_recover_by_themselves(
        log_dir, standin, redis_server, mongo_server, new_user_id) -> None:  # type: ignore[no-untyped-def]
    redis_server.stop()
    mongo_server.stop()
    started: list[Process] = []
    try:
        worker = celery_worker(log_dir, name="degraded-worker").start()
        bot = Process("degraded-bot", [sys.executable, "-m", "bot"], log_dir).start()
        started += [worker, bot]
        api, url = serve(log_dir, "degraded-api")  # answers although Redis and Mongo are down
        started.append(api)
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 503 and health.json()["status"] == "failed"
        assert health.json()["checks"]["sql"]["status"] == "ok"
        bot.wait_for_log("bot ready", timeout=30)  # the bot needs neither to start
        time.sleep(3)
        assert _alive(worker) and _alive(bot) and _alive(api)  # waiting, not crashed
    finally:
        redis_server.start()
        mongo_server.start(timeout=60)
    try:
        mongo.reset_client()
        worker.wait_for_log("ready.", timeout=60)  # connected once Redis answered
        wait_until(lambda: httpx.get(f"{url}/health", timeout=10).json()["status"]
                   in ("healthy", "degraded") and httpx.get(f"{url}/health", timeout=10)
                   .json()["checks"]["mongodb"]["status"] == "ok",
                   timeout=60, interval=1, message="health recovered")
        start_in_bot(standin, new_user_id(), "Vuelta")  # a member is served end to end
    finally:
        for process in started:
            process.stop()

