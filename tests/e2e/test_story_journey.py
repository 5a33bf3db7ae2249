"""End to end: the real bot, the stand-in and a real worker — 📖 a member reads the shipped
story to an ending, paying for one choice and giving an item for another, is paid each
milestone once, finds the 🎒 backpack, and cannot press a forged or stale choice."""

from __future__ import annotations

from typing import Any

from models import mongo
from models.db import read_session, unit_of_work
from services import content, inventory, wallet
from tests.support import balance_and_ledger_sum, start_in_bot, wait_until


def _buttons(record: dict[str, Any]) -> list[str]:
    markup = record.get("params", {}).get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def _text(record: dict[str, Any]) -> str:
    params = record.get("params", {})
    return str(params.get("text") or params.get("caption") or "")


def _page(standin: Any, user_id: int, fragment: str, since: int) -> dict[str, Any]:
    """The message showing `fragment` (its choice buttons name it)."""
    return standin.wait_for(lambda r: any(d.startswith(f"p:{fragment}:") for d in _buttons(r)),
                            timeout=20, chat_id=user_id, since=since)


def _choice(page: dict[str, Any], fragment: str, choice_id: str) -> str:
    index = [c.id for c in content.story().fragments[fragment].choices].index(choice_id)
    return next(d for d in _buttons(page) if d.startswith(f"p:{fragment}:{index}:"))


def test_a_member_reads_to_an_ending_paying_once_and_giving_a_rose(bot, standin,  # type: ignore[no-untyped-def]
                                                                   user_id) -> None:
    menu = start_in_bot(standin, user_id, "Lucía")
    with unit_of_work() as session:
        wallet.credit(session, user_id, 20, reason="test", key=f"fund:{user_id}")
        inventory.grant(session, user_id, "rosa-roja", 1, reason="test", key=f"rose:{user_id}")
    mark = standin.mark()
    standin.press(user_id, "q:view", menu["result"]["message_id"])
    page = _page(standin, user_id, "la-invitacion", mark)
    route = [("la-invitacion", "seguir", "el-vestibulo"),
             ("el-vestibulo", "pasillo", "el-pasillo-de-retratos"),
             ("el-pasillo-de-retratos", "velas", "el-retrato-velado"),  # costs 30
             ("el-retrato-velado", "mirador", "el-mirador"),
             ("el-mirador", "esperar", "la-medianoche"),
             ("la-medianoche", "esperar", "el-encuentro")]
    for fragment, choice_id, target in route:
        if fragment == "el-pasillo-de-retratos":  # the priced choice says its price
            assert any("💋30" in b["text"] for row in page["params"]["reply_markup"]
                       ["inline_keyboard"] for b in row)
        mark = standin.mark()
        standin.press(user_id, _choice(page, fragment, choice_id), page["result"]["message_id"])
        page = _page(standin, user_id, target, mark)
    mark = standin.mark()
    standin.press(user_id, _choice(page, "el-encuentro", "rosa"), page["result"]["message_id"])
    ending = standin.wait_for(lambda r: "Fin" in _text(r), timeout=20, chat_id=user_id,
                              since=mark)
    assert not any(d.startswith("p:") for d in _buttons(ending))  # an ending has no choices
    wait_until(lambda: sum("🏁" in _text(r) and "+50" in _text(r)
                           for r in standin.sent(chat_id=user_id)) == 1,
               timeout=20, message="the ending's milestone message")

    # 20 funded + 10 (hall) - 30 (the veiled portrait) + 20 (lookout) + 50 (ending), plus
    # whatever the daily missions and achievements of reading and choosing paid
    story_lines = []
    with read_session() as session:
        for entry in wallet.history(session, user_id, limit=100):
            if entry.reason.startswith("story"):
                story_lines.append((entry.reason, entry.amount))
        assert inventory.holding(session, user_id, "rosa-roja") == 0
    balance, total = balance_and_ledger_sum(user_id)
    assert balance == total
    assert sorted(story_lines) == sorted([
        ("story-milestone:el-vestibulo", 10), ("story:el-pasillo-de-retratos.velas", -30),
        ("story-milestone:el-mirador", 20), ("story-milestone:final-el-primer-baile", 50)])
    state = mongo.member_state(user_id)
    assert state is not None
    assert state["story"]["position"] == "final-el-primer-baile"
    assert state["story"]["endings"] == ["final-el-primer-baile"]
    texts = [_text(r) for r in standin.sent(chat_id=user_id)]
    assert sum("🏁" in t for t in texts) == 3  # one per milestone, each once
    assert "Traceback" not in bot.log()


