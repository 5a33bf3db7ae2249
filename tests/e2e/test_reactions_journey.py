"""End to end: the real bot, the stand-in and a real worker — reaction buttons under a
channel post (the toast and +1, once), a `message_reaction` in a group (paid once), and
⚗️ recipes from the 🎒 inventory."""

from __future__ import annotations

import time
from typing import Any

from core import metrics
from models import mongo
from models.db import read_session, unit_of_work
from models.tables import User
from services import inventory, reactions, wallet
from tests.support import wait_until
from worker.app import app

CHANNEL = -1003334440000
GROUP = -1004445550000


def _registered(standin, user_id: int) -> int:  # type: ignore[no-untyped-def]
    """/start through the bot; returns the message id of the welcome menu."""
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Lucía", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)

    def exists() -> bool:
        with read_session() as session:
            return session.get(User, user_id) is not None

    wait_until(exists, timeout=15, message="member registered")
    return int(menu["result"]["message_id"])


def _bot_post(standin, chat_id: int, text: str, markup: dict[str, Any] | None = None) -> int:  # type: ignore[no-untyped-def]
    """The bot posts in a chat through the workers' Telegram path, as scheduled posts will;
    returns the message id."""
    mark = standin.mark()
    params: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if markup:
        params["reply_markup"] = markup
    app.send_task("tasks.telegram.send", args=[f"test-post:{text}", chat_id, "sendMessage",
                                               params])
    record = standin.wait_for_message(chat_id, text, since=mark, timeout=15)
    return int(record["result"]["message_id"])


def _paid_reactions(user_id: int) -> list[int]:
    with read_session() as session:
        return [e.amount for e in wallet.history(session, user_id, limit=100)
                if e.reason == "reaction"]


def _toast(standin, since: int, needle: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return standin.wait_for(lambda r: needle in r["params"].get("text", ""), timeout=15,
                            method="answerCallbackQuery", since=since)


def test_reaction_buttons_under_a_channel_post(bot, standin, user_id, new_user_id) -> None:  # type: ignore[no-untyped-def]
    _registered(standin, user_id)
    # Telegram describes the channel in its updates; the stand-in learns its type from one.
    standin.inject_update({"channel_post": {
        "message_id": 1, "date": int(time.time()), "text": "👋",
        "chat": {"id": CHANNEL, "type": "channel", "title": "Canal libre"}}})
    ref = f"e2e{user_id}"
    message_id = _bot_post(standin, CHANNEL, f"📸 Foto nueva {user_id}",
                           reactions.reaction_keyboard(ref))
    with unit_of_work() as session:
        reactions.register_post(session, CHANNEL, message_id, source="test", ref=ref)

    mark = standin.mark()
    press = standin.press(user_id, f"r:{ref}:0", message_id, chat_id=CHANNEL)
    toast = _toast(standin, mark, "+1 besito 💋")
    assert toast["params"]["callback_query_id"] == press["callback_query"]["id"]
    assert _paid_reactions(user_id) == [1]

    mark = standin.mark()
    standin.press(user_id, f"r:{ref}:2", message_id, chat_id=CHANNEL)  # another emoji
    _toast(standin, mark, "Ya reaccionaste")
    assert _paid_reactions(user_id) == [1]

    stranger = new_user_id()  # pressed in the channel, never wrote to the bot
    mark = standin.mark()
    standin.press(stranger, f"r:{ref}:1", message_id, chat_id=CHANNEL)
    _toast(standin, mark, "/start")
    with read_session() as session:
        assert session.get(User, stranger) is None
    texts = [r["params"].get("text", "") for r in standin.sent(chat_id=user_id)]
    assert not any("besito 💋" in t for t in texts)  # the toast, not a private message
    assert "Traceback" not in bot.log()


def test_a_reaction_in_a_group_pays_once(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    _registered(standin, user_id)
    message_id = _bot_post(standin, GROUP, f"💬 Tema del día {user_id}")
    with unit_of_work() as session:
        reactions.register_post(session, GROUP, message_id, source="test")
    member = {"id": user_id, "is_bot": False, "first_name": "Lucía", "language_code": "es"}

    def react(old: list[str], new: list[str]) -> None:
        standin.inject_update({"message_reaction": {
            "chat": {"id": GROUP, "type": "supergroup", "title": "Grupo"},
            "message_id": message_id, "user": member, "date": int(time.time()),
            "old_reaction": [{"type": "emoji", "emoji": e} for e in old],
            "new_reaction": [{"type": "emoji", "emoji": e} for e in new]}})

    def rewards_done() -> int:
        return metrics.read_tasks().get("tasks.reactions.reward", {}).get("succeeded", 0)

    before = rewards_done()
    react([], ["❤"])
    wait_until(lambda: _paid_reactions(user_id) == [1], timeout=15, message="reaction paid")
    # the reward uncovers the story's `source: reaction` hint for the 🎒 backpack, once
    wait_until(lambda: _hints_told(standin, user_id) == 1, timeout=15, message="hint found")
    state = mongo.member_state(user_id)
    assert state is not None and state["story"]["lore"] == ["pista-del-reloj"]
    react(["❤"], [])  # taken off: nothing to do
    react([], ["🔥"])  # put on again: the reward runs and pays nothing more
    wait_until(lambda: rewards_done() >= before + 2, timeout=15,
               message="the second reward ran")
    assert _paid_reactions(user_id) == [1]
    assert _hints_told(standin, user_id) == 1
    assert "Traceback" not in bot.log()


def _hints_told(standin, user_id: int) -> int:  # type: ignore[no-untyped-def]
    return sum("Encontraste una pista" in (r["params"].get("text") or "")
               for r in standin.sent(chat_id=user_id))


def test_recipes_from_the_inventory(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    message_id = _registered(standin, user_id)
    with unit_of_work() as session:
        inventory.grant(session, user_id, "rosa-roja", 3, reason="test", key=f"e2e:{user_id}")
    mark = standin.mark()
    standin.press(user_id, "i:list", message_id, force=True)
    standin.wait_for(lambda r: "Rosa roja × 3" in r["params"].get("text", ""), timeout=15,
                     chat_id=user_id, since=mark)
    standin.press(user_id, "x:list", message_id)
    listing = standin.wait_for(lambda r: "Recetas" in r["params"].get("text", ""), timeout=15,
                               chat_id=user_id, method="editMessageText", since=mark)
    assert "Rosa roja 3/3" in listing["params"]["text"]
    standin.press(user_id, "x:craft:ramo-de-rosas", message_id)
    standin.wait_for_message(user_id, "Creaste Ramo de rosas × 1", since=mark, timeout=15)
    with read_session() as session:
        assert inventory.lines(session, user_id) == [("ramo-de-rosas", 1)]
