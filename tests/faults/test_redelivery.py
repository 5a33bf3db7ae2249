"""The same task message delivered twice changes nothing and sends nothing twice."""

from __future__ import annotations

import time

from models import mongo
from models.db import read_session
from models.tables import OutboxEvent
from services.events import Event
from tasks import events
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import wait_until
from worker.app import app


def test_every_gift_step_delivered_twice(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    mongo.ensure_member(uid, "es")
    for _ in range(2):  # the claim message, redelivered with the same id
        app.send_task("tasks.gifts.claim", args=[uid, f"twice:{uid}"], task_id=f"claim-{uid}")
    wait_until(lambda: message_counts(standin, [uid], "Primera misión")[uid] == 1, timeout=20)

    # Every reacting step again, as a broker redelivery would hand them out, plus the relay.
    with read_session() as session:
        row = session.query(OutboxEvent).filter(OutboxEvent.type == "gift.claimed",
                                                OutboxEvent.id.like(f"%:{uid}:%")).one()
        message = Event.from_row(row).as_message()
    for name in events.subscribers("gift.claimed"):
        app.send_task(name, args=[message])
    app.send_task("tasks.events.relay")
    time.sleep(3)  # give duplicates every chance to show up

    assert message_counts(standin, [uid], "+10 besitos")[uid] == 1
    assert message_counts(standin, [uid], "Primera misión")[uid] == 1
    assert_books_balance([uid], expected_balance=65)
    state = mongo.member_state(uid)
    assert state is not None and state["counters"]["gift_claimed"] == 1