def test_stale_and_forged_choices_do_not_move_the_member(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    menu = start_in_bot(standin, user_id, "Eve")
    mark = standin.mark()
    standin.press(user_id, "q:view", menu["result"]["message_id"])
    page = _page(standin, user_id, "la-invitacion", mark)
    first = _choice(page, "la-invitacion", "seguir")
    forged = first[:-8] + ("A" * 8 if not first.endswith("A" * 8) else "B" * 8)
    mark = standin.mark()
    standin.press(user_id, forged, page["result"]["message_id"], force=True)
    standin.wait_for(lambda r: "no está disponible" in (r["params"].get("text") or ""),
                     timeout=15, method="answerCallbackQuery", since=mark)
    standin.press(user_id, first, page["result"]["message_id"])
    _page(standin, user_id, "el-vestibulo", mark)
    # the same button again (a turned page): the member stays where they are
    standin.press(user_id, _choice(page, "la-invitacion", "preguntar"),
                  page["result"]["message_id"])
    standin.wait_for(lambda r: "ya pasó" in _text(r), timeout=20, chat_id=user_id, since=mark)
    state = mongo.member_state(user_id)
    assert state is not None and state["story"]["position"] == "el-vestibulo"
    assert state["story"]["step"] == 1


def test_the_backpack_shows_lore_found_along_the_way(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    menu = start_in_bot(standin, user_id, "Ana")
    mark = standin.mark()
    standin.press(user_id, "q:view", menu["result"]["message_id"])
    page = _page(standin, user_id, "la-invitacion", mark)
    mark = standin.mark()
    standin.press(user_id, _choice(page, "la-invitacion", "preguntar"),
                  page["result"]["message_id"])
    page = _page(standin, user_id, "quien-es-diana", mark)
    mark = standin.mark()
    standin.press(user_id, "q:backpack", page["result"]["message_id"])
    shown = standin.wait_for(lambda r: "mochila" in _text(r).lower(), timeout=15,
                             chat_id=user_id, since=mark)
    lore = content.story().lore["pista-el-sello"]
    assert lore.title.es in _text(shown)


def test_a_member_goes_back_to_a_checkpoint_and_is_not_paid_again(bot, standin,  # type: ignore[no-untyped-def]
                                                                  user_id) -> None:
    menu = start_in_bot(standin, user_id, "Rita")
    mark = standin.mark()
    standin.press(user_id, "q:view", menu["result"]["message_id"])
    page = _page(standin, user_id, "la-invitacion", mark)
    for fragment, choice_id, target in [("la-invitacion", "seguir", "el-vestibulo"),
                                        ("el-vestibulo", "pasillo", "el-pasillo-de-retratos")]:
        mark = standin.mark()
        standin.press(user_id, _choice(page, fragment, choice_id), page["result"]["message_id"])
        page = _page(standin, user_id, target, mark)
    mark = standin.mark()
    standin.press(user_id, "q:checkpoints", page["result"]["message_id"])
    listed = standin.wait_for(lambda r: any(d.startswith("q:restart:el-vestibulo:")
                                            for d in _buttons(r)),
                              timeout=15, chat_id=user_id, since=mark)
    back = next(d for d in _buttons(listed) if d.startswith("q:restart:el-vestibulo:"))
    standin.press(user_id, back, listed["result"]["message_id"])
    _page(standin, user_id, "el-vestibulo", mark)
    state = mongo.member_state(user_id)
    assert state is not None and state["story"]["position"] == "el-vestibulo"
    assert state["story"]["step"] == 3
    with read_session() as session:
        paid = [e.amount for e in wallet.history(session, user_id, limit=50)
                if e.reason == "story-milestone:el-vestibulo"]
    assert paid == [10]  # the checkpoint's milestone, once
