"""/api/v1/members/{id}/… play endpoints with a real worker, broker, databases and the
Telegram stand-in: boards and pages read like the bot's, actions run the bot's workflows
(a purchase and a story choice over the API ≡ the same in the bot), 503 without MongoDB."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from models import mongo
from models.db import read_session, unit_of_work
from models.tables import LedgerEntry, OutboxEvent
from services import inventory, story, wallet
from tasks import events
from tasks import store as store_tasks
from tests.api.conftest import KeyFactory, auth
from tests.api.test_gift_api import start_member
from tests.support import wait_until


def fund(user_id: int, amount: int) -> None:
    with unit_of_work() as session:
        wallet.credit(session, user_id, amount, reason="test", key=f"fund:{user_id}")


def post(api_v1: httpx.Client, path: str, key: str, idem: str, **kwargs: Any) -> httpx.Response:
    return api_v1.post(path, headers=auth(key) | {"Idempotency-Key": idem}, **kwargs)


def ledger(user_id: int) -> list[tuple[str, int]]:
    with read_session() as session:
        return sorted((e.reason, e.amount) for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id))
            if e.reason != "test")


def event_types(user_id: int) -> Counter[str]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.payload["user_id"].as_float() == float(user_id))).all()
        return Counter(row.type for row in rows)


def test_boards_and_store_read_like_the_bot(api_v1: httpx.Client, make_key: KeyFactory,
                                           registered: int) -> None:
    _, reader = make_key("read")
    mongo.ensure_member(registered, "es")
    missions = api_v1.get(f"/members/{registered}/missions", headers=auth(reader))
    assert missions.status_code == 200, missions.text
    assert {"regalo-del-dia", "lectura-diaria"} <= {m["id"] for m in missions.json()}
    assert all(m["state"] == "available" for m in missions.json())
    achievements = api_v1.get(f"/members/{registered}/achievements", headers=auth(reader))
    assert achievements.status_code == 200 and achievements.json()["shown"]
    offers = {o["item_id"]: o for o in api_v1.get(f"/members/{registered}/store",
                                                   headers=auth(reader)).json()}
    assert offers["rosa-roja"]["price"] == 20 and offers["rosa-roja"]["available"]
    assert offers["corona-vip"]["reason"] == "vip_only"
    assert api_v1.get(f"/members/{registered}/inventory", headers=auth(reader)).json() == []
    assert api_v1.get(f"/members/{registered}/auctions", headers=auth(reader)).status_code == 200
    page = api_v1.get(f"/members/{registered}/story", headers=auth(reader)).json()
    assert page["fragment_id"] == "la-invitacion" and page["step"] == 0
    assert [c["id"] for c in page["choices"]] == ["seguir", "preguntar"]


def test_a_purchase_over_the_api_equals_the_bots(api_v1: httpx.Client, worker: Any,
                                                standin: Any, make_key: KeyFactory,
                                                new_user_id: Any) -> None:
    via_bot, via_api = new_user_id(), new_user_id()
    for uid in (via_bot, via_api):
        start_member(uid, standin)
        fund(uid, 50)
    _, key = make_key("member")
    events.start(store_tasks.purchase.si(via_bot, "rosa-roja", f"cb:{via_bot}"),
                 command_id=f"cb:{via_bot}")
    response = post(api_v1, f"/members/{via_api}/store/rosa-roja/purchase", key, "buy-1")
    assert response.status_code == 202, response.text
    assert post(api_v1, f"/members/{via_api}/store/rosa-roja/purchase", key,
                "buy-1").headers["idempotent-replayed"] == "true"
    for uid in (via_bot, via_api):
        standin.wait_for_message(uid, "Compraste Rosa roja", timeout=20)
    wait_until(lambda: event_types(via_bot) == event_types(via_api), timeout=20,
               message="the same events")
    assert ledger(via_bot) == ledger(via_api)
    with read_session() as session:
        assert inventory.lines(session, via_api) == [("rosa-roja", 1)]
    unknown = post(api_v1, f"/members/{via_api}/store/unicornio/purchase", key, "buy-2")
    assert unknown.status_code == 404


def test_a_story_choice_over_the_api_moves_the_member_once(api_v1: httpx.Client, worker: Any,
                                                          standin: Any, make_key: KeyFactory,
                                                          user_id: int) -> None:
    start_member(user_id, standin)
    _, key = make_key("member")
    body = {"fragment_id": "la-invitacion", "index": 0, "step": 0}
    for _ in range(2):  # the same Idempotency-Key twice: one workflow
        assert post(api_v1, f"/members/{user_id}/story/choices", key, "go",
                    json=body).status_code == 202
    # a stale choice (the page turned) with a new key: accepted, changes nothing
    wait_until(lambda: story.progress(user_id).position == "el-vestibulo", timeout=20,
               message="moved")
    assert post(api_v1, f"/members/{user_id}/story/choices", key, "late",
                json=body | {"index": 1}).status_code == 202
    page = api_v1.get(f"/members/{user_id}/story", headers=auth(key)).json()
    assert (page["fragment_id"], page["step"]) == ("el-vestibulo", 1)
    standin.wait_for(lambda r: "ya pasó" in (r["params"].get("text") or ""), timeout=20,
                     chat_id=user_id)
    assert story.progress(user_id).step == 1
    assert [a for r, a in ledger(user_id) if r == "story-milestone:el-vestibulo"] == [10]
    bad = post(api_v1, f"/members/{user_id}/story/choices", key, "bad",
               json={"fragment_id": "NOPE", "index": 9, "step": -1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"fragment_id", "index", "step"}


@pytest.mark.slow
def test_mongo_down_makes_its_reads_503_and_the_sql_ones_keep_working(
        api_v1: httpx.Client, make_key: KeyFactory, registered: int, mongo_server: Any) -> None:
    _, reader = make_key("read")
    mongo_server.stop()
    try:
        for path in ("missions", "achievements", "story"):
            response = api_v1.get(f"/members/{registered}/{path}", headers=auth(reader))
            assert response.status_code == 503, (path, response.text)
            assert response.json()["services"]["mongodb"] == "down"
            assert response.headers["retry-after"] == "5"
        for path in ("store", "inventory", "auctions", "ledger"):
            assert api_v1.get(f"/members/{registered}/{path}",
                              headers=auth(reader)).status_code == 200, path
    finally:
        mongo_server.start(timeout=60)
    wait_until(lambda: api_v1.get(f"/members/{registered}/story", headers=auth(reader))
               .status_code == 200, timeout=30, interval=0.3, message="story readable again")
