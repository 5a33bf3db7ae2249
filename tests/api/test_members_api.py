"""GET /api/v1/members/{id} and /ledger: the real app, SQL and the MongoDB-protocol server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from models import mongo
from models.db import unit_of_work
from services import wallet
from tests.api.conftest import KeyFactory, auth
from tests.support import wait_until


def test_member_context_merges_sql_and_mongo(api_v1: httpx.Client, make_key: KeyFactory,
                                             registered: int) -> None:
    mongo.ensure_member(registered, "es")
    mongo.members().update_one({"_id": registered}, {"$set": {
        "story.position": "chapter-2", "counters.gift_claimed": 3,
        "achievements.primer-regalo": {"tier": "bronze"}}})
    with unit_of_work() as session:
        wallet.credit(session, registered, 42, reason="test", key=f"t:{registered}")
    _, reader = make_key("read")
    response = api_v1.get(f"/members/{registered}", headers=auth(reader))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == registered
    assert (body["language"], body["role"], body["vip"], body["reachable"]) == (
        "es", "member", False, True)
    assert body["balance"] == 42
    assert body["degraded"] is False and body["note"] is None
    assert body["state"] == {"story_position": "chapter-2", "counters": {"gift_claimed": 3},
                             "achievements": ["primer-regalo"]}
    # names are the member's data: only an admin key sees them
    assert body["names"] is None
    assert "Test" not in response.text
    _, admin = make_key("admin")
    names = api_v1.get(f"/members/{registered}", headers=auth(admin)).json()["names"]
    assert names == {"first_name": "Test", "last_name": None, "username": None}


def test_member_without_mongo_state_yet_gets_defaults(api_v1: httpx.Client,
                                                      make_key: KeyFactory,
                                                      registered: int) -> None:
    _, reader = make_key("read")
    body = api_v1.get(f"/members/{registered}", headers=auth(reader)).json()
    assert body["degraded"] is False
    assert body["state"] == {"story_position": "start", "counters": {}, "achievements": []}


def test_unknown_member_is_404(api_v1: httpx.Client, make_key: KeyFactory,
                               user_id: int) -> None:
    _, reader = make_key("read")
    for path in (f"/members/{user_id}", f"/members/{user_id}/ledger"):
        response = api_v1.get(path, headers=auth(reader))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert str(user_id) in response.json()["detail"]


@pytest.mark.slow
def test_mongo_down_answers_degraded(api_v1: httpx.Client, make_key: KeyFactory,
                                     registered: int, mongo_server: Any) -> None:
    _, reader = make_key("read")
    mongo_server.stop()
    try:
        response = api_v1.get(f"/members/{registered}", headers=auth(reader))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["degraded"] is True
        assert body["state"] is None
        assert "MongoDB" in body["note"]
        assert body["balance"] == 0 and body["language"] == "es"
        ledger = api_v1.get(f"/members/{registered}/ledger", headers=auth(reader))
        assert ledger.status_code == 200  # needs SQL only
    finally:
        mongo_server.start(timeout=60)
    wait_until(lambda: api_v1.get(f"/members/{registered}", headers=auth(reader))
               .json()["degraded"] is False, timeout=20, interval=0.3,
               message="member context whole again")


def test_ledger_is_keyset_paginated_newest_first(api_v1: httpx.Client, make_key: KeyFactory,
                                                 registered: int) -> None:
    with unit_of_work() as session:
        for n in range(1, 26):
            wallet.credit(session, registered, n, reason=f"r{n}", key=f"p:{registered}:{n}")
    _, reader = make_key("read")
    seen: list[dict[str, Any]] = []
    before: int | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if before is not None:
            params["before_id"] = before
        response = api_v1.get(f"/members/{registered}/ledger", params=params,
                              headers=auth(reader))
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["balance"] == sum(range(1, 26))
        seen += page["entries"]
        pages += 1
        before = page["next_before_id"]
        if before is None:
            break
        assert before == page["entries"][-1]["id"]
    assert pages == 3
    assert [e["amount"] for e in seen] == list(range(25, 0, -1))
    assert [e["reason"] for e in seen[:2]] == ["r25", "r24"]
    assert seen[0]["balance_after"] == sum(range(1, 26))
    ids = [e["id"] for e in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 25
    default = api_v1.get(f"/members/{registered}/ledger", headers=auth(reader)).json()
    assert len(default["entries"]) == 20 and default["next_before_id"] is not None
    exact = api_v1.get(f"/members/{registered}/ledger?limit=100", headers=auth(reader)).json()
    assert len(exact["entries"]) == 25 and exact["next_before_id"] is None
