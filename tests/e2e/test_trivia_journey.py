"""End to end: the real bot, the stand-in and a real worker — 🧠 Trivia → quiz poll → answer;
an admin's `/trivia` to a group and to a channel; the leaderboard."""

from __future__ import annotations

import time

from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import LedgerEntry, TriviaPoll, User
from services import content
from tests.support import balance_and_ledger_sum, buttons, start_in_bot, wait_until

FIRST = content.trivia()[0]


def _recorded(poll_id: str) -> bool:
    with read_session() as session:
        return session.scalars(select(TriviaPoll).where(TriviaPoll.poll_id == poll_id)
                               ).one_or_none() is not None


def _trivia_paid(user_id: int) -> list[int]:
    with read_session() as session:
        return list(session.scalars(select(LedgerEntry.amount).where(
            LedgerEntry.user_id == user_id, LedgerEntry.idempotency_key.like("trivia:%"))))


def test_member_answers_a_quiz_poll_and_is_paid_once(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    menu = start_in_bot(standin, user_id, "Lucía")
    assert "t:play" in buttons(menu)

    standin.press(user_id, "t:play", menu["result"]["message_id"])
    record = standin.wait_for(lambda r: True, timeout=15, chat_id=user_id, method="sendPoll",
                              since=mark)
    params = record["params"]
    assert (params["type"], params["is_anonymous"], params["correct_option_ids"],
            params["open_period"]) == ("quiz", False, [FIRST.correct], 300)
    assert params["question"] == FIRST.question.es
    poll_id = record["result"]["poll"]["id"]
    wait_until(lambda: _recorded(poll_id), timeout=15, message="poll id recorded")

    standin.answer_poll(user_id, poll_id, [FIRST.correct])
    paid = standin.wait_for_message(user_id, "¡Correcto! +10 besitos", since=mark, timeout=15)
    assert "t:play" in buttons(paid) and "t:top" in buttons(paid)
    # Telegram lets nobody vote twice on a quiz; a redelivered or forged second vote must
    # change nothing anyway.
    standin.answer_poll(user_id, poll_id, [FIRST.correct], force=True)
    standin.answer_poll(user_id, poll_id, [(FIRST.correct + 1) % len(FIRST.options)],
                        force=True)
    time.sleep(3)  # give duplicates every chance to show up
    texts = [r["params"].get("text", "") for r in standin.sent(chat_id=user_id, since=mark)]
    assert sum("¡Correcto!" in t for t in texts) == 1
    assert not any("no acertaste" in t for t in texts)
    assert _trivia_paid(user_id) == [10]
    balance, total = balance_and_ledger_sum(user_id)
    assert balance == total >= 10

    standin.press(user_id, "t:top", paid["result"]["message_id"])
    board = standin.wait_for(lambda r: "Ranking de trivia" in r["params"].get("text", ""),
                             timeout=15, chat_id=user_id, method="editMessageText",
                             since=mark)
    text = board["params"]["text"]
    assert "Tu puesto:" in text and "\n1. " in text  # (the top 10 may be other tests' members)
    assert any(b.startswith("t:top:") for b in buttons(board))
    assert "Traceback" not in bot.log()


def test_admin_sends_a_question_to_a_group_but_not_to_a_channel(bot, standin,  # type: ignore[no-untyped-def]
                                                                new_user_id) -> None:
    admin, player = new_user_id(), new_user_id()
    mark = standin.mark()
    start_in_bot(standin, admin, "Diana")
    start_in_bot(standin, player, "Lucien")
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    group = -1_007_000_000_000 - admin % 10**6
    channel = -1_006_000_000_000 - admin % 10**6
    standin.inject_update({"channel_post": {  # the stand-in learns that this is a channel
        "message_id": 1, "date": 0, "text": "hola",
        "chat": {"id": channel, "type": "channel", "title": "Canal libre"}}})

    standin.inject_message(player, f"/trivia {FIRST.id} {group}")  # not an admin
    standin.wait_for_message(player, "Solo las personas administradoras", since=mark,
                             timeout=15)
    standin.inject_message(admin, f"/trivia {FIRST.id} {channel}")
    standin.wait_for_message(admin, "Telegram hace anónimas", since=mark, timeout=15)
    standin.inject_message(admin, f"/trivia {FIRST.id} {group}")
    record = standin.wait_for(lambda r: True, timeout=15, chat_id=group, method="sendPoll",
                              since=mark)
    standin.wait_for_message(admin, f"enviada al chat {group}", since=mark, timeout=15)
    poll_id = record["result"]["poll"]["id"]
    wait_until(lambda: _recorded(poll_id), timeout=15, message="poll id recorded")
    assert standin.sent(chat_id=channel, method="sendPoll", since=mark) == []

    standin.answer_poll(player, poll_id, [FIRST.correct])  # a member votes in the group
    standin.wait_for_message(player, "¡Correcto! +10 besitos", since=mark, timeout=15)
    assert _trivia_paid(player) == [10]
    assert "Traceback" not in bot.log()
