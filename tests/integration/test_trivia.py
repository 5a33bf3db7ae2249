"""Trivia through a real broker, a real worker, real databases and the stand-in."""

from __future__ import annotations

import time

from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, DeadLetter, LedgerEntry, TriviaPoll, User
from services import content
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import wait_until
from worker.app import app

FIRST = content.trivia()[0]


def _poll_row(uid: int) -> TriviaPoll | None:
    with read_session() as session:
        return session.scalars(select(TriviaPoll).where(TriviaPoll.user_id == uid,
                                                        TriviaPoll.poll_id.is_not(None))
                               ).one_or_none()


def test_question_sent_as_a_quiz_and_answer_paid_once(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    mark = standin.mark()
    for _ in range(2):  # the same task message delivered twice: one poll
        app.send_task("tasks.trivia.play", args=[uid, f"cb:play-{uid}"], task_id=f"play-{uid}")
    record = standin.wait_for(lambda r: True, timeout=20, chat_id=uid, method="sendPoll",
                              since=mark)
    params = record["params"]
    assert (params["type"], params["is_anonymous"], params["correct_option_ids"],
            params["open_period"]) == ("quiz", False, [FIRST.correct], 300)
    assert params["question"] == FIRST.question.es and params["explanation"]
    poll_id = record["result"]["poll"]["id"]  # the stand-in accepted it: it is a Message
    row = wait_until(lambda: _poll_row(uid), timeout=20, message="poll id recorded")
    assert (row.poll_id, row.status, row.question_id) == (poll_id, "open", FIRST.id)

    for _ in range(2):  # the answer task delivered twice (same task id)
        app.send_task("tasks.trivia.answer",
                      args=[poll_id, uid, [FIRST.correct], f"upd:{uid}:1", time.time()],
                      task_id=f"answer-{uid}")
    wait_until(lambda: message_counts(standin, [uid], "¡Correcto! +10 besitos")[uid] == 1,
               timeout=20, message="the correct-answer message")
    # A different update with the same vote, and a second play request: nothing more.
    app.send_task("tasks.trivia.answer",
                  args=[poll_id, uid, [FIRST.correct], f"upd:{uid}:2", time.time()])
    time.sleep(3)  # give duplicates every chance to show up
    assert message_counts(standin, [uid], "¡Correcto!")[uid] == 1
    assert len(standin.sent(chat_id=uid, method="sendPoll", since=mark)) == 1
    assert_books_balance([uid])  # (+ whatever achievements pay for a first right answer)
    with read_session() as session:
        paid = session.scalars(select(LedgerEntry.amount).where(
            LedgerEntry.user_id == uid, LedgerEntry.idempotency_key.like("trivia:%"))).all()
    assert paid == [10]


def test_a_second_question_while_one_is_open_is_a_polite_message(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid], language="en")
    mark = standin.mark()
    app.send_task("tasks.trivia.play", args=[uid, f"cb:one-{uid}"])
    standin.wait_for(lambda r: True, timeout=20, chat_id=uid, method="sendPoll", since=mark)
    wait_until(lambda: _poll_row(uid), timeout=20, message="poll id recorded")
    app.send_task("tasks.trivia.play", args=[uid, f"cb:two-{uid}"])
    standin.wait_for_message(uid, "A question is waiting for you", since=mark, timeout=20)
    with read_session() as session:
        dead = session.scalars(select(DeadLetter).where(
            DeadLetter.task_name.like("tasks.trivia.%"))).all()
        assert [d for d in dead if uid in d.args["args"]] == []


def test_admin_posts_to_a_group_and_is_refused_for_a_channel(worker, standin,  # type: ignore[no-untyped-def]
                                                             new_user_id) -> None:
    admin = new_user_id()
    register_directly([admin])
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    group, channel = -1_009_000_000_000 - admin % 10**6, -1_008_000_000_000 - admin % 10**6
    mark = standin.mark()
    app.send_task("tasks.trivia.post", args=[admin, FIRST.id, group, "supergroup",
                                             f"upd:{admin}:1"])
    record = standin.wait_for(lambda r: True, timeout=20, chat_id=group, method="sendPoll",
                              since=mark)
    assert record["params"]["is_anonymous"] is False
    standin.wait_for_message(admin, f"enviada al chat {group}", since=mark, timeout=20)
    app.send_task("tasks.trivia.post", args=[admin, FIRST.id, channel, "channel",
                                             f"upd:{admin}:2"])
    standin.wait_for_message(admin, "Telegram hace anónimas", since=mark, timeout=20)
    assert standin.sent(chat_id=channel, since=mark) == []
    with read_session() as session:
        results = session.scalars(select(AuditEntry.result).where(
            AuditEntry.actor_id == admin).order_by(AuditEntry.id)).all()
    assert results == ["accepted", "refused:channel"]


def test_an_answer_faster_than_the_poll_record_waits_for_it(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    """The vote can reach a worker before the task that sent the poll has recorded its id:
    the answer task retries until the record lands, then pays."""
    from services import trivia

    uid = new_user_id()
    register_directly([uid])
    with unit_of_work() as session:  # reserved; the send and its record still to come
        reservation = trivia.reserve_for_member(session, uid, f"cb:fast-{uid}")
    mark = standin.mark()
    app.send_task("tasks.trivia.answer",
                  args=[f"fast-{uid}", uid, [FIRST.correct], f"upd:{uid}:1", time.time()],
                  task_id=f"fast-{uid}")
    wait_until(lambda: f"tasks.trivia.answer[fast-{uid}] retry" in worker.log(), timeout=20,
               message="the answer task waiting")
    with unit_of_work() as session:
        trivia.opened(session, reservation.delivery_key,
                      {"message_id": 1, "poll": {"id": f"fast-{uid}"}})
    standin.wait_for_message(uid, "¡Correcto! +10 besitos", since=mark, timeout=20)
