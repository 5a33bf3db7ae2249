"""Fixtures of the /api/v1 tests: the real app under uvicorn, and API keys.

Project modules are imported inside the fixtures: pytest loads this file before the root
conftest has pointed the settings at the test stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

KeyFactory = Callable[..., tuple[int, str]]


@pytest.fixture(scope="module")
def api_v1(log_dir: Path) -> Iterator[httpx.Client]:
    """An HTTP client on the real app served by uvicorn, based at /api/v1."""
    from tests.api.test_health import serve

    process, url = serve(log_dir, "api-v1")
    with httpx.Client(base_url=f"{url}/api/v1", timeout=15) as client:
        yield client
    process.stop()


@pytest.fixture
def make_key() -> KeyFactory:
    """Create an API key through the service: returns (id, plaintext)."""
    from models.db import unit_of_work
    from services import apikeys

    def make(*scopes: str, name: str = "test") -> tuple[int, str]:
        with unit_of_work() as session:
            row, plaintext = apikeys.create(session, name, scopes or ("read",), created_by=1)
            return row.id, plaintext

    return make


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
