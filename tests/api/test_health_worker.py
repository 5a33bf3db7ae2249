"""/health with no worker: a stopped worker is reported (degraded, "no worker answering"),
and health recovers by itself when a worker starts again. In its own module, so that no
module-scoped worker of another test answers the ping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_health import get_health, serve
from tests.support import start_worker, wait_until


@pytest.fixture(scope="module")
def api_url(log_dir: Path) -> Iterator[str]:
    process, url = serve(log_dir, "api-health-worker")
    yield url
    process.stop()


def _workers(api_url: str) -> tuple[str, dict[str, object], list[str]]:
    _, body, _ = get_health(api_url)
    return body["status"], body["checks"]["workers"], body["reasons"]


def test_a_stopped_worker_is_reported_and_health_recovers(api_url: str, log_dir: Path) -> None:
    worker = start_worker(log_dir, name="health-worker")
    try:
        wait_until(lambda: _workers(api_url)[1]["status"] == "ok", timeout=20,
                   message="the worker answers the ping")
    finally:
        worker.stop()
    status, workers, reasons = wait_until(
        lambda: (seen := _workers(api_url))[1]["status"] == "down" and seen, timeout=15,
        message="health reports no worker")
    assert "no worker answering" in reasons and status == "degraded"
    worker = start_worker(log_dir, name="health-worker-again")
    try:
        wait_until(lambda: _workers(api_url)[1]["status"] == "ok", timeout=30,
                   message="health sees the worker again")
    finally:
        worker.stop()
