"""The gift workflow through a real broker, a real worker, real databases and the stand-in."""

from __future__ import annotations

from models import mongo
from models.db import read_session
from models.tables import Delivery, OutboxEvent
from services import wallet
from tasks import events, workflows
from tests.support import wait_until


def start_member(user_id: int, standin) -> None:  # type: ignore[no-untyped-def]
    events.start(workflows.start_member(user_id, {"first_name": "Ana", "language_code": "es"},
                                        "es", f"start:{user_id}"), command_id=f"start:{user_id}")
    standin.wait_for_message(user_id, "mayordomo", timeout=15)


def test_register_then_gift_pays_and_notifies_once(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    start_member(user_id, standin)
    events.start(workflows.daily_gift(user_id, "cb:1"), command_id="cb:1")
    standin.wait_for_message(user_id, "+10 besitos", timeout=15)
    standin.wait_for_message(user_id, "Misión completada: Regalo del día", timeout=15)
    standin.wait_for_message(user_id, "Primera misión", timeout=15)
    standin.wait_for_message(user_id, "Ahora eres nivel 2", timeout=15)
    wait_until(lambda: (mongo.member_state(user_id) or {}).get("achievements", {})
               .get("primera-mision"), message="achievement marked")
    with read_session() as session:
        # 10 gift + 5 "gift of the day" mission + 50 first-mission achievement
        assert wallet.balance(session, user_id) == 65
        assert wallet.ledger_sum(session, user_id) == 65
    texts = [r["params"]["text"] for r in standin.sent(chat_id=user_id, method="sendMessage")]
    for needle in ("+10 besitos", "Regalo del día", "Primera misión", "nivel 2"):
        assert sum(needle in t for t in texts) == 1, needle
    state = mongo.member_state(user_id)
    assert state is not None and state["counters"]["gift_claimed"] == 1


def test_second_press_same_day_is_told_to_come_back(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    start_member(user_id, standin)
    events.start(workflows.daily_gift(user_id, "p1"), command_id="p1")
    standin.wait_for_message(user_id, "+10 besitos", timeout=15)
    events.start(workflows.daily_gift(user_id, "p2"), command_id="p2")
    standin.wait_for_message(user_id, "Ya reclamaste", timeout=15)
    with read_session() as session:
        assert wallet.balance(session, user_id) in (10, 15, 65)
        wait_until(lambda: wallet.balance(session, user_id) == 65)


def test_every_event_is_published_and_every_delivery_recorded(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    start_member(user_id, standin)
    events.start(workflows.daily_gift(user_id, "q1"), command_id="q1")
    standin.wait_for_message(user_id, "Ahora eres nivel 2", timeout=15)

    def all_published() -> bool:
        with read_session() as session:
            rows = session.query(OutboxEvent).filter(
                OutboxEvent.payload["user_id"].as_float() == float(user_id)).all()
            return bool(rows) and all(r.published_at is not None for r in rows)

    wait_until(all_published, message="events published")
    with read_session() as session:
        sent = session.query(Delivery).filter(Delivery.chat_id == user_id).all()
        assert {d.status for d in sent} == {"sent"}
