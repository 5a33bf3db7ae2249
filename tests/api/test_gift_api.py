"""POST /api/v1/members/{id}/daily-gift: the bot's workflow through a real worker, broker,
databases and the Telegram stand-in; Idempotency-Key replay; API ≡ bot."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy import func, select

from models import mongo
from models.db import read_session
from models.tables import GiftClaim, IdempotencyRecord, LedgerEntry, OutboxEvent
from tasks import events, workflows
from tests.api.conftest import KeyFactory, auth
from tests.support import wait_until

# A first gift: 10, the "gift of the day" mission (5) and the first-mission achievement (50).
FIRST_GIFT_LEDGER = [("achievement:primera-mision", 50), ("daily_gift", 10),
                     ("mission:regalo-del-dia", 5)]


def start_member(user_id: int, standin: Any) -> None:
    events.start(workflows.start_member(user_id, {"first_name": "Ana", "language_code": "es"},
                                        "es", f"start:{user_id}"), command_id=f"start:{user_id}")
    standin.wait_for_message(user_id, "mayordomo", timeout=15)


def gift(api_v1: httpx.Client, user_id: int, key: str, idem: str | None,
         **kwargs: Any) -> httpx.Response:
    headers = auth(key) | ({"Idempotency-Key": idem} if idem is not None else {})
    return api_v1.post(f"/members/{user_id}/daily-gift", headers=headers, **kwargs)


def ledger(user_id: int) -> list[tuple[str, int]]:
    with read_session() as session:
        return sorted((e.reason, e.amount) for e in session.scalars(
            select(LedgerEntry).where(LedgerEntry.user_id == user_id)))


def event_types(user_id: int) -> Counter[str]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.payload["user_id"].as_float() == float(user_id))).all()
        return Counter(row.type for row in rows)


def settled(user_id: int) -> None:
    """Wait until every event of the member is published and the achievement (first mission,
    from the "gift of the day" mission) is marked."""
    def done() -> bool:
        with read_session() as session:
            rows = session.scalars(select(OutboxEvent).where(
                OutboxEvent.payload["user_id"].as_float() == float(user_id))).all()
        marked = (mongo.member_state(user_id) or {}).get("achievements", {}).get("primera-mision")
        return bool(rows) and all(r.published_at is not None for r in rows) and bool(marked)

    wait_until(done, timeout=20, message=f"member {user_id} settled")


def test_gift_over_the_api_pays_notifies_and_replays(api_v1: httpx.Client, worker: Any,
                                                     standin: Any, make_key: KeyFactory,
                                                     user_id: int) -> None:
    start_member(user_id, standin)
    key_id, key = make_key("member")
    response = gift(api_v1, user_id, key, "gift-1")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {"status": "accepted", "request_key": f"api:{key_id}:gift-1",
                    "queued": True}
    assert "idempotent-replayed" not in response.headers
    standin.wait_for_message(user_id, "+10 besitos", timeout=15)
    standin.wait_for_message(user_id, "Primera misión", timeout=15)
    standin.wait_for_message(user_id, "Ahora eres nivel 2", timeout=15)
    settled(user_id)
    assert ledger(user_id) == FIRST_GIFT_LEDGER

    mark = standin.mark()
    again = gift(api_v1, user_id, key, "gift-1")
    assert again.status_code == 202
    assert again.json() == body
    assert again.headers["idempotent-replayed"] == "true"
    # a different request (another member's path, or a body) with the same key → 422
    other = gift(api_v1, user_id + 1, key, "gift-1")
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert "different request" in other.json()["detail"]
    assert gift(api_v1, user_id, key, "gift-1", content=b'{"x": 1}').status_code == 422

    with read_session() as session:
        claims = session.scalar(select(func.count()).select_from(GiftClaim)
                                .where(GiftClaim.user_id == user_id))
        records = session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == key_id)).all()
    assert claims == 1
    assert [(r.key, r.status_code, r.response) for r in records] == [("gift-1", 202, body)]
    # the replay started nothing: no second gift message, no "already claimed" message
    texts = [r["params"]["text"] for r in standin.sent(chat_id=user_id, method="sendMessage")]
    assert sum("+10 besitos" in t for t in texts) == 1
    assert standin.sent(chat_id=user_id, since=mark) == []
    assert ledger(user_id) == FIRST_GIFT_LEDGER

    # another key for the same member the same day: accepted, told in Telegram to come back
    fresh = gift(api_v1, user_id, key, "gift-2")
    assert fresh.status_code == 202 and fresh.json()["request_key"] == f"api:{key_id}:gift-2"
    standin.wait_for_message(user_id, "Ya reclamaste", timeout=15)
    assert sum(a for _, a in ledger(user_id)) == 65


def test_idempotency_keys_are_per_api_key(api_v1: httpx.Client, make_key: KeyFactory,
                                          registered: int, worker: Any) -> None:
    _, first = make_key("member")
    second_id, second = make_key("admin")
    assert gift(api_v1, registered, first, "shared").status_code == 202
    response = gift(api_v1, registered, second, "shared")
    assert response.status_code == 202
    assert "idempotent-replayed" not in response.headers
    assert response.json()["request_key"] == f"api:{second_id}:shared"


def test_long_idempotency_key_is_hashed_into_the_request_key(
        api_v1: httpx.Client, make_key: KeyFactory, registered: int, worker: Any) -> None:
    key_id, key = make_key("member")
    response = gift(api_v1, registered, key, "k" * 200)
    assert response.status_code == 202
    request_key = response.json()["request_key"]
    assert request_key.startswith(f"api:{key_id}:sha256:") and len(request_key) <= 160


def test_gift_for_unknown_member_is_404(api_v1: httpx.Client, make_key: KeyFactory,
                                        user_id: int) -> None:
    _, key = make_key("member")
    response = gift(api_v1, user_id, key, "nobody")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_api_and_bot_claims_have_the_same_effects(api_v1: httpx.Client, worker: Any,
                                                  standin: Any, make_key: KeyFactory,
                                                  new_user_id: Any) -> None:
    via_bot, via_api = new_user_id(), new_user_id()
    start_member(via_bot, standin)
    start_member(via_api, standin)
    events.start(workflows.daily_gift(via_bot, f"cb:{via_bot}"), command_id=f"upd:{via_bot}")
    _, key = make_key("member")
    assert gift(api_v1, via_api, key, f"eq-{via_api}").status_code == 202
    for uid in (via_bot, via_api):
        standin.wait_for_message(uid, "+10 besitos", timeout=15)
        # five messages to one chat: Telegram's per-chat pace (burst 3, then 1/s) decides
        # their order, so wait for each
        standin.wait_for_message(uid, "Misión completada", timeout=15)
        standin.wait_for_message(uid, "Primera misión", timeout=15)
        standin.wait_for_message(uid, "Ahora eres nivel 2", timeout=15)
        settled(uid)
    assert ledger(via_bot) == ledger(via_api)
    assert ("daily_gift", 10) in ledger(via_api)
    assert event_types(via_bot) == event_types(via_api)
    assert event_types(via_api)["gift.claimed"] == 1

    def texts(uid: int) -> list[str]:
        return sorted(r["params"]["text"] for r in standin.sent(chat_id=uid,
                                                                method="sendMessage"))
    assert texts(via_bot) == texts(via_api)
