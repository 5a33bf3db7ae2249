"""📖 MongoDB away: the member sees the fallback page, a choice pressed meanwhile waits
(retried with backoff) and moves them once when the store is back; nothing is lost or paid
twice."""

from __future__ import annotations

from typing import Any

import pytest

from models import mongo
from models.db import read_session
from services import content, wallet
from tests.support import balance_and_ledger_sum, start_in_bot, wait_until

pytestmark = pytest.mark.slow


def _buttons(record: dict[str, Any]) -> list[str]:
    markup = record.get("params", {}).get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def test_a_choice_pressed_while_mongodb_is_down_moves_the_member_once_it_is_back(
        bot, standin, mongo_server, user_id) -> None:  # type: ignore[no-untyped-def]
    menu = start_in_bot(standin, user_id, "Mona")
    mark = standin.mark()
    standin.press(user_id, "q:view", menu["result"]["message_id"])
    page = standin.wait_for(lambda r: any(d.startswith("p:la-invitacion:") for d in _buttons(r)),
                            timeout=20, chat_id=user_id, since=mark)
    follow = next(d for d in _buttons(page) if d.startswith("p:la-invitacion:0:"))
    mongo_server.stop()
    try:
        mark = standin.mark()
        standin.press(user_id, "q:view", page["result"]["message_id"], force=True)
        fallback = standin.wait_for(lambda r: "biblioteca" in (r["params"].get("text") or ""),
                                    timeout=30, chat_id=user_id, since=mark)
        assert "q:view" in _buttons(fallback)  # a retry button, no choices
        standin.press(user_id, follow, page["result"]["message_id"], force=True)
        standin.wait_for(lambda r: r["method"] == "answerCallbackQuery", timeout=15,
                         since=mark)
    finally:
        mongo_server.start(timeout=60)
    mongo.reset_client()
    hall = content.story().fragments["el-vestibulo"]
    standin.wait_for(lambda r: any(d.startswith("p:el-vestibulo:") for d in _buttons(r)),
                     timeout=120, chat_id=user_id, since=mark)
    state = mongo.member_state(user_id)
    assert state is not None
    assert (state["story"]["position"], state["story"]["step"]) == ("el-vestibulo", 1)
    assert hall.milestone is not None
    wait_until(lambda: _milestones(user_id) == [hall.milestone.besitos],  # type: ignore[union-attr]
               timeout=20, message="the hall's milestone paid once")
    balance, total = balance_and_ledger_sum(user_id)
    assert balance == total
    assert "Traceback" not in bot.log()


def _milestones(user_id: int) -> list[int]:
    with read_session() as session:
        return [e.amount for e in wallet.history(session, user_id, limit=50)
                if e.reason == "story-milestone:el-vestibulo"]
