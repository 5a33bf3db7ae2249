"""A dependency that is down answers 503 naming it, never a bare 500 (the mapping of the
app's last-resort handler, on a throwaway app: the real outages are in test_health and
test_play_api)."""

from __future__ import annotations

import pymongo.errors
import pytest
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api import problems

FAILURES = {
    "sql": sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused")),
    "mongodb": pymongo.errors.ServerSelectionTimeoutError("no servers"),
    "redis": redis.exceptions.ConnectionError("refused"),
}


def _app() -> FastAPI:
    app = FastAPI()
    problems.install(app)

    @app.get("/down/{service}")
    def down(service: str) -> None:
        if service in FAILURES:
            raise FAILURES[service]
        raise RuntimeError("a bug")

    return app


@pytest.mark.parametrize("service", sorted(FAILURES))
def test_an_unreachable_dependency_is_a_503_naming_it(service: str) -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get(f"/down/{service}")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    assert response.json()["services"] == {service: "down"}
    assert "connection refused" not in response.text  # no driver messages leak


def test_a_bug_stays_a_500_without_details() -> None:
    response = TestClient(_app(), raise_server_exceptions=False).get("/down/bug")
    assert response.status_code == 500 and "a bug" not in response.text
