"""Fixtures for the Bot API stand-in tests: one real server per session, reset per test."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dev.standin import start_in_thread
from dev.standin.client import StandinClient

TOKEN = "123456:standin-test-TOKEN_x"
BOT_ID = 123456


@pytest.fixture(scope="session")
def server():
    srv = start_in_thread()
    yield srv
    srv.stop()


@pytest.fixture
def client(server):
    with StandinClient(server.base_url) as c:
        c.reset(everything=True)
        yield c


class Api:
    """Plain HTTP access to the Bot API of the stand-in (what our Celery workers do)."""

    def __init__(self, base_url: str):
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def __call__(self, method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        return self.http.post(f"/bot{token}/{method}", json=params)

    def form(self, method: str, **params: Any) -> httpx.Response:
        return self.http.post(f"/bot{TOKEN}/{method}", data=params)

    def ok(self, method: str, **params: Any) -> Any:
        response = self(method, **params)
        body = response.json()
        assert response.status_code == 200, body
        assert body["ok"] is True
        return body["result"]


@pytest.fixture
def api(server, client):
    a = Api(server.base_url)
    yield a
    a.http.close()


@pytest.fixture
def token() -> str:
    return TOKEN
