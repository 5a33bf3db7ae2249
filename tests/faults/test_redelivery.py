"""The same task message delivered twice changes nothing and sends nothing twice."""

from __future__ import annotations

import time

from models import mongo
from models.db import read_session
from models.tables import OutboxEvent
from services import wallet
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


def test_every_story_step_delivered_twice(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    """A story press whose take, move and settle are each handed out twice moves the member
    once, pays the milestone once and shows the new page once."""
    from services import content, story
    from tasks import story as story_tasks

    uid = new_user_id()
    register_directly([uid])
    mongo.ensure_member(uid, "es")
    key = f"story-twice:{uid}"
    for _ in range(2):  # the whole chain, redelivered from its first message
        story_tasks.choose(uid, "la-invitacion", 0, 0, key).apply_async()
    wait_until(lambda: story.progress(uid).position == "el-vestibulo", timeout=20)
    plan = story.Plan(uid, "choice", 0, "la-invitacion", "el-vestibulo", key, "es",
                      choice="seguir").as_dict()
    for _ in range(2):  # and each later step alone, as a broker redelivery would
        app.send_task("tasks.story.move", args=[plan])
        app.send_task("tasks.story.settle", args=[plan])
    time.sleep(3)  # give duplicates every chance to show up

    hall = content.story().fragments["el-vestibulo"]
    assert hall.milestone is not None
    assert message_counts(standin, [uid], hall.text.es[:40])[uid] == 1  # the page, once
    assert message_counts(standin, [uid], "🏁")[uid] == 1
    assert (story.progress(uid).step, story.progress(uid).position) == (1, "el-vestibulo")
    with read_session() as session:
        paid = [e.amount for e in wallet.history(session, uid, limit=50)
                if e.reason == "story-milestone:el-vestibulo"]
    assert paid == [hall.milestone.besitos]
    assert_books_balance([uid])
